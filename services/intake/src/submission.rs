//! The rules of a submission: who may use which channel, the documents against the procedure's
//! list, the applicant, and storing the dossier with its code, receipt and event in one
//! transaction (with idempotent retries).

use crate::events::{self, actor};
use crate::service::{Intake, invalid};
use crate::{applicant, catalog, store};
use chrono::{DateTime, Duration, Utc};
use motcua_domain::time::{from_ts, ts, vietnam_day};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role, province_of};
use motcua_platform::outbox::enqueue;
use motcua_platform::text::quote;
use motcua_proto::common::{Channel, DocumentForm, DossierStatus, Procedure, ServiceLevel};
use motcua_proto::events::{DossierSubmitted, RejectedAtIntake};
use motcua_proto::intake::*;
use prost::Message;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashSet;
use uuid::Uuid;

/// A lookup token: 10 characters from an alphabet without look-alikes (0/O, 1/I/L), ~50 bits, at
/// least one a letter (one of digits only would look like a tax code to lookup's hold-back; about
/// one draw in 750,000 is drawn again).
fn lookup_token() -> String {
    use motcua_domain::secrets::{TOKEN_ALPHABET, TOKEN_LENGTH, is_token_shaped};
    let mut rng = rand::rng();
    loop {
        let token: String = (0..TOKEN_LENGTH)
            .map(|_| TOKEN_ALPHABET[rng.random_range(0..TOKEN_ALPHABET.len())] as char)
            .collect();
        if is_token_shaped(&token) {
            return token;
        }
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), ServiceError> {
    if key.len() > 128 || key.chars().any(char::is_control) {
        return Err(invalid(
            "idempotency_key dài tối đa 128 ký tự, không có ký tự điều khiển",
        ));
    }
    Ok(())
}

/// The procedure version in force when a dossier is received.
async fn procedure_for(
    pool: &PgPool,
    code: &str,
    received: DateTime<Utc>,
) -> Result<Procedure, ServiceError> {
    if code.trim().is_empty() {
        return Err(invalid("thiếu mã thủ tục (procedure_code is required)"));
    }
    store::procedure_in_force(pool, code.trim(), vietnam_day(received)).await?.ok_or_else(|| {
        invalid(format!(
            "thủ tục {} không có trong danh mục hoặc chưa có hiệu lực vào ngày tiếp nhận (unknown procedure)",
            quote(code)
        ))
    })
}

/// Copies a document may be handed in with.
const COPIES: std::ops::RangeInclusive<u32> = 1..=20;
/// Documents one submission or supplement lists, and scans one document carries: far above any
/// procedure's list, and low enough that every event stays small (proto comments say the same).
pub(crate) const MAX_DOCUMENTS: usize = 100;
const MAX_ATTACHMENTS_PER_DOCUMENT: usize = 20;

/// One document handed in, checked against the procedure's list: a keyed document takes the
/// catalog's name (the receipt shows what the procedure calls it, whatever the client sent) and
/// must be in at least the required form; an extra document needs a name.
fn check_document(
    procedure: &Procedure,
    i: usize,
    d: &SubmittedDocument,
) -> Result<SubmittedDocument, ServiceError> {
    if d.attachment_ids.len() > MAX_ATTACHMENTS_PER_DOCUMENT {
        return Err(invalid(format!(
            "documents[{i}].attachment_ids: tối đa {MAX_ATTACHMENTS_PER_DOCUMENT} tệp cho một giấy tờ (at most {MAX_ATTACHMENTS_PER_DOCUMENT})"
        )));
    }
    let mut d = d.clone();
    if d.key.is_empty() {
        d.name = applicant::clean_text(&d.name, &format!("documents[{i}].name"), 300)?;
        if d.name.is_empty() {
            return Err(invalid(format!(
                "documents[{i}]: giấy tờ bổ sung cần có tên (an extra document needs a name)"
            )));
        }
        if DocumentForm::try_from(d.form).unwrap_or(DocumentForm::Unspecified)
            == DocumentForm::Unspecified
        {
            d.form = DocumentForm::Copy as i32;
        }
    } else {
        let Some(required) = procedure.documents.iter().find(|r| r.key == d.key) else {
            return Err(invalid(format!(
                "documents[{i}]: thủ tục {} không có giấy tờ {} (unknown document key)",
                procedure.code,
                quote(&d.key)
            )));
        };
        let form = DocumentForm::try_from(d.form).unwrap_or(DocumentForm::Unspecified);
        if form == DocumentForm::Unspecified {
            d.form = required.form;
        } else if d.form > required.form {
            return Err(invalid(format!(
                "documents[{i}]: {} phải là {} (required form is stricter)",
                required.name,
                form_label(required.form)
            )));
        }
        d.name = required.name.clone();
    }
    if !COPIES.contains(&d.copies) {
        return Err(invalid(format!(
            "documents[{i}].copies: {} bản không hợp lệ, ghi số bản nộp từ {} đến {} (copies must be {}–{})",
            d.copies,
            COPIES.start(),
            COPIES.end(),
            COPIES.start(),
            COPIES.end()
        )));
    }
    for id in &d.attachment_ids {
        Uuid::parse_str(id).map_err(|_| {
            invalid(format!(
                "documents[{i}]: attachment id {} không hợp lệ (not an attachment id)",
                quote(id)
            ))
        })?;
    }
    Ok(d)
}

/// Documents listed without the procedure's requirements (a supplement, a rejection): each checked
/// like a submission's, none mandatory.
fn at_most_documents(docs: &[SubmittedDocument]) -> Result<(), ServiceError> {
    if docs.len() > MAX_DOCUMENTS {
        return Err(invalid(format!(
            "documents: tối đa {MAX_DOCUMENTS} giấy tờ, nhận {} (at most {MAX_DOCUMENTS})",
            docs.len()
        )));
    }
    Ok(())
}

pub(crate) fn listed_documents(
    procedure: &Procedure,
    docs: &[SubmittedDocument],
) -> Result<Vec<SubmittedDocument>, ServiceError> {
    at_most_documents(docs)?;
    docs.iter()
        .enumerate()
        .map(|(i, d)| check_document(procedure, i, d))
        .collect()
}

/// Documents handed in against the procedure's list: every mandatory one present, none twice;
/// online submissions carry a scan of each, and every attachment exists.
async fn check_documents(
    pool: &PgPool,
    procedure: &Procedure,
    docs: &[SubmittedDocument],
    online: bool,
) -> Result<Vec<SubmittedDocument>, ServiceError> {
    at_most_documents(docs)?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(docs.len());
    let mut attachment_ids = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let d = check_document(procedure, i, d)?;
        if !d.key.is_empty() && !seen.insert(d.key.clone()) {
            return Err(invalid(format!(
                "documents[{i}]: giấy tờ {} được khai hai lần (listed twice)",
                quote(&d.key)
            )));
        }
        if online && d.attachment_ids.is_empty() {
            return Err(invalid(format!(
                "documents[{i}]: hồ sơ trực tuyến cần bản điện tử của {} (online submissions need a scan)",
                d.name
            )));
        }
        attachment_ids.extend(
            d.attachment_ids
                .iter()
                .filter_map(|id| Uuid::parse_str(id).ok()),
        );
        out.push(d);
    }
    let missing: Vec<&str> = procedure
        .documents
        .iter()
        .filter(|r| r.mandatory && !seen.contains(&r.key))
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(ServiceError::FailedPrecondition(format!(
            "hồ sơ thiếu giấy tờ bắt buộc: {} (missing required documents)",
            missing.join("; ")
        )));
    }
    if !attachment_ids.is_empty() {
        let found: HashSet<Uuid> = store::existing_attachments(pool, &attachment_ids)
            .await?
            .into_iter()
            .collect();
        if let Some(id) = attachment_ids.iter().find(|id| !found.contains(id)) {
            return Err(invalid(format!(
                "attachment {id} không tồn tại; tải lên bằng UploadAttachment trước (unknown attachment)"
            )));
        }
    }
    Ok(out)
}

