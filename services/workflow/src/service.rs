//! The WorkflowService gRPC API. The rules of each change live in [`crate::case`]; this module
//! takes the caller, checks the request, and runs the change through [`Workflow::act`]: lock the
//! case, check the version the caller saw, apply, store the case, its history line, its timers,
//! its event and the idempotent answer — all in one transaction, so nothing is half-applied.

use crate::case::{self, Change, Ctx};
use crate::settings::WorkflowSettings;
use crate::{events, queue, store, timers};
use motcua_domain::calendars::Calendars;
use motcua_domain::text::clean_multiline;
use motcua_domain::time::{from_ts, ts};
use motcua_platform::auth::{Caller, Role, caller};
use motcua_platform::text::quote;
use motcua_platform::{ServiceError, SharedClock};
use motcua_proto::common::Actor;
use motcua_proto::events::DossierState;
use motcua_proto::workflow::workflow_service_server::WorkflowService;
use motcua_proto::workflow::*;
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::sync::Arc;
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct Workflow {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub calendars: Arc<Calendars>,
    pub settings: Arc<WorkflowSettings>,
    /// Told after each change's commit, so that its event goes out at once.
    pub outbox: motcua_platform::outbox::OutboxWake,
}

type Reply<T> = Result<Response<T>, Status>;

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(m.into())
}

fn not_found(code: &str) -> ServiceError {
    ServiceError::NotFound(format!(
        "không tìm thấy hồ sơ {} (no case for this dossier)",
        quote(code)
    ))
}

/// The caller may see the case: an officer of its competent or receiving agency, or an admin.
fn may_see(caller: &Caller, c: &Case) -> bool {
    caller.has(Role::Admin)
        || caller.agency == c.competent_agency
        || caller.agency == c.receiving_agency
}

fn checked_code(code: &str) -> Result<&str, ServiceError> {
    motcua_domain::dossier_code::check(code).map_err(invalid)?;
    Ok(code.trim())
}

/// A required reason or similar free text, cleaned.
fn required(text: &str, field: &str) -> Result<String, ServiceError> {
    let t = clean_multiline(text, field, 2000)?;
    if t.is_empty() {
        return Err(invalid(format!("thiếu {field} ({field} is required)")));
    }
    Ok(t)
}

/// What a change was made of: the checked action, the caller and the request's fingerprint.
struct Acting<'a> {
    caller: &'a Caller,
    code: &'a str,
    action: &'a Action,
    note: String,
    request_sha: String,
}

impl<'a> Acting<'a> {
    fn new(
        caller: &'a Caller,
        code: &'a str,
        action: Option<&'a Action>,
        request: &impl Message,
    ) -> Result<Self, ServiceError> {
        let code = checked_code(code)?;
        let action = action.ok_or_else(|| {
            invalid("thiếu action: phiên bản hồ sơ đã xem (action.expected_version is required)")
        })?;
        if action.expected_version == 0 {
            return Err(invalid(
                "action.expected_version: ghi phiên bản hồ sơ đã xem (GetCase) (the case version you saw is required)",
            ));
        }
        if action.idempotency_key.len() > 128 {
            return Err(invalid(
                "action.idempotency_key dài tối đa 128 ký tự (at most 128 characters)",
            ));
        }
        if action.attachments.len() > 20 {
            return Err(invalid("tối đa 20 tệp đính kèm (at most 20 attachments)"));
        }
        Ok(Self {
            caller,
            code,
            action,
            note: clean_multiline(&action.note, "action.note", 2000)?,
            request_sha: hex::encode(Sha256::digest(request.encode_to_vec())),
        })
    }

    fn scope(&self) -> String {
        format!("{}/{}", self.caller.agency, self.caller.subject)
    }
}

