//! The fact rows: one per dossier, the newest state's figures. A state event replaces the row only
//! when its version is newer, so redelivered and reordered events leave the row the events in
//! order would (DESIGN.md "Order-tolerant projections"). The same function builds the live model
//! (the consumer below) and serves any rebuild, so both give the same reports.

use crate::daily::{self, Contribution};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use motcua_domain::events::{DossierEvent, REJECTED_AT_INTAKE, STATE_CHANGED, SUBMITTED};
use motcua_domain::time::instant;
use motcua_platform::bus::DOSSIERS;
use motcua_platform::consumer::{ConsumerSpec, Event, HandleError, Handler};
use motcua_proto::common::Channel;
use motcua_proto::events::DossierState;
use sqlx::{PgConnection, Row};

/// The durable consumer of dossier states (one for the whole service: reports cover every field).
pub fn consumer() -> ConsumerSpec {
    // Many events per transaction: the projection must keep up with workflow's rate (one commit
    // per event does not, on this machine's disk). Two replicas' batches may then lock the same
    // daily rows in opposite orders; PostgreSQL breaks such a deadlock within a second, and the platform
    // redelivers the batch that lost a second later (a conflict is retried, never dead-lettered),
    // so it costs a moment, not data.
    ConsumerSpec::new("reporting-dossiers", DOSSIERS, "dossier.>")
        .only(&[SUBMITTED, REJECTED_AT_INTAKE, STATE_CHANGED])
        .batched(256)
}

/// Applies dossier events to the fact rows.
#[derive(Debug, Clone, Copy)]
pub struct Facts;

impl Handler for Facts {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let Some(decoded) = DossierEvent::decode(&event.event_type, &event.payload)
                .map_err(|e| HandleError::Poison(e.to_string()))?
            else {
                return Ok(());
            };
            apply(tx, &decoded).await
        })
    }
}

fn small(v: i32, what: &str) -> Result<i16, HandleError> {
    i16::try_from(v).map_err(|_| HandleError::Poison(format!("{what} {v} out of range")))
}

/// Applies one dossier event in the caller's transaction: the row if the version is newer.
pub async fn apply(tx: &mut PgConnection, event: &DossierEvent) -> Result<(), HandleError> {
    let Some(s) = event.state() else {
        // Intake's requests to workflow carry no state; workflow's answer does.
        return Ok(());
    };
    if s.dossier_code.is_empty() || s.version == 0 {
        return Err(HandleError::Poison(
            "state event without a dossier code or version".into(),
        ));
    }
    let rejected = matches!(event, DossierEvent::RejectedAtIntake(_));
    let change = match event {
        DossierEvent::StateChanged(change) => Some(change),
        _ => None,
    };
    upsert(tx, s, rejected, change).await
}

/// Takes the dossier's lock (one dossier's events are applied one at a time across replicas, also
/// before its row exists: FOR UPDATE locks no row that is not there) and, for a change, records the
/// state it led to (once per version, whatever the order events come in) in the same statement:
/// the projection is bound by round trips, one statement fewer per change. (The lock cannot share
/// the row's read: that statement's snapshot would be taken before the lock is held.)
async fn lock_and_record_step(
    tx: &mut PgConnection,
    s: &DossierState,
    version: i64,
    change: Option<&motcua_proto::events::DossierStateChanged>,
) -> Result<(), HandleError> {
    let Some(change) = change else {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('reporting-fact:' || $1))")
            .bind(&s.dossier_code)
            .execute(&mut *tx)
            .await?;
        return Ok(());
    };
    let actor = change.actor.clone().unwrap_or_default();
    sqlx::query(
        "WITH step AS (
            INSERT INTO steps (dossier_code, version, at, kind, actor, actor_name, competent_agency, step, step_due_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dossier_code, version) DO NOTHING)
         SELECT pg_advisory_xact_lock(hashtext('reporting-fact:' || $1))",
    )
    .bind(&s.dossier_code)
    .bind(version)
    .bind(instant(change.at.as_ref()))
    .bind(small(change.kind, "change kind")?)
    .bind(&actor.subject)
    .bind(&actor.name)
    .bind(&s.competent_agency)
    .bind(&s.current_step)
    .bind(instant(s.step_due_at.as_ref()))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The row's contribution to the daily counts as it stands, locked until the transaction ends.
async fn current(
    tx: &mut PgConnection,
    code: &str,
) -> sqlx::Result<Option<(i64, Option<Contribution>)>> {
    let row = sqlx::query(
        "SELECT version, rejected, competent_agency, field, channel, received_at, done_at, outcome, finished_at, due_at
         FROM facts WHERE dossier_code = $1 FOR UPDATE",
    )
    .bind(code)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| {
        let version: i64 = r.get("version");
        let rejected: bool = r.get("rejected");
        let finished: Option<DateTime<Utc>> = r.get("finished_at");
        let contribution = (!rejected).then(|| Contribution {
            agency: r.get("competent_agency"),
            field: r.get("field"),
            online: r.get::<i16, _>("channel") == Channel::Online as i16,
            received: r.get("received_at"),
            done: r.get("done_at"),
            outcome: if finished.is_some() {
                r.get("outcome")
            } else {
                0
            },
            due: r.get("due_at"),
        });
        (version, contribution)
    }))
}

