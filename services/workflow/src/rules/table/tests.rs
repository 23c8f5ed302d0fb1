//! The table walked cell by cell, without a database: every state × action × role (and a token
//! that names no role) is tried on a case walked into that state, by an officer of the competent
//! agency and the step's department, so that only the table decides. An allowed change must go
//! through and leave the case where the design says; a refused one must give the table's error
//! and change nothing. A change that skipped the table, or checked more than it, fails here.

use super::super::{
    Caller, Case, Change, Ctx, DossierSubmitted, ProcessStep, ProcessingTime, ProtoSpan,
    ServiceError, Span, actor, apology, assign, claim, decide_withdrawal, forward, open,
    record_payment, record_result, refuse, request_obligation, request_supplement, return_result,
    send_back, stop_processing, supplement_received, vn, withdrawal_requested,
};
use super::*;
use crate::settings::WorkflowSettings;
use chrono::{DateTime, Utc};
use motcua_calendar::Calendar;
use motcua_domain::time::ts;
use motcua_platform::config::Vars;
use motcua_proto::common::Actor;
use motcua_proto::events::DossierState;
use std::collections::HashMap;

const AGENCY: &str = "000.00.06.H56";
const DEPARTMENT: &str = "van-phong-dang-ky";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn officer(roles: &[Role], subject: &str) -> Caller {
    Caller {
        subject: subject.into(),
        name: subject.into(),
        agency: AGENCY.into(),
        department: DEPARTMENT.into(),
        roles: roles.to_vec(),
        province: None,
        expires_at: i64::MAX,
    }
}

/// Walks cases into each state: every role, so that nothing it does is refused.
fn walker() -> Caller {
    officer(
        &[
            Role::Desk,
            Role::Specialist,
            Role::Leader,
            Role::Admin,
            Role::Integration,
        ],
        "walker",
    )
}

/// The role the case's steps name: the caller's own, so that a step is theirs to take (steps
/// name desk, specialist or leader only; others get a specialist's).
fn step_role(roles: &[Role]) -> &'static str {
    for r in roles {
        match r {
            Role::Desk => return "desk",
            Role::Leader => return "leader",
            Role::Specialist => return "specialist",
            Role::Admin | Role::Integration => {}
        }
    }
    "specialist"
}

/// Where a change is tried: a middle step (so that there is a next and an earlier one), except
/// that a result is recorded at the last step (only a leader records before it).
fn steps_for(state: State, action: Action) -> usize {
    match (action, state) {
        (Action::RecordResult, State::Received) => 1,
        (Action::RecordResult, _) => 2,
        _ => 3,
    }
}

struct World {
    cal: Calendar,
    s: WorkflowSettings,
    built: HashMap<(State, usize, &'static str), Case>,
}

impl World {
    fn new() -> Self {
        Self {
            cal: motcua_calendar::standard().unwrap(),
            s: WorkflowSettings::from_vars(&Vars::default()).unwrap(),
            built: HashMap::new(),
        }
    }

    fn ctx(&self, now: &str) -> Ctx<'_> {
        Ctx {
            now: t(now),
            calendar: &self.cal,
            settings: &self.s,
            note: "",
        }
    }

    /// A case of `steps` steps of `role` in [`DEPARTMENT`], received Monday 3 March 2025 09:00
    /// with 8 working days (due Thursday 13 March, 09:00).
    fn open(&self, steps: usize, role: &str) -> Case {
        let received = t("2025-03-03T09:00:00+07:00");
        let due = self
            .cal
            .due(vn(received), Span::Days(8), None, &[])
            .unwrap()
            .with_timezone(&Utc);
        let submitted = DossierSubmitted {
            state: Some(DossierState {
                dossier_code: "000.00.06.H56-250303-0001".into(),
                version: 1,
                competent_agency: AGENCY.into(),
                receiving_agency: AGENCY.into(),
                received_at: Some(ts(received)),
                due_at: Some(ts(due)),
                ..Default::default()
            }),
            processing_time: Some(ProcessingTime {
                span: Some(ProtoSpan::WorkingDays(8)),
            }),
            steps: (0..steps)
                .map(|i| ProcessStep {
                    key: format!("buoc-{i}"),
                    name: format!("Bước {i}"),
                    role: role.into(),
                    department: DEPARTMENT.into(),
                    limit: Some(ProcessingTime {
                        span: Some(ProtoSpan::WorkingHours(8)),
                    }),
                })
                .collect(),
            ..Default::default()
        };
        open(
            &submitted,
            &Ctx {
                now: received,
                calendar: &self.cal,
                settings: &self.s,
                note: "",
            },
        )
        .unwrap()
    }

