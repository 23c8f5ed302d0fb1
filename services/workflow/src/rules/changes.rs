//! Each change an officer or an intake request makes to a case: the rule it checks and what it
//! does. Whether the case's state and the caller's role allow it is the table's
//! ([`super::table`]): each change asks it, in the order it always has, with its finer checks
//! (agency, department, the step's holder, amounts, dates) around. Each returns the change's
//! summary (what the service writes of it, in Vietnamese); the officer's own note travels apart,
//! verbatim (see [`super::Change`]).

use super::table::{Action, Event, State, takes};
use super::who::{holds_step, rule, take_step};
use super::{
    Change, Ctx, actor, at, begin_step, calendar_error, classify, current, end_step, invalid,
    paused, recompute_due, refused, set_status, step_label, vn, working_status,
};
pub use crate::bounds::MAX_AMOUNT_VND;
use chrono::{DateTime, Utc};
use motcua_domain::text::dong;
use motcua_domain::time::{from_ts, letter_date_time, ts, vietnam_day};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role};
use motcua_proto::common::{Actor, DossierStatus, PauseReason, StopKind};
use motcua_proto::events::ChangeKind;
use motcua_proto::workflow::{Case, ControlSheetEntry, PausePeriod};

pub fn claim(case: &mut Case, caller: &Caller) -> Result<Change, ServiceError> {
    let r = rule(Action::Claim, case, caller);
    r.state(case)?;
    take_step(case, caller, &r)?;
    Ok(Change::new(
        ChangeKind::Claimed,
        format!("Nhận xử lý bước {}", step_label(case)),
    ))
}

