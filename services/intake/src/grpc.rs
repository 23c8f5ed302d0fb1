//! The IntakeService gRPC API. Each RPC states the roles it accepts at its top; the rules live in
//! [`crate::submission`] and [`crate::changes`].

use crate::attachments::ALLOWED_TYPES;
use crate::publish::{self, actor};
use crate::{Intake, invalid};
use crate::{applicant, catalog, store};
use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::time::{from_ts, ts, vietnam_day};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Role, caller};
use motcua_platform::outbox::enqueue;
use motcua_platform::text::quote;
use motcua_proto::common::{DossierStatus, Procedure};
use motcua_proto::events::{ProcedurePublished, SupplementSubmitted, WithdrawalRequested};
use motcua_proto::intake::intake_service_server::IntakeService;
use motcua_proto::intake::*;
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use uuid::Uuid;

type Reply<T> = Result<Response<T>, Status>;

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
        let day = parse_day(&r.as_of, self.clock.now()).map_err(status_of)?;
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
        if r.code.trim().is_empty() {
            return Err(invalid("thiếu mã thủ tục (code is required)").into());
        }
        let found = if r.version > 0 {
            store::procedure_version(&self.pool, &r.code, r.version).await
        } else {
            let day = parse_day(&r.as_of, self.clock.now()).map_err(status_of)?;
            store::procedure_in_force(&self.pool, &r.code, day).await
        }
        .map_err(status_of)?;
        let procedure = found.ok_or_else(|| {
            Status::not_found(format!(
                "không tìm thấy thủ tục {} (procedure not found)",
                quote(&r.code)
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
        // An agency admin publishes for its agency; a province admin for its province's.
        who.require_scope(p.competent_agency.trim())?;
        p.name =
            applicant::clean_text(&p.name, "procedure.name", 500).map_err(ServiceError::from)?;
        let day = self
            .calendars
            .for_agency(&p.competent_agency)
            .hours()
            .day_seconds();
        catalog::validate(&p, day)?;
        let mut tx = self.pool.begin().await.map_err(ServiceError::from)?;
        publish(&mut tx, &mut p, &who.subject, self.clock.now()).await?;
        self.outbox.commit(tx).await.map_err(ServiceError::from)?;
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
                "loại tệp {} không được chấp nhận; dùng {} (media type not allowed)",
                quote(&r.media_type),
                ALLOWED_TYPES.join(", ")
            )));
        }
        let file_name =
            applicant::clean_text(&r.file_name, "file_name", 255).map_err(ServiceError::from)?;
        if file_name.is_empty() || file_name.contains(['/', '\\']) {
            return Err(Status::invalid_argument(
                "file_name phải là tên tệp, không chứa '/' (file_name is a bare name)",
            ));
        }
        let id = Uuid::now_v7();
        let now = self.clock.now();
        let key = format!("{}/{id}", now.format("%Y/%m"));
        let attachment = Attachment {
            id: id.to_string(),
            file_name,
            media_type: r.media_type,
            size_bytes: r.content.len() as u64,
            sha256: hex::encode(Sha256::digest(&r.content)),
        };
        self.attachments.put(&key, r.content.into()).await?;
        store::insert_attachment(
            &self.pool,
            &attachment,
            &key,
            &who.agency,
            &who.subject,
            now,
        )
        .await?;
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
        let who = caller(&req)?; // any role; limited to the caller's scope (agency or province)
        let r = req.into_inner();
        let limit = match r.page_size {
            0 => 50,
            n if n > 500 => return Err(Status::invalid_argument("page_size tối đa 500")),
            n => n,
        };
        let after = if r.page_token.is_empty() {
            None
        } else {
            Some(parse_page_token(&r.page_token)?)
        };
        let filter = store::ListFilter {
            agency: who.agency.clone(),
            province: who.province_scope().map(str::to_owned),
            applicant: crate::applicant::search(&r.applicant)?,
            open_only: r.open_only,
            receiving_agency: r.receiving_agency,
            field: r.field,
            status: r.status as i16,
            from: r
                .received_from
                .as_ref()
                .map(|t| from_ts(t, "received_from"))
                .transpose()
                .map_err(ServiceError::from)?,
            to: r
                .received_to
                .as_ref()
                .map(|t| from_ts(t, "received_to"))
                .transpose()
                .map_err(ServiceError::from)?,
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
        if r.reasons.len() > MAX_REASONS {
            return Err(Status::invalid_argument(format!(
                "reasons: tối đa {MAX_REASONS} lý do, nhận {} (at most {MAX_REASONS})",
                r.reasons.len()
            )));
        }
        let reasons: Vec<String> = r
            .reasons
            .iter()
            .map(|s| motcua_domain::text::clean_multiline(s, "reasons", 1000))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ServiceError::from)?
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
        let actor = actor(&who);
        let now = self.clock.now();
        let documents = r.documents.clone();
        let dossier = self
            .dossier_action(
                &who,
                &r.dossier_code,
                publish::SUPPLEMENT_SUBMITTED,
                &r.idempotency_key,
                // A supplement nobody asked for would pause nothing and only confuse the case:
                // refused, so the applicant's papers are not taken as if they answered a request.
                Some((
                    DossierStatus::SupplementRequested,
                    "không có yêu cầu bổ sung đang chờ; chỉ nhận bổ sung khi cơ quan giải quyết đã yêu cầu (no supplement was requested)",
                )),
                |receipt, procedure| {
                    let docs = crate::submission::listed_documents(procedure, &documents)?;
                    let keys: Vec<String> = docs
                        .iter()
                        .map(|d| {
                            if d.key.is_empty() {
                                d.name.clone()
                            } else {
                                d.key.clone()
                            }
                        })
                        .collect();
                    let msg = SupplementSubmitted {
                        submitted_at: Some(ts(now)),
                        document_keys: keys.clone(),
                        received_by: Some(actor),
                        dossier_code: receipt.dossier_code.clone(),
                        field: procedure.field.clone(),
                        competent_agency: receipt.competent_agency.clone(),
                    };
                    Ok(crate::changes::Change {
                        detail: serde_json::json!({ "documents": keys }),
                        status: None,
                        event: publish::dossier_event(
                            &procedure.field,
                            publish::SUPPLEMENT_SUBMITTED,
                            &msg,
                        ),
                    })
                },
            )
            .await?;
        Ok(Response::new(SubmitSupplementResponse {
            dossier: Some(dossier),
        }))
    }

    async fn get_applicant_contacts(
        &self,
        req: Request<GetApplicantContactsRequest>,
    ) -> Reply<GetApplicantContactsResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Integration])?;
        let r = req.into_inner();
        let code = r.dossier_code.trim();
        // The same wall as GetDossier: the dossier's agencies in the caller's scope.
        let dossier = self.visible_dossier(&who, code).await?;
        let erased = store::contacts_erased(&self.pool, code).await?;
        let applicant = dossier
            .receipt
            .and_then(|r| r.applicant)
            .unwrap_or_default();
        Ok(Response::new(GetApplicantContactsResponse {
            phone: applicant.phone,
            email: applicant.email,
            erased,
        }))
    }

    async fn request_withdrawal(
        &self,
        req: Request<RequestWithdrawalRequest>,
    ) -> Reply<RequestWithdrawalResponse> {
        let who = caller(&req)?;
        who.require(&[Role::Desk, Role::Integration])?;
        let r = req.into_inner();
        let reason = motcua_domain::text::clean_multiline(&r.reason, "reason", 1000)
            .map_err(ServiceError::from)?;
        if reason.is_empty() {
            return Err(Status::invalid_argument(
                "cần lý do rút hồ sơ (reason is required)",
            ));
        }
        let actor = actor(&who);
        let now = self.clock.now();
        let dossier = self
            .dossier_action(
                &who,
                &r.dossier_code,
                publish::WITHDRAWAL_REQUESTED,
                &r.idempotency_key,
                None,
                |receipt, procedure| {
                    let msg = WithdrawalRequested {
                        reason: reason.clone(),
                        requested_at: Some(ts(now)),
                        received_by: Some(actor),
                        dossier_code: receipt.dossier_code.clone(),
                        field: procedure.field.clone(),
                        competent_agency: receipt.competent_agency.clone(),
                    };
                    Ok(crate::changes::Change {
                        detail: serde_json::json!({ "reason": reason }),
                        status: Some(DossierStatus::WithdrawalRequested),
                        event: publish::dossier_event(
                            &procedure.field,
                            publish::WITHDRAWAL_REQUESTED,
                            &msg,
                        ),
                    })
                },
            )
            .await?;
        Ok(Response::new(RequestWithdrawalResponse {
            dossier: Some(dossier),
        }))
    }
}

