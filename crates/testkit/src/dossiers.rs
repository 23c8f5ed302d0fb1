//! Dossiers and their events as tests and benchmarks make them: a land submission at the desk,
//! and the state events intake and workflow would publish about it.

use crate::floor::{AGENCY, LAND_DEPARTMENT, start_time};
use chrono::{DateTime, Utc};
use motcua_domain::secrets::SecretHasher;
use motcua_proto::common::{ApplicantType, Channel, DocumentForm, DossierStatus};
use motcua_proto::events::{ChangeKind, DossierState, DossierStateChanged, DossierSubmitted};
use motcua_proto::intake::{Applicant, SubmitDossierRequest, SubmittedDocument};
use motcua_proto::workflow::Action;
use prost::Message;

/// The land procedure every test uses: registering a change of land use rights (8 working days).
pub const LAND_PROCEDURE: &str = "1.013831";

/// The applicant's national id number in [`land_submission`].
pub const APPLICANT_ID: &str = "038085001234";

/// The applicant's phone in [`land_submission`].
pub const APPLICANT_PHONE: &str = "0912345678";

/// A land dossier received at the desk, with its three originals; `key` is its idempotency key.
pub fn land_submission(key: &str) -> SubmitDossierRequest {
    let doc = |key: &str| SubmittedDocument {
        key: key.into(),
        form: DocumentForm::Original as i32,
        copies: 1,
        ..Default::default()
    };
    SubmitDossierRequest {
        idempotency_key: key.into(),
        procedure_code: LAND_PROCEDURE.into(),
        channel: Channel::Counter as i32,
        applicant: Some(Applicant {
            r#type: ApplicantType::Citizen as i32,
            name: "Nguyễn Văn An".into(),
            id_number: APPLICANT_ID.into(),
            phone: APPLICANT_PHONE.into(),
            email: String::new(),
            address: "Số 12 đường Lê Lợi, phường Điện Biên, tỉnh Thanh Hóa".into(),
        }),
        documents: vec![doc("don-dang-ky"), doc("giay-chung-nhan"), doc("hop-dong")],
        ..Default::default()
    }
}

/// An officer's action on a case at `version` (no note, no attachment).
pub fn act(version: u64) -> Option<Action> {
    Some(Action {
        expected_version: version,
        ..Default::default()
    })
}

/// A dossier's state as intake and workflow would publish it, its secret `token` hashed with the
/// development key; received by and routed to the agency its code names (or the tests' agency).
pub fn state(code: &str, version: u64, status: DossierStatus, token: &str) -> DossierState {
    let agency = code
        .split('-')
        .next()
        .filter(|a| a.contains('.'))
        .unwrap_or(AGENCY);
    let hasher = SecretHasher::development();
    let (key, token_hash) = hasher.hash(code, token);
    DossierState {
        dossier_code: code.to_owned(),
        version,
        status: status as i32,
        national_code: motcua_domain::status::national_code(status),
        procedure_code: LAND_PROCEDURE.into(),
        procedure_version: 1,
        procedure_name: "Đăng ký biến động đất đai".into(),
        field: "dat-dai".into(),
        receiving_agency: agency.into(),
        competent_agency: agency.into(),
        applicant_name_masked: "N***** V** A*".into(),
        received_at: Some(motcua_domain::time::ts(start_time())),
        due_at: Some(motcua_domain::time::ts(
            start_time() + chrono::Duration::days(12),
        )),
        lookup_token_hmac: token_hash,
        applicant_id_hmac: hasher.hash(code, APPLICANT_ID).1,
        secret_key_id: key,
        current_department: LAND_DEPARTMENT.into(),
        ..Default::default()
    }
}

/// The `dossier-submitted` event of `state`, with the applicant's contacts.
pub fn submitted(state: DossierState, phone: &str, email: &str) -> Vec<u8> {
    DossierSubmitted {
        state: Some(state),
        applicant_phone: phone.into(),
        applicant_email: email.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The `dossier-state-changed` event of `state`: `kind` of change, at `at`.
pub fn changed(state: DossierState, kind: ChangeKind, at: DateTime<Utc>) -> Vec<u8> {
    DossierStateChanged {
        state: Some(state),
        kind: kind as i32,
        at: Some(motcua_domain::time::ts(at)),
        ..Default::default()
    }
    .encode_to_vec()
}
