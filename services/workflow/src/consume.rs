//! Intake's events, as workflow takes them: `submitted` opens a case, `supplement-submitted`
//! resumes a case paused for it, `withdrawal-requested` puts the request before the desk or a
//! leader, `rejected-at-intake` opens nothing. Redelivered events change nothing (the consumer
//! records event ids; a second `submitted` finds its case). A request that arrives before its case
//! waits for it (bounded, then dead-lettered) instead of being lost.

use crate::grpc::write;
use crate::rules::{self, Change, Ctx};
use crate::settings::WorkflowSettings;
use crate::{publish, store, timers};
use futures::future::BoxFuture;
use motcua_domain::calendars::Calendars;
use motcua_domain::events::{DossierEvent, SUBMITTED, SUPPLEMENT_SUBMITTED, WITHDRAWAL_REQUESTED};
use motcua_platform::SharedClock;
use motcua_platform::consumer::{Event, HandleError, Handler};
use motcua_platform::outbox::enqueue;
use motcua_proto::common::Actor;
use motcua_proto::events::ChangeKind;
use motcua_proto::workflow::Case;
use sqlx::PgConnection;
use std::sync::Arc;

/// The event types workflow takes from intake (`rejected-at-intake` opens nothing, so it is not
/// taken at all).
pub const TYPES: &[&str] = &[SUBMITTED, SUPPLEMENT_SUBMITTED, WITHDRAWAL_REQUESTED];

#[derive(Debug)]
pub struct IntakeEvents {
    pub clock: SharedClock,
    pub calendars: Arc<Calendars>,
    pub settings: Arc<WorkflowSettings>,
}

fn poison(e: impl std::fmt::Display) -> HandleError {
    HandleError::Poison(e.to_string())
}

fn retry(e: motcua_platform::ServiceError) -> HandleError {
    match e {
        motcua_platform::ServiceError::Unavailable(m) => HandleError::Unavailable(m),
        other => HandleError::Retry(other.to_string()),
    }
}

impl IntakeEvents {
    fn ctx(&self, competent_agency: &str) -> Ctx<'_> {
        Ctx {
            now: self.clock.now(),
            calendar: self.calendars.for_agency(competent_agency),
            settings: &self.settings,
            note: "",
        }
    }

    async fn open(
        &self,
        tx: &mut PgConnection,
        e: &motcua_proto::events::DossierSubmitted,
    ) -> Result<(), HandleError> {
        let base = e
            .state
            .clone()
            .ok_or_else(|| poison("submitted without a state"))?;
        let ctx = self.ctx(&base.competent_agency);
        let mut c = rules::open(e, &ctx).map_err(poison)?;
        // Version 1 is intake's; opening the case is workflow's first state (version 2).
        c.version += 1;
        c.updated_at = Some(motcua_domain::time::ts(ctx.now));
        if !store::insert_case(tx, &c, &base).await.map_err(retry)? {
            return Ok(()); // opened before (the same dossier under another event id)
        }
        let change = Change::new(ChangeKind::Opened, "Mở hồ sơ để giải quyết");
        let actor = e.received_by.clone().unwrap_or_default();
        store::insert_history(
            tx,
            &store::HistoryRow {
                code: &c.dossier_code,
                version: c.version,
                kind: publish::slug(change.kind),
                actor: &actor,
                at: ctx.now,
                summary: &change.summary,
                note: "",
                attachments: &[],
            },
        )
        .await
        .map_err(retry)?;
        timers::follow(tx, None, &c, &ctx).await?;
        enqueue(tx, &publish::changed(&base, &c, &change, &actor, ctx.now)).await?;
        Ok(())
    }

    /// Applies a request of intake's to its case, or waits for the case. A request that changes
    /// nothing (`apply` answers None) writes nothing: no version is spent on it.
    async fn request(
        &self,
        tx: &mut PgConnection,
        code: &str,
        actor: Actor,
        apply: impl FnOnce(&mut Case, &Ctx) -> Result<Option<Change>, motcua_platform::ServiceError>,
    ) -> Result<(), HandleError> {
        let Some((mut c, base)) = store::case(&mut *tx, code, store::Lock::Wait)
            .await
            .map_err(retry)?
        else {
            return Err(HandleError::wait_for(format!("the case of dossier {code}")));
        };
        let before = c.clone();
        let ctx = self.ctx(&c.competent_agency);
        let Some(change) = apply(&mut c, &ctx).map_err(retry)? else {
            tracing::info!(
                dossier = code,
                "intake's request changes nothing in the case"
            );
            return Ok(());
        };
        // The case is locked: the write cannot find it moved.
        let written = write(
            &mut *tx,
            &before,
            &mut c,
            &base,
            &change,
            &actor,
            &[],
            None,
            &ctx,
        )
        .await
        .map_err(retry)?;
        if written {
            Ok(())
        } else {
            Err(HandleError::Retry(format!(
                "case {code} moved while locked"
            )))
        }
    }
}

impl Handler for IntakeEvents {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let decoded =
                DossierEvent::decode(&event.event_type, &event.payload).map_err(poison)?;
            match decoded {
                Some(DossierEvent::Submitted(e)) => self.open(tx, &e).await,
                Some(DossierEvent::SupplementSubmitted(e)) => {
                    let actor = e.received_by.clone().unwrap_or_default();
                    let docs = e.document_keys.clone();
                    self.request(tx, &e.dossier_code, actor, |c, ctx| {
                        rules::supplement_received(c, &docs, ctx)
                    })
                    .await
                }
                Some(DossierEvent::WithdrawalRequested(e)) => {
                    let actor = e.received_by.clone().unwrap_or_default();
                    let reason = e.reason.clone();
                    self.request(tx, &e.dossier_code, actor, |c, _| {
                        Ok(rules::withdrawal_requested(c, &reason))
                    })
                    .await
                }
                // Rejected at the desk: no case. Workflow's own events: not requests.
                Some(DossierEvent::RejectedAtIntake(_) | DossierEvent::StateChanged(_)) | None => {
                    Ok(())
                }
            }
        })
    }
}
