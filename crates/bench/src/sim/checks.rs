//! At the end of the year, every service against the simulator's own records: each dossier's
//! final state in workflow and on the public lookup; Biểu 06 for the year and each month, per
//! field, cell by cell; each notification once and sent; no dead letter, no event left in an
//! outbox, no job failed. Each check is a line of the table the run prints.

use super::officers::People;
use super::truth::{self, Cells, Truth};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use motcua_calendar::vietnam;
use motcua_platform::bus::{Bus, DEADLETTER};
use motcua_proto::lookup::LookupDossierRequest;
use motcua_proto::reporting::{GetForm06Request, Period, PeriodKind};
use motcua_proto::workflow::GetCaseRequest;
use sqlx::PgPool;

/// One line of the table: what was checked, how many things, and what did not match.
#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub checked: u64,
    pub mismatches: Vec<String>,
}

impl Check {
    fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            checked: 0,
            mismatches: Vec::new(),
        }
    }

    fn expect<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: impl FnOnce() -> String,
        got: T,
        want: T,
    ) {
        self.checked += 1;
        if got != want {
            self.mismatches
                .push(format!("{}: {got:?}, expected {want:?}", what()));
        }
    }
}

/// Every dossier's status in workflow and on the public lookup.
pub async fn states(people: &People, truths: &[Truth]) -> anyhow::Result<Vec<Check>> {
    let mut workflow = Check::new("final state in workflow (GetCase)");
    let mut lookup = Check::new("final state on the public lookup (LookupDossier)");
    let mut outcomes =
        Check::new("outcome recorded by workflow = the calendar's for the sim's times");
    let mut leader = people.leader();
    let mut citizen = people.citizen();
    for t in truths {
        let case = leader
            .get_case(GetCaseRequest {
                dossier_code: t.code.clone(),
                with_history: false,
            })
            .await?
            .into_inner()
            .case
            .unwrap_or_default();
        workflow.expect(
            || t.code.clone(),
            case.status,
            t.status.map(|s| s as i32).unwrap_or(0),
        );
        if let Some(o) = t.outcome {
            outcomes.expect(|| t.code.clone(), case.outcome, o as i32);
        }
        let public = citizen
            .lookup_dossier(LookupDossierRequest {
                dossier_code: t.code.clone(),
                secret: t.lookup_token.clone(),
            })
            .await?
            .into_inner()
            .dossier
            .unwrap_or_default();
        lookup.expect(
            || t.code.clone(),
            public.status,
            t.status.map(|s| s as i32).unwrap_or(0),
        );
    }
    Ok(vec![workflow, outcomes, lookup])
}

/// The first instant of a day in Vietnam.
fn day_start(d: NaiveDate) -> DateTime<Utc> {
    d.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(vietnam()).single())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Biểu 06 for the year and each of its months (calendar months, days in Vietnam's time), per
/// field, against the form computed from the simulator's records.
pub async fn form06(people: &People, truths: &[Truth], year: i32) -> anyhow::Result<Check> {
    let mut check = Check::new(format!(
        "Biểu 06 {year} and its 12 months, per field, cell by cell"
    ));
    let mut periods = vec![(
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year, 12, 31),
    )];
    for m in 1..=12 {
        let first = NaiveDate::from_ymd_opt(year, m, 1);
        let last = first.and_then(|f| {
            f.checked_add_months(chrono::Months::new(1))
                .and_then(|n| n.pred_opt())
        });
        periods.push((first, last));
    }
    let mut reporting = people.reporting();
    for (first, last) in periods {
        let (Some(first), Some(last)) = (first, last) else {
            anyhow::bail!("a period of {year}");
        };
        let from = day_start(first);
        let end = day_start(last.succ_opt().unwrap_or(last));
        let want = truth::form06(truths, from, end);
        let got = reporting
            .get_form06(GetForm06Request {
                period: Some(Period {
                    kind: PeriodKind::Custom as i32,
                    from: first.to_string(),
                    to: last.to_string(),
                    ..Default::default()
                }),
                agency: people.agency.clone(),
                by_procedure: false,
            })
            .await?
            .into_inner();
        let label = if first.month() == 1 && last.month() == 12 {
            format!("{year}")
        } else {
            format!("{year}-{:02}", first.month())
        };
        let mut fields: std::collections::BTreeSet<String> = want.keys().cloned().collect();
        fields.extend(got.rows.iter().map(|r| r.field.clone()));
        for field in fields {
            let g = got
                .rows
                .iter()
                .find(|r| r.field == field)
                .map(Cells::from_row)
                .unwrap_or_default();
            let w = want.get(&field).copied().unwrap_or_default();
            for ((col, gv), (_, wv)) in g.columns().into_iter().zip(w.columns()) {
                check.expect(|| format!("{label} {field} {col}"), gv, wv);
            }
        }
    }
    Ok(check)
}

/// Nothing left behind: dead letters, unpublished or parked events, failed jobs; notifications
/// each once and sent.
pub async fn leftovers(
    bus: &Bus,
    pools: &[(&'static str, PgPool)],
    truths: &[Truth],
    sms_lookups: u64,
) -> anyhow::Result<Vec<Check>> {
    let mut dead = Check::new("no dead letter");
    let stream = bus.js.get_stream(bus.stream_name(DEADLETTER)).await;
    let n = match stream {
        Ok(mut s) => s.info().await?.state.messages,
        Err(_) => 0,
    };
    dead.expect(|| "dead letters".into(), n, 0);
    let mut outbox = Check::new("no event unpublished or parked in an outbox");
    let mut jobs = Check::new("no job failed");
    let mut sent = Check::new("each notification once, and sent");
    for (service, pool) in pools {
        let (left,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(pool)
                .await?;
        outbox.expect(|| format!("{service}'s outbox"), left, 0);
        let (failed,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM jobs WHERE failed_at IS NOT NULL")
                .fetch_one(pool)
                .await?;
        jobs.expect(|| format!("{service}'s jobs"), failed, 0);
        if *service == "notification" {
            let (doubled,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM (SELECT 1 FROM deliveries
                 GROUP BY event_id, channel, recipient_kind, recipient_ref HAVING count(*) > 1) d",
            )
            .fetch_one(pool)
            .await?;
            sent.expect(
                || "deliveries made twice for one event and recipient".into(),
                doubled,
                0,
            );
            let unsent: Vec<(String, String, String, i64)> = sqlx::query_as(
                "SELECT status, trigger || ' (' || coalesce(last_error, '') || ')', channel, count(*)
                 FROM deliveries WHERE status NOT IN ('sent', 'delivered')
                 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            )
            .fetch_all(pool)
            .await?;
            sent.checked += 1;
            for (status, trigger, channel, n) in unsent {
                sent.mismatches
                    .push(format!("{n} deliveries {status}: {trigger} by {channel}"));
            }
            let codes: Vec<String> = truths.iter().map(|t| t.code.clone()).collect();
            let (told,): (i64,) = sqlx::query_as(
                "SELECT count(DISTINCT dossier_code) FROM deliveries
                 WHERE recipient_kind = 'applicant' AND dossier_code = ANY($1)",
            )
            .bind(&codes)
            .fetch_one(pool)
            .await?;
            sent.expect(
                || "dossiers whose applicant was told".into(),
                told,
                codes.len() as i64,
            );
            let (replies,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM deliveries WHERE trigger = 'sms-reply'")
                    .fetch_one(pool)
                    .await?;
            sent.expect(
                || "SMS lookups answered, once each".into(),
                replies,
                sms_lookups as i64,
            );
        }
    }
    Ok(vec![dead, outbox, jobs, sent])
}