async fn upsert(
    tx: &mut PgConnection,
    s: &DossierState,
    rejected: bool,
    change: Option<&motcua_proto::events::DossierStateChanged>,
) -> Result<(), HandleError> {
    let version = i64::try_from(s.version)
        .map_err(|_| HandleError::Poison(format!("version {} out of range", s.version)))?;
    let procedure_version = i32::try_from(s.procedure_version).map_err(|_| {
        HandleError::Poison(format!(
            "procedure version {} out of range",
            s.procedure_version
        ))
    })?;
    let supplements = i32::try_from(s.supplement_requests).unwrap_or(i32::MAX);
    // Under the dossier's lock the daily counts move from exactly the row that was to the one
    // that is.
    lock_and_record_step(tx, s, version, change).await?;
    let before = current(tx, &s.dossier_code).await?;
    if before.as_ref().is_some_and(|(v, _)| *v >= version) {
        // An older or repeated state: the row already says more.
        return Ok(());
    }
    let written = sqlx::query(
        "INSERT INTO facts (dossier_code, version, procedure_code, procedure_version, procedure_name, field,
             receiving_agency, competent_agency, channel, status, rejected, received_at, due_at, original_due_at,
             apology_due_at, finished_at, stopped_at, stop_kind, returned_at, outcome, supplement_requests,
             paused, current_department, assignee, paused_since)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
             $21, $22, $23, $24, $25)
         ON CONFLICT (dossier_code) DO UPDATE SET
             version = EXCLUDED.version, procedure_code = EXCLUDED.procedure_code,
             procedure_version = EXCLUDED.procedure_version, procedure_name = EXCLUDED.procedure_name,
             field = EXCLUDED.field, receiving_agency = EXCLUDED.receiving_agency,
             competent_agency = EXCLUDED.competent_agency, channel = EXCLUDED.channel,
             status = EXCLUDED.status, rejected = EXCLUDED.rejected, received_at = EXCLUDED.received_at,
             due_at = EXCLUDED.due_at, original_due_at = EXCLUDED.original_due_at,
             apology_due_at = EXCLUDED.apology_due_at, finished_at = EXCLUDED.finished_at,
             stopped_at = EXCLUDED.stopped_at, stop_kind = EXCLUDED.stop_kind,
             returned_at = EXCLUDED.returned_at, outcome = EXCLUDED.outcome,
             supplement_requests = EXCLUDED.supplement_requests, paused = EXCLUDED.paused,
             current_department = EXCLUDED.current_department, assignee = EXCLUDED.assignee,
             paused_since = EXCLUDED.paused_since
         WHERE facts.version < EXCLUDED.version",
    )
    .bind(&s.dossier_code)
    .bind(version)
    .bind(&s.procedure_code)
    .bind(procedure_version)
    .bind(&s.procedure_name)
    .bind(&s.field)
    .bind(&s.receiving_agency)
    .bind(&s.competent_agency)
    .bind(small(s.channel, "channel")?)
    .bind(small(s.status, "status")?)
    .bind(rejected)
    .bind(if rejected { None } else { instant(s.received_at.as_ref()) })
    .bind(instant(s.due_at.as_ref()))
    .bind(instant(s.original_due_at.as_ref()))
    .bind(instant(s.apology_due_at.as_ref()))
    .bind(instant(s.finished_at.as_ref()))
    .bind(instant(s.stopped_at.as_ref()))
    .bind(small(s.stop_kind, "stop kind")?)
    .bind(instant(s.returned_at.as_ref()))
    .bind(small(s.outcome, "outcome")?)
    .bind(supplements)
    .bind(small(s.paused, "pause reason")?)
    .bind(&s.current_department)
    .bind(s.assignee.as_ref().map(|a| a.subject.clone()).unwrap_or_default())
    .bind(if s.paused != 0 { instant(s.paused_since.as_ref()) } else { None })
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if written == 0 {
        return Ok(());
    }
    let finished = instant(s.finished_at.as_ref());
    let after = (!rejected).then(|| Contribution {
        agency: s.competent_agency.clone(),
        field: s.field.clone(),
        online: s.channel == Channel::Online as i32,
        received: instant(s.received_at.as_ref()),
        done: finished.or(instant(s.stopped_at.as_ref())),
        outcome: if finished.is_some() {
            small(s.outcome, "outcome").unwrap_or(0)
        } else {
            0
        },
        due: instant(s.due_at.as_ref()),
    });
    let old = before.and_then(|(_, c)| c);
    daily::shift(tx, old.as_ref(), after.as_ref()).await?;
    Ok(())
}