/// Where the result goes back: at the desk (default), by post, or online where the procedure's
/// level returns results online (level 4, full-online).
fn check_result_delivery(value: &str, procedure: &Procedure) -> Result<String, ServiceError> {
    let value = value.trim();
    match value {
        "" | "tai-quay" => Ok("tai-quay".into()),
        "buu-chinh" => Ok(value.into()),
        "truc-tuyen"
            if matches!(
                ServiceLevel::try_from(procedure.level),
                Ok(ServiceLevel::ServiceLevel4 | ServiceLevel::FullOnline)
            ) =>
        {
            Ok(value.into())
        }
        "truc-tuyen" => Err(ServiceError::FailedPrecondition(format!(
            "thủ tục {} không trả kết quả trực tuyến ở mức độ này; chọn tai-quay hoặc buu-chinh (procedure does not return results online)",
            procedure.code
        ))),
        other => Err(invalid(format!(
            "result_delivery {} không hợp lệ; dùng tai-quay, buu-chinh hoặc truc-tuyen (unknown result delivery)",
            quote(other)
        ))),
    }
}

fn form_label(form: i32) -> &'static str {
    match DocumentForm::try_from(form).unwrap_or(DocumentForm::Unspecified) {
        DocumentForm::Original => "bản chính",
        DocumentForm::CertifiedCopy => "bản sao có chứng thực",
        DocumentForm::Copy => "bản sao",
        DocumentForm::Unspecified => "không rõ",
    }
}

