//! Biểu 06/VPCP/KSTT for a period (DESIGN.md §2), from the fact rows.
//!
//! The rows counted are the dossiers received before the period's end and not done (result ready,
//! or stopped) before its start; rejected-at-intake dossiers never count. Of those:
//! (4) / (5) received within the period online / at the counter or by post, (6) received before it;
//! (7) done within it — (8) early, (9) on time, (10) late by the outcome workflow recorded against
//! the due time moved by pauses only; refused, withdrawn and stopped dossiers are done but not
//! classified; (11) not done by the end — (13) overdue when the due time is before the instant the
//! figures are taken at (the period's end, or now for a period not over) and the dossier was not
//! paused then (its clock stood still), (12) the rest. So
//! (3) = (4) + (5) + (6) and (3) = (7) + (11) hold by construction: each row is counted once on
//! each side.

use crate::periods::Days;
use chrono::{DateTime, Utc};
use motcua_proto::reporting::Form06Row;
use sqlx::{PgPool, Row};

pub use crate::store::Agencies;

/// Which rows: whose dossiers; per procedure or per field.
#[derive(Debug, Clone)]
pub struct Scope {
    pub agencies: Agencies,
    pub by_procedure: bool,
}

/// The rows (sorted by agency, field, procedure), the total, and the instant in-progress figures
/// were taken at. Per field from the daily counts ([`crate::daily`]); per procedure from the fact
/// rows (a scan of the period's dossiers).
pub async fn compute(
    pool: &PgPool,
    days: Days,
    now: DateTime<Utc>,
    scope: &Scope,
) -> sqlx::Result<(Vec<Form06Row>, Form06Row, DateTime<Utc>)> {
    if scope.by_procedure {
        from_facts(pool, days, now, scope).await
    } else {
        from_daily(pool, days, now, scope).await
    }
}

#[allow(clippy::too_many_arguments)]
fn row(
    agency: String,
    field: String,
    procedure: (String, String),
    new: (u64, u64),
    carried: u64,
    resolved: (u64, u64, u64, u64),
    in_progress: u64,
    overdue: u64,
) -> Form06Row {
    let (online, counter_postal) = new;
    let (resolved, early, on_time, late) = resolved;
    Form06Row {
        field_name: motcua_domain::fields::name(&field).to_owned(),
        field,
        agency,
        procedure_code: procedure.0,
        procedure_name: procedure.1,
        received_total: online + counter_postal + carried,
        received_online: online,
        received_counter_postal: counter_postal,
        carried_over: carried,
        resolved_total: resolved,
        resolved_early: early,
        resolved_on_time: on_time,
        resolved_late: late,
        resolved_unclassified: rest(resolved, early + on_time + late, "(7) - (8) - (9) - (10)"),
        in_progress_total: in_progress,
        in_progress_within_deadline: rest(in_progress, overdue, "(11) - (13)"),
        in_progress_overdue: overdue,
    }
}

/// A count made as a difference of counts: never negative unless the counts are wrong. Tests
/// (debug builds) stop here, so a wrong count cannot pass as zero; a release build reports zero
/// and says so in the log.
fn count(v: i64, what: &str) -> u64 {
    debug_assert!(v >= 0, "{what} = {v}: the counts disagree");
    u64::try_from(v).unwrap_or_else(|_| {
        tracing::error!(what, value = v, "Biểu 06: a negative count, reported as 0");
        0
    })
}

/// `whole - part`, where the part is counted within the whole.
fn rest(whole: u64, part: u64, what: &str) -> u64 {
    count(whole as i64 - part as i64, what)
}

