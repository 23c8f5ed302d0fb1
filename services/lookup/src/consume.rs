//! The read model: what intake's and workflow's events say a citizen may see.
//!
//! A dossier's row holds the newest state's public view and a short public history. A state event
//! replaces the view only when its version is newer than the row's, and adds its public change to
//! the history whatever its order, so redelivered and reordered events leave the same row as the
//! events in order would (DESIGN.md "Order-tolerant projections"). The catalog keeps every
//! published version of every procedure; queries pick the version in force.
//!
//! The same functions build the live model (the consumers below) and a rebuilt one
//! ([`crate::rebuild`]), so the two are equal by construction, and the rebuild test checks it.

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use motcua_domain::events::{
    DossierEvent, PROCEDURE_PUBLISHED, REJECTED_AT_INTAKE, STATE_CHANGED, SUBMITTED,
};
use motcua_domain::status;
use motcua_platform::SharedClock;
use motcua_platform::bus::{CATALOG, DOSSIERS};
use motcua_platform::consumer::{ConsumerSpec, Event, HandleError, Handler};
use motcua_proto::common::{DossierStatus, Outcome};
use motcua_proto::events::{ChangeKind, DossierState, ProcedurePublished};
use motcua_proto::lookup::{PublicChange, PublicDossier};
use prost::Message;
use sqlx::PgConnection;

/// The durable consumer of dossier states (one for the whole service: lookup shows every field).
pub fn dossier_consumer() -> ConsumerSpec {
    ConsumerSpec::new("lookup-dossiers", DOSSIERS, "dossier.>")
        .only(&[SUBMITTED, REJECTED_AT_INTAKE, STATE_CHANGED])
        .batched(256)
}

/// The durable consumer of the catalog.
pub fn catalog_consumer() -> ConsumerSpec {
    ConsumerSpec::new("lookup-catalog", CATALOG, "catalog.>").only(&[PROCEDURE_PUBLISHED])
}

/// Applies dossier events to the model.
#[derive(Debug, Clone)]
pub struct DossierEvents {
    pub clock: SharedClock,
}

impl Handler for DossierEvents {
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
            apply_dossier(tx, &decoded, self.clock.now(), Announce::Yes).await
        })
    }
}

/// Applies catalog events to the model.
#[derive(Debug, Clone)]
pub struct CatalogEvents;

impl Handler for CatalogEvents {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            if event.event_type != PROCEDURE_PUBLISHED {
                return Ok(());
            }
            let published = ProcedurePublished::decode(event.payload.as_ref())
                .map_err(|e| HandleError::Poison(format!("procedure-published: {e}")))?;
            apply_procedure(tx, &published).await
        })
    }
}

/// The public change an event records, if the applicant sees it.
fn change(event: &DossierEvent, state: &DossierState) -> Option<PublicChange> {
    let (at, label) = match event {
        DossierEvent::Submitted(_) => (state.received_at, "Tiếp nhận hồ sơ".to_owned()),
        DossierEvent::RejectedAtIntake(_) => (
            state.stopped_at.or(state.received_at),
            "Không tiếp nhận hồ sơ".to_owned(),
        ),
        DossierEvent::StateChanged(e) => (
            e.at,
            status::change_label(
                ChangeKind::try_from(e.kind).unwrap_or_default(),
                &state.current_step_name,
            )?,
        ),
        DossierEvent::SupplementSubmitted(_) | DossierEvent::WithdrawalRequested(_) => return None,
    };
    Some(PublicChange {
        at,
        status: state.status,
        label,
        version: state.version,
    })
}

