//! The rules of a submission: who may use which channel, the documents against the procedure's
//! list, the applicant, and storing the dossier with its code, receipt and event in one
//! transaction (with idempotent retries).

use crate::publish::{self, actor};
use crate::{Intake, invalid};
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

mod checks;
pub(crate) use checks::*;

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
                .map(|base| motcua_domain::links::receipt_link(base, &code, &token))
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
        let state = publish::first_state(&receipt, &c.procedure, status, &self.secrets);
        let event = if rejecting {
            let msg = RejectedAtIntake {
                state: Some(state),
                reasons: reasons.to_vec(),
                rejected_by: Some(actor(caller)),
            };
            publish::dossier_event(&c.procedure.field, publish::REJECTED_AT_INTAKE, &msg)
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
            publish::dossier_event(&c.procedure.field, publish::SUBMITTED, &msg)
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
