//! Leaders' views beside Biểu 06: the trend of received and resolved dossiers, the backlog now per
//! department and officer, and the dossiers asked for supplements more than once (QĐ 766).

use crate::form06::Agencies;
use crate::periods::Days;
use chrono::{DateTime, Utc};
use motcua_proto::reporting::{
    BacklogRow, OfficerPerformance, RepeatedSupplement, TrendBucket, TrendPoint,
};
use sqlx::{PgPool, Row};

/// Received and resolved per bucket and field (from the daily counts).
pub async fn trend(
    pool: &PgPool,
    days: Days,
    agencies: &Agencies,
    bucket: TrendBucket,
) -> sqlx::Result<Vec<TrendPoint>> {
    let unit = if bucket == TrendBucket::Week {
        "week"
    } else {
        "month"
    };
    let after = days.to.succ_opt().unwrap_or(days.to);
    let rows = sqlx::query(crate::store::scoped(
        "SELECT greatest(date_trunc($4, day)::date, $1) AS start, field,
                sum(received_online + received_other)::bigint AS received, sum(done)::bigint AS resolved
         FROM daily WHERE day >= $1 AND day < $2 AND {agency}
         GROUP BY 1, 2 ORDER BY 1, 2",
        agencies,
    ))
    .bind(days.from)
    .bind(after)
    .bind(agencies.code())
    .bind(unit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let field: String = r.get("field");
            TrendPoint {
                start: r.get::<chrono::NaiveDate, _>("start").to_string(),
                field_name: motcua_domain::fields::name(&field).to_owned(),
                field,
                received: u64::try_from(r.get::<i64, _>("received")).unwrap_or(0),
                resolved: u64::try_from(r.get::<i64, _>("resolved")).unwrap_or(0),
            }
        })
        .collect())
}

/// Dossiers in progress now, per department and officer.
pub async fn backlog(
    pool: &PgPool,
    agencies: &Agencies,
    now: DateTime<Utc>,
    soon: chrono::Duration,
) -> sqlx::Result<(Vec<BacklogRow>, BacklogRow)> {
    let rows = sqlx::query(crate::store::scoped(
        "SELECT current_department AS department, assignee AS officer,
                count(*) AS in_progress,
                count(*) FILTER (WHERE due_at < $1 AND (paused = 0 OR due_at < paused_since)) AS overdue,
                count(*) FILTER (WHERE paused = 0 AND due_at >= $1 AND due_at < $2) AS due_soon,
                count(*) FILTER (WHERE paused <> 0 AND NOT (due_at < $1 AND due_at < paused_since)) AS paused
         FROM facts
         WHERE done_at IS NULL AND NOT rejected AND received_at <= $1
           AND {competent_agency}
         GROUP BY 1, 2 ORDER BY 4 DESC, 5 DESC, 1, 2",
        agencies,
    ))
    .bind(now)
    .bind(now + soon)
    .bind(agencies.code())
    .fetch_all(pool)
    .await?;
    let mut total = BacklogRow::default();
    let out: Vec<BacklogRow> = rows
        .iter()
        .map(|r| {
            let n = |c: &str| u64::try_from(r.get::<i64, _>(c)).unwrap_or(0);
            let row = BacklogRow {
                department: r.get("department"),
                officer: r.get("officer"),
                in_progress: n("in_progress"),
                overdue: n("overdue"),
                due_soon: n("due_soon"),
                paused: n("paused"),
            };
            total.in_progress += row.in_progress;
            total.overdue += row.overdue;
            total.due_soon += row.due_soon;
            total.paused += row.paused;
            row
        })
        .collect();
    Ok((out, total))
}

/// Dossiers received within the period with more than one supplement request (at most 1000, the
/// most requests first), and how many there are.
pub async fn repeated_supplements(
    pool: &PgPool,
    days: Days,
    agencies: &Agencies,
) -> sqlx::Result<(Vec<RepeatedSupplement>, u64)> {
    let (from, end) = days.instants();
    let rows = sqlx::query(crate::store::scoped(
        "SELECT dossier_code, procedure_code, procedure_name, field, current_department,
                supplement_requests, received_at, count(*) OVER () AS total
         FROM facts
         WHERE NOT rejected AND supplement_requests > 1 AND received_at >= $1 AND received_at < $2
           AND {competent_agency}
         ORDER BY supplement_requests DESC, received_at, dossier_code LIMIT 1000",
        agencies,
    ))
    .bind(from)
    .bind(end)
    .bind(agencies.code())
    .fetch_all(pool)
    .await?;
    let total = rows
        .first()
        .map_or(0, |r| u64::try_from(r.get::<i64, _>("total")).unwrap_or(0));
    Ok((
        rows.iter()
            .map(|r| RepeatedSupplement {
                dossier_code: r.get("dossier_code"),
                procedure_code: r.get("procedure_code"),
                procedure_name: r.get("procedure_name"),
                field: r.get("field"),
                department: r.get("current_department"),
                supplement_requests: u32::try_from(r.get::<i32, _>("supplement_requests"))
                    .unwrap_or(0),
                received_at: r
                    .get::<DateTime<Utc>, _>("received_at")
                    .with_timezone(&motcua_calendar::vietnam())
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            })
            .collect(),
        total,
    ))
}

/// Steps each officer completed within the period (forwarded or result recorded) and how many by
/// the due time of the step (the previous version's), most first.
pub async fn officers(
    pool: &PgPool,
    days: Days,
    agencies: &Agencies,
) -> sqlx::Result<Vec<OfficerPerformance>> {
    let (from, end) = days.instants();
    let rows = sqlx::query(crate::store::scoped(
        "SELECT s.actor, max(s.actor_name) AS name, count(*) AS completed,
                count(*) FILTER (WHERE p.step_due_at IS NOT NULL AND s.at <= p.step_due_at) AS on_time,
                count(*) FILTER (WHERE p.step_due_at IS NOT NULL AND s.at > p.step_due_at) AS late
         FROM steps s JOIN steps p ON p.dossier_code = s.dossier_code AND p.version = s.version - 1
         WHERE s.kind IN (4, 11) AND s.at >= $1 AND s.at < $2 AND s.actor <> ''
           AND {s_agency}
         GROUP BY s.actor ORDER BY 3 DESC, 1",
        agencies,
    ))
    .bind(from)
    .bind(end)
    .bind(agencies.code())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let n = |c: &str| u64::try_from(r.get::<i64, _>(c)).unwrap_or(0);
            let (completed, on_time, late) = (n("completed"), n("on_time"), n("late"));
            let judged = on_time + late;
            OfficerPerformance {
                officer: r.get("actor"),
                name: r.get("name"),
                completed,
                on_time,
                late,
                on_time_percent: if judged == 0 {
                    0.0
                } else {
                    (on_time as f64 * 1000.0 / judged as f64).round() / 10.0
                },
            }
        })
        .collect())
}