/// The public view of a state (without its history): no phone, no ID number, no officer.
pub fn view(state: &DossierState) -> PublicDossier {
    let st = DossierStatus::try_from(state.status).unwrap_or_default();
    // What the applicant is told now: an apology's new date replaces the due time (DESIGN.md §2,
    // "The new date is what the applicant is told"); a dossier never taken has nothing due.
    let promised_due_at = match st {
        DossierStatus::RejectedAtIntake => None,
        _ => state.apology_due_at.or(state.due_at),
    };
    let outcome = Outcome::try_from(state.outcome).unwrap_or_default();
    PublicDossier {
        dossier_code: state.dossier_code.clone(),
        procedure_name: state.procedure_name.clone(),
        applicant_name_masked: state.applicant_name_masked.clone(),
        status: state.status,
        status_label: status::label(st).to_owned(),
        received_at: state.received_at,
        due_at: state.due_at,
        finished_at: state.finished_at,
        public_note: state.public_note.clone(),
        competent_agency: state.competent_agency.clone(),
        competent_agency_name: String::new(),
        national_code: state.national_code,
        procedure_code: state.procedure_code.clone(),
        field: state.field.clone(),
        current_step_name: state.current_step_name.clone(),
        current_department: state.current_department.clone(),
        paused: state.paused,
        paused_since: state.paused_since,
        missing_documents: state.missing_documents.clone(),
        obligation_vnd: state.obligation_vnd,
        obligation_note: state.obligation_note.clone(),
        apology_reason: state.apology_reason.clone(),
        apology_due_at: state.apology_due_at,
        outcome: state.outcome,
        outcome_label: status::outcome_label(outcome).to_owned(),
        returned_at: state.returned_at,
        stopped_at: state.stopped_at,
        stop_kind: state.stop_kind,
        stop_reason: state.stop_reason.clone(),
        history: Vec::new(),
        version: state.version,
        channel: state.channel,
        current_department_name: String::new(),
        promised_due_at,
        original_due_at: state.original_due_at,
        obligation_paid_at: state.obligation_paid_at,
        obligation_payment_reference: state.obligation_payment_reference.clone(),
        rejection_reasons: Vec::new(),
    }
}

/// The public view an event gives: its state's, with what the event itself adds (the reasons a
/// dossier was refused at intake travel beside the state, not in it).
pub fn event_view(event: &DossierEvent, state: &DossierState) -> PublicDossier {
    let mut v = view(state);
    if let DossierEvent::RejectedAtIntake(e) = event {
        v.rejection_reasons = e.reasons.clone();
    }
    v
}

/// Adds `entry` to `history` (kept in version order) unless that version is there already.
fn merge(history: &mut Vec<PublicChange>, entry: Option<PublicChange>) -> bool {
    let Some(entry) = entry else { return false };
    match history.binary_search_by_key(&entry.version, |c| c.version) {
        Ok(_) => false,
        Err(at) => {
            history.insert(at, entry);
            true
        }
    }
}

/// Whether a write is announced to the replicas' caches ([`CHANGED`]): the live model's are; a
/// model being rebuilt beside it is read by no one yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    Yes,
    No,
}

/// Applies one dossier event in the caller's transaction: the view if newer, the history always.
pub async fn apply_dossier(
    tx: &mut PgConnection,
    event: &DossierEvent,
    now: DateTime<Utc>,
    announced: Announce,
) -> Result<(), HandleError> {
    if !event.is_state() {
        return Ok(());
    }
    let state = match event.state() {
        Some(s) if !s.dossier_code.is_empty() && s.version > 0 => s,
        _ => {
            return Err(HandleError::Poison(
                "state event without a state, dossier code or version".into(),
            ));
        }
    };
    let version = i64::try_from(state.version)
        .map_err(|_| HandleError::Poison(format!("version {} out of range", state.version)))?;
    let entry = change(event, state);
    let mut fresh = event_view(event, state);
    merge(&mut fresh.history, entry.clone());
    // Two round trips an event, the common case first: the row is read locked (an update), or
    // inserted (a new dossier). Each write announces itself in its own statement (RETURNING
    // pg_notify, delivered at commit): the lookup consumer's round trips are what bounds it.
    let held: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT version, view FROM dossiers WHERE dossier_code = $1 FOR UPDATE")
            .bind(&state.dossier_code)
            .fetch_optional(&mut *tx)
            .await?;
    let row = Written {
        state,
        version,
        now,
        announced,
    };
    let Some((held, bytes)) = held else {
        let inserted = row
            .bind(sqlx::query(
                "INSERT INTO dossiers (dossier_code, version, view, lookup_token_hmac, applicant_id_hmac, secret_key_id, applied_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dossier_code) DO NOTHING
                 RETURNING CASE WHEN $8 THEN pg_notify($9, revision || ' ' || dossier_code) END",
            ), &fresh)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if inserted {
            return Ok(());
        }
        // Another replica inserted it since the read: the row is there now.
        return Err(HandleError::Retry(format!(
            "{} was inserted concurrently; applying again",
            state.dossier_code
        )));
    };
    let mut old = PublicDossier::decode(bytes.as_slice())
        .map_err(|e| HandleError::Retry(format!("stored view does not decode: {e}")))?;
    if version > held {
        fresh.history = std::mem::take(&mut old.history);
        merge(&mut fresh.history, entry);
        row.bind(sqlx::query(
            "UPDATE dossiers SET version = $2, view = $3, lookup_token_hmac = $4, applicant_id_hmac = $5,
                 secret_key_id = $6, applied_at = $7, revision = revision + 1
             WHERE dossier_code = $1
             RETURNING CASE WHEN $8 THEN pg_notify($9, revision || ' ' || dossier_code) END",
        ), &fresh)
        .execute(&mut *tx)
        .await?;
    } else if merge(&mut old.history, entry) {
        // An older event, late: its change joins the history; the view stays.
        sqlx::query(
            "UPDATE dossiers SET view = $2, revision = revision + 1 WHERE dossier_code = $1
             RETURNING CASE WHEN $3 THEN pg_notify($4, revision || ' ' || dossier_code) END",
        )
        .bind(&state.dossier_code)
        .bind(old.encode_to_vec())
        .bind(announced == Announce::Yes)
        .bind(CHANGED)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A dossier row as written, bound as $1..$9 of the statements that write it: code, version,
/// the view (given), the three secret columns, applied at, whether to announce it, and on which channel.
struct Written<'a> {
    state: &'a DossierState,
    version: i64,
    now: DateTime<Utc>,
    announced: Announce,
}

impl<'a> Written<'a> {
    fn bind(
        &self,
        q: sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments>,
        view: &PublicDossier,
    ) -> sqlx::query::Query<'a, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let s: &'a DossierState = self.state;
        q.bind(&s.dossier_code)
            .bind(self.version)
            .bind(view.encode_to_vec())
            .bind(&s.lookup_token_hmac)
            .bind(&s.applicant_id_hmac)
            .bind(&s.secret_key_id)
            .bind(self.now)
            .bind(self.announced == Announce::Yes)
            .bind(CHANGED)
    }
}

