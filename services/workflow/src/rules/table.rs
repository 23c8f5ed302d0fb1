//! The rules' table: for every state of a case, every change an officer asks for and every role,
//! whether the change is allowed and, if not, which error it is. The changes ([`super::changes`])
//! take their state and role gate from here and nowhere else (through [`super::who`], which
//! judges a caller's roles by it and words its refusals); what the table cannot know stays in
//! them as finer checks: the agency, the step's role and department, who holds the step, amounts,
//! dates and the steps' order. Intake's two events have a table of their own at the end.
//!
//! A cell is one of:
//!
//! - `Y`: allowed to the role itself (its agency's officers; the finer checks still apply).
//! - `H`: allowed only to the current step's holder (who took it or was assigned it): the role
//!   alone is not enough.
//! - `S`: refused for the state: FAILED_PRECONDITION, saying what the case waits for.
//! - `R`: refused for the role: PERMISSION_DENIED, saying who may.
//!
//! Which of `S` and `R` a caller gets when both would apply is in the table too: a change that
//! names its role first (assign, refuse, stop, return, decide a withdrawal) is `R` for the other
//! roles in every state; one that looks at the state first is `S` for everyone outside its states.
//!
//! A token may hold several roles, or none (the last column): the caller gets the best cell of
//! its roles (`Y` over `H` over `S` over `R`), and at worst the no-role column's.

use super::{is_open, paused, status};
use motcua_platform::auth::Role;
use motcua_proto::common::{DossierStatus, PauseReason};
use motcua_proto::workflow::Case;

/// Where a case stands, as the rules see it: its national status, and for a withdrawal request
/// the pause it came during (deciding it goes back to that pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Received,
    InProgress,
    SupplementRequested,
    FinancialObligation,
    WithdrawalRequested,
    WithdrawalRequestedPausedForSupplement,
    WithdrawalRequestedPausedForObligation,
    Finished,
    Returned,
    Stopped,
}

impl State {
    pub const ALL: [State; STATES] = [
        State::Received,
        State::InProgress,
        State::SupplementRequested,
        State::FinancialObligation,
        State::WithdrawalRequested,
        State::WithdrawalRequestedPausedForSupplement,
        State::WithdrawalRequestedPausedForObligation,
        State::Finished,
        State::Returned,
        State::Stopped,
    ];

    /// The state of a case record: ended first, then the pause and the withdrawal request.
    pub fn of(case: &Case) -> State {
        if case.stopped_at.is_some() {
            return State::Stopped;
        }
        if !is_open(case) {
            return if status(case) == DossierStatus::Returned {
                State::Returned
            } else {
                State::Finished
            };
        }
        match (paused(case), case.withdrawal_requested) {
            (PauseReason::Supplement, false) => State::SupplementRequested,
            (PauseReason::FinancialObligation, false) => State::FinancialObligation,
            (PauseReason::Supplement, true) => State::WithdrawalRequestedPausedForSupplement,
            (PauseReason::FinancialObligation, true) => {
                State::WithdrawalRequestedPausedForObligation
            }
            (PauseReason::Unspecified, true) => State::WithdrawalRequested,
            (PauseReason::Unspecified, false) if status(case) == DossierStatus::Received => {
                State::Received
            }
            (PauseReason::Unspecified, false) => State::InProgress,
        }
    }
}

/// The changes an officer asks for, one per RPC of WorkflowService.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Claim,
    Assign,
    Forward,
    SendBack,
    RequestSupplement,
    RequestObligation,
    RecordPayment,
    Apology,
    Refuse,
    StopProcessing,
    RecordResult,
    ReturnResult,
    DecideWithdrawal,
}

impl Action {
    pub const ALL: [Action; ACTIONS] = [
        Action::Claim,
        Action::Assign,
        Action::Forward,
        Action::SendBack,
        Action::RequestSupplement,
        Action::RequestObligation,
        Action::RecordPayment,
        Action::Apology,
        Action::Refuse,
        Action::StopProcessing,
        Action::RecordResult,
        Action::ReturnResult,
        Action::DecideWithdrawal,
    ];
}

/// A cell of the table, worst first (a caller with several roles gets the best of theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Gate {
    /// PERMISSION_DENIED: not this role's.
    NotYourRole,
    /// FAILED_PRECONDITION: not in this state.
    NotInState,
    /// Allowed to the current step's holder only.
    Holder,
    /// Allowed to the role.
    Yes,
}

/// The table's columns: each role, then a token that names none.
pub const WHO: [Option<Role>; 6] = [
    Some(Role::Desk),
    Some(Role::Specialist),
    Some(Role::Leader),
    Some(Role::Admin),
    Some(Role::Integration),
    None,
];

pub const STATES: usize = 10;
pub const ACTIONS: usize = 13;

const Y: Gate = Gate::Yes;
const H: Gate = Gate::Holder;
const S: Gate = Gate::NotInState;
const R: Gate = Gate::NotYourRole;

use Action::*;
use State::*;

type Row = (State, [Gate; WHO.len()]);