    /// A case walked into `state` by the changes themselves (cached: walks are the slow part).
    fn case(&mut self, state: State, steps: usize, role: &'static str) -> Case {
        if let Some(c) = self.built.get(&(state, steps, role)) {
            return c.clone();
        }
        let mut case = self.open(steps, role);
        self.walk(&mut case, state);
        assert_eq!(State::of(&case), state, "walked into the wrong state");
        self.built.insert((state, steps, role), case.clone());
        case
    }

    fn walk(&self, case: &mut Case, state: State) {
        let w = walker();
        let ctx = self.ctx("2025-03-03T10:00:00+07:00");
        let next = |case: &mut Case| {
            claim(case, &w).unwrap();
            forward(case, &w, &ctx).unwrap();
        };
        match state {
            State::Received => {}
            State::InProgress => next(case),
            State::SupplementRequested => {
                self.walk(case, State::InProgress);
                request_supplement(case, &w, &["Bản vẽ".into()], &ctx).unwrap();
            }
            State::FinancialObligation => {
                self.walk(case, State::InProgress);
                request_obligation(case, &w, 100_000, "lệ phí", &ctx).unwrap();
            }
            State::WithdrawalRequested => {
                self.walk(case, State::InProgress);
                withdrawal_requested(case, "đổi ý").unwrap();
            }
            State::WithdrawalRequestedPausedForSupplement => {
                self.walk(case, State::SupplementRequested);
                withdrawal_requested(case, "đổi ý").unwrap();
            }
            State::WithdrawalRequestedPausedForObligation => {
                self.walk(case, State::FinancialObligation);
                withdrawal_requested(case, "đổi ý").unwrap();
            }
            State::Finished => {
                self.walk(case, State::InProgress);
                while (case.current_step as usize) + 1 < case.steps.len() {
                    next(case);
                }
                record_result(case, &w, "QĐ 1/QĐ", "", &ctx).unwrap();
            }
            State::Returned => {
                self.walk(case, State::Finished);
                return_result(case, &w, &ctx).unwrap();
            }
            State::Stopped => {
                self.walk(case, State::InProgress);
                refuse(case, &w, "không đủ điều kiện", &ctx).unwrap();
            }
        }
    }
}

/// Asks for `action` with arguments that pass its finer checks (amounts, dates, steps).
fn act(
    w: &World,
    case: &mut Case,
    action: Action,
    caller: &Caller,
    approve: bool,
) -> Result<Change, ServiceError> {
    let ctx = w.ctx("2025-03-04T10:00:00+07:00");
    let at_last = case.current_step as usize + 1 == case.steps.len();
    match action {
        Action::Claim => claim(case, caller),
        Action::Assign => {
            let to = Actor {
                subject: "cv-2".into(),
                name: "Cán bộ 2".into(),
                agency: String::new(),
            };
            assign(case, caller, &to)
        }
        Action::Forward => forward(case, caller, &ctx),
        Action::SendBack => send_back(case, caller, "buoc-0", "thiếu bản vẽ", &ctx),
        Action::RequestSupplement => request_supplement(case, caller, &["Bản vẽ".into()], &ctx),
        Action::RequestObligation => request_obligation(case, caller, 100_000, "lệ phí", &ctx),
        Action::RecordPayment => record_payment(case, caller, "BL-1", &ctx),
        // Before the due date (13 March), a working moment after it, within 30 days.
        Action::Apology => apology(
            case,
            caller,
            "chờ ý kiến",
            t("2025-03-17T14:30:00+07:00"),
            &ctx,
        ),
        Action::Refuse => refuse(case, caller, "không đủ điều kiện", &ctx),
        Action::StopProcessing => stop_processing(case, caller, "theo đề nghị", &ctx),
        Action::RecordResult => {
            let close_early = if at_last { "" } else { "đã đủ căn cứ" };
            record_result(case, caller, "QĐ 12/QĐ", close_early, &ctx)
        }
        Action::ReturnResult => return_result(case, caller, &ctx),
        Action::DecideWithdrawal => decide_withdrawal(case, caller, approve, &ctx),
    }
}

