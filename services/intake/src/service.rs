//! The IntakeService gRPC API. Each RPC states the roles it accepts at its top.

use crate::attachments::{ALLOWED_TYPES, Attachments};
use crate::events::{self, actor};
use crate::{applicant, catalog, store};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role, caller};
use motcua_platform::outbox::{OutboxEvent, enqueue};
use motcua_proto::common::{Channel, DocumentForm, DossierStatus, Procedure};
use motcua_proto::events::{
    DossierSubmitted, ProcedurePublished, RejectedAtIntake, SupplementSubmitted,
    WithdrawalRequested,
};
use motcua_proto::intake::intake_service_server::IntakeService;
use motcua_proto::intake::*;
use prost::Message;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashSet;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Intake {
    pub pool: PgPool,
    pub calendars: Arc<crate::calendars::Calendars>,
    pub attachments: Attachments,
}

type Reply<T> = Result<Response<T>, Status>;

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn from_ts(t: &prost_types::Timestamp, field: &str) -> Result<DateTime<Utc>, ServiceError> {
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32).ok_or_else(|| {
        ServiceError::InvalidArgument(format!(
            "{field}: thời điểm không hợp lệ (invalid timestamp)"
        ))
    })
}

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(m.into())
}

fn vietnam_day(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&motcua_calendar::vietnam()).date_naive()
}

/// A lookup token: 10 characters from an alphabet without look-alikes (0/O, 1/I/L), ~50 bits.
fn lookup_token() -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..10)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn check_key(key: &str) -> Result<(), ServiceError> {
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
            "thủ tục {code:?} không có trong danh mục hoặc chưa có hiệu lực vào ngày tiếp nhận (unknown procedure)"
        ))
    })
}

/// Documents handed in against the procedure's list: every mandatory one present, in at least the
/// required form; extra documents need a name; online submissions carry a scan of each.
async fn check_documents(
    pool: &PgPool,
    procedure: &Procedure,
    docs: &[SubmittedDocument],
    online: bool,
) -> Result<Vec<SubmittedDocument>, ServiceError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(docs.len());
    let mut attachment_ids = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let mut d = d.clone();
        if d.key.is_empty() {
            d.name = applicant::clean_text(&d.name, &format!("documents[{i}].name"), 300)?;
            if d.name.is_empty() {
                return Err(invalid(format!(
                    "documents[{i}]: giấy tờ bổ sung cần có tên (an extra document needs a name)"
                )));
            }
        } else {
            let Some(required) = procedure.documents.iter().find(|r| r.key == d.key) else {
                return Err(invalid(format!(
                    "documents[{i}]: thủ tục {} không có giấy tờ {:?} (unknown document key)",
                    procedure.code, d.key
                )));
            };
            if !seen.insert(d.key.clone()) {
                return Err(invalid(format!(
                    "documents[{i}]: giấy tờ {:?} được khai hai lần (listed twice)",
                    d.key
                )));
            }
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
            if d.name.is_empty() {
                d.name = required.name.clone();
            }
        }
        if d.copies == 0 {
            d.copies = 1;
        }
        for id in &d.attachment_ids {
            attachment_ids.push(Uuid::parse_str(id).map_err(|_| {
                invalid(format!("documents[{i}]: attachment id {id:?} không hợp lệ"))
            })?);
        }
        if online && d.attachment_ids.is_empty() {
            return Err(invalid(format!(
                "documents[{i}]: hồ sơ trực tuyến cần bản điện tử của {} (online submissions need a scan)",
                d.name
            )));
        }
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

/// Everything a submission must satisfy before a code is taken.
struct Checked {
    procedure: Procedure,
    applicant: Applicant,
    documents: Vec<SubmittedDocument>,
    receiving_agency: String,
    received_at: DateTime<Utc>,
    channel: Channel,
}

