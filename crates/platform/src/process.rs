//! What every motcua process does before starting its services, and after they stop: the same
//! for `motcua serve` and each service's own binary.

use crate::CancellationToken;
use crate::config::{EXIT_CONFIG, Settings};
use std::net::SocketAddr;

/// Settings from the environment; bad configuration exits 64 with the variable named.
pub fn settings_or_exit(program: &str) -> Settings {
    Settings::from_env().unwrap_or_else(|e| {
        eprintln!("{program}: {e}");
        std::process::exit(EXIT_CONFIG)
    })
}

/// A started process: the shutdown token (cancelled on SIGTERM / SIGINT) and where metrics are
/// served, if they are.
#[derive(Debug)]
pub struct Process {
    pub shutdown: CancellationToken,
    pub metrics_addr: Option<SocketAddr>,
}

/// Installs telemetry and the metrics recorder, serves `/metrics`, and listens for signals.
pub async fn begin(program: &str, settings: &Settings) -> anyhow::Result<Process> {
    crate::telemetry::init(program, settings)?;
    crate::metrics::install();
    let shutdown = crate::shutdown::on_signals();
    let metrics_addr = match settings.metrics_addr {
        Some(addr) => Some(crate::metrics::serve(addr, shutdown.clone().cancelled_owned()).await?),
        None => None,
    };
    Ok(Process {
        shutdown,
        metrics_addr,
    })
}

/// Flushes telemetry once the services have stopped.
pub fn end() {
    crate::telemetry::shutdown();
}
