//! Intake follows workflow's state events to keep its own view of each dossier's status, so that
//! GetDossier does not go stale and a withdrawal of a finished or stopped dossier is refused.
//! Order-tolerant: a state is applied only if its version is newer than the one intake holds.

use futures::future::BoxFuture;
use motcua_domain::events::{DossierEvent, STATE_CHANGED};
use motcua_domain::time::from_ts;
use motcua_platform::bus::DOSSIERS;
use motcua_platform::consumer::{ConsumerSpec, Event, HandleError, Handler};
use sqlx::PgConnection;

pub fn consumer() -> ConsumerSpec {
    // Every field's state events, and nothing else: `dossier.*.state-changed`.
    ConsumerSpec::new(
        "intake-states",
        DOSSIERS,
        &format!("dossier.*.{STATE_CHANGED}"),
    )
    .batched(200)
}

#[derive(Debug)]
pub struct States;

impl Handler for States {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let Some(DossierEvent::StateChanged(changed)) =
                DossierEvent::decode(&event.event_type, &event.payload)
                    .map_err(|e| HandleError::Poison(e.to_string()))?
            else {
                return Ok(());
            };
            let Some(state) = changed.state else {
                return Err(HandleError::Poison("state-changed without a state".into()));
            };
            let at = changed.at.as_ref().and_then(|t| from_ts(t, "at").ok());
            // A dossier intake does not know (another intake's database) is not ours to follow.
            // A dossier that ended (stopped — refused and withdrawn included — or its result
            // returned) starts the clock of its applicant's contacts (contacts.rs); the first end
            // counts. A finished one is not over: the applicant is still to be told to collect.
            sqlx::query(
                "UPDATE dossiers SET status = $2, version = $3, updated_at = COALESCE($4, updated_at),
                    ended_at = CASE WHEN $2 IN (7, 9) THEN COALESCE(ended_at, $4, updated_at)
                                    ELSE ended_at END
                 WHERE code = $1 AND version < $3",
            )
            .bind(&state.dossier_code)
            .bind(state.status as i16)
            .bind(state.version as i64)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }
}
