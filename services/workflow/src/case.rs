//! The rules of a case: who may do what, when, and what each change does to it. Pure functions on
//! the case record (`motcua.workflow.v1.Case`): no I/O, the time and the calendar are given. The
//! service locks the case, calls one of these, bumps the version and stores what changed.

use crate::settings::WorkflowSettings;
use chrono::{DateTime, FixedOffset, NaiveTime, Utc};
use motcua_calendar::{Calendar, Outcome as CalOutcome, Pause, Span};
use motcua_domain::time::{from_ts, ts, vietnam_day};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role};
use motcua_proto::common::{
    Actor, DossierStatus, Outcome, PauseReason, ProcessStep, ProcessingTime, StopKind,
    processing_time::Span as ProtoSpan,
};
use motcua_proto::events::{ChangeKind, DossierSubmitted};
use motcua_proto::workflow::{Case, CaseStep, ControlSheetEntry, PausePeriod};

/// What a change needs besides the case: the time and the agency's calendar.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub calendar: &'a Calendar,
    pub settings: &'a WorkflowSettings,
}

/// What happened, for the history and the event.
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    pub note: String,
}

impl Change {
    fn new(kind: ChangeKind, note: impl Into<String>) -> Self {
        Self {
            kind,
            note: note.into(),
        }
    }
}

fn refused(m: impl Into<String>) -> ServiceError {
    ServiceError::FailedPrecondition(m.into())
}

fn denied(m: impl Into<String>) -> ServiceError {
    ServiceError::PermissionDenied(m.into())
}

fn vn(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&motcua_calendar::vietnam())
}

fn at(t: &Option<prost_types::Timestamp>, what: &str) -> Result<DateTime<Utc>, ServiceError> {
    let t = t
        .as_ref()
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("case without {what}")))?;
    from_ts(t, what)
}

fn calendar_error(e: motcua_calendar::CalendarError) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("calendar: {e}"))
}

pub fn span(t: Option<&ProcessingTime>) -> Option<Span> {
    match t.and_then(|t| t.span.as_ref())? {
        ProtoSpan::WorkingDays(d) => Some(Span::Days(*d)),
        ProtoSpan::WorkingHours(h) => Some(Span::Hours(*h)),
    }
}

pub fn actor(c: &Caller) -> Actor {
    Actor {
        subject: c.subject.clone(),
        name: c.name.clone(),
        agency: c.agency.clone(),
    }
}

pub fn status(case: &Case) -> DossierStatus {
    DossierStatus::try_from(case.status).unwrap_or(DossierStatus::Unspecified)
}

pub fn is_open(case: &Case) -> bool {
    case.finished_at.is_none() && case.stopped_at.is_none()
}

pub fn paused(case: &Case) -> PauseReason {
    PauseReason::try_from(case.paused).unwrap_or(PauseReason::Unspecified)
}

pub fn current(case: &Case) -> Option<&CaseStep> {
    case.steps.get(case.current_step as usize)
}

/// The steps a case runs: the procedure's, or one step of the whole time when it names none.
fn steps_of(procedure_steps: &[ProcessStep], time: Option<&ProcessingTime>) -> Vec<CaseStep> {
    if procedure_steps.is_empty() {
        return vec![CaseStep {
            index: 0,
            key: "giai-quyet".into(),
            name: "Giải quyết hồ sơ".into(),
            role: "specialist".into(),
            department: String::new(),
            limit: time.cloned(),
        }];
    }
    procedure_steps
        .iter()
        .enumerate()
        .map(|(i, s)| CaseStep {
            index: i as u32,
            key: s.key.clone(),
            name: s.name.clone(),
            role: s.role.clone(),
            department: s.department.clone(),
            limit: s.limit,
        })
        .collect()
}