impl Workflow {
    fn ctx(&self, c: &Case) -> Ctx<'_> {
        Ctx {
            now: self.clock.now(),
            calendar: self.calendars.for_agency(&c.competent_agency),
            settings: &self.settings,
        }
    }

    /// Runs one change by an officer, as the module comment says: read the case, check the
    /// version the caller saw, apply the change, and write it in one statement that succeeds only
    /// if nobody changed the case meanwhile (then ABORTED, and nothing was written).
    async fn act(
        &self,
        a: Acting<'_>,
        change: impl FnOnce(&mut Case, &Ctx) -> Result<Change, ServiceError>,
    ) -> Result<(Case, bool), ServiceError> {
        let Some((mut c, base)) = store::case(&self.pool, a.code, false).await? else {
            return Err(not_found(a.code));
        };
        if !may_see(a.caller, &c) {
            return Err(not_found(a.code));
        }
        let key = a.action.idempotency_key.trim();
        if let Some(first) = self.first_answer(&a, key).await? {
            return Ok((first, true));
        }
        if c.version != a.action.expected_version {
            return Err(stale(c.version, a.action.expected_version));
        }
        let before = c.clone();
        let ctx = self.ctx(&c);
        let mut change = change(&mut c, &ctx)?;
        if change.note.is_empty() {
            change.note = a.note.clone();
        }
        let actor = case::actor(a.caller);
        let scope = a.scope();
        let answer = (!key.is_empty()).then_some((scope.as_str(), key, a.request_sha.as_str()));
        let written = write(
            &self.pool,
            &before,
            &mut c,
            &base,
            &change,
            &actor,
            &a.action.attachments,
            answer,
            &ctx,
        )
        .await?;
        if !written {
            // Someone else's change came first: their retry's answer, or a stale version.
            if let Some(first) = self.first_answer(&a, key).await? {
                return Ok((first, true));
            }
            let current = store::case(&self.pool, a.code, false)
                .await?
                .map_or(0, |(c, _)| c.version);
            return Err(stale(current, a.action.expected_version));
        }
        self.outbox.wake();
        metrics::counter!("motcua_workflow_changes_total", "kind" => events::slug(change.kind))
            .increment(1);
        Ok((c, false))
    }

    /// The answer given earlier to this caller's idempotency key, if any.
    async fn first_answer(&self, a: &Acting<'_>, key: &str) -> Result<Option<Case>, ServiceError> {
        if key.is_empty() {
            return Ok(None);
        }
        let Some((sha, answer)) = store::answered(&self.pool, &a.scope(), key).await? else {
            return Ok(None);
        };
        if sha != a.request_sha {
            return Err(ServiceError::FailedPrecondition(
                "idempotency_key đã dùng cho một thao tác khác; dùng khóa mới (key reused with a different request)".into(),
            ));
        }
        Case::decode(answer.as_slice())
            .map(Some)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored answer: {e}")))
    }

    async fn visible(
        &self,
        caller: &Caller,
        code: &str,
    ) -> Result<(Case, DossierState), ServiceError> {
        let code = checked_code(code)?;
        match store::case(&self.pool, code, false).await? {
            Some((c, base)) if may_see(caller, &c) => Ok((c, base)),
            _ => Err(not_found(code)),
        }
    }
}

fn stale(current: u64, sent: u64) -> ServiceError {
    ServiceError::Aborted {
        message: format!(
            "hồ sơ đã thay đổi: phiên bản hiện tại {current}, bạn gửi {sent}; xem lại hồ sơ rồi thao tác lại (stale version: the case is at version {current})"
        ),
        current_version: current,
    }
}

