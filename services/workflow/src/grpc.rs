//! The WorkflowService gRPC API. The rules of each change live in [`crate::rules`]; this module
//! takes the caller, checks the request, and runs the change through [`Workflow::act`]: lock the
//! case, check the version the caller saw, apply, store the case, its history line, its timers,
//! its event and the idempotent answer — all in one transaction, so nothing is half-applied.

use crate::bounds;
use crate::rules::{self, Change, Ctx, may_see};
use crate::settings::WorkflowSettings;
use crate::{publish, queue, store, timers};
use motcua_domain::calendars::Calendars;
use motcua_domain::time::{from_ts, ts};
use motcua_platform::auth::{Caller, caller};
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
    /// Intake's API, for finding queue cases by the applicant's name or phone (intake's data).
    pub intake: queue::IntakeSearch,
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

fn checked_code(code: &str) -> Result<&str, ServiceError> {
    motcua_domain::dossier_code::check(code).map_err(invalid)?;
    Ok(code.trim())
}

use bounds::required;

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
        bounds::key(
            &action.idempotency_key,
            "action.idempotency_key",
            bounds::IDEMPOTENCY_KEY,
        )?;
        bounds::attachments(&action.attachments)?;
        Ok(Self {
            caller,
            code,
            action,
            note: bounds::long_text(&action.note, "action.note")?,
            request_sha: hex::encode(Sha256::digest(request.encode_to_vec())),
        })
    }

    fn scope(&self) -> String {
        format!("{}/{}", self.caller.agency, self.caller.subject)
    }
}