/// Opens the case of a dossier intake received: the steps, time and cut-off of the procedure
/// version in force at receipt, as the event carries them.
pub fn open(submitted: &DossierSubmitted, ctx: &Ctx) -> Result<Case, String> {
    let state = submitted
        .state
        .as_ref()
        .ok_or("submitted without a state")?;
    let received = state
        .received_at
        .as_ref()
        .ok_or("submitted without received_at")?;
    let due = state.due_at.as_ref().ok_or("submitted without due_at")?;
    span(submitted.processing_time.as_ref()).ok_or("submitted without a processing time")?;
    let mut case = Case {
        dossier_code: state.dossier_code.clone(),
        version: state.version,
        status: DossierStatus::Received as i32,
        national_code: 2,
        procedure_code: state.procedure_code.clone(),
        procedure_version: state.procedure_version,
        procedure_name: state.procedure_name.clone(),
        field: state.field.clone(),
        receiving_agency: state.receiving_agency.clone(),
        competent_agency: state.competent_agency.clone(),
        channel: state.channel,
        applicant_name_masked: state.applicant_name_masked.clone(),
        received_at: Some(*received),
        due_at: Some(*due),
        original_due_at: Some(*due),
        steps: steps_of(&submitted.steps, submitted.processing_time.as_ref()),
        processing_time: submitted.processing_time,
        cutoff: submitted.cutoff.clone(),
        updated_at: Some(ts(ctx.now)),
        ..Default::default()
    };
    // The first step (the desk's) began when the dossier was received.
    let received_at = from_ts(received, "received_at").map_err(|e| e.to_string())?;
    begin_step(&mut case, 0, received_at, ctx).map_err(|e| e.to_string())?;
    Ok(case)
}

/// The pauses that have ended, as the calendar takes them.
fn closed_pauses(case: &Case) -> Vec<Pause> {
    case.pauses
        .iter()
        .filter_map(|p| {
            let from = from_ts(p.started_at.as_ref()?, "pause").ok()?;
            let to = from_ts(p.ended_at.as_ref()?, "pause").ok()?;
            Some(Pause {
                from: vn(from),
                to: vn(to),
            })
        })
        .collect()
}

/// The dossier's and the current step's due times, moved by every pause that has ended.
fn recompute_due(case: &mut Case, ctx: &Ctx) -> Result<(), ServiceError> {
    let pauses = closed_pauses(case);
    let received = at(&case.received_at, "received_at")?;
    let time = span(case.processing_time.as_ref())
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("case without processing time")))?;
    let cutoff = NaiveTime::parse_from_str(&case.cutoff, "%H:%M").ok();
    let due = ctx
        .calendar
        .due(vn(received), time, cutoff, &pauses)
        .map_err(calendar_error)?;
    case.due_at = Some(ts(due.with_timezone(&Utc)));
    let started = at(&case.step_started_at, "step_started_at")?;
    if let Some(step_span) = current(case).and_then(|s| span(s.limit.as_ref())) {
        let step_due = ctx
            .calendar
            .due(vn(started), step_span, None, &pauses)
            .map_err(calendar_error)?;
        case.step_due_at = Some(ts(step_due.with_timezone(&Utc)));
        if let Some(entry) = case.control_sheet.last_mut() {
            entry.due_at = case.step_due_at;
        }
    }
    Ok(())
}

/// Starts step `index` at `now`: a new line on the control sheet, unassigned, due by its limit.
fn begin_step(
    case: &mut Case,
    index: usize,
    now: DateTime<Utc>,
    ctx: &Ctx,
) -> Result<(), ServiceError> {
    let step = case
        .steps
        .get(index)
        .cloned()
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("no step {index}")))?;
    case.current_step = index as u32;
    case.assignee = None;
    case.step_started_at = Some(ts(now));
    case.control_sheet.push(ControlSheetEntry {
        step: Some(step),
        received_at: Some(ts(now)),
        ..Default::default()
    });
    recompute_due(case, ctx)
}

/// Closes the current step's line: when, by whom, how, and on time or not.
fn end_step(
    case: &mut Case,
    ended_by: &str,
    by: &Actor,
    note: &str,
    ctx: &Ctx,
) -> Result<(), ServiceError> {
    let due = at(&case.step_due_at, "step_due_at")?;
    let outcome = classify(ctx.calendar, due, ctx.now)?;
    if let Some(entry) = case.control_sheet.last_mut() {
        entry.finished_at = Some(ts(ctx.now));
        entry.finished_by = Some(by.clone());
        entry.ended_by = ended_by.to_owned();
        entry.outcome = outcome as i32;
        entry.note = note.to_owned();
    }
    Ok(())
}