/// Writes a change made to `c` (already applied to it, on the case as it was in `before`): the
/// next version, the case, its history line, its timers, its event and the idempotent answer, in
/// one statement. False when the case is no longer at `before`'s version (nothing was written).
/// Shared by officers' changes and the changes intake's events make.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write(
    db: impl sqlx::PgExecutor<'_>,
    before: &Case,
    c: &mut Case,
    base: &DossierState,
    change: &Change,
    actor: &Actor,
    attachments: &[AttachmentRef],
    answer: Option<(&str, &str, &str)>,
    ctx: &Ctx<'_>,
) -> Result<bool, ServiceError> {
    c.version = before.version + 1;
    c.updated_at = Some(ts(ctx.now));
    let event = events::changed(base, c, change, actor, ctx.now);
    store::write(
        db,
        &store::Write {
            case: c,
            expected_version: before.version,
            history: store::HistoryRow {
                code: &c.dossier_code,
                version: c.version,
                kind: events::slug(change.kind),
                actor,
                at: ctx.now,
                note: &change.note,
                attachments,
            },
            event: &event,
            timers: timers::moves(Some(before), c, ctx),
            answer,
        },
    )
    .await
}

macro_rules! reply {
    ($ty:ident, $result:expr) => {{
        let (case, replayed) = $result;
        Ok(Response::new($ty {
            case: Some(case),
            replayed,
        }))
    }};
}

#[tonic::async_trait]
impl WorkflowService for Workflow {
    async fn list_queue(&self, req: Request<ListQueueRequest>) -> Reply<ListQueueResponse> {
        let who = caller(&req)?; // any officer; the scope decides what they may see
        let r = req.into_inner();
        let now = self.clock.now();
        let (cases, next_page_token) =
            queue::list(&self.pool, &who, &r, now, &self.calendars, &self.settings).await?;
        Ok(Response::new(ListQueueResponse {
            cases,
            next_page_token,
        }))
    }

    async fn get_case(&self, req: Request<GetCaseRequest>) -> Reply<GetCaseResponse> {
        let who = caller(&req)?; // officers of the competent or receiving agency, admins
        let r = req.into_inner();
        let (c, _) = self.visible(&who, &r.dossier_code).await?;
        let history = if r.with_history {
            store::history(&self.pool, &c.dossier_code).await?
        } else {
            Vec::new()
        };
        Ok(Response::new(GetCaseResponse {
            case: Some(c),
            history,
        }))
    }

    async fn get_control_sheet(
        &self,
        req: Request<GetControlSheetRequest>,
    ) -> Reply<GetControlSheetResponse> {
        let who = caller(&req)?; // officers of the competent or receiving agency, admins
        let (c, _) = self.visible(&who, &req.get_ref().dossier_code).await?;
        Ok(Response::new(GetControlSheetResponse {
            entries: c.control_sheet.clone(),
            case: Some(c),
        }))
    }

    async fn claim_task(&self, req: Request<ClaimTaskRequest>) -> Reply<ClaimTaskResponse> {
        let who = caller(&req)?; // the current step's role (and department)
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        reply!(
            ClaimTaskResponse,
            self.act(a, |c, _| case::claim(c, &who)).await?
        )
    }

    async fn assign_task(&self, req: Request<AssignTaskRequest>) -> Reply<AssignTaskResponse> {
        let who = caller(&req)?; // leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let assignee = r.assignee.clone().unwrap_or_default();
        reply!(
            AssignTaskResponse,
            self.act(a, |c, _| case::assign(c, &who, &assignee)).await?
        )
    }

    async fn forward_step(&self, req: Request<ForwardStepRequest>) -> Reply<ForwardStepResponse> {
        let who = caller(&req)?; // the step's assignee, or an officer who may take it
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let note = a.note.clone();
        reply!(
            ForwardStepResponse,
            self.act(a, |c, ctx| case::forward(c, &who, &note, ctx))
                .await?
        )
    }

    async fn send_back(&self, req: Request<SendBackRequest>) -> Reply<SendBackResponse> {
        let who = caller(&req)?; // the step's assignee
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let reason = required(&r.reason, "reason")?;
        reply!(
            SendBackResponse,
            self.act(a, |c, ctx| case::send_back(
                c, &who, &r.to_step, &reason, ctx
            ))
            .await?
        )
    }

