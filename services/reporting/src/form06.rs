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

/// Which rows: one agency or all; per procedure or per field.
#[derive(Debug, Clone)]
pub struct Scope {
    pub agency: Option<String>,
    pub by_procedure: bool,
}

/// The rows (sorted by agency, field, procedure) and the total.
pub async fn compute(
    pool: &PgPool,
    days: Days,
    now: DateTime<Utc>,
    scope: &Scope,
) -> sqlx::Result<(Vec<Form06Row>, Form06Row, DateTime<Utc>)> {
    let (from, end) = days.instants();
    let taken_at = end.min(now);
    let rows = sqlx::query(
        "SELECT competent_agency AS agency, field,
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
                                   AND NOT (paused <> 0 AND paused_since <= $3)) AS overdue
         FROM facts
         WHERE NOT rejected AND received_at < $2 AND (done_at IS NULL OR done_at >= $1)
           AND ($5::text IS NULL OR competent_agency = $5)
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3",
    )
    .bind(from)
    .bind(end)
    .bind(taken_at)
    .bind(scope.by_procedure)
    .bind(scope.agency.as_deref())
    .fetch_all(pool)
    .await?;
    let mut total = Form06Row::default();
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let n = |c: &str| u64::try_from(r.get::<i64, _>(c)).unwrap_or(0);
        let field: String = r.get("field");
        let (online, counter_postal, carried) = (n("online"), n("counter_postal"), n("carried"));
        let (resolved, early, on_time, late) = (n("resolved"), n("early"), n("on_time"), n("late"));
        let (in_progress, overdue) = (n("in_progress"), n("overdue"));
        let row = Form06Row {
            field_name: motcua_domain::fields::name(&field).to_owned(),
            field,
            agency: r.get("agency"),
            procedure_code: r.get("procedure_code"),
            procedure_name: r.get("procedure_name"),
            received_total: online + counter_postal + carried,
            received_online: online,
            received_counter_postal: counter_postal,
            carried_over: carried,
            resolved_total: resolved,
            resolved_early: early,
            resolved_on_time: on_time,
            resolved_late: late,
            resolved_unclassified: resolved - early - on_time - late,
            in_progress_total: in_progress,
            in_progress_within_deadline: in_progress - overdue,
            in_progress_overdue: overdue,
        };
        add(&mut total, &row);
        out.push(row);
    }
    total.field_name = "Tổng cộng".into();
    Ok((out, total, taken_at))
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

/// Percentages among the classified resolved dossiers, one decimal: early, on time, late, and the
/// on-time rate (early + on time).
pub fn percentages(t: &Form06Row) -> (f64, f64, f64, f64) {
    let classified = t.resolved_early + t.resolved_on_time + t.resolved_late;
    if classified == 0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let pct = |n: u64| (n as f64 * 1000.0 / classified as f64).round() / 10.0;
    (
        pct(t.resolved_early),
        pct(t.resolved_on_time),
        pct(t.resolved_late),
        pct(t.resolved_early + t.resolved_on_time),
    )
}
