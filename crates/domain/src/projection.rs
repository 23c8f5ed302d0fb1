//! Read models (lookup, reporting) built from dossier events: decode by type, apply a state only
//! if its version is newer than what the model holds, ignore requests — so that reordered and
//! redelivered events leave the newest state, and no service hand-writes this.
//!
//! Use with a batched consumer: `host.spawn_consumer(ConsumerSpec::new(..).batched(500),
//! Arc::new(Projector(my_projection)))`.

use crate::events::DossierEvent;
use futures::future::BoxFuture;
use motcua_platform::consumer::{Event, HandleError, Handler};
use motcua_proto::events::DossierState;
use sqlx::PgConnection;

/// A read model of dossier states.
pub trait StateProjection: Send + Sync + 'static {
    /// Its name in `projection_versions` (one per read model).
    fn name(&self) -> &'static str;

    /// Writes `state`, which is newer than anything this model applied for the dossier.
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        state: &'a DossierState,
        event: &'a DossierEvent,
    ) -> BoxFuture<'a, Result<(), HandleError>>;

    /// An event without a state (intake's requests); ignored unless the model wants it.
    fn other<'a>(
        &'a self,
        _tx: &'a mut PgConnection,
        _event: &'a DossierEvent,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A consumer handler that feeds a [`StateProjection`].
#[derive(Debug)]
pub struct Projector<P>(pub P);

impl<P: StateProjection> Handler for Projector<P> {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            let decoded = DossierEvent::decode(&event.event_type, &event.payload)
                .map_err(|e| HandleError::Poison(e.to_string()))?;
            let Some(decoded) = decoded else {
                tracing::debug!(event_type = %event.event_type, "skipping an event type this reader does not know");
                return Ok(());
            };
            if !decoded.is_state() {
                return self.0.other(tx, &decoded).await;
            }
            let state = match decoded.state() {
                Some(s) if !s.dossier_code.is_empty() && s.version > 0 => s,
                _ => {
                    return Err(HandleError::Poison(format!(
                        "{} event without a state, dossier code or version",
                        event.event_type
                    )));
                }
            };
            if motcua_platform::versions::claim(
                tx,
                self.0.name(),
                &state.dossier_code,
                state.version,
            )
            .await?
            {
                self.0.apply(tx, state, &decoded).await?;
            }
            Ok(())
        })
    }
}