pub fn assign(case: &mut Case, caller: &Caller, assignee: &Actor) -> Result<Change, ServiceError> {
    let r = rule(Action::Assign, case, caller);
    r.role(case)?;
    r.state(case)?;
    if assignee.subject.trim().is_empty() {
        return Err(invalid(
            "thiếu người được phân công: assignee.subject (assignee is required)",
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
    let summary = format!(
        "Giao bước {} cho {} ({})",
        step_label(case),
        assignee.name,
        assignee.subject
    );
    case.assignee = Some(assignee);
    Ok(Change::new(ChangeKind::Assigned, summary))
}

pub fn forward(case: &mut Case, caller: &Caller, ctx: &Ctx) -> Result<Change, ServiceError> {
    let r = rule(Action::Forward, case, caller);
    r.state(case)?;
    r.role(case)?;
    r.must_hold_step(case, caller)?;
    let next = case.current_step as usize + 1;
    if next >= case.steps.len() {
        return Err(refused(format!(
            "bước {} là bước cuối: ghi nhận kết quả bằng RecordResult (the last step ends with RecordResult)",
            step_label(case)
        )));
    }
    let from = step_label(case);
    let to = case
        .steps
        .get(next)
        .map(|s| format!("{} ({})", s.name, s.key))
        .unwrap_or_default();
    let summary = format!("Chuyển bước {from} → {to}");
    end_step(case, "forwarded", &actor(caller), &summary, ctx)?;
    begin_step(case, next, ctx.now, ctx)?;
    set_status(case, DossierStatus::InProgress);
    Ok(Change::new(ChangeKind::Forwarded, summary))
}

pub fn send_back(
    case: &mut Case,
    caller: &Caller,
    to_step: &str,
    reason: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let r = rule(Action::SendBack, case, caller);
    r.state(case)?;
    r.role(case)?;
    r.must_hold_step(case, caller)?;
    let target = case
        .steps
        .iter()
        .position(|s| s.key == to_step.trim())
        .ok_or_else(|| {
            invalid(format!(
                "to_step {} không phải một bước của hồ sơ (unknown step)",
                motcua_platform::text::quote(to_step)
            ))
        })?;
    if target >= case.current_step as usize {
        return Err(invalid(format!(
            "chỉ trả về bước trước bước {} (to_step must be an earlier step)",
            step_label(case)
        )));
    }
    let to = &case.steps[target];
    let summary = format!("Trả về bước {} ({}): {reason}", to.name, to.key);
    end_step(case, "sent-back", &actor(caller), &summary, ctx)?;
    begin_step(case, target, ctx.now, ctx)?;
    Ok(Change::new(ChangeKind::SentBack, summary))
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

/// Asks for a supplement. The list itself travels once, in the state's `missing_documents`; the
/// summary only counts it.
pub fn request_supplement(
    case: &mut Case,
    caller: &Caller,
    missing: &[String],
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let r = rule(Action::RequestSupplement, case, caller);
    r.state(case)?;
    r.role(case)?;
    r.must_hold_step(case, caller)?;
    if missing.is_empty() {
        return Err(invalid(
            "cần danh sách giấy tờ còn thiếu (missing: the one written list of what is missing)",
        ));
    }
    case.supplement_requests += 1;
    case.missing_documents = missing.to_vec();
    pause(case, PauseReason::Supplement, ctx);
    set_status(case, DossierStatus::SupplementRequested);
    let mut summary = format!(
        "Yêu cầu bổ sung lần {} ({} giấy tờ)",
        case.supplement_requests,
        missing.len()
    );
    if case.supplement_requests > 1 {
        // QĐ 766/QĐ-TTg counts a dossier asked for supplements more than once as overdue.
        summary.push_str("; yêu cầu bổ sung nhiều lần: tính là quá hạn theo QĐ 766");
    }
    Ok(Change::new(ChangeKind::SupplementRequested, summary))
}

/// Intake received the supplement asked for: the clock resumes. None when the case is not
/// waiting for one (a supplement nobody asked for, or one after the case ended): nothing changes
/// and the version stays, so an officer's next action is not refused as stale because of it.
pub fn supplement_received(
    case: &mut Case,
    documents: &[String],
    ctx: &Ctx,
) -> Result<Option<Change>, ServiceError> {
    if !takes(State::of(case), Event::SupplementReceived) {
        return Ok(None);
    }
    resume(case, ctx)?;
    case.missing_documents.clear();
    Ok(Some(Change::new(
        ChangeKind::SupplementReceived,
        format!("Đã nhận bổ sung: {}", documents.join("; ")),
    )))
}

pub fn request_obligation(
    case: &mut Case,
    caller: &Caller,
    amount: i64,
    description: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let r = rule(Action::RequestObligation, case, caller);
    r.state(case)?;
    r.role(case)?;
    r.must_hold_step(case, caller)?;
    if amount <= 0 || amount > MAX_AMOUNT_VND {
        return Err(invalid(format!(
            "amount_vnd phải lớn hơn 0 và không quá {} (the amount in đồng must be more than 0 and at most {MAX_AMOUNT_VND})",
            dong(MAX_AMOUNT_VND)
        )));
    }
    if description.is_empty() {
        return Err(invalid(
            "cần nội dung khoản phải nộp (description is required: which fees or taxes)",
        ));
    }
    case.obligation_vnd = amount;
    case.obligation_note = description.to_owned();
    case.obligation_paid_at = None;
    case.obligation_payment_reference.clear();
    pause(case, PauseReason::FinancialObligation, ctx);
    set_status(case, DossierStatus::FinancialObligation);
    Ok(Change::new(
        ChangeKind::FinancialObligationRequested,
        format!(
            "Yêu cầu thực hiện nghĩa vụ tài chính: {description}: {}",
            dong(amount)
        ),
    ))
}

pub fn record_payment(
    case: &mut Case,
    caller: &Caller,
    reference: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let r = rule(Action::RecordPayment, case, caller);
    r.state(case)?;
    r.role(case)?;
    if !(r.free_as(|_| true) || holds_step(caller, case)) {
        return Err(r.denied(case));
    }
    if reference.is_empty() {
        return Err(invalid(
            "cần số chứng từ nộp tiền (reference is required: receipt or voucher number)",
        ));
    }
    resume(case, ctx)?;
    case.obligation_paid_at = Some(ts(ctx.now));
    case.obligation_payment_reference = reference.to_owned();
    Ok(Change::new(
        ChangeKind::PaymentRecorded,
        format!(
            "Đã thực hiện nghĩa vụ tài chính {}: chứng từ {reference}",
            dong(case.obligation_vnd)
        ),
    ))
}

pub fn apology(
    case: &mut Case,
    caller: &Caller,
    reason: &str,
    new_due: DateTime<Utc>,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let r = rule(Action::Apology, case, caller);
    r.state(case)?;
    r.role(case)?;
    let department = current(case)
        .map(|s| s.department.clone())
        .unwrap_or_default();
    // A specialist speaks for the unit at fault only from the current step's department.
    let in_department = !department.is_empty() && caller.department == department;
    let at_fault = caller.agency == case.competent_agency
        && (r.free_as(|role| role != Role::Specialist || in_department)
            || holds_step(caller, case));
    if !at_fault {
        return Err(r.denied(case));
    }
    if reason.is_empty() {
        return Err(invalid("cần lý do xin lỗi (reason is required)"));
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
        return Err(invalid(format!(
            "ngày hẹn mới phải sau ngày hẹn hiện tại {} (new_due_at must be later than the current due time)",
            vn(promised_before).format("%H:%M %d/%m/%Y")
        )));
    }
    let limit = due + chrono::Duration::days(ctx.settings.max_apology_days);
    if new_due > limit {
        return Err(invalid(format!(
            "ngày hẹn mới không quá {} ngày sau ngày hẹn ({}) (new_due_at is later than allowed)",
            ctx.settings.max_apology_days,
            vn(limit).format("%d/%m/%Y")
        )));
    }
    // The citizen is told to come then: a working day, within working hours.
    if !ctx
        .calendar
        .is_working_moment(vn(new_due))
        .map_err(calendar_error)?
    {
        let next = ctx
            .calendar
            .next_working_moment(vn(new_due))
            .map_err(calendar_error)?;
        return Err(invalid(format!(
            "new_due_at: {} không phải giờ làm việc của ngày làm việc; chọn ví dụ {} (the new return date must be within working hours of a working day)",
            letter_date_time(new_due),
            letter_date_time(next.with_timezone(&Utc))
        )));
    }
    case.apology_reason = reason.to_owned();
    case.apology_due_at = Some(ts(new_due));
    Ok(Change::new(
        ChangeKind::ApologyIssued,
        format!(
            "Xin lỗi và hẹn lại ngày trả kết quả: {}. Lý do: {reason}",
            letter_date_time(new_due)
        ),
    ))
}

fn stop(
    case: &mut Case,
    kind: StopKind,
    reason: &str,
    summary: &str,
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
    end_step(case, ended, by, summary, ctx)?;
    case.stopped_at = Some(ts(ctx.now));
    case.stop_kind = kind as i32;
    case.stop_reason = reason.to_owned();
    case.withdrawal_requested = false;
    case.withdrawal_reason.clear();
    set_status(case, DossierStatus::Stopped);
    Ok(())
}

/// A leader's stop of an open case (refuse, stop processing), with its reason.
fn leader_stop(
    case: &mut Case,
    caller: &Caller,
    kind: StopKind,
    reason: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let (action, what, change, summary) = match kind {
        StopKind::Refused => (
            Action::Refuse,
            "từ chối giải quyết",
            ChangeKind::Refused,
            format!("Từ chối giải quyết: {reason}"),
        ),
        _ => (
            Action::StopProcessing,
            "dừng xử lý",
            ChangeKind::Stopped,
            format!("Dừng xử lý: {reason}"),
        ),
    };
    let r = rule(action, case, caller);
    r.role(case)?;
    r.state(case)?;
    if reason.is_empty() {
        return Err(invalid(format!("cần lý do {what} (reason is required)")));
    }
    stop(case, kind, reason, &summary, &actor(caller), ctx)?;
    Ok(Change::new(change, summary))
}

pub fn refuse(
    case: &mut Case,
    caller: &Caller,
    reason: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    leader_stop(case, caller, StopKind::Refused, reason, ctx)
}

pub fn stop_processing(
    case: &mut Case,
    caller: &Caller,
    reason: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    leader_stop(case, caller, StopKind::Stopped, reason, ctx)
}

/// Records the result. At the last step its holder or a leader does; before the last step only a
/// leader, only with `close_early` (why), and every step skipped goes on the control sheet as
/// skipped with the leader and the reason, so no step vanishes without a trace.
pub fn record_result(
    case: &mut Case,
    caller: &Caller,
    result: &str,
    close_early: &str,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let r = rule(Action::RecordResult, case, caller);
    r.state(case)?;
    r.role(case)?;
    let last = case.steps.len().saturating_sub(1);
    let at_last = case.current_step as usize == last;
    // A role the table lets record without the step (a leader's) closes at any step; anyone
    // else records as the holder of the last one.
    if !r.free_as(|_| true) {
        r.must_hold_step(case, caller)?;
        if !at_last {
            return Err(refused(format!(
                "kết quả được ghi nhận ở bước cuối; hồ sơ đang ở bước {} (the result is recorded at the last step)",
                step_label(case)
            )));
        }
    }
    if result.is_empty() {
        return Err(invalid(
            "cần nội dung kết quả: số quyết định, số giấy chứng nhận (result is required)",
        ));
    }
    if at_last && !close_early.is_empty() {
        return Err(invalid(
            "close_early_reason chỉ dùng khi lãnh đạo kết thúc trước bước cuối (close_early_reason is only for closing before the last step)",
        ));
    }
    if !at_last && close_early.is_empty() {
        return Err(refused(format!(
            "hồ sơ đang ở bước {}, chưa đến bước cuối; lãnh đạo kết thúc sớm phải nêu lý do (close_early_reason is required to close before the last step)",
            step_label(case)
        )));
    }
    let by = actor(caller);
    let summary = if at_last {
        format!("Kết quả: {result}")
    } else {
        let skipped: Vec<String> = case.steps[case.current_step as usize + 1..]
            .iter()
            .map(|s| format!("{} ({})", s.name, s.key))
            .collect();
        format!(
            "Lãnh đạo kết thúc sớm tại bước {}, bỏ qua {}: {close_early}. Kết quả: {result}",
            step_label(case),
            skipped.join(", ")
        )
    };
    end_step(
        case,
        if at_last {
            "result-recorded"
        } else {
            "closed-early"
        },
        &by,
        &summary,
        ctx,
    )?;
    for step in case.steps[case.current_step as usize + 1..].iter().cloned() {
        case.control_sheet.push(ControlSheetEntry {
            step: Some(step),
            received_at: Some(ts(ctx.now)),
            finished_at: Some(ts(ctx.now)),
            finished_by: Some(by.clone()),
            ended_by: "skipped".into(),
            summary: format!("Bỏ qua: lãnh đạo kết thúc sớm. Lý do: {close_early}"),
            ..Default::default()
        });
    }
    let due = at(&case.due_at, "due_at")?;
    // Against the due time moved by pauses only: an apology's date does not excuse (DESIGN.md §2).
    case.outcome = classify(ctx.calendar, due, ctx.now)? as i32;
    case.finished_at = Some(ts(ctx.now));
    case.result_note = result.to_owned();
    set_status(case, DossierStatus::Finished);
    Ok(Change::new(ChangeKind::ResultRecorded, summary))
}

pub fn return_result(case: &mut Case, caller: &Caller, ctx: &Ctx) -> Result<Change, ServiceError> {
    let r = rule(Action::ReturnResult, case, caller);
    r.role(case)?;
    r.state(case)?;
    case.returned_at = Some(ts(ctx.now));
    set_status(case, DossierStatus::Returned);
    Ok(Change::new(ChangeKind::ResultReturned, "Đã trả kết quả"))
}

/// The applicant asks to withdraw: the latest request's reason is the one to decide on. None
/// when the case has ended (nothing to withdraw; the version stays).
pub fn withdrawal_requested(case: &mut Case, reason: &str) -> Option<Change> {
    if !takes(State::of(case), Event::WithdrawalRequested) {
        return None;
    }
    case.withdrawal_requested = true;
    case.withdrawal_reason = reason.to_owned();
    set_status(case, DossierStatus::WithdrawalRequested);
    Some(Change::new(
        ChangeKind::WithdrawalRequested,
        format!("Người nộp đề nghị rút hồ sơ: {reason}"),
    ))
}

/// Approves or declines the pending withdrawal request. Approved, the dossier stops with the
/// applicant's current reason (the officer's note stays the officer's).
pub fn decide_withdrawal(
    case: &mut Case,
    caller: &Caller,
    approve: bool,
    ctx: &Ctx,
) -> Result<Change, ServiceError> {
    let r = rule(Action::DecideWithdrawal, case, caller);
    r.role(case)?;
    r.state(case)?;
    let reason = case.withdrawal_reason.clone();
    if approve {
        let summary = format!("Chấp thuận rút hồ sơ theo đề nghị: {reason}");
        stop(
            case,
            StopKind::Withdrawn,
            &reason,
            &summary,
            &actor(caller),
            ctx,
        )?;
        Ok(Change::new(ChangeKind::WithdrawalApproved, summary))
    } else {
        case.withdrawal_requested = false;
        case.withdrawal_reason.clear();
        let status = match paused(case) {
            PauseReason::Supplement => DossierStatus::SupplementRequested,
            PauseReason::FinancialObligation => DossierStatus::FinancialObligation,
            PauseReason::Unspecified => working_status(case),
        };
        set_status(case, status);
        Ok(Change::new(
            ChangeKind::WithdrawalDeclined,
            format!("Không chấp thuận đề nghị rút hồ sơ ({reason})"),
        ))
    }
}