fn classify(
    cal: &Calendar,
    due: DateTime<Utc>,
    finished: DateTime<Utc>,
) -> Result<Outcome, ServiceError> {
    Ok(
        match cal
            .classify(vn(due), vn(finished))
            .map_err(calendar_error)?
        {
            CalOutcome::Early => Outcome::Early,
            CalOutcome::OnTime => Outcome::OnTime,
            CalOutcome::Late => Outcome::Late,
        },
    )
}

/// The status a case goes back to when nothing holds it: received until the desk forwards it,
/// in progress after.
fn working_status(case: &Case) -> DossierStatus {
    if case.control_sheet.len() > 1 {
        DossierStatus::InProgress
    } else {
        DossierStatus::Received
    }
}

fn set_status(case: &mut Case, status: DossierStatus) {
    case.status = status as i32;
    case.national_code = motcua_domain::status::national_code(status);
}

// ---- who may act --------------------------------------------------------------------------

fn role_of(step: &CaseStep) -> Option<Role> {
    Role::parse(&step.role)
}

/// Whether the caller may perform `step` of this case: the step's role; its department if it
/// names one; the competent agency (desk steps also the receiving desk, which handed it on).
fn may_perform(caller: &Caller, step: &CaseStep, case: &Case) -> bool {
    let Some(role) = role_of(step) else {
        return false;
    };
    let agency_ok = caller.agency == case.competent_agency
        || (role == Role::Desk && caller.agency == case.receiving_agency);
    caller.has(role)
        && agency_ok
        && (step.department.is_empty() || caller.department == step.department)
}

fn is_leader(caller: &Caller, case: &Case) -> bool {
    caller.has(Role::Leader) && caller.agency == case.competent_agency
}

fn is_desk(caller: &Caller, case: &Case) -> bool {
    caller.has(Role::Desk)
        && (caller.agency == case.receiving_agency || caller.agency == case.competent_agency)
}

fn holds_step(caller: &Caller, case: &Case) -> bool {
    case.assignee
        .as_ref()
        .is_some_and(|a| a.subject == caller.subject && a.agency == caller.agency)
}

fn step_label(case: &Case) -> String {
    current(case).map_or_else(String::new, |s| format!("{} ({})", s.name, s.key))
}

/// Refuses unless the case is open, not paused and not waiting on a withdrawal decision.
fn must_be_workable(case: &Case) -> Result<(), ServiceError> {
    if !is_open(case) {
        return Err(refused(format!(
            "hồ sơ {} đã kết thúc, không thể thao tác (the case is finished or stopped)",
            case.dossier_code
        )));
    }
    match paused(case) {
        PauseReason::Supplement => {
            return Err(refused(
                "hồ sơ đang chờ người nộp bổ sung; thao tác sau khi bộ phận một cửa nhận bổ sung (the clock is paused for a supplement)",
            ));
        }
        PauseReason::FinancialObligation => {
            return Err(refused(
                "hồ sơ đang chờ thực hiện nghĩa vụ tài chính; ghi nhận thanh toán trước (the clock is paused for fees or taxes: record the payment first)",
            ));
        }
        PauseReason::Unspecified => {}
    }
    if case.withdrawal_requested {
        return Err(refused(
            "người nộp đề nghị rút hồ sơ; chấp thuận hoặc từ chối đề nghị trước (decide the withdrawal request first)",
        ));
    }
    Ok(())
}

/// The caller works the current step: holds it, or may take it (taking it on the way).
fn must_work_step(case: &mut Case, caller: &Caller) -> Result<(), ServiceError> {
    if holds_step(caller, case) {
        return Ok(());
    }
    let step = current(case).cloned().unwrap_or_default();
    match &case.assignee {
        Some(a) => Err(denied(format!(
            "bước {} do {} đảm nhận (the step is assigned to {}; a leader may reassign it)",
            step_label(case),
            a.name,
            a.subject
        ))),
        None if may_perform(caller, &step, case) => {
            case.assignee = Some(actor(caller));
            take_on_sheet(case, caller);
            Ok(())
        }
        None => Err(denied(format!(
            "bước {} cần vai trò {}{} (the step needs role {}{})",
            step_label(case),
            step.role,
            if step.department.is_empty() {
                String::new()
            } else {
                format!(" của {}", step.department)
            },
            step.role,
            if step.department.is_empty() {
                String::new()
            } else {
                format!(" in department {}", step.department)
            },
        ))),
    }
}

