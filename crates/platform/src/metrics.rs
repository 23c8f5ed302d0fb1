//! Prometheus metrics: one recorder per process, served at `GET /metrics`.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
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
