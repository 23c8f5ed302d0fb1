//! Why a host ended before it was asked to: recorded by its servers, reported by
//! [`crate::supervise`].

use std::sync::{Arc, Mutex, PoisonError};
use tokio_util::sync::CancellationToken;

/// Why a host's parts (its gRPC or HTTP server) ended before shutdown was asked for: the first
/// reason is kept. Cheap to clone; every clone records into the same place.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    first: Arc<Mutex<Option<String>>>,
}

impl Fault {
    /// Records `why` (unless a reason is already recorded), logs it and stops the process.
    pub fn raise(&self, service: &'static str, why: String, process_shutdown: &CancellationToken) {
        tracing::error!(
            service,
            why,
            "service ended unexpectedly; stopping the process"
        );
        self.first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(why);
        process_shutdown.cancel();
    }

    /// The first recorded reason, if any.
    pub fn reason(&self) -> Option<String> {
        self.first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