fn take_on_sheet(case: &mut Case, caller: &Caller) {
    if let Some(entry) = case.control_sheet.last_mut() {
        entry.assignee = Some(actor(caller));
    }
}

// ---- the changes --------------------------------------------------------------------------

pub fn claim(case: &mut Case, caller: &Caller) -> Result<Change, ServiceError> {
    must_be_workable(case)?;
    if let Some(a) = &case.assignee {
        return Err(refused(format!(
            "bước {} đã có người đảm nhận: {} (already taken; a leader may reassign it)",
            step_label(case),
            a.name
        )));
    }
    must_work_step(case, caller)?;
    Ok(Change::new(ChangeKind::Claimed, ""))
}

pub fn assign(case: &mut Case, caller: &Caller, assignee: &Actor) -> Result<Change, ServiceError> {
    if !is_leader(caller, case) {
        return Err(denied(
            "chỉ lãnh đạo cơ quan giải quyết được phân công (assigning needs role leader of the competent agency)",
        ));
    }
    if !is_open(case) {
        return Err(refused(
            "hồ sơ đã kết thúc (the case is finished or stopped)",
        ));
    }
    if assignee.subject.trim().is_empty() {
        return Err(ServiceError::InvalidArgument(
            "thiếu người được phân công: assignee.subject (assignee is required)".into(),
        ));
    }
    let assignee = Actor {
        subject: assignee.subject.trim().to_owned(),
        name: assignee.name.trim().to_owned(),
        agency: case.competent_agency.clone(),
    };
    if let Some(entry) = case.control_sheet.last_mut() {
        entry.assignee = Some(assignee.clone());
    }
    let note = format!("giao cho {} ({})", assignee.name, assignee.subject);
    case.assignee = Some(assignee);
    Ok(Change::new(ChangeKind::Assigned, note))
}

pub fn forward(
    case: &mut Case,
    caller: &Caller,
    note: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    must_be_workable(case)?;
    must_work_step(case, caller)?;
    let next = case.current_step as usize + 1;
    if next >= case.steps.len() {
        return Err(refused(format!(
            "bước {} là bước cuối: ghi nhận kết quả bằng RecordResult (the last step ends with RecordResult)",
            step_label(case)
        )));
    }
    end_step(case, "forwarded", &actor(caller), note, ctx)?;
    begin_step(case, next, ctx.now, ctx)?;
    set_status(case, DossierStatus::InProgress);
    Ok(Change::new(ChangeKind::Forwarded, note))
}

pub fn send_back(
    case: &mut Case,
    caller: &Caller,
    to_step: &str,
    reason: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    must_be_workable(case)?;
    must_work_step(case, caller)?;
    let target = case
        .steps
        .iter()
        .position(|s| s.key == to_step.trim())
        .ok_or_else(|| {
            ServiceError::InvalidArgument(format!(
                "to_step {} không phải một bước của hồ sơ (unknown step)",
                motcua_platform::text::quote(to_step)
            ))
        })?;
    if target >= case.current_step as usize {
        return Err(ServiceError::InvalidArgument(format!(
            "chỉ trả về bước trước bước {} (to_step must be an earlier step)",
            step_label(case)
        )));
    }
    end_step(case, "sent-back", &actor(caller), reason, ctx)?;
    begin_step(case, target, ctx.now, ctx)?;
    Ok(Change::new(ChangeKind::SentBack, reason))
}

/// The caller is the step's assignee (or may take it), or a leader of the competent agency.
fn must_work_or_lead(case: &mut Case, caller: &Caller) -> Result<(), ServiceError> {
    if is_leader(caller, case) {
        return Ok(());
    }
    must_work_step(case, caller)
}

fn pause(case: &mut Case, reason: PauseReason, ctx: &Ctx) {
    case.paused = reason as i32;
    case.paused_since = Some(ts(ctx.now));
    case.pauses.push(PausePeriod {
        reason: reason as i32,
        started_at: Some(ts(ctx.now)),
        ended_at: None,
    });
}

fn resume(case: &mut Case, ctx: &Ctx) -> Result<(), ServiceError> {
    if let Some(p) = case.pauses.last_mut()
        && p.ended_at.is_none()
    {
        p.ended_at = Some(ts(ctx.now));
    }
    case.paused = PauseReason::Unspecified as i32;
    case.paused_since = None;
    recompute_due(case, ctx)?;
    let status = if case.withdrawal_requested {
        DossierStatus::WithdrawalRequested
    } else {
        working_status(case)
    };
    set_status(case, status);
    Ok(())
}