async fn from_daily(
    pool: &PgPool,
    days: Days,
    now: DateTime<Utc>,
    scope: &Scope,
) -> sqlx::Result<(Vec<Form06Row>, Form06Row, DateTime<Utc>)> {
    let (_, end) = days.instants();
    let taken_at = end.min(now);
    let first = days.from;
    let after = days.to.succ_opt().unwrap_or(days.to);
    let agencies = &scope.agencies;
    // For a period not over yet: today's first instant (Vietnam), where the counts stop and the
    // direct reads begin.
    let today = motcua_domain::time::vietnam_day(taken_at);
    let today_start = Days {
        from: today,
        to: today,
    }
    .instants()
    .0;
    let sums = sqlx::query(crate::store::scoped(
        "SELECT agency, field,
                coalesce(sum(received_online) FILTER (WHERE day < $1), 0)::bigint AS online_f,
                coalesce(sum(received_online), 0)::bigint AS online_e,
                coalesce(sum(received_other) FILTER (WHERE day < $1), 0)::bigint AS other_f,
                coalesce(sum(received_other), 0)::bigint AS other_e,
                coalesce(sum(done) FILTER (WHERE day < $1), 0)::bigint AS done_f,
                coalesce(sum(done), 0)::bigint AS done_e,
                coalesce(sum(early) FILTER (WHERE day < $1), 0)::bigint AS early_f,
                coalesce(sum(early), 0)::bigint AS early_e,
                coalesce(sum(on_time) FILTER (WHERE day < $1), 0)::bigint AS on_time_f,
                coalesce(sum(on_time), 0)::bigint AS on_time_e,
                coalesce(sum(late) FILTER (WHERE day < $1), 0)::bigint AS late_f,
                coalesce(sum(late), 0)::bigint AS late_e,
                coalesce(sum(due), 0)::bigint AS due_e,
                coalesce(sum(due_and_done), 0)::bigint AS due_and_done_e,
                coalesce(sum(due) FILTER (WHERE day < $4), 0)::bigint AS due_t,
                coalesce(sum(due_of_done) FILTER (WHERE day < $4), 0)::bigint AS due_of_done_t
         FROM daily WHERE day < $2 AND {agency}
         GROUP BY agency, field",
        agencies,
    ))
    .bind(first)
    .bind(after)
    .bind(agencies.code())
    .bind(today)
    .fetch_all(pool)
    .await?;
    // Overdue at the period's end: from the counts, minus the dossiers paused then. Now, for a
    // period not over: due before today and not done (from the counts), plus — read directly —
    // those due today before now and not done by the end, and those due before today but done
    // only after the end (none outside tests), minus the dossiers paused now.
    let overdue_rows = if taken_at == end {
        sqlx::query(crate::store::scoped(
            "SELECT competent_agency AS agency, field, -count(*) AS n FROM facts
             WHERE paused <> 0 AND NOT rejected AND paused_since <= $1 AND due_at < $1 AND due_at >= paused_since
               AND received_at < $2 AND (done_at IS NULL OR done_at >= $2)
               AND {competent_agency}
             GROUP BY 1, 2",
            agencies,
        ))
    } else {
        sqlx::query(crate::store::scoped(
            "SELECT agency, field, sum(n)::bigint AS n FROM (
                 SELECT competent_agency AS agency, field, count(*) AS n FROM facts
                 WHERE NOT rejected AND due_at >= $4 AND due_at < $1 AND (done_at IS NULL OR done_at >= $2)
                   AND {competent_agency}
                 GROUP BY 1, 2
                 UNION ALL
                 SELECT competent_agency, field, count(*) FROM facts
                 WHERE NOT rejected AND done_at >= $2 AND due_at < $4
                   AND {competent_agency}
                 GROUP BY 1, 2
                 UNION ALL
                 SELECT competent_agency, field, -count(*) FROM facts
                 WHERE paused <> 0 AND NOT rejected AND paused_since <= $1 AND due_at < $1 AND due_at >= paused_since
                   AND received_at < $2 AND (done_at IS NULL OR done_at >= $2)
                   AND {competent_agency}
                 GROUP BY 1, 2) o
             GROUP BY 1, 2",
            agencies,
        ))
    }
    .bind(taken_at)
    .bind(end)
    .bind(agencies.code())
    .bind(today_start)
    .fetch_all(pool)
    .await?;
    let mut overdue: std::collections::HashMap<(String, String), i64> = overdue_rows
        .iter()
        .map(|r| ((r.get("agency"), r.get("field")), r.get("n")))
        .collect();
    let mut out = Vec::new();
    for r in &sums {
        let n = |c: &str| r.get::<i64, _>(c);
        let agency: String = r.get("agency");
        let field: String = r.get("field");
        let received_f = n("online_f") + n("other_f");
        let received_e = n("online_e") + n("other_e");
        let in_progress = received_e - n("done_e");
        let carried = received_f - n("done_f");
        let key = (agency.clone(), field.clone());
        let over = if taken_at == end {
            n("due_e") - n("due_and_done_e")
        } else {
            n("due_t") - n("due_of_done_t")
        } + overdue.remove(&key).unwrap_or(0);
        let built = row(
            agency,
            field,
            (String::new(), String::new()),
            (
                count(n("online_e") - n("online_f"), "(4)"),
                count(n("other_e") - n("other_f"), "(5)"),
            ),
            count(carried, "(6)"),
            (
                count(n("done_e") - n("done_f"), "(7)"),
                count(n("early_e") - n("early_f"), "(8)"),
                count(n("on_time_e") - n("on_time_f"), "(9)"),
                count(n("late_e") - n("late_f"), "(10)"),
            ),
            count(in_progress, "(11)"),
            count(over, "(13)"),
        );
        if built.received_total > 0 {
            out.push(built);
        }
    }
    if agencies.is_province() {
        // The whole province: one row per field, agencies summed.
        let mut by_field: std::collections::BTreeMap<String, Form06Row> = Default::default();
        for r in out {
            let merged = by_field
                .entry(r.field.clone())
                .or_insert_with(|| Form06Row {
                    field: r.field.clone(),
                    field_name: r.field_name.clone(),
                    ..Form06Row::default()
                });
            add(merged, &r);
        }
        out = by_field.into_values().collect();
    }
    out.sort_by(|a, b| (&a.agency, &a.field).cmp(&(&b.agency, &b.field)));
    let total = total_of(&out);
    Ok((out, total, taken_at))
}