/// Reasons one refusal at the desk lists (each at most 1,000 characters).
const MAX_REASONS: usize = 50;

/// A page token as `next_page_token` makes it: "<received_at in microseconds>|<code>". A forged
/// one is refused before it reaches the database (an instant PostgreSQL cannot hold would come
/// back as an internal error).
fn parse_page_token(token: &str) -> Result<(DateTime<Utc>, String), ServiceError> {
    let bad = || {
        invalid(
            "page_token không hợp lệ; dùng next_page_token của trang trước (use the next_page_token of the previous page)",
        )
    };
    let (micros, code) = token.split_once('|').ok_or_else(bad)?;
    let at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .filter(|t| (1970..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(bad)?;
    Ok((at, code.to_owned()))
}

fn parse_day(as_of: &str, now: DateTime<Utc>) -> Result<NaiveDate, ServiceError> {
    if as_of.is_empty() {
        return Ok(vietnam_day(now));
    }
    NaiveDate::parse_from_str(as_of, "%Y-%m-%d").map_err(|_| {
        invalid(format!(
            "as_of {} phải có dạng YYYY-MM-DD (as_of must be a date like 2026-01-31)",
            quote(as_of)
        ))
    })
}

/// Stores a new procedure version and its catalog event in the caller's transaction.
pub async fn publish(
    tx: &mut sqlx::PgConnection,
    p: &mut Procedure,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    store::insert_procedure(tx, p, by, now).await?;
    let event = publish::procedure_published(&ProcedurePublished {
        procedure: Some(p.clone()),
    });
    enqueue(tx, &event).await?;
    Ok(())
}