pub fn request_supplement(
    case: &mut Case,
    caller: &Caller,
    missing: &[String],
    note: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    must_be_workable(case)?;
    must_work_or_lead(case, caller)?;
    if missing.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "cần danh sách giấy tờ còn thiếu (missing: the one written list of what is missing)"
                .into(),
        ));
    }
    case.supplement_requests += 1;
    case.missing_documents = missing.to_vec();
    pause(case, PauseReason::Supplement, ctx);
    set_status(case, DossierStatus::SupplementRequested);
    let mut text = format!(
        "Yêu cầu bổ sung lần {}: {}",
        case.supplement_requests,
        missing.join("; ")
    );
    if case.supplement_requests > 1 {
        // QĐ 766/QĐ-TTg counts a dossier asked for supplements more than once as overdue.
        text.push_str(" (yêu cầu bổ sung nhiều lần: tính là quá hạn theo QĐ 766)");
    }
    if !note.is_empty() {
        text = format!("{text}. {note}");
    }
    Ok(Change::new(ChangeKind::SupplementRequested, text))
}

pub fn supplement_received(
    case: &mut Case,
    documents: &[String],
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let note = format!("Đã nhận bổ sung: {}", documents.join("; "));
    if is_open(case) && paused(case) == PauseReason::Supplement {
        resume(case, ctx)?;
        case.missing_documents.clear();
    }
    Ok(Change::new(ChangeKind::SupplementReceived, note))
}

pub fn request_obligation(
    case: &mut Case,
    caller: &Caller,
    amount: i64,
    description: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    must_be_workable(case)?;
    must_work_or_lead(case, caller)?;
    if amount <= 0 {
        return Err(ServiceError::InvalidArgument(
            "amount_vnd phải là số tiền dương (the amount in đồng must be positive)".into(),
        ));
    }
    if description.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "cần nội dung khoản phải nộp (description is required: which fees or taxes)".into(),
        ));
    }
    case.obligation_vnd = amount;
    case.obligation_note = description.to_owned();
    pause(case, PauseReason::FinancialObligation, ctx);
    set_status(case, DossierStatus::FinancialObligation);
    Ok(Change::new(
        ChangeKind::FinancialObligationRequested,
        format!("{description}: {amount} đồng"),
    ))
}

pub fn record_payment(
    case: &mut Case,
    caller: &Caller,
    reference: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    if !is_open(case) || paused(case) != PauseReason::FinancialObligation {
        return Err(refused(
            "hồ sơ không chờ nghĩa vụ tài chính (the case is not waiting for a payment)",
        ));
    }
    if !(is_desk(caller, case) || is_leader(caller, case) || holds_step(caller, case)) {
        return Err(denied(
            "ghi nhận thanh toán cần vai trò desk, lãnh đạo hoặc người đang giải quyết (recording a payment needs role desk, leader, or the step's assignee)",
        ));
    }
    if reference.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "cần số chứng từ nộp tiền (reference is required: receipt or voucher number)".into(),
        ));
    }
    resume(case, ctx)?;
    Ok(Change::new(
        ChangeKind::PaymentRecorded,
        format!("Chứng từ {reference}"),
    ))
}