/// Which channels a caller may use, and whether the procedure accepts the channel.
fn check_channel(
    caller: &Caller,
    channel: Channel,
    procedure: &Procedure,
) -> Result<(), ServiceError> {
    match channel {
        Channel::Unspecified => {
            return Err(invalid(
                "thiếu kênh nộp: COUNTER, ONLINE hoặc POSTAL (channel is required)",
            ));
        }
        // Desks receive in person and by post; integrating systems forward online and postal dossiers.
        Channel::Counter if !caller.has(Role::Desk) => {
            return Err(ServiceError::PermissionDenied(
                "chỉ bộ phận một cửa tiếp nhận hồ sơ trực tiếp (counter needs role desk)".into(),
            ));
        }
        Channel::Online if !caller.has(Role::Integration) => {
            return Err(ServiceError::PermissionDenied(
                "hồ sơ trực tuyến chỉ nhận qua hệ thống tích hợp (online needs role integration)"
                    .into(),
            ));
        }
        _ => {}
    }
    if channel == Channel::Online && !catalog::accepts_online(procedure.level) {
        return Err(ServiceError::FailedPrecondition(format!(
            "thủ tục {} không cung cấp dịch vụ trực tuyến ở mức độ này (procedure does not accept online submission)",
            procedure.code
        )));
    }
    if channel == Channel::Postal && !procedure.accepts_postal {
        return Err(ServiceError::FailedPrecondition(format!(
            "thủ tục {} không tiếp nhận qua bưu chính công ích (procedure does not accept postal submission)",
            procedure.code
        )));
    }
    Ok(())
}

/// A submission's idempotency: the caller's scope, its key and the request's fingerprint.
struct Retry {
    scope: String,
    key: String,
    sha: String,
}

/// Everything a submission must satisfy before a code is taken.
struct Checked {
    procedure: Procedure,
    applicant: Applicant,
    documents: Vec<SubmittedDocument>,
    receiving_agency: String,
    received_at: DateTime<Utc>,
    channel: Channel,
    result_delivery: String,
    note: String,
}

impl Intake {
    /// Whether an agency may receive, remembered once known: agencies are never removed, so a
    /// known one costs no round trip; an unknown one is asked again (it may have been added).
    async fn agency_known(&self, code: &str) -> Result<bool, ServiceError> {
        if self
            .known_agencies
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(code)
        {
            return Ok(true);
        }
        let known = store::agency_known(&self.pool, code).await?;
        if known {
            self.known_agencies
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(code.to_owned());
        }
        Ok(known)
    }

