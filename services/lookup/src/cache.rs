//! Recently read dossier rows, kept in each replica's memory and dropped the moment an event
//! announces a newer version.
//!
//! On results days the same dossiers are looked up again and again (a page reloaded, the QR code
//! scanned, an SMS asked). A row read from the database is kept here; every replica also listens
//! to the dossier subjects on NATS (a plain subscription beside the durable consumer: every
//! replica hears every event) and, for each state event, records the version it announces and
//! drops a kept row that is older. A row read from the database is kept only if no newer version
//! has been announced meanwhile, so an answer never goes back to a state older than one the
//! database already held when the event arrived.
//!
//! What could still leave a row stale: an announcement lost (NATS disconnected, a slow
//! subscriber). So the cache is emptied and off while NATS is not connected, and a row is kept at
//! most [`TTL`] whatever happens. `motcua lookup rebuild` replaces the tables under the cache:
//! rows kept before it age out within the same bound.
//!
//! Who may see a row is checked the same way whether it came from here or from the database
//! (see [`crate::queries::Queries::dossier`]), and a wrong secret always goes on to the database,
//! so a kept row tells nothing about which codes exist.

use crate::reads::Row;
use futures::StreamExt;
use motcua_domain::events::DossierEvent;
use motcua_platform::bus::{Bus, headers};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Longest a row is kept.
pub const TTL: Duration = Duration::from_secs(30);
/// How long an announced version is remembered: longer than any read can take.
const FENCE_TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Cache {
    rows: moka::sync::Cache<String, Arc<Row>>,
    /// The newest version announced per code.
    announced: moka::sync::Cache<String, u64>,
    on: Arc<AtomicBool>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("rows", &self.rows.entry_count())
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// A cache of at most `capacity` rows (0: none kept).
    pub fn new(capacity: u64) -> Self {
        Self {
            rows: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(TTL)
                .build(),
            announced: moka::sync::Cache::builder()
                .max_capacity(capacity.saturating_mul(4).max(1024))
                .time_to_live(FENCE_TTL)
                .build(),
            on: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn get(&self, code: &str) -> Option<Arc<Row>> {
        if !self.on.load(Ordering::Acquire) {
            return None;
        }
        self.rows.get(code)
    }

    /// Keeps a row just read, unless a newer version has been announced.
    pub fn offer(&self, code: &str, row: Row) {
        if !self.on.load(Ordering::Acquire) {
            return;
        }
        let newer = |c: &Self| c.announced.get(code).is_some_and(|v| v > row.version);
        if newer(self) {
            return;
        }
        let version = row.version;
        self.rows.insert(code.to_owned(), Arc::new(row));
        // An announcement between the check and the insert: it may have missed this row.
        if self.announced.get(code).is_some_and(|v| v > version) {
            self.rows.invalidate(code);
        }
    }

    /// An event says `code` is now at `version`.
    pub fn announce(&self, code: &str, version: u64) {
        let newest = self.announced.get(code).map_or(version, |v| v.max(version));
        self.announced.insert(code.to_owned(), newest);
        if self.rows.get(code).is_some_and(|r| r.version < newest) {
            self.rows.invalidate(code);
        }
    }

    fn switch(&self, on: bool) {
        if !on {
            self.on.store(false, Ordering::Release);
            self.rows.invalidate_all();
        } else {
            self.on.store(true, Ordering::Release);
        }
    }

    /// Listens to the dossier subjects and keeps the cache honest until `stop`: on while NATS is
    /// connected and the subscription runs, emptied and off otherwise.
    pub async fn follow(self, bus: Bus, stop: tokio_util::sync::CancellationToken) {
        loop {
            self.switch(false);
            let mut subscription = match bus.client.subscribe(bus.subject("dossier.>")).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "lookup cache: cannot subscribe; reading the database only");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            let mut watch = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = watch.tick() => {
                        let connected = matches!(
                            bus.client.connection_state(),
                            async_nats::connection::State::Connected
                        );
                        if connected != self.on.load(Ordering::Acquire) {
                            // Announcements may have been lost while disconnected: start empty.
                            self.switch(connected);
                        }
                    }
                    message = subscription.next() => {
                        let Some(message) = message else { break };
                        let event_type = message
                            .headers
                            .as_ref()
                            .and_then(|h| h.get(headers::EVENT_TYPE))
                            .map(|v| v.as_str().to_owned())
                            .unwrap_or_default();
                        if let Ok(Some(event)) = DossierEvent::decode(&event_type, &message.payload)
                            && let Some(state) = event.state()
                        {
                            self.announce(&state.dossier_code, state.version);
                        }
                    }
                }
            }
            tracing::warn!("lookup cache: subscription ended; starting again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::StoredSecrets;

    fn row(version: u64) -> Row {
        Row {
            version,
            view: vec![version as u8],
            secrets: StoredSecrets {
                lookup_token_hmac: String::new(),
                applicant_id_hmac: String::new(),
                secret_key_id: String::new(),
            },
        }
    }

    #[test]
    fn an_announced_version_drops_older_rows_and_refuses_late_older_reads() {
        let c = Cache::new(100);
        c.offer("a", row(1));
        assert!(c.get("a").is_none(), "off until the subscription runs");
        c.switch(true);
        c.offer("a", row(3));
        assert_eq!(c.get("a").unwrap().version, 3);
        c.announce("a", 4);
        assert!(c.get("a").is_none(), "version 4 announced: 3 is stale");
        c.offer("a", row(3));
        assert!(
            c.get("a").is_none(),
            "a read that began before the event is not kept"
        );
        c.offer("a", row(4));
        assert_eq!(c.get("a").unwrap().version, 4);
        c.announce("a", 2);
        assert_eq!(
            c.get("a").unwrap().version,
            4,
            "an old event changes nothing"
        );
        c.switch(false);
        assert!(c.get("a").is_none(), "emptied when NATS is gone");
    }
}