pub fn apology(
    case: &mut Case,
    caller: &Caller,
    reason: &str,
    new_due: DateTime<Utc>,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    if !is_open(case) {
        return Err(refused(
            "hồ sơ đã kết thúc (the case is finished or stopped)",
        ));
    }
    let department = current(case)
        .map(|s| s.department.clone())
        .unwrap_or_default();
    let at_fault = caller.agency == case.competent_agency
        && (caller.has(Role::Leader)
            || (caller.has(Role::Specialist)
                && !department.is_empty()
                && caller.department == department)
            || holds_step(caller, case));
    if !at_fault {
        return Err(denied(
            "phiếu xin lỗi do đơn vị làm chậm (lãnh đạo hoặc phòng đang giải quyết) phát hành (the apology is issued by the unit at fault: a leader or the department of the current step)",
        ));
    }
    if reason.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "cần lý do xin lỗi (reason is required)".into(),
        ));
    }
    let due = at(&case.due_at, "due_at")?;
    // At the latest on the due date (Vietnam's calendar day).
    if vietnam_day(ctx.now) > vietnam_day(due) {
        return Err(refused(format!(
            "phiếu xin lỗi phải phát hành chậm nhất vào ngày hẹn trả {} (an apology is due at the latest on the due date)",
            vn(due).format("%d/%m/%Y")
        )));
    }
    let promised_before = case
        .apology_due_at
        .as_ref()
        .and_then(|t| from_ts(t, "apology_due_at").ok())
        .unwrap_or(due);
    if new_due <= promised_before || new_due <= ctx.now {
        return Err(ServiceError::InvalidArgument(format!(
            "ngày hẹn mới phải sau ngày hẹn hiện tại {} (new_due_at must be later than the current due time)",
            vn(promised_before).format("%H:%M %d/%m/%Y")
        )));
    }
    let limit = due + chrono::Duration::days(ctx.settings.max_apology_days);
    if new_due > limit {
        return Err(ServiceError::InvalidArgument(format!(
            "ngày hẹn mới không quá {} ngày sau ngày hẹn ({}) (new_due_at is later than allowed)",
            ctx.settings.max_apology_days,
            vn(limit).format("%d/%m/%Y")
        )));
    }
    case.apology_reason = reason.to_owned();
    case.apology_due_at = Some(ts(new_due));
    Ok(Change::new(
        ChangeKind::ApologyIssued,
        format!("{reason}; hẹn lại {}", vn(new_due).format("%H:%M %d/%m/%Y")),
    ))
}

fn stop(
    case: &mut Case,
    kind: StopKind,
    reason: &str,
    by: &Actor,
    ctx: &Ctx,
) -> Result<(), ServiceError> {
    if paused(case) != PauseReason::Unspecified {
        if let Some(p) = case.pauses.last_mut()
            && p.ended_at.is_none()
        {
            p.ended_at = Some(ts(ctx.now));
        }
        case.paused = PauseReason::Unspecified as i32;
        case.paused_since = None;
    }
    let ended = match kind {
        StopKind::Refused => "refused",
        StopKind::Withdrawn => "withdrawn",
        _ => "stopped",
    };
    end_step(case, ended, by, reason, ctx)?;
    case.stopped_at = Some(ts(ctx.now));
    case.stop_kind = kind as i32;
    case.stop_reason = reason.to_owned();
    case.withdrawal_requested = false;
    set_status(case, DossierStatus::Stopped);
    Ok(())
}

pub fn refuse(
    case: &mut Case,
    caller: &Caller,
    reason: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    if !is_leader(caller, case) {
        return Err(denied(
            "từ chối giải quyết cần lãnh đạo cơ quan giải quyết (refusing needs role leader of the competent agency)",
        ));
    }
    if !is_open(case) {
        return Err(refused(
            "hồ sơ đã kết thúc (the case is finished or stopped)",
        ));
    }
    if reason.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "cần lý do từ chối (reason is required)".into(),
        ));
    }
    stop(case, StopKind::Refused, reason, &actor(caller), ctx)?;
    Ok(Change::new(ChangeKind::Refused, reason))
}

pub fn stop_processing(
    case: &mut Case,
    caller: &Caller,
    reason: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    if !is_leader(caller, case) {
        return Err(denied(
            "dừng xử lý cần lãnh đạo cơ quan giải quyết (stopping needs role leader of the competent agency)",
        ));
    }
    if !is_open(case) {
        return Err(refused(
            "hồ sơ đã kết thúc (the case is finished or stopped)",
        ));
    }
    if reason.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "cần lý do dừng xử lý (reason is required)".into(),
        ));
    }
    stop(case, StopKind::Stopped, reason, &actor(caller), ctx)?;
    Ok(Change::new(ChangeKind::Stopped, reason))
}

