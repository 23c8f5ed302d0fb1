//! What the benchmarks share with the end-to-end tests: the year simulator ([`sim`]), which the
//! top-level tests/ run in miniature and `motcua-bench sim` runs in full.

pub mod figures;
pub mod raw;
pub mod sim;

use std::time::Duration;

/// The value at quantile `q` (0..=1) of sorted samples (zero when there are none): what every
/// benchmark and the replay print as p50 and p99.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Waits (up to `within`) until the gRPC health service behind `channel` says SERVING; `what`
/// names the service in the error. A lazy channel may point at a process still starting.
pub async fn wait_ready(
    channel: tonic::transport::Channel,
    what: &str,
    within: Duration,
) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await;
        if status.is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!(
                "{what} did not become ready within {within:?} (are PostgreSQL and NATS running? deploy/deps.sh starts them)"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Events of `consumer`'s subjects on the dossiers stream not yet acknowledged by it (pending and
/// taken-but-unacknowledged), as JetStream counts them. Sample it, do not spin on it: asked every
/// 5 ms while the reporting benchmark ran, the projection measured slower (ratios 0.366 and 0.389
/// against 0.421 waiting on a row count instead).
pub async fn pending(bus: &motcua_platform::bus::Bus, consumer: &str) -> anyhow::Result<u64> {
    let stream = bus
        .js
        .get_stream(bus.stream_name(motcua_platform::bus::DOSSIERS))
        .await?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .get_consumer(consumer)
        .await
        .map_err(|e| anyhow::anyhow!("the consumer {consumer}: {e}"))?;
    let info = consumer.info().await?;
    Ok(info.num_pending + info.num_ack_pending as u64)
}