    async fn check_submission(
        &self,
        caller: &Caller,
        req: &SubmitDossierRequest,
        rejecting: bool,
    ) -> Result<Checked, ServiceError> {
        let now = self.clock.now();
        let received_at = match &req.submitted_at {
            Some(t) if caller.has(Role::Integration) => {
                let t = from_ts(t, "submitted_at")?;
                if t > now + Duration::minutes(5) || t < now - Duration::days(7) {
                    return Err(invalid(
                        "submitted_at phải trong 7 ngày qua và không ở tương lai (submitted_at out of range)",
                    ));
                }
                t
            }
            Some(_) => {
                return Err(invalid(
                    "chỉ hệ thống tích hợp được khai submitted_at (submitted_at is for integrations)",
                ));
            }
            None => now,
        };
        let procedure = procedure_for(&self.pool, &req.procedure_code, received_at).await?;
        let channel = Channel::try_from(req.channel).unwrap_or(Channel::Unspecified);
        check_channel(caller, channel, &procedure)?;
        let receiving_agency = if req.receiving_agency.is_empty() {
            caller.agency.clone()
        } else {
            req.receiving_agency.trim().to_owned()
        };
        motcua_domain::agency::check_agency_code(&receiving_agency).map_err(invalid)?;
        // A desk receives for its own agency; the province's portal for any agency of it.
        if !caller.covers(&receiving_agency) {
            return Err(ServiceError::PermissionDenied(format!(
                "chỉ tiếp nhận cho cơ quan {} (a desk receives for its own agency, a portal for its province's)",
                caller.agency
            )));
        }
        if !self.agency_known(&receiving_agency).await? {
            return Err(ServiceError::FailedPrecondition(format!(
                "cơ quan {receiving_agency} không có trong danh mục cơ quan tiếp nhận (receiving agency is in no catalog)"
            )));
        }
        // Each province processes its own dossiers: a desk (or portal) of one province does not
        // put a dossier into another province's queues. (Receiving regardless of district
        // boundaries happens inside a province; across provinces the applicant files with the
        // competent province's desk or portal.)
        let (receiving_province, competent_province) = (
            province_of(&receiving_agency),
            province_of(&procedure.competent_agency),
        );
        if receiving_province != competent_province {
            return Err(ServiceError::PermissionDenied(format!(
                "thủ tục {} do {} (tỉnh {competent_province}) giải quyết; {receiving_agency} (tỉnh {receiving_province}) không tiếp nhận hồ sơ cho tỉnh khác (a dossier is received in the competent agency's province)",
                procedure.code, procedure.competent_agency
            )));
        }
        let result_delivery = check_result_delivery(&req.result_delivery, &procedure)?;
        let note = motcua_domain::text::clean_multiline(&req.note, "note", 1000)?;
        let applicant = applicant::validate(
            req.applicant
                .as_ref()
                .ok_or_else(|| invalid("thiếu thông tin người nộp (applicant is required)"))?,
            channel != Channel::Online,
        )?;
        let documents = if rejecting {
            // A rejection lists what was handed in, incomplete as it is: each document is checked
            // as in a submission, but none is required.
            listed_documents(&procedure, &req.documents)?
        } else {
            check_documents(
                &self.pool,
                &procedure,
                &req.documents,
                channel == Channel::Online,
            )
            .await?
        };
        Ok(Checked {
            procedure,
            applicant,
            documents,
            receiving_agency,
            received_at,
            channel,
            result_delivery,
            note,
        })
    }