impl Intake {
    async fn check_submission(
        &self,
        caller: &Caller,
        req: &SubmitDossierRequest,
        rejecting: bool,
    ) -> Result<Checked, ServiceError> {
        check_key(&req.idempotency_key)?;
        let now = Utc::now();
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
        applicant::check_agency_code(&receiving_agency).map_err(invalid)?;
        if caller.has(Role::Desk)
            && !caller.has(Role::Integration)
            && receiving_agency != caller.agency
        {
            return Err(ServiceError::PermissionDenied(format!(
                "bộ phận một cửa chỉ tiếp nhận cho cơ quan {} (a desk receives for its own agency)",
                caller.agency
            )));
        }
        let applicant = applicant::validate(
            req.applicant
                .as_ref()
                .ok_or_else(|| invalid("thiếu thông tin người nộp (applicant is required)"))?,
            channel != Channel::Online,
        )?;
        let documents = if rejecting {
            req.documents.clone()
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
    ) -> Result<(Dossier, bool), ServiceError> {
        let idem_caller = format!("{}/{}", caller.agency, caller.subject);
        let request_sha = hex::encode(Sha256::digest(req.encode_to_vec()));
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
        let code = format!("{}-{}-{:04}", c.receiving_agency, day.format("%y%m%d"), seq);
        let receipt = Receipt {
            dossier_code: code.clone(),
            procedure_code: c.procedure.code.clone(),
            procedure_version: c.procedure.version,
            procedure_name: c.procedure.name.clone(),
            applicant: Some(c.applicant),
            documents: c.documents,
            processing_time: c.procedure.processing_time,
            received_at: Some(ts(c.received_at)),
            due_at: due.map(ts),
            result_delivery: if req.result_delivery.is_empty() {
                "tai-quay".into()
            } else {
                req.result_delivery.clone()
            },
            receiving_agency: c.receiving_agency,
            competent_agency: c.procedure.competent_agency.clone(),
            channel: c.channel as i32,
            lookup_token: lookup_token(),
            received_by: Some(actor(caller)),
            fee_vnd: c.procedure.fee_vnd,
        };
        let new = store::NewDossier {
            receipt: &receipt,
            procedure: &c.procedure,
            status,
            received_at: c.received_at,
            due_at: due,
            rejection_reasons: reasons,
            idempotency_caller: &idem_caller,
            idempotency_key: &req.idempotency_key,
            request_sha256: &request_sha,
            created_by: &caller.subject,
        };
        if let Err(e) = store::insert_dossier(&mut tx, &new).await {
            if store::is_unique_violation(&e, "dossiers_idempotency_caller_idempotency_key_key") {
                tx.rollback().await?;
                return self
                    .replay(&idem_caller, &req.idempotency_key, &request_sha)
                    .await;
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
        )
        .await?;
        let state = events::state(&receipt, &c.procedure, status, 1);
        let event = if rejecting {
            let msg = RejectedAtIntake {
                state: Some(state),
                reasons: reasons.to_vec(),
                rejected_by: Some(actor(caller)),
            };
            events::dossier_event(&c.procedure.field, events::REJECTED_AT_INTAKE, &msg)
        } else {
            let applicant = receipt.applicant.clone().unwrap_or_default();
            let msg = DossierSubmitted {
                state: Some(state),
                applicant_phone: applicant.phone,
                applicant_email: applicant.email,
                received_by: Some(actor(caller)),
                processing_time: c.procedure.processing_time,
                steps: c.procedure.steps.clone(),
                cutoff: c.procedure.cutoff.clone(),
            };
            events::dossier_event(&c.procedure.field, events::SUBMITTED, &msg)
        };
        enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        metrics::counter!("motcua_intake_dossiers_total", "status" => action).increment(1);
        tracing::info!(dossier = %code, procedure = %c.procedure.code, action, "dossier stored");
        let updated = ts(Utc::now());
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

    async fn replay(
        &self,
        idem_caller: &str,
        key: &str,
        request_sha: &str,
    ) -> Result<(Dossier, bool), ServiceError> {
        match store::find_idempotent(&self.pool, idem_caller, key).await? {
            Some((dossier, sha)) if sha == request_sha => Ok((dossier, true)),
            Some(_) => Err(ServiceError::FailedPrecondition(
                "idempotency_key đã dùng cho một hồ sơ khác; dùng khóa mới cho hồ sơ mới (key reused with a different request)".into(),
            )),
            None => Err(ServiceError::Internal(anyhow::anyhow!("idempotency conflict without a stored dossier"))),
        }
    }

    async fn submit(
        &self,
        caller: &Caller,
        req: &SubmitDossierRequest,
        reasons: &[String],
    ) -> Result<(Dossier, bool), ServiceError> {
        if !req.idempotency_key.is_empty() {
            check_key(&req.idempotency_key)?;
            let idem_caller = format!("{}/{}", caller.agency, caller.subject);
            let sha = hex::encode(Sha256::digest(req.encode_to_vec()));
            if store::find_idempotent(&self.pool, &idem_caller, &req.idempotency_key)
                .await?
                .is_some()
            {
                return self.replay(&idem_caller, &req.idempotency_key, &sha).await;
            }
        }
        let checked = self
            .check_submission(caller, req, !reasons.is_empty())
            .await?;
        self.store_new(caller, req, checked, reasons).await
    }

    /// A dossier the caller may see: received by or routed to its agency (admins see all).
    async fn visible_dossier(&self, caller: &Caller, code: &str) -> Result<Dossier, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        match store::get_dossier(&mut conn, code.trim(), false).await? {
            Some((d, receiving, competent))
                if caller.has(Role::Admin)
                    || caller.agency == receiving
                    || caller.agency == competent =>
            {
                Ok(d)
            }
            _ => Err(ServiceError::NotFound(format!(
                "không tìm thấy hồ sơ {code:?} (dossier not found)"
            ))),
        }
    }

    /// Supplement and withdrawal share this shape: lock the dossier, check it may change, record
    /// the action once per idempotency key, publish the event.
    async fn dossier_action(
        &self,
        caller: &Caller,
        code: &str,
        action: &str,
        key: &str,
        detail: serde_json::Value,
        build: impl FnOnce(&Receipt, &Procedure) -> (Option<DossierStatus>, OutboxEvent),
    ) -> Result<Dossier, ServiceError> {
        check_key(key)?;
        let mut tx = self.pool.begin().await?;
        let Some((dossier, receiving, competent)) =
            store::get_dossier(&mut tx, code.trim(), true).await?
        else {
            return Err(ServiceError::NotFound(format!(
                "không tìm thấy hồ sơ {code:?} (dossier not found)"
            )));
        };
        if !(caller.has(Role::Admin)
            || caller.has(Role::Integration)
            || caller.agency == receiving
            || caller.agency == competent)
        {
            return Err(ServiceError::NotFound(format!(
                "không tìm thấy hồ sơ {code:?} (dossier not found)"
            )));
        }
        let status = DossierStatus::try_from(dossier.status).unwrap_or(DossierStatus::Unspecified);
        if matches!(
            status,
            DossierStatus::RejectedAtIntake | DossierStatus::Stopped
        ) {
            return Err(ServiceError::FailedPrecondition(format!(
                "hồ sơ {code} đã dừng xử lý, không nhận thêm yêu cầu (dossier is stopped)"
            )));
        }
        let receipt = dossier.receipt.clone().unwrap_or_default();
        let procedure = store::procedure_version(
            &self.pool,
            &receipt.procedure_code,
            receipt.procedure_version,
        )
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("procedure version of {code} missing"))
        })?;
        if !store::record_action(&mut tx, &receipt.dossier_code, action, caller, detail, key)
            .await?
        {
            // A retry of an action already recorded: nothing more to do.
            tx.rollback().await?;
            return self.visible_dossier(caller, code).await;
        }
        let (new_status, event) = build(&receipt, &procedure);
        if let Some(s) = new_status {
            store::set_status(&mut tx, &receipt.dossier_code, s).await?;
        }
        enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        let mut conn = self.pool.acquire().await?;
        Ok(store::get_dossier(&mut conn, &receipt.dossier_code, false)
            .await?
            .map(|(d, _, _)| d)
            .unwrap_or(dossier))
    }
}

