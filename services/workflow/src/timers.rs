//! Durable SLA timers: "due soon" (MOTCUA_WORKFLOW_DUE_SOON_HOURS of working time before) and
//! "overdue", for the dossier and for its current step. They are platform jobs in workflow's
//! database, written in the same transaction as the change that sets or moves a due time, run by
//! exactly one replica when the service's clock reaches them (a jump forward fires everything now
//! due, in due order), and each publishes a `deadline` event for notification and reporting.
//!
//! A paused, finished or stopped case has no timers. A timer that fires after its due time moved
//! (the job is moved in the same transaction, so only a race with that transaction could) finds
//! the due time changed and publishes nothing.

use crate::rules::{self, Ctx};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use motcua_domain::time::from_ts;
use motcua_platform::jobs::{self, Job, JobHandler};
use motcua_platform::outbox::enqueue;
use motcua_proto::common::PauseReason;
use motcua_proto::events::{DeadlineKind, DeadlineScope};
use motcua_proto::workflow::Case;
use sqlx::PgConnection;

pub use crate::store::{Moves, QUEUE};

const ALL: [(DeadlineScope, DeadlineKind, &str); 4] = [
    (
        DeadlineScope::Dossier,
        DeadlineKind::DueSoon,
        "dossier|due-soon",
    ),
    (
        DeadlineScope::Dossier,
        DeadlineKind::Overdue,
        "dossier|overdue",
    ),
    (DeadlineScope::Step, DeadlineKind::DueSoon, "step|due-soon"),
    (DeadlineScope::Step, DeadlineKind::Overdue, "step|overdue"),
];

fn due_of(c: &Case, scope: DeadlineScope) -> Option<DateTime<Utc>> {
    if !rules::is_open(c) || rules::paused(c) != PauseReason::Unspecified {
        return None;
    }
    let t = match scope {
        DeadlineScope::Dossier => c.due_at.as_ref(),
        _ => c.step_due_at.as_ref(),
    }?;
    from_ts(t, "due").ok()
}

/// The timers of the case after a change: only those whose due time changed from `before` (the
/// case as it was) move, so a change that moves nothing writes nothing.
pub fn moves(before: Option<&Case>, after: &Case, ctx: &Ctx<'_>) -> Moves {
    let mut m = Moves::default();
    for (scope, kind, name) in ALL {
        let due = due_of(after, scope);
        let was = before.and_then(|b| due_of(b, scope));
        // The step timers move when the step changes even if its due time happens to be equal.
        let same_step = before.is_some_and(|b| {
            b.current_step == after.current_step
                && b.control_sheet.len() == after.control_sheet.len()
        });
        if before.is_some() && due == was && (scope == DeadlineScope::Dossier || same_step) {
            continue;
        }
        let key = format!("{}|{name}", after.dossier_code);
        let Some(due) = due else {
            m.cancel.push(key);
            continue;
        };
        let run_at = match kind {
            DeadlineKind::DueSoon => {
                let Ok(soon) = ctx.calendar.before(
                    due.with_timezone(&motcua_calendar::vietnam()),
                    ctx.settings.due_soon,
                ) else {
                    continue;
                };
                soon.with_timezone(&Utc)
            }
            _ => due,
        };
        // A deadline that was within the reminder window from the moment it began (a step shorter
        // than the window) has no reminder: the officer knew it from the start. One already passed
        // has only its overdue notice.
        let began = match scope {
            DeadlineScope::Dossier => after.received_at.as_ref(),
            _ => after.step_started_at.as_ref(),
        }
        .and_then(|t| from_ts(t, "began").ok());
        if kind == DeadlineKind::DueSoon && (due <= ctx.now || began.is_some_and(|b| run_at <= b)) {
            m.cancel.push(key);
            continue;
        }
        m.schedule
            .push((key, run_at, due.to_rfc3339().into_bytes()));
    }
    m
}

/// Sets the case's timers as [`moves`] says, in the caller's transaction.
pub async fn follow(
    conn: &mut PgConnection,
    before: Option<&Case>,
    after: &Case,
    ctx: &Ctx<'_>,
) -> sqlx::Result<()> {
    let m = moves(before, after, ctx);
    jobs::reschedule(conn, QUEUE, &m.schedule, &m.cancel, ctx.now).await
}

/// Fires a deadline: publishes its event if the due time it was set for still holds.
#[derive(Debug)]
pub struct Deadlines {
    pub clock: motcua_platform::SharedClock,
}

impl JobHandler for Deadlines {
    fn run<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        job: &'a Job,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let mut parts = job.key.splitn(3, '|');
            let (Some(code), Some(scope), Some(kind)) = (parts.next(), parts.next(), parts.next())
            else {
                anyhow::bail!("malformed deadline key {:?}", job.key);
            };
            // Under the case's lock: a change committing meanwhile is seen, not raced (a notice for a
            // state that moved a moment before). NOWAIT: a change in progress holds the case and
            // then wants this job's row; this try fails instead and the job comes again later.
            let Some((c, _)) =
                crate::store::case(&mut *tx, code, crate::store::Lock::NoWait).await?
            else {
                return Ok(());
            };
            let scope = if scope == "dossier" {
                DeadlineScope::Dossier
            } else {
                DeadlineScope::Step
            };
            let kind = if kind == "overdue" {
                DeadlineKind::Overdue
            } else {
                DeadlineKind::DueSoon
            };
            let set_for = String::from_utf8_lossy(&job.payload).to_string();
            let Some(due) = due_of(&c, scope) else {
                return Ok(());
            };
            if due.to_rfc3339() != set_for {
                return Ok(());
            }
            let now = self.clock.now();
            enqueue(tx, &crate::publish::deadline(&c, kind, scope, due, now)).await?;
            metrics::counter!("motcua_workflow_deadlines_total", "kind" => if kind == DeadlineKind::Overdue { "overdue" } else { "due-soon" }).increment(1);
            Ok(())
        })
    }
}