    async fn request_supplement(
        &self,
        req: Request<RequestSupplementRequest>,
    ) -> Reply<RequestSupplementResponse> {
        let who = caller(&req)?; // the step's assignee, or a leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let missing = r
            .missing
            .iter()
            .map(|m| motcua_domain::text::clean_text(m, "missing", 500))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|m| !m.is_empty())
            .collect::<Vec<_>>();
        let note = a.note.clone();
        reply!(
            RequestSupplementResponse,
            self.act(a, |c, ctx| case::request_supplement(
                c, &who, &missing, &note, ctx
            ))
            .await?
        )
    }

    async fn request_financial_obligation(
        &self,
        req: Request<RequestFinancialObligationRequest>,
    ) -> Reply<RequestFinancialObligationResponse> {
        let who = caller(&req)?; // the step's assignee, or a leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let description = motcua_domain::text::clean_text(&r.description, "description", 500)?;
        reply!(
            RequestFinancialObligationResponse,
            self.act(a, |c, ctx| case::request_obligation(
                c,
                &who,
                r.amount_vnd,
                &description,
                ctx
            ))
            .await?
        )
    }

    async fn record_payment(
        &self,
        req: Request<RecordPaymentRequest>,
    ) -> Reply<RecordPaymentResponse> {
        let who = caller(&req)?; // desk, leader, or the step's assignee
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let reference = motcua_domain::text::clean_text(&r.reference, "reference", 200)?;
        reply!(
            RecordPaymentResponse,
            self.act(a, |c, ctx| case::record_payment(c, &who, &reference, ctx))
                .await?
        )
    }

    async fn issue_apology(
        &self,
        req: Request<IssueApologyRequest>,
    ) -> Reply<IssueApologyResponse> {
        let who = caller(&req)?; // the unit at fault: a leader, or the current step's department
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let reason = required(&r.reason, "reason")?;
        let new_due = from_ts(
            r.new_due_at
                .as_ref()
                .ok_or_else(|| invalid("thiếu ngày hẹn mới (new_due_at is required)"))?,
            "new_due_at",
        )?;
        reply!(
            IssueApologyResponse,
            self.act(a, |c, ctx| case::apology(c, &who, &reason, new_due, ctx))
                .await?
        )
    }

    async fn refuse_case(&self, req: Request<RefuseCaseRequest>) -> Reply<RefuseCaseResponse> {
        let who = caller(&req)?; // leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let reason = required(&r.reason, "reason")?;
        reply!(
            RefuseCaseResponse,
            self.act(a, |c, ctx| case::refuse(c, &who, &reason, ctx))
                .await?
        )
    }

    async fn record_result(
        &self,
        req: Request<RecordResultRequest>,
    ) -> Reply<RecordResultResponse> {
        let who = caller(&req)?; // the last step's assignee, or a leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let result = required(&r.result, "result")?;
        reply!(
            RecordResultResponse,
            self.act(a, |c, ctx| case::record_result(c, &who, &result, ctx))
                .await?
        )
    }

    async fn return_result(
        &self,
        req: Request<ReturnResultRequest>,
    ) -> Reply<ReturnResultResponse> {
        let who = caller(&req)?; // desk
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let note = a.note.clone();
        reply!(
            ReturnResultResponse,
            self.act(a, |c, ctx| case::return_result(c, &who, &note, ctx))
                .await?
        )
    }

    async fn decide_withdrawal(
        &self,
        req: Request<DecideWithdrawalRequest>,
    ) -> Reply<DecideWithdrawalResponse> {
        let who = caller(&req)?; // desk, leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let note = a.note.clone();
        reply!(
            DecideWithdrawalResponse,
            self.act(a, |c, ctx| case::decide_withdrawal(
                c, &who, r.approve, &note, ctx
            ))
            .await?
        )
    }

    async fn stop_processing(
        &self,
        req: Request<StopProcessingRequest>,
    ) -> Reply<StopProcessingResponse> {
        let who = caller(&req)?; // leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let reason = required(&r.reason, "reason")?;
        reply!(
            StopProcessingResponse,
            self.act(a, |c, ctx| case::stop_processing(c, &who, &reason, ctx))
                .await?
        )
    }
}
