//! The events intake publishes (names and subjects are shared: [`motcua_domain::events`]).
//!
//! `submitted` and `rejected-at-intake` carry the dossier's state at version 1. After that only
//! workflow raises the version (DESIGN.md §3): intake's later events, `supplement-submitted` and
//! `withdrawal-requested`, are requests to workflow and carry the dossier's code, not a state.
//! Secrets an applicant looks the dossier up with travel only as keyed hashes.

use motcua_domain::secrets::SecretHasher;
use motcua_domain::status::national_code;
use motcua_domain::text::mask_name;
use motcua_platform::auth::Caller;
use motcua_platform::outbox::OutboxEvent;
use motcua_proto::common::{Actor, DossierStatus, Procedure};
use motcua_proto::events::DossierState;
use motcua_proto::intake::Receipt;

pub use motcua_domain::events::{
    REJECTED_AT_INTAKE, SUBMITTED, SUPPLEMENT_SUBMITTED, WITHDRAWAL_REQUESTED,
};

pub fn actor(c: &Caller) -> Actor {
    Actor {
        subject: c.subject.clone(),
        name: c.name.clone(),
        agency: c.agency.clone(),
    }
}

/// The public state of a dossier as intake issues it: version 1, received or rejected.
pub fn first_state(
    receipt: &Receipt,
    procedure: &Procedure,
    status: DossierStatus,
    secrets: &SecretHasher,
) -> DossierState {
    let applicant = receipt.applicant.clone().unwrap_or_default();
    let stopped = matches!(status, DossierStatus::RejectedAtIntake)
        .then_some(receipt.received_at)
        .flatten();
    let (key_id, token_hash) = secrets.hash(&receipt.dossier_code, &receipt.lookup_token);
    let id_hash = if applicant.id_number.is_empty() {
        String::new()
    } else {
        secrets.hash(&receipt.dossier_code, &applicant.id_number).1
    };
    DossierState {
        dossier_code: receipt.dossier_code.clone(),
        version: 1,
        status: status as i32,
        national_code: national_code(status),
        procedure_code: procedure.code.clone(),
        procedure_version: procedure.version,
        procedure_name: procedure.name.clone(),
        field: procedure.field.clone(),
        receiving_agency: receipt.receiving_agency.clone(),
        competent_agency: receipt.competent_agency.clone(),
        channel: receipt.channel,
        applicant_type: applicant.r#type,
        applicant_name_masked: mask_name(&applicant.name),
        received_at: receipt.received_at,
        due_at: receipt.due_at,
        finished_at: None,
        stopped_at: stopped,
        supplement_requests: 0,
        public_note: match status {
            DossierStatus::RejectedAtIntake => "Hồ sơ không được tiếp nhận".to_owned(),
            _ => "Hồ sơ đã được tiếp nhận".to_owned(),
        },
        lookup_token_hmac: token_hash,
        applicant_id_hmac: id_hash,
        secret_key_id: key_id,
        original_due_at: receipt.due_at,
        // Workflow's part follows from version 2 on.
        ..Default::default()
    }
}

/// A dossier event ready for the outbox (`dossier.<field>.<event>`).
pub fn dossier_event(field: &str, event: &str, message: &impl prost::Message) -> OutboxEvent {
    OutboxEvent::encoded(
        motcua_domain::events::dossier_subject(field, event),
        event,
        message,
    )
}

/// A catalog event ready for the outbox.
pub fn procedure_published(message: &motcua_proto::events::ProcedurePublished) -> OutboxEvent {
    use motcua_domain::events::{PROCEDURE_PUBLISHED, catalog_subject};
    OutboxEvent::encoded(
        catalog_subject(PROCEDURE_PUBLISHED),
        PROCEDURE_PUBLISHED,
        message,
    )
}
