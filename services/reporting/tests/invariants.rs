//! Property test: on random histories and random periods, Biểu 06 from PostgreSQL equals a plain
//! reading of the definitions written again here (an independent oracle), and its invariants hold:
//! (3) = (4) + (5) + (6), (3) = (7) + (11), (7) = (8) + (9) + (10) + unclassified,
//! (11) = (12) + (13).

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use common::cells;
use motcua_domain::events::DossierEvent;
use motcua_domain::time::ts;
use motcua_platform::config::ServerUrl;
use motcua_proto::common::{Channel, DossierStatus, Outcome, StopKind};
use motcua_proto::events::{DossierState, DossierStateChanged};
use motcua_reporting::form06::{self, Scope};
use motcua_reporting::periods::Days;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Fact {
    field: usize,
    channel: Channel,
    received: i64,
    due: i64,
    done: Option<(i64, Option<Outcome>)>,
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

const FIELDS: [&str; 3] = ["dat-dai", "moi-truong", "khoang-san"];

fn fact() -> impl Strategy<Value = Fact> {
    // Minutes from 1 January 2026 over about four months; due 1–40 days later; done 0–60 days
    // after receipt, as a result (with an outcome) or a stop.
    (
        0usize..3,
        0usize..3,
        0i64..(120 * 1440),
        1i64..(40 * 1440),
        proptest::option::of((0i64..(60 * 1440), proptest::option::of(1i32..4))),
    )
        .prop_map(|(field, channel, received, due, done)| Fact {
            field,
            channel: [Channel::Counter, Channel::Online, Channel::Postal][channel],
            received,
            due: received + due,
            done: done.map(|(after, outcome)| {
                (
                    received + after,
                    outcome.map(|o| Outcome::try_from(o).unwrap()),
                )
            }),
        })
}

fn at(minutes: i64) -> DateTime<Utc> {
    base() + Duration::minutes(minutes)
}

fn state(i: usize, f: &Fact) -> DossierState {
    let mut s = DossierState {
        dossier_code: format!("P-{i:04}"),
        version: 3,
        status: DossierStatus::InProgress as i32,
        procedure_code: "1.013831".into(),
        procedure_version: 1,
        procedure_name: "Thủ tục".into(),
        field: FIELDS[f.field].into(),
        receiving_agency: "A".into(),
        competent_agency: "A".into(),
        channel: f.channel as i32,
        received_at: Some(ts(at(f.received))),
        due_at: Some(ts(at(f.due))),
        ..Default::default()
    };
    match f.done {
        Some((t, Some(outcome))) => {
            s.finished_at = Some(ts(at(t)));
            s.outcome = outcome as i32;
        }
        Some((t, None)) => {
            s.stopped_at = Some(ts(at(t)));
            s.stop_kind = StopKind::Refused as i32;
        }
        None => {}
    }
    s
}

/// The definitions, read plainly (DESIGN.md §2), for one field.
fn oracle(
    facts: &[Fact],
    field: usize,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
    taken: DateTime<Utc>,
) -> [u64; 12] {
    let mut c = [0u64; 12];
    for f in facts.iter().filter(|f| f.field == field) {
        let received = at(f.received);
        let done = f.done.map(|(t, o)| (at(t), o));
        if received >= end || done.is_some_and(|(d, _)| d < from) {
            continue;
        }
        c[0] += 1;
        if received < from {
            c[3] += 1;
        } else if f.channel == Channel::Online {
            c[1] += 1;
        } else {
            c[2] += 1;
        }
        match done {
            Some((d, outcome)) if d < end => {
                c[4] += 1;
                match outcome {
                    Some(Outcome::Early) => c[5] += 1,
                    Some(Outcome::OnTime) => c[6] += 1,
                    Some(Outcome::Late) => c[7] += 1,
                    _ => c[8] += 1,
                }
            }
            _ => {
                c[9] += 1;
                if at(f.due) < taken {
                    c[11] += 1;
                } else {
                    c[10] += 1;
                }
            }
        }
    }
    c
}

/// The daily counts, without zero rows.
async fn daily_rows(conn: &mut sqlx::PgConnection) -> Vec<(String, String, NaiveDate, Vec<i64>)> {
    use sqlx::Row;
    sqlx::query(
        "SELECT * FROM daily WHERE received_online + received_other + done + early + on_time + late + due + due_and_done <> 0
           OR least(received_online, received_other, done, early, on_time, late, due, due_and_done) <> 0
         ORDER BY agency, field, day",
    )
    .fetch_all(conn)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("agency"),
            r.get("field"),
            r.get("day"),
            ["received_online", "received_other", "done", "early", "on_time", "late", "due", "due_and_done", "due_of_done"]
                .iter()
                .map(|c| r.get::<i64, _>(*c))
                .collect(),
        )
    })
    .collect()
}