fn total_of(rows: &[Form06Row]) -> Form06Row {
    let mut total = Form06Row::default();
    for r in rows {
        add(&mut total, r);
    }
    total.field_name = "Tổng cộng".into();
    total
}

async fn from_facts(
    pool: &PgPool,
    days: Days,
    now: DateTime<Utc>,
    scope: &Scope,
) -> sqlx::Result<(Vec<Form06Row>, Form06Row, DateTime<Utc>)> {
    let (from, end) = days.instants();
    let taken_at = end.min(now);
    let rows = sqlx::query(crate::store::scoped(
        "SELECT CASE WHEN $6 THEN '' ELSE competent_agency END AS agency, field,
                CASE WHEN $4 THEN procedure_code ELSE '' END AS procedure_code,
                CASE WHEN $4 THEN max(procedure_name) ELSE '' END AS procedure_name,
                count(*) FILTER (WHERE received_at >= $1 AND channel = 2) AS online,
                count(*) FILTER (WHERE received_at >= $1 AND channel <> 2) AS counter_postal,
                count(*) FILTER (WHERE received_at < $1) AS carried,
                count(*) FILTER (WHERE done_at < $2) AS resolved,
                count(*) FILTER (WHERE done_at < $2 AND finished_at IS NOT NULL AND outcome = 1) AS early,
                count(*) FILTER (WHERE done_at < $2 AND finished_at IS NOT NULL AND outcome = 2) AS on_time,
                count(*) FILTER (WHERE done_at < $2 AND finished_at IS NOT NULL AND outcome = 3) AS late,
                count(*) FILTER (WHERE done_at IS NULL OR done_at >= $2) AS in_progress,
                count(*) FILTER (WHERE (done_at IS NULL OR done_at >= $2) AND due_at < $3
                                   AND NOT (paused <> 0 AND paused_since <= $3 AND due_at >= paused_since)) AS overdue
         FROM facts
         WHERE NOT rejected AND received_at < $2 AND (done_at IS NULL OR done_at >= $1)
           AND {competent_agency_5}
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3",
        &scope.agencies,
    ))
    .bind(from)
    .bind(end)
    .bind(taken_at)
    .bind(scope.by_procedure)
    .bind(scope.agencies.code())
    .bind(scope.agencies.is_province())
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let n = |c: &str| u64::try_from(r.get::<i64, _>(c)).unwrap_or(0);
        out.push(row(
            r.get("agency"),
            r.get("field"),
            (r.get("procedure_code"), r.get("procedure_name")),
            (n("online"), n("counter_postal")),
            n("carried"),
            (n("resolved"), n("early"), n("on_time"), n("late")),
            n("in_progress"),
            n("overdue"),
        ));
    }
    let total = total_of(&out);
    Ok((out, total, taken_at))
}

