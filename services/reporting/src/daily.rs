//! Daily counts per agency and field, kept in step with the fact rows.
//!
//! Every Biểu 06 figure of a past period is a difference of counts "before a day" (the period's
//! first day F, or the day after its last, E), because a dossier is done no earlier than received
//! and due no earlier than received:
//! - received within (4)/(5): received before E minus received before F, by channel;
//! - carried over (6): received before F minus done before F;
//! - resolved (7)–(10): done before E minus done before F (by outcome);
//! - in progress (11): received before E minus done before E;
//! - overdue (13) at E: due before E minus done-and-due before E (a row both due and done before
//!   E is counted on the later of the two days), minus the dossiers paused at E (read directly);
//!   now, for a period not over: due before today and not done (due minus due-of-done, a done
//!   row counted on its due day), plus today's and any done after E, read directly.
//!
//! So a report reads one row per agency, field and day, not one per dossier. A fact's change
//! moves its contributions: the old row's are taken away and the new row's added, in the
//! transaction that changes the fact (keys in order, so concurrent replicas do not deadlock).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// What one fact row counts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contribution {
    pub agency: String,
    pub field: String,
    pub online: bool,
    pub received: Option<DateTime<Utc>>,
    pub done: Option<DateTime<Utc>>,
    /// 1 early, 2 on time, 3 late, for a result; 0 for a stop.
    pub outcome: i16,
    pub due: Option<DateTime<Utc>>,
}

fn day(t: DateTime<Utc>) -> NaiveDate {
    motcua_domain::time::vietnam_day(t)
}

type Key = (String, String, NaiveDate);

impl Contribution {
    /// (agency, field, day) → counts per column of `daily` (received_online, received_other,
    /// done, early, on_time, late, due, due_and_done, due_of_done), for this row.
    fn cells(&self, sign: i64, into: &mut BTreeMap<Key, [i64; 9]>) {
        let Some(received) = self.received else {
            return;
        };
        let mut add = |d: NaiveDate, column: usize| {
            into.entry((self.agency.clone(), self.field.clone(), d))
                .or_insert([0; 9])[column] += sign;
        };
        add(day(received), if self.online { 0 } else { 1 });
        if let Some(done) = self.done {
            add(day(done), 2);
            match self.outcome {
                1 => add(day(done), 3),
                2 => add(day(done), 4),
                3 => add(day(done), 5),
                _ => {}
            }
        }
        if let Some(due) = self.due {
            add(day(due), 6);
            if let Some(done) = self.done {
                add(day(due.max(done)), 7);
                add(day(due), 8);
            }
        }
    }
}

/// Moves the daily counts from `old` to `new` (either may be absent: a new fact, a rejected one).
pub async fn shift(
    tx: &mut PgConnection,
    old: Option<&Contribution>,
    new: Option<&Contribution>,
) -> sqlx::Result<()> {
    let mut cells = BTreeMap::new();
    if let Some(o) = old {
        o.cells(-1, &mut cells);
    }
    if let Some(n) = new {
        n.cells(1, &mut cells);
    }
    cells.retain(|_, v| v.iter().any(|c| *c != 0));
    if cells.is_empty() {
        return Ok(());
    }
    let mut agencies = Vec::new();
    let mut fields = Vec::new();
    let mut days = Vec::new();
    let mut columns: [Vec<i64>; 9] = Default::default();
    for ((a, f, d), v) in &cells {
        agencies.push(a.as_str());
        fields.push(f.as_str());
        days.push(*d);
        for (i, c) in v.iter().enumerate() {
            columns[i].push(*c);
        }
    }
    let mut q = sqlx::query(
        "INSERT INTO daily (agency, field, day, received_online, received_other, done, early, on_time, late, due, due_and_done, due_of_done)
         SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[],
             $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])
         ON CONFLICT (agency, field, day) DO UPDATE SET
             received_online = daily.received_online + EXCLUDED.received_online,
             received_other = daily.received_other + EXCLUDED.received_other,
             done = daily.done + EXCLUDED.done,
             early = daily.early + EXCLUDED.early,
             on_time = daily.on_time + EXCLUDED.on_time,
             late = daily.late + EXCLUDED.late,
             due = daily.due + EXCLUDED.due,
             due_and_done = daily.due_and_done + EXCLUDED.due_and_done,
             due_of_done = daily.due_of_done + EXCLUDED.due_of_done",
    )
    .bind(&agencies)
    .bind(&fields)
    .bind(&days);
    for c in &columns {
        q = q.bind(c);
    }
    q.execute(tx).await?;
    Ok(())
}

/// Recomputes every daily count from the fact rows (after loading facts in bulk, or to check).
pub async fn rebuild(tx: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("TRUNCATE daily").execute(&mut *tx).await?;
    // Each fact's contributions as (agency, field, day, column) rows, summed.
    sqlx::query(
        "INSERT INTO daily (agency, field, day, received_online, received_other, done, early, on_time, late, due, due_and_done, due_of_done)
         SELECT agency, field, day, sum(ro), sum(rx), sum(dn), sum(e), sum(o), sum(l), sum(du), sum(dd), sum(dod)
         FROM (
             SELECT competent_agency AS agency, field, (received_at AT TIME ZONE INTERVAL '+07:00')::date AS day,
                    (channel = 2)::int AS ro, (channel <> 2)::int AS rx, 0 AS dn, 0 AS e, 0 AS o, 0 AS l, 0 AS du, 0 AS dd, 0 AS dod
               FROM facts WHERE NOT rejected AND received_at IS NOT NULL
             UNION ALL
             SELECT competent_agency, field, (done_at AT TIME ZONE INTERVAL '+07:00')::date,
                    0, 0, 1, (finished_at IS NOT NULL AND outcome = 1)::int, (finished_at IS NOT NULL AND outcome = 2)::int,
                    (finished_at IS NOT NULL AND outcome = 3)::int, 0, 0, 0
               FROM facts WHERE NOT rejected AND received_at IS NOT NULL AND done_at IS NOT NULL
             UNION ALL
             SELECT competent_agency, field, (due_at AT TIME ZONE INTERVAL '+07:00')::date, 0, 0, 0, 0, 0, 0, 1, 0, 0
               FROM facts WHERE NOT rejected AND received_at IS NOT NULL AND due_at IS NOT NULL
             UNION ALL
             SELECT competent_agency, field, (greatest(due_at, done_at) AT TIME ZONE INTERVAL '+07:00')::date, 0, 0, 0, 0, 0, 0, 0, 1, 0
               FROM facts WHERE NOT rejected AND received_at IS NOT NULL AND due_at IS NOT NULL AND done_at IS NOT NULL
             UNION ALL
             SELECT competent_agency, field, (due_at AT TIME ZONE INTERVAL '+07:00')::date, 0, 0, 0, 0, 0, 0, 0, 0, 1
               FROM facts WHERE NOT rejected AND received_at IS NOT NULL AND due_at IS NOT NULL AND done_at IS NOT NULL
         ) c
         GROUP BY agency, field, day",
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}
