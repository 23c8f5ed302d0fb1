//! Property test: on random histories (two agencies of one province, pauses included) and random
//! periods, Biểu 06 from PostgreSQL equals a plain reading of the definitions written again here
//! (an independent oracle, cell by cell), and properties that tie separate reads together hold:
//! the counts kept event by event equal those recomputed from the facts; per procedure equals per
//! field; the province equals its agencies added up; what is in progress at a period's end is what
//! the next period carries over.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use common::cells;
use motcua_domain::events::DossierEvent;
use motcua_domain::time::ts;
use motcua_platform::config::ServerUrl;
use motcua_proto::common::{Channel, DossierStatus, Outcome, PauseReason, StopKind};
use motcua_proto::events::{DossierState, DossierStateChanged};
use motcua_reporting::form06::{self, Agencies, Scope};
use motcua_reporting::periods::Days;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Fact {
    agency: usize,
    field: usize,
    channel: Channel,
    received: i64,
    due: i64,
    done: Option<(i64, Option<Outcome>)>,
    /// Paused (waiting for a supplement) since this minute, for a dossier not done.
    paused_since: Option<i64>,
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

const FIELDS: [&str; 3] = ["dat-dai", "moi-truong", "khoang-san"];
/// Two agencies of province P.
const PROVINCE: &str = "P";
const AGENCIES: [&str; 2] = ["000.00.01.P", "000.00.02.P"];

fn fact() -> impl Strategy<Value = Fact> {
    // Minutes from 1 January 2026 over about four months; due 1–40 days later; done 0–60 days
    // after receipt, as a result (with an outcome) or a stop; or not done, and perhaps paused
    // since 0–60 days after receipt.
    (
        (0usize..2, 0usize..3, 0usize..3),
        0i64..(120 * 1440),
        1i64..(40 * 1440),
        proptest::option::of((0i64..(60 * 1440), proptest::option::of(1i32..4))),
        proptest::option::of(0i64..(60 * 1440)),
    )
        .prop_map(
            |((agency, field, channel), received, due, done, pause)| Fact {
                agency,
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
                paused_since: if done.is_none() {
                    pause.map(|after| received + after)
                } else {
                    None
                },
            },
        )
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
        receiving_agency: AGENCIES[f.agency].into(),
        competent_agency: AGENCIES[f.agency].into(),
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
    if let Some(since) = f.paused_since {
        s.status = DossierStatus::SupplementRequested as i32;
        s.paused = PauseReason::Supplement as i32;
        s.paused_since = Some(ts(at(since)));
    }
    s
}

/// The definitions, read plainly (DESIGN.md §2, README "Reporting"), for the dossiers `of`.
fn oracle(
    facts: &[Fact],
    of: impl Fn(&Fact) -> bool,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
    taken: DateTime<Utc>,
) -> [u64; 12] {
    let mut c = [0u64; 12];
    for f in facts.iter().filter(|f| of(f)) {
        let received = at(f.received);
        let done = f.done.map(|(t, o)| (at(t), o));
        // Counted: received before the end, and not done before the start.
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
                // Overdue: its due time passed before the figures were taken — unless its clock
                // stood still then: paused by that instant, with the due time not yet passed
                // when the pause began (workflow moves the due time when it resumes).
                let clock_stood_still = f
                    .paused_since
                    .map(at)
                    .is_some_and(|since| since <= taken && at(f.due) >= since);
                if at(f.due) < taken && !clock_stood_still {
                    c[11] += 1;
                } else {
                    c[10] += 1;
                }
            }
        }
    }
    c
}

