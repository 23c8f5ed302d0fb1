//! What every motcua process does before starting its services, and after they stop: the same
//! for `motcua serve` and each service's own binary.

use crate::CancellationToken;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{ConfigError, EXIT_CONFIG, Settings, Vars};
use crate::readiness::StatusBoard;
use std::net::SocketAddr;

/// Parses settings with `parse`; bad configuration exits 64 with the variable named.
pub fn or_exit<T>(program: &str, parsed: Result<T, ConfigError>) -> T {
    parsed.unwrap_or_else(|e| {
        eprintln!("{program}: {e}");
        std::process::exit(EXIT_CONFIG)
    })
}

/// What a process gives the services it starts: the environment's variables (each service reads
/// its own settings from them), the platform's settings, the clock and the shutdown token.
#[derive(Debug, Clone)]
pub struct Process {
    pub vars: Vars,
    pub settings: Settings,
    pub clock: SharedClock,
    /// Cancelled on SIGTERM / SIGINT (or by a test).
    pub shutdown: CancellationToken,
    /// Where metrics are served, if they are.
    pub metrics_addr: Option<SocketAddr>,
    /// Every service's readiness and health details, as `GET /status` on the metrics port shows.
    pub status: StatusBoard,
}

impl Process {
    /// A process context without signals or metrics (tests, benchmarks).
    pub fn new(vars: Vars, clock: SharedClock) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: Settings::from_vars(&vars)?,
            vars,
            clock,
            shutdown: CancellationToken::new(),
            metrics_addr: None,
            status: StatusBoard::default(),
        })
    }
}

/// Installs telemetry and the metrics recorder, serves `/metrics`, and listens for signals.
/// Settings come from the environment and have been checked by the caller.
pub async fn begin(program: &str, vars: Vars, settings: Settings) -> anyhow::Result<Process> {
    if let Err(e) = settings.refuse_unsafe_defaults() {
        eprintln!("{program}: {e}");
        std::process::exit(EXIT_CONFIG);
    }
    crate::telemetry::init(program, &settings)?;
    crate::metrics::install();
    crate::client::install_crypto();
    let shutdown = crate::shutdown::on_signals();
    let status = StatusBoard::default();
    let metrics_addr = match settings.metrics_addr {
        Some(addr) => Some(
            crate::metrics::serve(addr, status.clone(), shutdown.clone().cancelled_owned()).await?,
        ),
        None => None,
    };
    if settings.uses_development_key() {
        tracing::warn!(
            "MOTCUA_DEVELOPMENT: tokens are checked with the public development key; set MOTCUA_JWT_JWKS_URL (or MOTCUA_JWT_SECRET) in production"
        );
    }
    let clock: SharedClock = if settings.simulated_clock {
        tracing::warn!(
            "MOTCUA_SIMULATED_CLOCK: time is the simulator's, read from NATS; never in production"
        );
        let bus = crate::bus::Bus::from_settings(&settings).await?;
        crate::clock::SimulatedClock::join(&bus, shutdown.clone()).await?
    } else {
        SystemClock::shared()
    };
    Ok(Process {
        vars,
        settings,
        clock,
        shutdown,
        metrics_addr,
        status,
    })
}

/// Flushes telemetry once the services have stopped.
pub fn end() {
    crate::telemetry::shutdown();
}