pub fn record_result(
    case: &mut Case,
    caller: &Caller,
    result: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    must_be_workable(case)?;
    let last = case.steps.len().saturating_sub(1);
    if !is_leader(caller, case) {
        must_work_step(case, caller)?;
        if case.current_step as usize != last {
            return Err(refused(format!(
                "kết quả được ghi nhận ở bước cuối; hồ sơ đang ở bước {} (the result is recorded at the last step)",
                step_label(case)
            )));
        }
    }
    if result.is_empty() {
        return Err(ServiceError::InvalidArgument(
            "cần nội dung kết quả: số quyết định, số giấy chứng nhận (result is required)".into(),
        ));
    }
    end_step(case, "result-recorded", &actor(caller), result, ctx)?;
    let due = at(&case.due_at, "due_at")?;
    // Against the due time moved by pauses only: an apology's date does not excuse (DESIGN.md §2).
    case.outcome = classify(ctx.calendar, due, ctx.now)? as i32;
    case.finished_at = Some(ts(ctx.now));
    case.result_note = result.to_owned();
    set_status(case, DossierStatus::Finished);
    Ok(Change::new(ChangeKind::ResultRecorded, result))
}

pub fn return_result(
    case: &mut Case,
    caller: &Caller,
    note: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    if !is_desk(caller, case) {
        return Err(denied(
            "trả kết quả là việc của bộ phận một cửa (returning the result needs role desk)",
        ));
    }
    if status(case) != DossierStatus::Finished {
        return Err(refused(
            "hồ sơ chưa có kết quả, hoặc đã trả (there is no result to return)",
        ));
    }
    case.returned_at = Some(ts(ctx.now));
    set_status(case, DossierStatus::Returned);
    Ok(Change::new(ChangeKind::ResultReturned, note))
}

pub fn withdrawal_requested(case: &mut Case, reason: &str) -> Result<Change, ServiceError> {
    if is_open(case) {
        case.withdrawal_requested = true;
        case.withdrawal_reason = reason.to_owned();
        set_status(case, DossierStatus::WithdrawalRequested);
    }
    Ok(Change::new(ChangeKind::WithdrawalRequested, reason))
}