fn status_of(e: ServiceError) -> Status {
    Status::from(e)
}

#[tonic::async_trait]
impl IntakeService for Intake {
    async fn list_procedures(
        &self,
        req: Request<ListProceduresRequest>,
    ) -> Reply<ListProceduresResponse> {
        caller(&req)?; // any authenticated caller
        let r = req.into_inner();
        let day = parse_day(&r.as_of).map_err(status_of)?;
        let procedures = store::list_procedures(&self.pool, &r.field, &r.competent_agency, day)
            .await
            .map_err(status_of)?;
        Ok(Response::new(ListProceduresResponse { procedures }))
    }

    async fn get_procedure(
        &self,
        req: Request<GetProcedureRequest>,
    ) -> Reply<GetProcedureResponse> {
        caller(&req)?; // any authenticated caller
        let r = req.into_inner();
        let found = if r.version > 0 {
            store::procedure_version(&self.pool, &r.code, r.version).await
        } else {
            let day = parse_day(&r.as_of).map_err(status_of)?;
            store::procedure_in_force(&self.pool, &r.code, day).await
        }
        .map_err(status_of)?;
        let procedure = found.ok_or_else(|| {
            Status::not_found(format!(
                "không tìm thấy thủ tục {:?} (procedure not found)",
                r.code
            ))
        })?;
        Ok(Response::new(GetProcedureResponse {
            procedure: Some(procedure),
        }))
    }