impl Workflow {
    fn ctx<'a>(&'a self, c: &Case, note: &'a str) -> Ctx<'a> {
        Ctx {
            now: self.clock.now(),
            calendar: self.calendars.for_agency(&c.competent_agency),
            settings: &self.settings,
            note,
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
        let Some((mut c, base)) = store::case(&self.pool, a.code, store::Lock::No).await? else {
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
        let ctx = self.ctx(&c, &a.note);
        let mut change = change(&mut c, &ctx)?;
        if c == before && a.note.is_empty() && a.action.attachments.is_empty() {
            // Nothing changed (a step assigned to whom already has it) and nothing was said: no
            // version is spent, so nobody's next action on the version they saw is refused as
            // stale. With a note or a file the officer said something: it is written.
            return Ok((before, false));
        }
        change.note = a.note.clone();
        let actor = rules::actor(a.caller);
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
            let current = store::case(&self.pool, a.code, store::Lock::No)
                .await?
                .map_or(0, |(c, _)| c.version);
            return Err(stale(current, a.action.expected_version));
        }
        self.outbox.wake();
        metrics::counter!("motcua_workflow_changes_total", "kind" => publish::slug(change.kind))
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
        match store::case(&self.pool, code, store::Lock::No).await? {
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
    let event = publish::changed(base, c, change, actor, ctx.now);
    event.fits()?;
    store::write(
        db,
        &store::Write {
            case: c,
            expected_version: before.version,
            history: store::HistoryRow {
                code: &c.dossier_code,
                version: c.version,
                kind: publish::slug(change.kind),
                actor,
                at: ctx.now,
                summary: &change.summary,
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
        let bearer = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let r = req.into_inner();
        let now = self.clock.now();
        let page = queue::list(
            &queue::Queues {
                pool: &self.pool,
                calendars: &self.calendars,
                settings: &self.settings,
                intake: &self.intake,
            },
            &who,
            bearer.as_deref(),
            &r,
            now,
        )
        .await?;
        Ok(Response::new(page))
    }

    async fn get_case(&self, req: Request<GetCaseRequest>) -> Reply<GetCaseResponse> {
        let who = caller(&req)?; // officers whose scope covers the competent or receiving agency
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
        let who = caller(&req)?; // officers whose scope covers the competent or receiving agency
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
            self.act(a, |c, _| rules::claim(c, &who)).await?
        )
    }

    async fn assign_task(&self, req: Request<AssignTaskRequest>) -> Reply<AssignTaskResponse> {
        let who = caller(&req)?; // leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let given = r.assignee.clone().unwrap_or_default();
        let assignee = Actor {
            subject: bounds::line(&given.subject, "assignee.subject", bounds::SUBJECT)?,
            name: bounds::line(&given.name, "assignee.name", bounds::DISPLAY_NAME)?,
            agency: String::new(),
        };
        reply!(
            AssignTaskResponse,
            self.act(a, |c, _| rules::assign(c, &who, &assignee))
                .await?
        )
    }

    async fn forward_step(&self, req: Request<ForwardStepRequest>) -> Reply<ForwardStepResponse> {
        let who = caller(&req)?; // the step's holder
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        reply!(
            ForwardStepResponse,
            self.act(a, |c, ctx| rules::forward(c, &who, ctx)).await?
        )
    }

    async fn send_back(&self, req: Request<SendBackRequest>) -> Reply<SendBackResponse> {
        let who = caller(&req)?; // the step's holder
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let to_step = bounds::key(&r.to_step, "to_step", bounds::KEY)?;
        let reason = required(&r.reason, "reason")?;
        reply!(
            SendBackResponse,
            self.act(a, |c, ctx| rules::send_back(c, &who, to_step, &reason, ctx))
                .await?
        )
    }

    async fn request_supplement(
        &self,
        req: Request<RequestSupplementRequest>,
    ) -> Reply<RequestSupplementResponse> {
        let who = caller(&req)?; // the step's holder, or a leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let missing = bounds::missing(&r.missing)?;
        reply!(
            RequestSupplementResponse,
            self.act(a, |c, ctx| rules::request_supplement(
                c, &who, &missing, ctx
            ))
            .await?
        )
    }

    async fn request_financial_obligation(
        &self,
        req: Request<RequestFinancialObligationRequest>,
    ) -> Reply<RequestFinancialObligationResponse> {
        let who = caller(&req)?; // the step's holder, or a leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let description = bounds::line(&r.description, "description", bounds::DESCRIPTION)?;
        reply!(
            RequestFinancialObligationResponse,
            self.act(a, |c, ctx| rules::request_obligation(
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
        let who = caller(&req)?; // desk, leader, or the step's holder
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let reference = bounds::line(&r.reference, "reference", bounds::REFERENCE)?;
        reply!(
            RecordPaymentResponse,
            self.act(a, |c, ctx| rules::record_payment(c, &who, &reference, ctx))
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
        )
        .map_err(ServiceError::from)?;
        reply!(
            IssueApologyResponse,
            self.act(a, |c, ctx| rules::apology(c, &who, &reason, new_due, ctx))
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
            self.act(a, |c, ctx| rules::refuse(c, &who, &reason, ctx))
                .await?
        )
    }

    async fn record_result(
        &self,
        req: Request<RecordResultRequest>,
    ) -> Reply<RecordResultResponse> {
        let who = caller(&req)?; // the last step's holder, or a leader
        let r = req.get_ref();
        let a = Acting::new(&who, &r.dossier_code, r.action.as_ref(), r)?;
        let result = required(&r.result, "result")?;
        let close_early = bounds::long_text(&r.close_early_reason, "close_early_reason")?;
        reply!(
            RecordResultResponse,
            self.act(a, |c, ctx| rules::record_result(
                c,
                &who,
                &result,
                &close_early,
                ctx
            ))
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
        reply!(
            ReturnResultResponse,
            self.act(a, |c, ctx| rules::return_result(c, &who, ctx))
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
        reply!(
            DecideWithdrawalResponse,
            self.act(a, |c, ctx| rules::decide_withdrawal(
                c, &who, r.approve, ctx
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
            self.act(a, |c, ctx| rules::stop_processing(c, &who, &reason, ctx))
                .await?
        )
    }
}
