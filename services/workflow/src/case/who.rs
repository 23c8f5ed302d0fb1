//! Who may act on a case: the step's role and department, the step's holder, the competent
//! agency's leaders and desks, and who may see it at all.

use super::{actor, current, denied, is_open, paused, refused, step_label};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role};
use motcua_proto::common::PauseReason;
use motcua_proto::workflow::{Case, CaseStep};

/// The caller may see the case: its scope covers the competent or the receiving agency (an
/// officer's or agency admin's own agency, a province admin's province).
pub fn may_see(caller: &Caller, c: &Case) -> bool {
    caller.covers(&c.competent_agency) || caller.covers(&c.receiving_agency)
}

fn role_of(step: &CaseStep) -> Option<Role> {
    Role::parse(&step.role)
}

/// Whether the caller may perform `step` of this case: the step's role; its department if it
/// names one; the competent agency (desk steps also the receiving desk, which handed it on).
pub(super) fn may_perform(caller: &Caller, step: &CaseStep, case: &Case) -> bool {
    let Some(role) = role_of(step) else {
        return false;
    };
    let agency_ok = caller.agency == case.competent_agency
        || (role == Role::Desk && caller.agency == case.receiving_agency);
    caller.has(role)
        && agency_ok
        && (step.department.is_empty() || caller.department == step.department)
}

pub(super) fn is_leader(caller: &Caller, case: &Case) -> bool {
    caller.has(Role::Leader) && caller.agency == case.competent_agency
}

pub(super) fn is_desk(caller: &Caller, case: &Case) -> bool {
    caller.has(Role::Desk)
        && (caller.agency == case.receiving_agency || caller.agency == case.competent_agency)
}

pub(super) fn holds_step(caller: &Caller, case: &Case) -> bool {
    case.assignee
        .as_ref()
        .is_some_and(|a| a.subject == caller.subject && a.agency == caller.agency)
}

/// Refuses unless the case is open, not paused and not waiting on a withdrawal decision.
pub(super) fn must_be_workable(case: &Case) -> Result<(), ServiceError> {
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

/// Why the caller may not take the current step, in words an officer reads.
fn needs_role(case: &Case, step: &CaseStep) -> ServiceError {
    let (vi_department, en_department) = if step.department.is_empty() {
        (String::new(), String::new())
    } else {
        (
            format!(" của {}", step.department),
            format!(" in department {}", step.department),
        )
    };
    denied(format!(
        "bước {} cần vai trò {}{vi_department} (the step needs role {}{en_department})",
        step_label(case),
        step.role,
        step.role,
    ))
}

/// The caller takes the current step (ClaimTask): it is unassigned and theirs to perform.
pub(super) fn take_step(case: &mut Case, caller: &Caller) -> Result<(), ServiceError> {
    let step = current(case).cloned().unwrap_or_default();
    if let Some(a) = &case.assignee {
        return Err(refused(format!(
            "bước {} đã có người đảm nhận: {} (already taken; a leader may reassign it)",
            step_label(case),
            a.name
        )));
    }
    if !may_perform(caller, &step, case) {
        return Err(needs_role(case, &step));
    }
    case.assignee = Some(actor(caller));
    if let Some(entry) = case.control_sheet.last_mut() {
        entry.assignee = Some(actor(caller));
    }
    Ok(())
}

/// The caller holds the current step: took it (ClaimTask) or was assigned it. Working a step
/// nobody took is refused, so that the control sheet always says who had it before it moved.
pub(super) fn must_hold_step(case: &Case, caller: &Caller) -> Result<(), ServiceError> {
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
        None if may_perform(caller, &step, case) => Err(refused(format!(
            "nhận xử lý bước {} trước (ClaimTask) rồi mới thao tác (claim the step first)",
            step_label(case)
        ))),
        None => Err(needs_role(case, &step)),
    }
}

/// The caller holds the step, or is a leader of the competent agency.
pub(super) fn must_hold_or_lead(case: &Case, caller: &Caller) -> Result<(), ServiceError> {
    if is_leader(caller, case) {
        return Ok(());
    }
    must_hold_step(case, caller)
}