/// The channel on which a committed change of a dossier's row is announced to every replica
/// (NOTIFY is delivered at commit, so no replica hears of a change before it can read it).
pub const CHANGED: &str = "motcua_lookup_rows";

/// Stores a published procedure version (the same version published twice is the same row).
pub async fn apply_procedure(
    tx: &mut PgConnection,
    published: &ProcedurePublished,
) -> Result<(), HandleError> {
    let Some(p) = &published.procedure else {
        return Err(HandleError::Poison(
            "procedure-published without a procedure".into(),
        ));
    };
    let effective = NaiveDate::parse_from_str(&p.effective_from, "%Y-%m-%d").map_err(|_| {
        HandleError::Poison(format!(
            "procedure {} version {}: effective_from {:?} is not YYYY-MM-DD",
            p.code, p.version, p.effective_from
        ))
    })?;
    let version = i32::try_from(p.version).map_err(|_| {
        HandleError::Poison(format!("procedure version {} out of range", p.version))
    })?;
    // Who published it is an officer's account: not public.
    let mut public = p.clone();
    public.published_by = String::new();
    sqlx::query(
        "INSERT INTO procedures (code, version, effective_from, field, name, folded_name, record,
                                 folded_keywords)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (code, version) DO UPDATE SET effective_from = EXCLUDED.effective_from,
             field = EXCLUDED.field, name = EXCLUDED.name, folded_name = EXCLUDED.folded_name,
             record = EXCLUDED.record, folded_keywords = EXCLUDED.folded_keywords",
    )
    .bind(&p.code)
    .bind(version)
    .bind(effective)
    .bind(&p.field)
    .bind(&p.name)
    .bind(motcua_domain::text::fold(&p.name))
    .bind(public.encode_to_vec())
    .bind(motcua_domain::text::fold(&p.keywords.join(" ")))
    .execute(tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64) -> Option<PublicChange> {
        Some(PublicChange {
            version,
            ..Default::default()
        })
    }

    #[test]
    fn history_keeps_version_order_and_each_version_once() {
        let mut h = Vec::new();
        for v in [3, 1, 3, 2, 5, 1] {
            merge(&mut h, entry(v));
        }
        let versions: Vec<u64> = h.iter().map(|c| c.version).collect();
        assert_eq!(versions, [1, 2, 3, 5]);
        assert!(!merge(&mut h, None));
    }
}
