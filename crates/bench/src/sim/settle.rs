//! Waiting until the services have settled after a moment's acts: every outbox has published and
//! every consumer of the run's streams has handled all it was given, and no job is due (a timer,
//! a delivery whose quiet hours are over). Only then does the driver
//! move the time on, so that what a service does on an event happens at the moment the event
//! happened — as it does in real life, where the services lag by milliseconds, not by hours.

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use motcua_platform::bus::{Bus, CATALOG, DOSSIERS};
use sqlx::PgPool;
use std::time::Duration;

/// How long work in flight under a lease may take in wall time before the driver takes its holder
/// for dead: far above a send to the simulator's stand-in gateway.
const ORPHANED_LEASE: Duration = Duration::from_secs(10);

/// What is behind, and whether it is only leased work in flight.
#[derive(Debug)]
pub struct Lag {
    pub what: String,
    leases_only: bool,
}

impl Lag {
    fn leases(what: String) -> Self {
        Lag {
            what,
            leases_only: true,
        }
    }
}

impl From<String> for Lag {
    fn from(what: String) -> Self {
        Lag {
            what,
            leases_only: false,
        }
    }
}

#[derive(Debug)]
pub struct Settle {
    pub bus: Bus,
    /// Every service's database (their outboxes).
    pub pools: Vec<(&'static str, PgPool)>,
    /// Give up (an error) when the services have not settled within this long.
    pub within: Duration,
    /// How often each kind of lag was what the driver waited for (digits left out): the report
    /// says what bounds the run.
    pub waited_for: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Settle {
    /// Waits until nothing is behind at simulated time `now`. The whole check asks every
    /// database and stream; while one is behind, only that one is asked again until it has
    /// caught up (then the whole check once more): on a machine the services saturate, a poll of
    /// seven sources every millisecond would take CPU from the very work it waits for.
    pub async fn wait(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        let deadline = started + self.within;
        loop {
            // An error is a server restarting (the chaos run): behind, until the deadline.
            let (source, behind) = match self.behind(now).await {
                Ok(None) => return Ok(()),
                Ok(Some((source, lag))) => (Some(source), lag),
                Err(e) => (None, Lag::from(format!("{e:#}"))),
            };
            let mut lag = behind;
            loop {
                if lag.leases_only && started.elapsed() > ORPHANED_LEASE {
                    // Leases still held this long in wall time are a killed holder's (the
                    // chaos run): they end as leases do, when the time moves past them.
                    return Ok(());
                }
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!(
                        "the services did not settle within {:?}: {}",
                        self.within,
                        lag.what
                    )
                }
                *self
                    .waited_for
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(kind_of(&lag.what))
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
                let Some(source) = source else { break };
                match self.source_behind(source, now).await {
                    // Caught up, or only leases left there: ask everything again.
                    Ok(None) => break,
                    Ok(Some(l)) if l.leases_only => break,
                    Ok(Some(l)) => lag = l,
                    Err(e) => lag = Lag::from(format!("{e:#}")),
                }
            }
        }
    }

    /// The sources asked: each service's database, then each stream's consumers.
    fn sources(&self) -> usize {
        self.pools.len() + STREAMS.len()
    }

    /// What one source has behind, if anything.
    async fn source_behind(
        &self,
        source: usize,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Lag>> {
        match self.pools.get(source) {
            Some((service, pool)) => database_behind(service, pool, now).await,
            None => self.stream_behind(STREAMS[source - self.pools.len()]).await,
        }
    }

    /// What is still behind, if anything, and where: every database and stream asked at once.
    /// Leases in flight count only when nothing else is behind.
    pub async fn behind(&self, now: DateTime<Utc>) -> anyhow::Result<Option<(usize, Lag)>> {
        let found =
            futures::future::join_all((0..self.sources()).map(|s| self.source_behind(s, now)))
                .await;
        let mut leases = None;
        for (source, found) in found.into_iter().enumerate() {
            match found? {
                Some(lag) if lag.leases_only => leases = Some((source, lag)),
                Some(lag) => return Ok(Some((source, lag))),
                None => {}
            }
        }
        Ok(leases)
    }

    /// A consumer of `stream` with messages not yet handled, if any.
    async fn stream_behind(&self, stream: &str) -> anyhow::Result<Option<Lag>> {
        let s = self
            .bus
            .js
            .get_stream(self.bus.stream_name(stream))
            .await
            .with_context(|| format!("stream {stream}"))?;
        let mut consumers = s.consumers();
        while let Some(info) = consumers.next().await {
            let info = info.with_context(|| format!("consumers of {stream}"))?;
            if info.num_pending > 0 || info.num_ack_pending > 0 {
                return Ok(Some(Lag::from(format!(
                    "consumer {} has {} pending, {} unacknowledged",
                    info.name, info.num_pending, info.num_ack_pending
                ))));
            }
        }
        Ok(None)
    }
}

/// The streams whose consumers must have caught up.
const STREAMS: [&str; 2] = [DOSSIERS, CATALOG];

/// A service's outbox not yet published, its jobs due, or its leased jobs in flight.
async fn database_behind(
    service: &str,
    pool: &PgPool,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Lag>> {
    // A leased job (`motcua_jobs_lease`: attempts counted, no error, due again when its lease
    // ends) is work in flight, e.g. a message being sent: moving the time past its lease would
    // hand it to a second attempt while the first is still recording.
    let (outbox, due, leased): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL),
                (SELECT count(*) FROM jobs WHERE failed_at IS NULL AND run_at <= $1),
                (SELECT count(*) FROM jobs WHERE failed_at IS NULL AND run_at > $1
                    AND attempts > 0 AND last_error IS NULL)",
    )
    .bind(now)
    .fetch_one(pool)
    .await
    .with_context(|| format!("{service}'s outbox and jobs"))?;
    Ok(match (outbox, due, leased) {
        (0, 0, 0) => None,
        (0, 0, n) => Some(Lag::leases(format!(
            "{service} has {n} leased jobs in flight"
        ))),
        (0, due, _) => Some(Lag::from(format!("{service} has {due} jobs due"))),
        (n, _, _) => Some(Lag::from(format!("{service}'s outbox holds {n} events"))),
    })
}

/// What kind of wait a "behind" message names: each number replaced by `N`, so waits of one
/// kind count together ("workflow has N jobs due").
fn kind_of(what: &str) -> String {
    let mut kind = String::with_capacity(what.len());
    let mut in_number = false;
    for c in what.chars() {
        match (c.is_ascii_digit(), in_number) {
            (true, true) => {}
            (true, false) => kind.push('N'),
            (false, _) => kind.push(c),
        }
        in_number = c.is_ascii_digit();
    }
    kind
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wait_kind_keeps_its_words_and_names_each_count_n() {
        assert_eq!(
            super::kind_of("consumer x has 12 pending, 3 unacknowledged"),
            "consumer x has N pending, N unacknowledged"
        );
    }
}
