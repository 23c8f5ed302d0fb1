//! The rules of a case: who may do what, when, and what each change does to it. Pure functions on
//! the case record (`motcua.workflow.v1.Case`): no I/O, the time and the calendar are given. The
//! service locks the case, calls one of these, bumps the version and stores what changed.
//!
//! - [`table`]: the one table of which state and role allow which change, and which error a
//!   refusal is.
//! - [`who`]: the finer checks of who may act (departments, the step's holder, the agency).
//! - [`changes`]: each change an officer or intake's request makes.
//! - this module: opening a case, steps and the control sheet, due times and pauses.

mod changes;
pub mod table;
mod who;

pub use changes::*;
pub use who::may_see;

use crate::settings::WorkflowSettings;
use chrono::{DateTime, FixedOffset, NaiveTime, Utc};
use motcua_calendar::{Calendar, Outcome as CalOutcome, Pause, Span};
use motcua_domain::time::{from_ts, ts};
use motcua_platform::ServiceError;
use motcua_platform::auth::Caller;
use motcua_proto::common::{
    Actor, DossierStatus, Outcome, PauseReason, ProcessStep, ProcessingTime,
    processing_time::Span as ProtoSpan,
};
use motcua_proto::events::{ChangeKind, DossierSubmitted};
use motcua_proto::workflow::{Case, CaseStep, ControlSheetEntry};

/// What a change needs besides the case: the time, the agency's calendar, and the note the
/// officer typed (kept verbatim on the control sheet line the change closes).
#[derive(Debug)]
pub struct Ctx<'a> {
    pub now: DateTime<Utc>,
    pub calendar: &'a Calendar,
    pub settings: &'a WorkflowSettings,
    pub note: &'a str,
}

/// What happened, for the history and the event: the kind, what the service writes of it
/// (`summary`), and the officer's own note, verbatim (filled in by whoever runs the change).
#[derive(Debug, Clone)]
pub struct Change {
    pub kind: ChangeKind,
    pub summary: String,
    pub note: String,
}

impl Change {
    pub fn new(kind: ChangeKind, summary: impl Into<String>) -> Self {
        Self {
            kind,
            summary: summary.into(),
            note: String::new(),
        }
    }
}

fn refused(m: impl Into<String>) -> ServiceError {
    ServiceError::FailedPrecondition(m.into())
}

fn denied(m: impl Into<String>) -> ServiceError {
    ServiceError::PermissionDenied(m.into())
}

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::InvalidArgument(m.into())
}

fn vn(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    t.with_timezone(&motcua_calendar::vietnam())
}

fn at(t: &Option<prost_types::Timestamp>, what: &str) -> Result<DateTime<Utc>, ServiceError> {
    let t = t
        .as_ref()
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("case without {what}")))?;
    Ok(from_ts(t, what)?)
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
    // The first step (the desk's) began when the dossier was received; its clock, like the
    // dossier's, starts at the next working period when it came after the cut-off.
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

/// The step in progress is the one the dossier was received into: its clock starts with the
/// dossier's (the cut-off applies to both).
fn is_receipt_step(case: &Case) -> bool {
    case.current_step == 0 && case.control_sheet.len() <= 1
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
    let step_cutoff = if is_receipt_step(case) { cutoff } else { None };
    if let Some(step_span) = current(case).and_then(|s| span(s.limit.as_ref())) {
        let step_due = ctx
            .calendar
            .due(vn(started), step_span, step_cutoff, &pauses)
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

/// Closes the current step's line: when, by whom, how, what the service says of it, the
/// officer's note verbatim, and on time or not.
fn end_step(
    case: &mut Case,
    ended_by: &str,
    by: &Actor,
    summary: &str,
    ctx: &Ctx,
) -> Result<(), ServiceError> {
    let due = at(&case.step_due_at, "step_due_at")?;
    let outcome = classify(ctx.calendar, due, ctx.now)?;
    if let Some(entry) = case.control_sheet.last_mut() {
        entry.finished_at = Some(ts(ctx.now));
        entry.finished_by = Some(by.clone());
        entry.ended_by = ended_by.to_owned();
        entry.outcome = outcome as i32;
        entry.summary = summary.to_owned();
        entry.note = ctx.note.to_owned();
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

fn step_label(case: &Case) -> String {
    current(case).map_or_else(String::new, |s| format!("{} ({})", s.name, s.key))
}

#[cfg(test)]
mod tests;