/// What an allowed change does, as README's "Workflow" and the proto say.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Design {
    Becomes(State),
    /// Allowed in this state, but no argument can pass: a received case has no earlier step to
    /// send back to (INVALID_ARGUMENT naming to_step).
    NoValidArgument,
}

fn designed(state: State, action: Action, approve: bool) -> Design {
    use Design::*;
    use State::*;
    match action {
        Action::Claim | Action::Assign | Action::Apology => Becomes(state),
        Action::Forward => Becomes(InProgress),
        Action::SendBack if state == Received => NoValidArgument,
        Action::SendBack => Becomes(InProgress),
        Action::RequestSupplement => Becomes(SupplementRequested),
        Action::RequestObligation => Becomes(FinancialObligation),
        // The clock resumes; a withdrawal request made meanwhile still waits for its decision.
        Action::RecordPayment if state == WithdrawalRequestedPausedForObligation => {
            Becomes(WithdrawalRequested)
        }
        Action::RecordPayment => Becomes(InProgress),
        Action::Refuse | Action::StopProcessing => Becomes(Stopped),
        Action::RecordResult => Becomes(Finished),
        Action::ReturnResult => Becomes(Returned),
        Action::DecideWithdrawal if approve => Becomes(Stopped),
        // Declined: back to what the case was doing (the walks paused it from in progress).
        Action::DecideWithdrawal => Becomes(match state {
            WithdrawalRequestedPausedForSupplement => SupplementRequested,
            WithdrawalRequestedPausedForObligation => FinancialObligation,
            _ => InProgress,
        }),
    }
}

/// Tries `action` in `state` by an officer of `roles`, holding the step or not, and checks the
/// outcome against `expected` (the table's cell for those roles). Returns how many calls it made.
fn check(w: &mut World, state: State, action: Action, roles: &[Role], expected: Gate) -> usize {
    let caller = officer(roles, "officer");
    let base = w.case(state, steps_for(state, action), step_role(roles));
    let approvals: &[bool] = if action == Action::DecideWithdrawal {
        &[true, false]
    } else {
        &[true]
    };
    let mut calls = 0;
    for holding in [true, false] {
        for &approve in approvals {
            let mut case = base.clone();
            // A step to claim is nobody's; any other change is tried by its holder, then by an
            // officer who does not hold it.
            case.assignee = (holding && action != Action::Claim).then(|| actor(&caller));
            let before = case.clone();
            let got = act(w, &mut case, action, &caller, approve);
            calls += 1;
            let at = format!(
                "{state:?} × {action:?} × {roles:?} (holding: {holding}, approve: {approve}), table: {expected:?}"
            );
            match (expected, holding) {
                (Gate::Yes, _) | (Gate::Holder, true) => match designed(state, action, approve) {
                    Design::Becomes(after) => {
                        if let Err(e) = got {
                            panic!("{at}: allowed, yet refused: {e}");
                        }
                        assert_eq!(State::of(&case), after, "{at}");
                    }
                    Design::NoValidArgument => assert!(
                        matches!(got, Err(ServiceError::InvalidArgument(ref m)) if m.contains("to_step")),
                        "{at}: {got:?}"
                    ),
                },
                (Gate::Holder, false) => {
                    assert!(
                        matches!(
                            got,
                            Err(ServiceError::FailedPrecondition(_))
                                | Err(ServiceError::PermissionDenied(_))
                        ),
                        "{at}: only the holder may, yet: {got:?}"
                    );
                    assert_eq!(case, before, "{at}: a refusal changes nothing");
                }
                (Gate::NotInState, _) => {
                    assert!(
                        matches!(got, Err(ServiceError::FailedPrecondition(_))),
                        "{at}: {got:?}"
                    );
                    assert_eq!(case, before, "{at}: a refusal changes nothing");
                }
                (Gate::NotYourRole, _) => {
                    assert!(
                        matches!(got, Err(ServiceError::PermissionDenied(_))),
                        "{at}: {got:?}"
                    );
                    assert_eq!(case, before, "{at}: a refusal changes nothing");
                }
            }
        }
    }
    calls
}

