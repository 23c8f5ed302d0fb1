//! Prometheus metrics: one recorder per process, served at `GET /metrics`.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets of gRPC calls, in seconds: histograms, not per-pod summaries, so Prometheus can
/// add the replicas up and take a province-wide p99.
const RPC_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("motcua_grpc_request_duration_seconds".to_owned()),
            RPC_BUCKETS,
        )
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        builder()
            .install_recorder()
            .unwrap_or_else(|_| builder().build_recorder().handle())
    })
}

/// Installs the recorder (idempotent) so that `metrics::counter!` and friends record.
pub fn install() {
    handle();
}

/// The metrics as `/metrics` shows them (benchmarks read the services' counters here).
pub fn render() -> String {
    handle().render()
}

/// A counter's value in [`render`]'s text (`name{labels}` as written there), 0 when absent.
pub fn counter_value(rendered: &str, series: &str) -> f64 {
    rendered
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Serves `/metrics` and `/status` (every service's readiness and health details, as JSON) until
/// `shutdown` resolves; returns the bound address. This port is for operators and the scraper,
/// never public.
pub async fn serve(
    addr: SocketAddr,
    status: crate::readiness::StatusBoard,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<SocketAddr> {
    let handle = handle().clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || async move { handle.render() }),
        )
        .route(
            "/status",
            axum::routing::get(move || async move { axum::Json(status.render()) }),
        );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(crate::accept::http(listener), app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "metrics server stopped");
        }
    });
    Ok(bound)
}