pub fn decide_withdrawal(
    case: &mut Case,
    caller: &Caller,
    approve: bool,
    note: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    if !(is_desk(caller, case) || is_leader(caller, case)) {
        return Err(denied(
            "quyết định việc rút hồ sơ cần bộ phận một cửa hoặc lãnh đạo (needs role desk or leader)",
        ));
    }
    if !case.withdrawal_requested || !is_open(case) {
        return Err(refused(
            "không có đề nghị rút hồ sơ (there is no withdrawal request)",
        ));
    }
    if approve {
        let reason = if note.is_empty() {
            case.withdrawal_reason.clone()
        } else {
            note.to_owned()
        };
        stop(case, StopKind::Withdrawn, &reason, &actor(caller), ctx)?;
        Ok(Change::new(ChangeKind::WithdrawalApproved, reason))
    } else {
        case.withdrawal_requested = false;
        let status = match paused(case) {
            PauseReason::Supplement => DossierStatus::SupplementRequested,
            PauseReason::FinancialObligation => DossierStatus::FinancialObligation,
            PauseReason::Unspecified => working_status(case),
        };
        set_status(case, status);
        Ok(Change::new(ChangeKind::WithdrawalDeclined, note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_platform::config::Vars;
    use motcua_proto::events::DossierState;

    fn settings() -> WorkflowSettings {
        WorkflowSettings::from_vars(&Vars::default()).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn step(key: &str, role: &str, department: &str, hours: u32) -> ProcessStep {
        ProcessStep {
            key: key.into(),
            name: key.into(),
            role: role.into(),
            department: department.into(),
            limit: Some(ProcessingTime {
                span: Some(ProtoSpan::WorkingHours(hours)),
            }),
        }
    }

    fn caller(roles: &[Role], department: &str, sub: &str) -> Caller {
        Caller {
            subject: sub.into(),
            name: sub.into(),
            agency: "000.00.06.H56".into(),
            department: department.into(),
            roles: roles.to_vec(),
            province: None,
            expires_at: i64::MAX,
        }
    }

    fn opened(cal: &Calendar, s: &WorkflowSettings, received: &str) -> Case {
        let received = t(received);
        let due = cal
            .due(vn(received), Span::Days(8), None, &[])
            .unwrap()
            .with_timezone(&Utc);
        let submitted = DossierSubmitted {
            state: Some(DossierState {
                dossier_code: "000.00.06.H56-250303-0001".into(),
                version: 1,
                competent_agency: "000.00.06.H56".into(),
                receiving_agency: "000.00.06.H56".into(),
                received_at: Some(ts(received)),
                due_at: Some(ts(due)),
                ..Default::default()
            }),
            processing_time: Some(ProcessingTime {
                span: Some(ProtoSpan::WorkingDays(8)),
            }),
            steps: vec![
                step("tiep-nhan", "desk", "bo-phan-mot-cua", 4),
                step("tham-dinh", "specialist", "van-phong-dang-ky", 48),
                step("phe-duyet", "leader", "ban-giam-doc", 8),
                step("tra-ket-qua", "desk", "bo-phan-mot-cua", 4),
            ],
            ..Default::default()
        };
        open(
            &submitted,
            &Ctx {
                now: received,
                calendar: cal,
                settings: s,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_supplement_pause_moves_both_due_times_by_the_working_time_paused() {
        let cal = motcua_calendar::standard().unwrap();
        let s = settings();
        // Monday 3 March 2025, 09:00; 8 working days → Thursday 13 March, 09:00.
        let mut case = opened(&cal, &s, "2025-03-03T09:00:00+07:00");
        assert_eq!(
            from_ts(case.due_at.as_ref().unwrap(), "").unwrap(),
            t("2025-03-13T09:00:00+07:00")
        );
        let desk = caller(&[Role::Desk], "bo-phan-mot-cua", "desk-1");
        let ctx = |now| Ctx {
            now: t(now),
            calendar: &cal,
            settings: &s,
        };
        forward(&mut case, &desk, "", &ctx("2025-03-03T10:00:00+07:00")).unwrap();
        let specialist = caller(&[Role::Specialist], "van-phong-dang-ky", "cv-1");
        request_supplement(
            &mut case,
            &specialist,
            &["Bản vẽ".into()],
            "",
            &ctx("2025-03-04T09:00:00+07:00"),
        )
        .unwrap();
        assert_eq!(status(&case), DossierStatus::SupplementRequested);
        assert!(
            forward(
                &mut case,
                &specialist,
                "",
                &ctx("2025-03-04T10:00:00+07:00")
            )
            .is_err(),
            "paused"
        );
        // Back two working days later (Thursday 09:00): both due times move by 16 working hours.
        supplement_received(
            &mut case,
            &["Bản vẽ".into()],
            &ctx("2025-03-06T09:00:00+07:00"),
        )
        .unwrap();
        assert_eq!(status(&case), DossierStatus::InProgress);
        assert_eq!(
            from_ts(case.due_at.as_ref().unwrap(), "").unwrap(),
            t("2025-03-17T09:00:00+07:00")
        );
        // The specialist step began Monday 10:00 with 48 h (six working days): Tuesday 11th 10:00,
        // plus the two days paused.
        assert_eq!(
            from_ts(case.step_due_at.as_ref().unwrap(), "").unwrap(),
            t("2025-03-13T10:00:00+07:00")
        );
    }

    #[test]
    fn only_the_steps_role_and_department_work_it_and_a_held_step_is_refused_to_others() {
        let cal = motcua_calendar::standard().unwrap();
        let s = settings();
        let mut case = opened(&cal, &s, "2025-03-03T09:00:00+07:00");
        let ctx = Ctx {
            now: t("2025-03-03T10:00:00+07:00"),
            calendar: &cal,
            settings: &s,
        };
        let specialist = caller(&[Role::Specialist], "van-phong-dang-ky", "cv-1");
        assert!(matches!(
            forward(&mut case, &specialist, "", &ctx),
            Err(ServiceError::PermissionDenied(_))
        ));
        let desk = caller(&[Role::Desk], "bo-phan-mot-cua", "desk-1");
        claim(&mut case, &desk).unwrap();
        let other_desk = caller(&[Role::Desk], "bo-phan-mot-cua", "desk-2");
        assert!(matches!(
            forward(&mut case, &other_desk, "", &ctx),
            Err(ServiceError::PermissionDenied(_))
        ));
        forward(&mut case, &desk, "", &ctx).unwrap();
        let wrong_department = caller(&[Role::Specialist], "phong-khoang-san", "cv-2");
        assert!(matches!(
            claim(&mut case, &wrong_department),
            Err(ServiceError::PermissionDenied(_))
        ));
        claim(&mut case, &specialist).unwrap();
        assert_eq!(case.control_sheet.len(), 2);
        assert_eq!(case.control_sheet[0].ended_by, "forwarded");
    }
}