fn sum(rows: &[[u64; 12]]) -> [u64; 12] {
    let mut t = [0; 12];
    for r in rows {
        for (a, b) in t.iter_mut().zip(r) {
            *a += b;
        }
    }
    t
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
            &motcua_platform::db::Target::on_server(&url, &database).unwrap(),
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
                // An earlier state (version 2: not done yet, due a week sooner, another field
                // and agency) and the last one (version 3), in either order: the counts must end
                // as the last state alone says.
                let last = state(i, f);
                let mut earlier = last.clone();
                earlier.version = 2;
                earlier.finished_at = None;
                earlier.stopped_at = None;
                earlier.outcome = 0;
                earlier.due_at = Some(ts(at(f.due - 7 * 1440)));
                earlier.field = FIELDS[(f.field + 1) % FIELDS.len()].into();
                earlier.competent_agency = AGENCIES[(f.agency + 1) % AGENCIES.len()].into();
                let mut states = vec![earlier, last];
                if i % 2 == 1 {
                    states.reverse();
                }
                for s in states {
                    let event = DossierEvent::StateChanged(DossierStateChanged {
                        state: Some(s),
                        ..Default::default()
                    });
                    motcua_reporting::consume::apply(&mut tx, &event).await.unwrap();
                }
            }
            tx.commit().await.unwrap();
            // The counts kept event by event equal the counts recomputed from the facts.
            let mut tx = pool.begin().await.unwrap();
            let kept = daily_rows(&mut tx).await;
            motcua_reporting::daily::rebuild(&mut tx).await.unwrap();
            let rebuilt = daily_rows(&mut tx).await;
            tx.rollback().await.unwrap();
            let report = async |agencies: Agencies, by_procedure: bool, days: Days| {
                form06::compute(&pool, days, now, &Scope { agencies, by_procedure })
                    .await
                    .unwrap()
            };
            let province = || Agencies::Province(PROVINCE.into());
            let by_field = report(province(), false, days).await;
            let by_procedure = report(province(), true, days).await;
            let mut each = Vec::new();
            for a in AGENCIES {
                each.push(report(Agencies::One(a.into()), false, days).await);
            }
            // The period that follows this one, of the same length.
            let next = Days {
                from: days.to + Duration::days(1),
                to: days.to + Duration::days(1) + (days.to - days.from),
            };
            let following = report(province(), false, next).await;
            (kept, rebuilt, by_field, by_procedure, each, following)
        });
        let (kept, rebuilt, (rows, total, taken_at), (procedure_rows, _, _), each, following) =
            result;
        prop_assert_eq!(kept, rebuilt);
        // Per procedure (one procedure here) reads the facts and must say the same.
        prop_assert_eq!(
            procedure_rows.iter().map(cells).collect::<Vec<_>>(),
            rows.iter().map(cells).collect::<Vec<_>>()
        );
        prop_assert_eq!(taken_at, taken);
        // Every cell of the province, per field, and of each agency, per field, as the oracle
        // reads the definitions.
        for (i, field) in FIELDS.iter().enumerate() {
            let expected = oracle(&facts, |f| f.field == i, from, end, taken);
            let got = rows
                .iter()
                .find(|r| r.field == *field)
                .map(cells)
                .unwrap_or([0; 12]);
            prop_assert_eq!(got, expected, "province, field {}", field);
            for (a, (agency_rows, _, _)) in each.iter().enumerate() {
                let expected =
                    oracle(&facts, |f| f.field == i && f.agency == a, from, end, taken);
                let got = agency_rows
                    .iter()
                    .find(|r| r.field == *field)
                    .map(cells)
                    .unwrap_or([0; 12]);
                prop_assert_eq!(got, expected, "agency {}, field {}", AGENCIES[a], field);
                prop_assert!(
                    agency_rows.iter().all(|r| r.agency == AGENCIES[a]),
                    "an agency's report holds its rows only"
                );
            }
        }
        // The province is its agencies added up (read by a different filter).
        prop_assert_eq!(
            cells(&total),
            sum(&each.iter().map(|(_, t, _)| cells(t)).collect::<Vec<_>>())
        );
        // What is in progress at this period's end is what the next one carries over.
        prop_assert_eq!(following.1.carried_over, total.in_progress_total);
    });
    runtime.block_on(async {
        pool.close().await;
        motcua_platform::db::drop_database(&url, &database)
            .await
            .unwrap();
    });
}