#[test]
fn every_state_action_and_role_is_allowed_or_refused_as_the_table_says() {
    let mut w = World::new();
    let mut triples = 0;
    for state in State::ALL {
        for action in Action::ALL {
            for who in WHO {
                let roles: Vec<Role> = who.into_iter().collect();
                check(&mut w, state, action, &roles, gate(state, action, who));
                triples += 1;
            }
        }
    }
    assert_eq!(triples, STATES * ACTIONS * WHO.len());
    assert_eq!(triples, 780);
}

#[test]
fn a_token_with_two_roles_gets_the_better_cell_of_the_two() {
    let mut w = World::new();
    let roles = WHO.iter().flatten().copied().collect::<Vec<_>>();
    for state in State::ALL {
        for action in Action::ALL {
            for (i, &a) in roles.iter().enumerate() {
                for &b in &roles[i + 1..] {
                    let best = gate(state, action, Some(a)).max(gate(state, action, Some(b)));
                    check(&mut w, state, action, &[a, b], best);
                }
            }
        }
    }
}

#[test]
fn intake_events_change_a_case_only_in_the_states_the_table_takes_them_in() {
    let mut w = World::new();
    for state in State::ALL {
        for event in Event::ALL {
            let mut case = w.case(state, 3, "specialist");
            let before = case.clone();
            let ctx = w.ctx("2025-03-04T10:00:00+07:00");
            let changed = match event {
                Event::SupplementReceived => {
                    supplement_received(&mut case, &["Bản vẽ".into()], &ctx)
                        .unwrap()
                        .is_some()
                }
                Event::WithdrawalRequested => {
                    withdrawal_requested(&mut case, "không cần nữa").is_some()
                }
            };
            let at = format!("{state:?} × {event:?}");
            assert_eq!(changed, takes(state, event), "{at}");
            if !changed {
                assert_eq!(case, before, "{at}: an ignored event changes nothing");
                continue;
            }
            let after = match (event, state) {
                // The clock resumes; a pending withdrawal request still waits for its decision.
                (Event::SupplementReceived, State::WithdrawalRequestedPausedForSupplement) => {
                    State::WithdrawalRequested
                }
                (Event::SupplementReceived, _) => State::InProgress,
                // Asked to withdraw during a pause, the case keeps the pause.
                (Event::WithdrawalRequested, State::SupplementRequested) => {
                    State::WithdrawalRequestedPausedForSupplement
                }
                (Event::WithdrawalRequested, State::FinancialObligation) => {
                    State::WithdrawalRequestedPausedForObligation
                }
                (Event::WithdrawalRequested, s @ State::WithdrawalRequestedPausedForSupplement)
                | (Event::WithdrawalRequested, s @ State::WithdrawalRequestedPausedForObligation) => {
                    s
                }
                (Event::WithdrawalRequested, _) => State::WithdrawalRequested,
            };
            assert_eq!(State::of(&case), after, "{at}");
        }
    }
}

#[test]
fn a_case_record_is_in_exactly_the_state_its_status_and_pause_say() {
    let mut w = World::new();
    for state in State::ALL {
        let case = w.case(state, 3, "specialist");
        let national = match state {
            State::Received => 2,
            State::InProgress => 4,
            State::SupplementRequested => 5,
            State::FinancialObligation => 6,
            State::WithdrawalRequested
            | State::WithdrawalRequestedPausedForSupplement
            | State::WithdrawalRequestedPausedForObligation => 7,
            State::Stopped => 8,
            State::Finished => 9,
            State::Returned => 10,
        };
        assert_eq!(case.national_code, national, "{state:?}");
    }
}