    /// Takes a code and stores the dossier with its event, atomically. Returns the dossier, or the
    /// earlier one when the same idempotency key raced us.
    async fn store_new(
        &self,
        caller: &Caller,
        req: &SubmitDossierRequest,
        c: Checked,
        reasons: &[String],
        retry: &Retry,
    ) -> Result<(Dossier, bool), ServiceError> {
        let rejecting = !reasons.is_empty();
        let span = catalog::span(c.procedure.processing_time.as_ref()).ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("stored procedure without processing time"))
        })?;
        let cutoff = chrono::NaiveTime::parse_from_str(&c.procedure.cutoff, "%H:%M").ok();
        let due = if rejecting {
            None
        } else {
            let received = c.received_at.with_timezone(&motcua_calendar::vietnam());
            let due = self
                .calendars
                .for_agency(&c.procedure.competent_agency)
                .due(received, span, cutoff, &[])
                .map_err(|e| {
                    ServiceError::FailedPrecondition(format!("không tính được ngày hẹn trả: {e}"))
                })?;
            Some(due.with_timezone(&Utc))
        };
        let status = if rejecting {
            DossierStatus::RejectedAtIntake
        } else {
            DossierStatus::Received
        };

        let mut tx = self.pool.begin().await?;
        let day = vietnam_day(c.received_at);
        let seq = store::next_sequence(&mut tx, &c.receiving_agency, day).await?;
        let code = motcua_domain::dossier_code::format(&c.receiving_agency, day, seq);
        let token = lookup_token();
        let receipt = Receipt {
            lookup_link: self
                .lookup_url
                .as_deref()
                .map(|base| motcua_domain::links::lookup_link(base, &code, &token))
                .unwrap_or_default(),
            dossier_code: code.clone(),
            procedure_code: c.procedure.code.clone(),
            procedure_version: c.procedure.version,
            procedure_name: c.procedure.name.clone(),
            applicant: Some(c.applicant),
            documents: c.documents,
            processing_time: c.procedure.processing_time,
            received_at: Some(ts(c.received_at)),
            due_at: due.map(ts),
            result_delivery: c.result_delivery,
            receiving_agency: c.receiving_agency,
            competent_agency: c.procedure.competent_agency.clone(),
            channel: c.channel as i32,
            lookup_token: token,
            received_by: Some(actor(caller)),
            fee_vnd: c.procedure.fee_vnd,
            note: c.note.clone(),
        };
        let stored_at = self.clock.now();
        let new = store::NewDossier {
            stored_at,
            note: &c.note,
            receipt: &receipt,
            procedure: &c.procedure,
            status,
            received_at: c.received_at,
            due_at: due,
            rejection_reasons: reasons,
            idempotency_caller: &retry.scope,
            idempotency_key: &req.idempotency_key,
            request_sha256: &retry.sha,
            created_by: &caller.subject,
        };
        if let Err(e) = store::insert_dossier(&mut tx, &new).await {
            if store::is_unique_violation(&e, "dossiers_idempotency_caller_idempotency_key_key") {
                tx.rollback().await?;
                return self.replay(retry).await?.ok_or_else(|| {
                    ServiceError::Internal(anyhow::anyhow!(
                        "idempotency conflict without a stored dossier"
                    ))
                });
            }
            return Err(e.into());
        }
        let action = if rejecting {
            "rejected-at-intake"
        } else {
            "submitted"
        };
        store::record_action(
            &mut tx,
            &code,
            action,
            caller,
            serde_json::json!({ "reasons": reasons }),
            "",
            stored_at,
        )
        .await?;
        let state = events::first_state(&receipt, &c.procedure, status, &self.secrets);
        let event = if rejecting {
            let msg = RejectedAtIntake {
                state: Some(state),
                reasons: reasons.to_vec(),
                rejected_by: Some(actor(caller)),
            };
            events::dossier_event(&c.procedure.field, events::REJECTED_AT_INTAKE, &msg)
        } else {
            // No phone or e-mail: the stream keeps events longer than contacts may be kept;
            // notification asks for them (GetApplicantContacts) while they exist.
            let msg = DossierSubmitted {
                state: Some(state),
                received_by: Some(actor(caller)),
                processing_time: c.procedure.processing_time,
                steps: c.procedure.steps.clone(),
                cutoff: c.procedure.cutoff.clone(),
                ..Default::default()
            };
            events::dossier_event(&c.procedure.field, events::SUBMITTED, &msg)
        };
        enqueue(&mut tx, &event).await?;
        self.outbox.commit(tx).await?;
        metrics::counter!("motcua_intake_dossiers_total", "status" => action).increment(1);
        tracing::info!(dossier = %code, procedure = %c.procedure.code, action, "dossier stored");
        let updated = ts(stored_at);
        Ok((
            Dossier {
                receipt: Some(receipt),
                status: status as i32,
                rejection_reasons: reasons.to_vec(),
                updated_at: Some(updated),
            },
            false,
        ))
    }

    /// The dossier stored earlier under this retry's key, if any; the same key with a different
    /// request is refused rather than answered with someone else's receipt.
    async fn replay(&self, retry: &Retry) -> Result<Option<(Dossier, bool)>, ServiceError> {
        match store::find_idempotent(&self.pool, &retry.scope, &retry.key).await? {
            Some((dossier, sha)) if sha == retry.sha => Ok(Some((dossier, true))),
            Some(_) => Err(ServiceError::FailedPrecondition(
                "idempotency_key đã dùng cho một hồ sơ khác; dùng khóa mới cho hồ sơ mới (key reused with a different request)".into(),
            )),
            None => Ok(None),
        }
    }

    pub(crate) async fn submit(
        &self,
        caller: &Caller,
        req: &SubmitDossierRequest,
        reasons: &[String],
    ) -> Result<(Dossier, bool), ServiceError> {
        check_key(&req.idempotency_key)?;
        let retry = Retry {
            scope: format!("{}/{}", caller.agency, caller.subject),
            key: req.idempotency_key.clone(),
            sha: hex::encode(Sha256::digest(req.encode_to_vec())),
        };
        if !retry.key.is_empty()
            && let Some(earlier) = self.replay(&retry).await?
        {
            return Ok(earlier);
        }
        let checked = self
            .check_submission(caller, req, !reasons.is_empty())
            .await?;
        self.store_new(caller, req, checked, reasons, &retry).await
    }
}
