//! Recently read dossier rows, kept in each replica's memory and dropped the moment lookup
//! commits a newer revision of them.
//!
//! On results days the same dossiers are looked up again and again (a page reloaded, the QR code
//! scanned, an SMS asked). A row read from the database is kept here. Every write of a row counts
//! up its revision and, in the same transaction, announces it with NOTIFY (delivered at commit:
//! [`crate::consume::CHANGED`]); every replica LISTENs, records the newest revision announced per
//! code, and drops a kept row that is older. A row read from the database is kept only if no newer
//! revision has been announced meanwhile, so once a change is committed no replica answers from
//! an older row — however far behind the consumer was, since the announcement is its commit.
//!
//! What could still leave a row stale is a lost announcement: the LISTEN connection broke. So the
//! cache is emptied and off until LISTEN is back, and a row is kept at most [`TTL`] whatever
//! happens. `motcua lookup rebuild` announces a reset when it swaps the tables.
//!
//! Who may see a row is checked the same way whether it came from here or from the database
//! (see [`crate::queries::Queries::dossier`]), and a wrong secret always goes on to the database,
//! so a kept row tells nothing about which codes exist.

use crate::store::Row;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Longest a row is kept.
pub const TTL: Duration = Duration::from_secs(30);
/// How long an announced revision is remembered: far longer than any read can take.
const FENCE_TTL: Duration = Duration::from_secs(120);
/// The announcement that drops every kept row (a rebuilt model swapped in).
pub const RESET: &str = "reset";

#[derive(Clone)]
pub struct Cache {
    rows: moka::sync::Cache<String, Arc<Row>>,
    /// The newest revision announced per code.
    announced: moka::sync::Cache<String, i64>,
    on: Arc<AtomicBool>,
    /// Counts resets and reconnections: a read that began before one is not kept.
    epoch: Arc<AtomicU64>,
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
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Take before reading a row from the database; hand back to [`Cache::offer`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, code: &str) -> Option<Arc<Row>> {
        if !self.on.load(Ordering::Acquire) {
            return None;
        }
        self.rows.get(code)
    }

    /// Keeps a row just read (the read began at `epoch`), unless a newer revision has been
    /// announced or the cache was reset since.
    pub fn offer(&self, code: &str, row: Row, epoch: u64) {
        if !self.on.load(Ordering::Acquire) || self.epoch() != epoch {
            return;
        }
        let revision = row.revision;
        if self.announced.get(code).is_some_and(|r| r > revision) {
            return;
        }
        self.rows.insert(code.to_owned(), Arc::new(row));
        // An announcement or a reset between the checks and the insert may have missed this row.
        if self.epoch() != epoch || self.announced.get(code).is_some_and(|r| r > revision) {
            self.rows.invalidate(code);
        }
    }

    /// Lookup committed revision `revision` of `code`'s row.
    pub fn announce(&self, code: &str, revision: i64) {
        let newest = self
            .announced
            .get(code)
            .map_or(revision, |r| r.max(revision));
        self.announced.insert(code.to_owned(), newest);
        if self.rows.get(code).is_some_and(|r| r.revision < newest) {
            self.rows.invalidate(code);
        }
    }

    fn switch(&self, on: bool) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if !on {
            self.on.store(false, Ordering::Release);
            self.rows.invalidate_all();
        } else {
            self.on.store(true, Ordering::Release);
        }
    }

    fn heard(&self, payload: &str) {
        if payload == RESET {
            self.switch(false);
            self.switch(true);
            return;
        }
        if let Some((revision, code)) = payload.split_once(' ')
            && let Ok(revision) = revision.parse()
        {
            self.announce(code, revision);
        }
    }

    /// Listens for committed changes and keeps the cache honest until `stop`: on while LISTEN
    /// runs, emptied and off otherwise.
    pub async fn follow(
        self,
        pool: PgPool,
        ready: motcua_platform::readiness::Readiness,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            self.switch(false);
            // The database exists and is migrated once the host is ready.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ready.wait() => {}
            }
            let mut listener = match motcua_platform::db::listener(&pool, crate::consume::CHANGED)
                .await
            {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!(error = %e, "lookup cache: cannot LISTEN yet; reading the database only");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            self.switch(true);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    heard = listener.try_recv() => match heard {
                        Ok(Some(n)) => self.heard(n.payload()),
                        // The connection broke: what was announced meanwhile is lost.
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            tracing::warn!("lookup cache: LISTEN connection lost; emptied until it is back");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::StoredSecrets;

    fn row(revision: i64) -> Row {
        Row {
            version: revision as u64,
            revision,
            view: vec![revision as u8],
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
        c.offer("a", row(1), c.epoch());
        assert!(c.get("a").is_none(), "off until LISTEN runs");
        c.switch(true);
        c.offer("a", row(3), c.epoch());
        assert_eq!(c.get("a").unwrap().revision, 3);
        c.announce("a", 4);
        assert!(c.get("a").is_none(), "revision 4 announced: 3 is stale");
        c.offer("a", row(3), c.epoch());
        assert!(
            c.get("a").is_none(),
            "a read that began before the event is not kept"
        );
        c.offer("a", row(4), c.epoch());
        assert_eq!(c.get("a").unwrap().revision, 4);
        c.announce("a", 2);
        assert_eq!(
            c.get("a").unwrap().version,
            4,
            "an old event changes nothing"
        );
        c.switch(false);
        assert!(c.get("a").is_none(), "emptied when LISTEN is gone");
    }
}
