//! Who may act on a case: how the rules' table ([`super::table`]) judges a caller (each of its
//! roles, in the agency that role acts in) and the words of each refusal; then what the table
//! cannot know: the step's role and department, the step's holder, and who may see the case.

use super::table::{Action, Gate, State, gate};
use super::{actor, current, denied, refused, step_label};
use motcua_platform::ServiceError;
use motcua_platform::auth::{Caller, Role};
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
    caller.has(role)
        && in_agency(caller, case, role)
        && (step.department.is_empty() || caller.department == step.department)
}

/// Whether the caller's agency is one where `role` acts on this case: the competent agency, and
/// for the desk also the receiving one (which received the dossier and hands over its result).
pub(super) fn in_agency(caller: &Caller, case: &Case, role: Role) -> bool {
    caller.agency == case.competent_agency
        || (role == Role::Desk && caller.agency == case.receiving_agency)
}

pub(super) fn holds_step(caller: &Caller, case: &Case) -> bool {
    case.assignee
        .as_ref()
        .is_some_and(|a| a.subject == caller.subject && a.agency == caller.agency)
}

/// Why the caller may not take the current step, in words an officer reads.
pub(super) fn needs_role(case: &Case) -> ServiceError {
    let step = current(case).cloned().unwrap_or_default();
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

/// The caller takes the current step (ClaimTask): it is unassigned, the table lets the caller's
/// role take steps, and this step is theirs to perform (its role, department and agency).
pub(super) fn take_step(case: &mut Case, caller: &Caller, r: &Ruling) -> Result<(), ServiceError> {
    let step = current(case).cloned().unwrap_or_default();
    if let Some(a) = &case.assignee {
        return Err(refused(format!(
            "bước {} đã có người đảm nhận: {} (already taken; a leader may reassign it)",
            step_label(case),
            a.name
        )));
    }
    r.role(case)?;
    if !may_perform(caller, &step, case) {
        return Err(needs_role(case));
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
        None => Err(needs_role(case)),
    }
}

/// The table's word on one caller doing one action on one case. A change asks it in the order
/// it always has ([`Ruling::state`], [`Ruling::role`]), with its finer checks around them: that
/// order decides which error a caller refused on both counts gets, and the table's cells follow it.
#[derive(Debug, Clone)]
pub(super) struct Ruling {
    action: Action,
    state: State,
    /// The best cell of the caller's roles, at worst the no-role column's.
    best: Gate,
    /// A cell other than `R`: the no-role column's, or one of the caller's roles' in its agency.
    admitted: bool,
    /// The caller's roles that may act without holding the step (`Y`), each in its agency.
    free: Vec<Role>,
}

/// Reads the table for each of the caller's roles; a role counts only in the agency it acts in.
pub(super) fn rule(action: Action, case: &Case, caller: &Caller) -> Ruling {
    let state = State::of(case);
    let cell = |who| gate(state, action, who);
    let mut best = cell(None);
    let mut admitted = best != Gate::NotYourRole;
    let mut free = Vec::new();
    for &role in &caller.roles {
        let g = cell(Some(role));
        best = best.max(g);
        let here = in_agency(caller, case, role);
        admitted |= here && g != Gate::NotYourRole;
        if here && g == Gate::Yes {
            free.push(role);
        }
    }
    Ruling {
        action,
        state,
        best,
        admitted,
        free,
    }
}

impl Ruling {
    /// Refuses (FAILED_PRECONDITION) when the table says not in this state.
    pub(super) fn state(&self, case: &Case) -> Result<(), ServiceError> {
        if self.best == Gate::NotInState {
            return Err(ServiceError::FailedPrecondition(self.not_now(case)));
        }
        Ok(())
    }

    /// Refuses (PERMISSION_DENIED) when the table says not the caller's role, or the role's
    /// agency is not the caller's.
    pub(super) fn role(&self, case: &Case) -> Result<(), ServiceError> {
        if self.admitted {
            return Ok(());
        }
        Err(self.denied(case))
    }

    /// One of the caller's roles may act without holding the step, and `also` holds for it (a
    /// finer check of that role).
    pub(super) fn free_as(&self, also: impl Fn(Role) -> bool) -> bool {
        self.free.iter().any(|&r| also(r))
    }

    /// Refuses unless the caller holds the current step or one of its roles may act without.
    pub(super) fn must_hold_step(&self, case: &Case, caller: &Caller) -> Result<(), ServiceError> {
        if self.free_as(|_| true) {
            return Ok(());
        }
        must_hold_step(case, caller)
    }

    /// The change's words for a caller whose role may not: who may.
    pub(super) fn denied(&self, case: &Case) -> ServiceError {
        let m = match self.action {
            Action::Assign => {
                "chỉ lãnh đạo cơ quan giải quyết được phân công (assigning needs role leader of the competent agency)"
            }
            Action::RecordPayment => {
                "ghi nhận thanh toán cần vai trò desk, lãnh đạo hoặc người đang giải quyết (recording a payment needs role desk, leader, or the step's assignee)"
            }
            Action::Apology => {
                "phiếu xin lỗi do đơn vị làm chậm (lãnh đạo hoặc phòng đang giải quyết) phát hành (the apology is issued by the unit at fault: a leader or the department of the current step)"
            }
            Action::Refuse => {
                "từ chối giải quyết cần lãnh đạo cơ quan giải quyết (needs role leader of the competent agency)"
            }
            Action::StopProcessing => {
                "dừng xử lý cần lãnh đạo cơ quan giải quyết (needs role leader of the competent agency)"
            }
            Action::ReturnResult => {
                "trả kết quả là việc của bộ phận một cửa (returning the result needs role desk)"
            }
            Action::DecideWithdrawal => {
                "quyết định việc rút hồ sơ cần bộ phận một cửa hoặc lãnh đạo (needs role desk or leader)"
            }
            // The step's own work: its role and department.
            Action::Claim
            | Action::Forward
            | Action::SendBack
            | Action::RequestSupplement
            | Action::RequestObligation
            | Action::RecordResult => return needs_role(case),
        };
        denied(m)
    }

    /// The change's words for a case not in a state for it: what it waits for.
    fn not_now(&self, case: &Case) -> String {
        let m = match self.action {
            Action::Assign | Action::Apology | Action::Refuse | Action::StopProcessing => {
                "hồ sơ đã kết thúc (the case is finished or stopped)"
            }
            Action::RecordPayment => {
                "hồ sơ không chờ nghĩa vụ tài chính (the case is not waiting for a payment)"
            }
            Action::ReturnResult => {
                "hồ sơ chưa có kết quả, hoặc đã trả (there is no result to return)"
            }
            Action::DecideWithdrawal => {
                "không có đề nghị rút hồ sơ (there is no withdrawal request)"
            }
            Action::Claim
            | Action::Forward
            | Action::SendBack
            | Action::RequestSupplement
            | Action::RequestObligation
            | Action::RecordResult => return not_workable(self.state, case),
        };
        m.to_owned()
    }
}

/// Why the step's work cannot go on: the case ended, the clock is paused, or a withdrawal request
/// waits for a decision (in this order: a paused case asked to withdraw says what pauses it).
fn not_workable(state: State, case: &Case) -> String {
    match state {
        State::Finished | State::Returned | State::Stopped => format!(
            "hồ sơ {} đã kết thúc, không thể thao tác (the case is finished or stopped)",
            case.dossier_code
        ),
        State::SupplementRequested | State::WithdrawalRequestedPausedForSupplement => {
            "hồ sơ đang chờ người nộp bổ sung; thao tác sau khi bộ phận một cửa nhận bổ sung (the clock is paused for a supplement)".into()
        }
        State::FinancialObligation | State::WithdrawalRequestedPausedForObligation => {
            "hồ sơ đang chờ thực hiện nghĩa vụ tài chính; ghi nhận thanh toán trước (the clock is paused for fees or taxes: record the payment first)".into()
        }
        State::WithdrawalRequested => {
            "người nộp đề nghị rút hồ sơ; chấp thuận hoặc từ chối đề nghị trước (decide the withdrawal request first)".into()
        }
        // Work goes on in these: no table row refuses them for the state.
        State::Received | State::InProgress => format!(
            "bước {} không thực hiện được lúc này (not in this state)",
            step_label(case)
        ),
    }
}
