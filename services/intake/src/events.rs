//! Intake's events: subjects, the public dossier state they carry, and the national status codes.

use motcua_platform::auth::Caller;
use motcua_platform::outbox::OutboxEvent;
use motcua_proto::common::{Actor, DossierStatus, Procedure};
use motcua_proto::events::DossierState;
use motcua_proto::intake::Receipt;
use prost::Message;
use sha2::{Digest, Sha256};

pub const SUBMITTED: &str = "submitted";
pub const SUPPLEMENT_SUBMITTED: &str = "supplement-submitted";
pub const WITHDRAWAL_REQUESTED: &str = "withdrawal-requested";
pub const REJECTED_AT_INTAKE: &str = "rejected-at-intake";
pub const PROCEDURE_PUBLISHED: &str = "procedure-published";

/// National Public Service Portal status code for a dossier status (DESIGN.md §2).
pub fn national_code(status: DossierStatus) -> u32 {
    match status {
        DossierStatus::Unspecified => 1,
        DossierStatus::Received => 2,
        DossierStatus::RejectedAtIntake => 3,
        DossierStatus::InProgress => 4,
        DossierStatus::SupplementRequested => 5,
        DossierStatus::FinancialObligation => 6,
        DossierStatus::WithdrawalRequested => 7,
        DossierStatus::Stopped => 8,
        DossierStatus::Finished => 9,
        DossierStatus::Returned => 10,
    }
}

/// Hex SHA-256 of "<code>:<secret>": lets lookup check a secret without holding it.
pub fn secret_hash(code: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{code}:{}", secret.trim()).as_bytes(),
    ))
}

pub fn actor(c: &Caller) -> Actor {
    Actor {
        subject: c.subject.clone(),
        name: c.name.clone(),
        agency: c.agency.clone(),
    }
}

/// The public state of a dossier as intake knows it.
pub fn state(
    receipt: &Receipt,
    procedure: &Procedure,
    status: DossierStatus,
    version: u64,
) -> DossierState {
    let applicant = receipt.applicant.clone().unwrap_or_default();
    let stopped = matches!(status, DossierStatus::RejectedAtIntake)
        .then(|| receipt.received_at)
        .flatten();
    DossierState {
        dossier_code: receipt.dossier_code.clone(),
        version,
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
        applicant_name_masked: crate::applicant::mask_name(&applicant.name),
        received_at: receipt.received_at,
        due_at: receipt.due_at,
        finished_at: None,
        stopped_at: stopped,
        supplement_requests: 0,
        lookup_token_sha256: secret_hash(&receipt.dossier_code, &receipt.lookup_token),
        applicant_id_sha256: if applicant.id_number.is_empty() {
            String::new()
        } else {
            secret_hash(&receipt.dossier_code, &applicant.id_number)
        },
        public_note: match status {
            DossierStatus::RejectedAtIntake => "Hồ sơ không được tiếp nhận".to_owned(),
            _ => "Hồ sơ đã được tiếp nhận".to_owned(),
        },
    }
}

/// A dossier event on `dossier.<field>.<event>`.
pub fn dossier_event(field: &str, event: &str, message: &impl Message) -> OutboxEvent {
    OutboxEvent::new(
        format!("dossier.{field}.{event}"),
        event,
        message.encode_to_vec(),
    )
}