#[test]
fn form06_equals_its_definition_on_random_histories() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = ServerUrl::new(
        &std::env::var("MOTCUA_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
    );
    let database = format!(
        "t_{}_reporting_prop",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    let pool = runtime
        .block_on(motcua_platform::db::connect(
            &url,
            &database,
            4,
            &motcua_reporting::MIGRATIONS,
        ))
        .unwrap();
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        facts in proptest::collection::vec(fact(), 0..60),
        from_day in 0i64..120,
        length in 0i64..60,
        now_day in 0i64..200,
    )| {
        let from_date = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(from_day);
        let days = Days { from: from_date, to: from_date + Duration::days(length) };
        let now = base() + Duration::days(now_day) + Duration::hours(5);
        let (from, end) = days.instants();
        let taken = end.min(now);
        let result = runtime.block_on(async {
            sqlx::query("TRUNCATE facts, daily").execute(&pool).await.unwrap();
            let mut tx = pool.begin().await.unwrap();
            for (i, f) in facts.iter().enumerate() {
                // An earlier state (version 2: not done yet, due a week sooner, another field)
                // and the last one (version 3), in either order: the counts must end as the last
                // state alone says.
                let last = state(i, f);
                let mut earlier = last.clone();
                earlier.version = 2;
                earlier.finished_at = None;
                earlier.stopped_at = None;
                earlier.outcome = 0;
                earlier.due_at = Some(ts(at(f.due - 7 * 1440)));
                earlier.field = FIELDS[(f.field + 1) % FIELDS.len()].into();
                let mut states = vec![earlier, last];
                if i % 2 == 1 {
                    states.reverse();
                }
                for s in states {
                    let event = DossierEvent::StateChanged(DossierStateChanged {
                        state: Some(s),
                        ..Default::default()
                    });
                    motcua_reporting::facts::apply(&mut tx, &event).await.unwrap();
                }
            }
            tx.commit().await.unwrap();
            // The counts kept event by event equal the counts recomputed from the facts.
            let mut tx = pool.begin().await.unwrap();
            let kept = daily_rows(&mut tx).await;
            motcua_reporting::daily::rebuild(&mut tx).await.unwrap();
            let rebuilt = daily_rows(&mut tx).await;
            tx.rollback().await.unwrap();
            let by_field = form06::compute(&pool, days, now, &Scope { agency: None, by_procedure: false })
                .await
                .unwrap();
            let by_procedure = form06::compute(&pool, days, now, &Scope { agency: None, by_procedure: true })
                .await
                .unwrap();
            (kept, rebuilt, by_field, by_procedure)
        });
        let (kept, rebuilt, (rows, total, taken_at), (procedure_rows, _, _)) = result;
        prop_assert_eq!(kept, rebuilt);
        // Per procedure (one procedure here) reads the facts and must say the same.
        prop_assert_eq!(
            procedure_rows.iter().map(cells).collect::<Vec<_>>(),
            rows.iter().map(cells).collect::<Vec<_>>()
        );
        prop_assert_eq!(taken_at, taken);
        for (i, _) in FIELDS.iter().enumerate() {
            let expected = oracle(&facts, i, from, end, taken);
            let got = rows
                .iter()
                .find(|r| r.field == FIELDS[i])
                .map(cells)
                .unwrap_or([0; 12]);
            prop_assert_eq!(got, expected, "field {}", FIELDS[i]);
        }
        for r in rows.iter().chain(std::iter::once(&total)) {
            prop_assert_eq!(r.received_total, r.received_online + r.received_counter_postal + r.carried_over);
            prop_assert_eq!(r.received_total, r.resolved_total + r.in_progress_total);
            prop_assert_eq!(
                r.resolved_total,
                r.resolved_early + r.resolved_on_time + r.resolved_late + r.resolved_unclassified
            );
            prop_assert_eq!(r.in_progress_total, r.in_progress_within_deadline + r.in_progress_overdue);
        }
    });
    runtime.block_on(async {
        pool.close().await;
        motcua_platform::db::drop_database(&url, &database)
            .await
            .unwrap();
    });
}
