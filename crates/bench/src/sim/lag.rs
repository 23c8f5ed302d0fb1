//! Event-to-visible lag: how long after a service wrote an event (its outbox row, in the same
//! transaction as the change) a consumer had applied it (its `processed_events` row, in the same
//! transaction as the projection). Both times are the one PostgreSQL server's `now()` — each
//! transaction's start, so the figure leaves out the two commits — which makes the lag exact
//! across processes and databases without a clock of the simulator's own.

use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;

/// One consumer's lag over the run.
#[derive(Debug, Clone)]
pub struct ConsumerLag {
    pub service: &'static str,
    pub consumer: String,
    pub events: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// The lag of every consumer in the `readers` (lookup and reporting: what a citizen and a leader
/// see) over every event the run wrote to any outbox in `pools`.
pub async fn measure(
    pools: &[(&'static str, PgPool)],
    readers: &[&str],
) -> anyhow::Result<Vec<ConsumerLag>> {
    let mut written: HashMap<uuid::Uuid, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for (_, pool) in pools {
        let rows: Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)> =
            sqlx::query_as("SELECT id, created_at FROM outbox")
                .fetch_all(pool)
                .await?;
        written.extend(rows);
    }
    let mut out = Vec::new();
    for (service, pool) in pools.iter().filter(|(s, _)| readers.contains(s)) {
        let rows: Vec<(String, uuid::Uuid, chrono::DateTime<chrono::Utc>)> =
            sqlx::query_as("SELECT consumer, event_id, processed_at FROM processed_events")
                .fetch_all(pool)
                .await?;
        let mut by_consumer: std::collections::BTreeMap<String, Vec<Duration>> = Default::default();
        for (consumer, event, applied) in rows {
            // Events from outside the run's outboxes (none today) have nothing to measure from.
            if let Some(at) = written.get(&event) {
                let lag = (applied - *at).to_std().unwrap_or_default();
                by_consumer.entry(consumer).or_default().push(lag);
            }
        }
        for (consumer, mut lags) in by_consumer {
            lags.sort();
            out.push(ConsumerLag {
                service,
                consumer,
                events: lags.len(),
                p50: crate::quantile(&lags, 0.5),
                p99: crate::quantile(&lags, 0.99),
                max: crate::quantile(&lags, 1.0),
            });
        }
    }
    Ok(out)
}

/// One line per consumer.
pub fn render(lags: &[ConsumerLag]) -> String {
    lags.iter()
        .map(|l| {
            format!(
                "event to visible in {} ({}): {} events, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
                l.service,
                l.consumer,
                l.events,
                l.p50.as_secs_f64() * 1e3,
                l.p99.as_secs_f64() * 1e3,
                l.max.as_secs_f64() * 1e3
            )
        })
        .collect()
}