/// Columns: desk, specialist, leader, admin, integration, no role.
#[rustfmt::skip]
const TABLE: [(Action, [Row; STATES]); ACTIONS] = [
    // The step's own role takes it (a step names desk, specialist or leader) while work goes on.
    (Claim, [
        (Received,                               [Y, Y, Y, R, R, R]),
        (InProgress,                             [Y, Y, Y, R, R, R]),
        (SupplementRequested,                    [S, S, S, S, S, S]),
        (FinancialObligation,                    [S, S, S, S, S, S]),
        (WithdrawalRequested,                    [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForSupplement, [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForObligation, [S, S, S, S, S, S]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    // A leader (re)assigns the step of any open case, paused or not.
    (Assign, [
        (Received,                               [R, R, Y, R, R, R]),
        (InProgress,                             [R, R, Y, R, R, R]),
        (SupplementRequested,                    [R, R, Y, R, R, R]),
        (FinancialObligation,                    [R, R, Y, R, R, R]),
        (WithdrawalRequested,                    [R, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForSupplement, [R, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForObligation, [R, R, Y, R, R, R]),
        (Finished,                               [R, R, S, R, R, R]),
        (Returned,                               [R, R, S, R, R, R]),
        (Stopped,                                [R, R, S, R, R, R]),
    ]),
    // The holder moves the step on, whatever their token's roles: a leader may have assigned it
    // to anyone of the agency.
    (Forward, [
        (Received,                               [H, H, H, H, H, H]),
        (InProgress,                             [H, H, H, H, H, H]),
        (SupplementRequested,                    [S, S, S, S, S, S]),
        (FinancialObligation,                    [S, S, S, S, S, S]),
        (WithdrawalRequested,                    [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForSupplement, [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForObligation, [S, S, S, S, S, S]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    // As forwarding; a received case has no earlier step (INVALID_ARGUMENT names to_step).
    (SendBack, [
        (Received,                               [H, H, H, H, H, H]),
        (InProgress,                             [H, H, H, H, H, H]),
        (SupplementRequested,                    [S, S, S, S, S, S]),
        (FinancialObligation,                    [S, S, S, S, S, S]),
        (WithdrawalRequested,                    [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForSupplement, [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForObligation, [S, S, S, S, S, S]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    // The holder, or a leader without taking the step.
    (RequestSupplement, [
        (Received,                               [H, H, Y, H, H, H]),
        (InProgress,                             [H, H, Y, H, H, H]),
        (SupplementRequested,                    [S, S, S, S, S, S]),
        (FinancialObligation,                    [S, S, S, S, S, S]),
        (WithdrawalRequested,                    [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForSupplement, [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForObligation, [S, S, S, S, S, S]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    (RequestObligation, [
        (Received,                               [H, H, Y, H, H, H]),
        (InProgress,                             [H, H, Y, H, H, H]),
        (SupplementRequested,                    [S, S, S, S, S, S]),
        (FinancialObligation,                    [S, S, S, S, S, S]),
        (WithdrawalRequested,                    [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForSupplement, [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForObligation, [S, S, S, S, S, S]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    // Only while fees are owed, a withdrawal request pending or not: the desk (which takes the
    // money), a leader, or the step's holder.
    (RecordPayment, [
        (Received,                               [S, S, S, S, S, S]),
        (InProgress,                             [S, S, S, S, S, S]),
        (SupplementRequested,                    [S, S, S, S, S, S]),
        (FinancialObligation,                    [Y, H, Y, H, H, H]),
        (WithdrawalRequested,                    [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForSupplement, [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForObligation, [Y, H, Y, H, H, H]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    // The unit at fault, while the case is open: a leader, a specialist of the current step's
    // department, or the step's holder.
    (Apology, [
        (Received,                               [H, Y, Y, H, H, H]),
        (InProgress,                             [H, Y, Y, H, H, H]),
        (SupplementRequested,                    [H, Y, Y, H, H, H]),
        (FinancialObligation,                    [H, Y, Y, H, H, H]),
        (WithdrawalRequested,                    [H, Y, Y, H, H, H]),
        (WithdrawalRequestedPausedForSupplement, [H, Y, Y, H, H, H]),
        (WithdrawalRequestedPausedForObligation, [H, Y, Y, H, H, H]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    // A leader stops any open case.
    (Refuse, [
        (Received,                               [R, R, Y, R, R, R]),
        (InProgress,                             [R, R, Y, R, R, R]),
        (SupplementRequested,                    [R, R, Y, R, R, R]),
        (FinancialObligation,                    [R, R, Y, R, R, R]),
        (WithdrawalRequested,                    [R, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForSupplement, [R, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForObligation, [R, R, Y, R, R, R]),
        (Finished,                               [R, R, S, R, R, R]),
        (Returned,                               [R, R, S, R, R, R]),
        (Stopped,                                [R, R, S, R, R, R]),
    ]),
    (StopProcessing, [
        (Received,                               [R, R, Y, R, R, R]),
        (InProgress,                             [R, R, Y, R, R, R]),
        (SupplementRequested,                    [R, R, Y, R, R, R]),
        (FinancialObligation,                    [R, R, Y, R, R, R]),
        (WithdrawalRequested,                    [R, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForSupplement, [R, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForObligation, [R, R, Y, R, R, R]),
        (Finished,                               [R, R, S, R, R, R]),
        (Returned,                               [R, R, S, R, R, R]),
        (Stopped,                                [R, R, S, R, R, R]),
    ]),
    // The last step's holder, or a leader at any step (before the last only with a reason).
    (RecordResult, [
        (Received,                               [H, H, Y, H, H, H]),
        (InProgress,                             [H, H, Y, H, H, H]),
        (SupplementRequested,                    [S, S, S, S, S, S]),
        (FinancialObligation,                    [S, S, S, S, S, S]),
        (WithdrawalRequested,                    [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForSupplement, [S, S, S, S, S, S]),
        (WithdrawalRequestedPausedForObligation, [S, S, S, S, S, S]),
        (Finished,                               [S, S, S, S, S, S]),
        (Returned,                               [S, S, S, S, S, S]),
        (Stopped,                                [S, S, S, S, S, S]),
    ]),
    // The desk hands over a result once.
    (ReturnResult, [
        (Received,                               [S, R, R, R, R, R]),
        (InProgress,                             [S, R, R, R, R, R]),
        (SupplementRequested,                    [S, R, R, R, R, R]),
        (FinancialObligation,                    [S, R, R, R, R, R]),
        (WithdrawalRequested,                    [S, R, R, R, R, R]),
        (WithdrawalRequestedPausedForSupplement, [S, R, R, R, R, R]),
        (WithdrawalRequestedPausedForObligation, [S, R, R, R, R, R]),
        (Finished,                               [Y, R, R, R, R, R]),
        (Returned,                               [S, R, R, R, R, R]),
        (Stopped,                                [S, R, R, R, R, R]),
    ]),
    // The desk or a leader, while a request is pending.
    (DecideWithdrawal, [
        (Received,                               [S, R, S, R, R, R]),
        (InProgress,                             [S, R, S, R, R, R]),
        (SupplementRequested,                    [S, R, S, R, R, R]),
        (FinancialObligation,                    [S, R, S, R, R, R]),
        (WithdrawalRequested,                    [Y, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForSupplement, [Y, R, Y, R, R, R]),
        (WithdrawalRequestedPausedForObligation, [Y, R, Y, R, R, R]),
        (Finished,                               [S, R, S, R, R, R]),
        (Returned,                               [S, R, S, R, R, R]),
        (Stopped,                                [S, R, S, R, R, R]),
    ]),
];

/// What intake's events do to a case: taken (a change and a version) or ignored (nothing
/// changes, so no officer's next action is refused as stale because of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Intake received the supplement asked for: only a case waiting for one resumes.
    SupplementReceived,
    /// The applicant asks to withdraw: any open case (a later request's reason replaces one).
    WithdrawalRequested,
}

impl Event {
    pub const ALL: [Event; 2] = [Event::SupplementReceived, Event::WithdrawalRequested];
}

const TAKE: bool = true;
const IGNORE: bool = false;

/// Columns: supplement received, withdrawal requested.
#[rustfmt::skip]
const EVENTS: [Row2; STATES] = [
    (Received,                               [IGNORE, TAKE]),
    (InProgress,                             [IGNORE, TAKE]),
    (SupplementRequested,                    [TAKE, TAKE]),
    (FinancialObligation,                    [IGNORE, TAKE]),
    (WithdrawalRequested,                    [IGNORE, TAKE]),
    (WithdrawalRequestedPausedForSupplement, [TAKE, TAKE]),
    (WithdrawalRequestedPausedForObligation, [IGNORE, TAKE]),
    (Finished,                               [IGNORE, IGNORE]),
    (Returned,                               [IGNORE, IGNORE]),
    (Stopped,                                [IGNORE, IGNORE]),
];

type Row2 = (State, [bool; Event::ALL.len()]);

/// The tables are read by position: a row out of place does not compile.
const fn in_order() -> bool {
    let mut a = 0;
    while a < ACTIONS {
        if TABLE[a].0 as usize != a {
            return false;
        }
        let mut s = 0;
        while s < STATES {
            if TABLE[a].1[s].0 as usize != s || EVENTS[s].0 as usize != s {
                return false;
            }
            s += 1;
        }
        a += 1;
    }
    true
}

const _: () = assert!(in_order(), "a row of the rules' table is out of place");

fn column(who: Option<Role>) -> usize {
    match who {
        Some(Role::Desk) => 0,
        Some(Role::Specialist) => 1,
        Some(Role::Leader) => 2,
        Some(Role::Admin) => 3,
        Some(Role::Integration) => 4,
        None => 5,
    }
}

/// The cell for one role (or none) doing `action` in `state`.
pub fn gate(state: State, action: Action, who: Option<Role>) -> Gate {
    TABLE[action as usize].1[state as usize].1[column(who)]
}

/// Whether intake's `event` changes a case in `state`.
pub fn takes(state: State, event: Event) -> bool {
    EVENTS[state as usize].1[event as usize]
}

#[cfg(test)]
mod tests;