/// Columns (3)–(13) of a row, in the form's order: what the files and the page print.
pub fn columns(r: &Form06Row) -> [u64; 11] {
    [
        r.received_total,
        r.received_online,
        r.received_counter_postal,
        r.carried_over,
        r.resolved_total,
        r.resolved_early,
        r.resolved_on_time,
        r.resolved_late,
        r.in_progress_total,
        r.in_progress_within_deadline,
        r.in_progress_overdue,
    ]
}

fn add(total: &mut Form06Row, r: &Form06Row) {
    total.received_total += r.received_total;
    total.received_online += r.received_online;
    total.received_counter_postal += r.received_counter_postal;
    total.carried_over += r.carried_over;
    total.resolved_total += r.resolved_total;
    total.resolved_early += r.resolved_early;
    total.resolved_on_time += r.resolved_on_time;
    total.resolved_late += r.resolved_late;
    total.resolved_unclassified += r.resolved_unclassified;
    total.in_progress_total += r.in_progress_total;
    total.in_progress_within_deadline += r.in_progress_within_deadline;
    total.in_progress_overdue += r.in_progress_overdue;
}

/// The shares of early, on time and late among the classified resolved dossiers
/// ((8) + (9) + (10)), in percent with one decimal, and the on-time rate (early + on time). The
/// text of Thông tư 01/2020/TT-VPCP could not be consulted when this was written; this is the
/// reading in which the form's three outcomes are shares of one whole: early + on time + late =
/// 100.0 whenever a dossier was classified (the tenths are rounded by largest remainder, ties to
/// the earlier column, so they add up exactly). Refused, withdrawn and stopped dossiers are in (7)
/// but were never early, on time or late, so they are in neither the shares nor their whole.
/// All 0 when none was classified.
pub fn percentages(t: &Form06Row) -> (f64, f64, f64, f64) {
    let counts = [t.resolved_early, t.resolved_on_time, t.resolved_late].map(u128::from);
    let classified: u128 = counts.iter().sum();
    if classified == 0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let mut tenths = counts.map(|c| c * 1000 / classified);
    let mut order = [0usize, 1, 2];
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i] * 1000 % classified));
    let left = 1000 - tenths.iter().sum::<u128>();
    for &i in order.iter().take(left as usize) {
        tenths[i] += 1;
    }
    let pct = |n: u128| n as f64 / 10.0;
    (
        pct(tenths[0]),
        pct(tenths[1]),
        pct(tenths[2]),
        pct(tenths[0] + tenths[1]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn total(early: u64, on_time: u64, late: u64, unclassified: u64) -> Form06Row {
        Form06Row {
            resolved_total: early + on_time + late + unclassified,
            resolved_early: early,
            resolved_on_time: on_time,
            resolved_late: late,
            resolved_unclassified: unclassified,
            ..Form06Row::default()
        }
    }

    #[test]
    fn a_refused_dossier_is_outside_the_shares_and_their_whole() {
        // Two early of three resolved, the third refused: all the classified were early.
        assert_eq!(percentages(&total(2, 0, 0, 1)), (100.0, 0.0, 0.0, 100.0));
        // Thirds: the tenth left over goes to the first column, and they make 100.
        assert_eq!(percentages(&total(1, 1, 1, 2)), (33.4, 33.3, 33.3, 66.7));
        assert_eq!(percentages(&total(0, 0, 0, 4)), (0.0, 0.0, 0.0, 0.0));
        assert_eq!(percentages(&total(1, 2, 3, 0)), (16.7, 33.3, 50.0, 50.0));
    }

    proptest! {
        #[test]
        fn the_shares_add_up_to_100_and_each_is_within_a_tenth(
            early in 0u64..5000, on_time in 0u64..5000, late in 0u64..5000, unclassified in 0u64..50,
        ) {
            let (e, o, l, rate) = percentages(&total(early, on_time, late, unclassified));
            let classified = early + on_time + late;
            if classified == 0 {
                prop_assert_eq!((e, o, l, rate), (0.0, 0.0, 0.0, 0.0));
            } else {
                let tenths = |p: f64| (p * 10.0).round() as i64;
                prop_assert_eq!(tenths(e) + tenths(o) + tenths(l), 1000);
                prop_assert_eq!(tenths(rate), tenths(e) + tenths(o));
                for (share, n) in [(e, early), (o, on_time), (l, late)] {
                    let exact = n as f64 * 100.0 / classified as f64;
                    prop_assert!((share - exact).abs() < 0.1 + 1e-9, "{} vs {}", share, exact);
                }
            }
        }
    }
}