    async fn publish_procedure(
        &self,
        req: Request<PublishProcedureRequest>,
    ) -> Reply<PublishProcedureResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Admin])?;
        let mut p = req
            .into_inner()
            .procedure
            .ok_or_else(|| Status::invalid_argument("thiếu procedure"))?;
        p.name = applicant::clean_text(&p.name, "procedure.name", 500)?;
        catalog::validate(&p)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        publish(&mut tx, &mut p, &who.subject).await?;
        tx.commit().await.map_err(ServiceError::from)?;
        Ok(Response::new(PublishProcedureResponse {
            procedure: Some(p),
        }))
    }

    async fn upload_attachment(
        &self,
        req: Request<UploadAttachmentRequest>,
    ) -> Reply<UploadAttachmentResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Desk, Role::Integration])?;
        let r = req.into_inner();
        if r.content.is_empty() {
            return Err(Status::invalid_argument("tệp rỗng (content is empty)"));
        }
        if r.content.len() > self.attachments.max_bytes {
            return Err(Status::invalid_argument(format!(
                "tệp lớn hơn {} byte (attachment larger than the limit)",
                self.attachments.max_bytes
            )));
        }
        if !ALLOWED_TYPES.contains(&r.media_type.as_str()) {
            return Err(Status::invalid_argument(format!(
                "loại tệp {:?} không được chấp nhận; dùng {} (media type not allowed)",
                r.media_type,
                ALLOWED_TYPES.join(", ")
            )));
        }
        let file_name = applicant::clean_text(&r.file_name, "file_name", 255)?;
        if file_name.is_empty() || file_name.contains(['/', '\\']) {
            return Err(Status::invalid_argument(
                "file_name phải là tên tệp, không chứa '/' (file_name is a bare name)",
            ));
        }
        let id = Uuid::now_v7();
        let key = format!("{}/{id}", Utc::now().format("%Y/%m"));
        let attachment = Attachment {
            id: id.to_string(),
            file_name,
            media_type: r.media_type,
            size_bytes: r.content.len() as u64,
            sha256: hex::encode(Sha256::digest(&r.content)),
        };
        self.attachments.put(&key, r.content.into()).await?;
        store::insert_attachment(&self.pool, &attachment, &key, &who.agency, &who.subject).await?;
        Ok(Response::new(UploadAttachmentResponse {
            attachment: Some(attachment),
        }))
    }

    async fn submit_dossier(
        &self,
        req: Request<SubmitDossierRequest>,
    ) -> Reply<SubmitDossierResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Desk, Role::Integration])?;
        let (dossier, replayed) = self.submit(&who, req.get_ref(), &[]).await?;
        Ok(Response::new(SubmitDossierResponse {
            receipt: dossier.receipt,
            replayed,
        }))
    }

    async fn get_dossier(&self, req: Request<GetDossierRequest>) -> Reply<GetDossierResponse> {
        let who = caller(&req)?; // any role, limited to the caller's agency
        let dossier = self
            .visible_dossier(&who, &req.get_ref().dossier_code)
            .await?;
        Ok(Response::new(GetDossierResponse {
            dossier: Some(dossier),
        }))
    }

    async fn list_dossiers(
        &self,
        req: Request<ListDossiersRequest>,
    ) -> Reply<ListDossiersResponse> {
        let who = caller(&req)?; // any role, limited to the caller's agency unless admin
        let r = req.into_inner();
        let limit = match r.page_size {
            0 => 50,
            n if n > 500 => return Err(Status::invalid_argument("page_size tối đa 500")),
            n => n,
        };
        let after = if r.page_token.is_empty() {
            None
        } else {
            let (micros, code) = r
                .page_token
                .split_once('|')
                .and_then(|(m, c)| Some((m.parse::<i64>().ok()?, c.to_owned())))
                .ok_or_else(|| {
                    Status::invalid_argument(
                        "page_token không hợp lệ; dùng next_page_token của trang trước",
                    )
                })?;
            Some((
                DateTime::from_timestamp_micros(micros)
                    .ok_or_else(|| Status::invalid_argument("page_token không hợp lệ"))?,
                code,
            ))
        };
        let filter = store::ListFilter {
            agency: (!who.has(Role::Admin)).then(|| who.agency.clone()),
            receiving_agency: r.receiving_agency,
            field: r.field,
            status: r.status as i16,
            from: r
                .received_from
                .as_ref()
                .map(|t| from_ts(t, "received_from"))
                .transpose()?,
            to: r
                .received_to
                .as_ref()
                .map(|t| from_ts(t, "received_to"))
                .transpose()?,
            after,
            limit: i64::from(limit),
        };
        let dossiers = store::list_dossiers(&self.pool, &filter).await?;
        let next_page_token = if dossiers.len() == limit as usize {
            dossiers
                .last()
                .and_then(|d| d.receipt.as_ref())
                .and_then(|rc| {
                    let t = rc.received_at.as_ref()?;
                    Some(format!(
                        "{}|{}",
                        t.seconds * 1_000_000 + i64::from(t.nanos / 1000),
                        rc.dossier_code
                    ))
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(ListDossiersResponse {
            dossiers,
            next_page_token,
        }))
    }

    async fn reject_dossier(
        &self,
        req: Request<RejectDossierRequest>,
    ) -> Reply<RejectDossierResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Desk])?;
        let r = req.get_ref();
        let reasons: Vec<String> = r
            .reasons
            .iter()
            .map(|s| applicant::clean_text(s, "reasons", 1000))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if reasons.is_empty() {
            return Err(Status::invalid_argument(
                "cần ít nhất một lý do từ chối (reasons are required)",
            ));
        }
        let submission = r
            .submission
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("thiếu submission"))?;
        let (dossier, _) = self.submit(&who, submission, &reasons).await?;
        Ok(Response::new(RejectDossierResponse {
            dossier: Some(dossier),
        }))
    }

    async fn submit_supplement(
        &self,
        req: Request<SubmitSupplementRequest>,
    ) -> Reply<SubmitSupplementResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Desk, Role::Integration])?;
        let r = req.into_inner();
        if r.documents.is_empty() {
            return Err(Status::invalid_argument(
                "cần ít nhất một giấy tờ bổ sung (documents are required)",
            ));
        }
        let keys: Vec<String> = r
            .documents
            .iter()
            .map(|d| {
                if d.key.is_empty() {
                    d.name.clone()
                } else {
                    d.key.clone()
                }
            })
            .collect();
        let actor = actor(&who);
        let dossier = self
            .dossier_action(
                &who,
                &r.dossier_code,
                "supplement-submitted",
                &r.idempotency_key,
                serde_json::json!({ "documents": keys }),
                |receipt, procedure| {
                    let msg = SupplementSubmitted {
                        state: Some(events::state(
                            receipt,
                            procedure,
                            DossierStatus::Received,
                            1,
                        )),
                        submitted_at: Some(ts(Utc::now())),
                        document_keys: keys.clone(),
                        received_by: Some(actor),
                    };
                    (
                        None,
                        events::dossier_event(&procedure.field, events::SUPPLEMENT_SUBMITTED, &msg),
                    )
                },
            )
            .await?;
        Ok(Response::new(SubmitSupplementResponse {
            dossier: Some(dossier),
        }))
    }

    async fn request_withdrawal(
        &self,
        req: Request<RequestWithdrawalRequest>,
    ) -> Reply<RequestWithdrawalResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Desk, Role::Integration])?;
        let r = req.into_inner();
        let reason = applicant::clean_text(&r.reason, "reason", 1000)?;
        if reason.is_empty() {
            return Err(Status::invalid_argument(
                "cần lý do rút hồ sơ (reason is required)",
            ));
        }
        let actor = actor(&who);
        let dossier = self
            .dossier_action(
                &who,
                &r.dossier_code,
                "withdrawal-requested",
                &r.idempotency_key,
                serde_json::json!({ "reason": reason }),
                |receipt, procedure| {
                    let status = DossierStatus::WithdrawalRequested;
                    let msg = WithdrawalRequested {
                        state: Some(events::state(receipt, procedure, status, 1)),
                        reason: reason.clone(),
                        requested_at: Some(ts(Utc::now())),
                        received_by: Some(actor),
                    };
                    (
                        Some(status),
                        events::dossier_event(&procedure.field, events::WITHDRAWAL_REQUESTED, &msg),
                    )
                },
            )
            .await?;
        Ok(Response::new(RequestWithdrawalResponse {
            dossier: Some(dossier),
        }))
    }
}

fn parse_day(as_of: &str) -> Result<NaiveDate, ServiceError> {
    if as_of.is_empty() {
        return Ok(vietnam_day(Utc::now()));
    }
    NaiveDate::parse_from_str(as_of, "%Y-%m-%d")
        .map_err(|_| invalid(format!("as_of {as_of:?} phải có dạng YYYY-MM-DD")))
}

/// Stores a new procedure version and its catalog event in the caller's transaction.
pub async fn publish(
    tx: &mut sqlx::PgConnection,
    p: &mut Procedure,
    by: &str,
) -> Result<(), ServiceError> {
    store::insert_procedure(tx, p, by).await?;
    let event = OutboxEvent::new(
        format!("catalog.{}", events::PROCEDURE_PUBLISHED),
        events::PROCEDURE_PUBLISHED,
        ProcedurePublished {
            procedure: Some(p.clone()),
        }
        .encode_to_vec(),
    );
    enqueue(tx, &event).await?;
    Ok(())
}
