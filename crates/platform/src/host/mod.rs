//! The frame every service runs in: lazily connected PostgreSQL and NATS, a readiness task that
//! creates the database and applies migrations as soon as PostgreSQL answers, truthful health
//! (NOT_SERVING until then, and again whenever PostgreSQL stops answering or a part fails), the
//! gRPC boundary, authentication, the outbox relay, consumers, durable jobs, an HTTP side for
//! services that have one, supervised background tasks and graceful shutdown.
//!
//! Readiness means "can serve" (DESIGN.md "Staying up"): a service whose database answers serves
//! while NATS is away. Writes go on into the outbox and are published, in order of their rows, when
//! the bus is back; reads go on from local data. That NATS is away, that publishing is behind and
//! that the streams are not yet made are health details (the metrics port's `/status`), with
//! `motcua_nats_connected`, `motcua_outbox_pending`, `motcua_outbox_oldest_pending_seconds` and
//! `motcua_outbox_relay_stalled`, never NOT_SERVING.
//!
//! The parts: `listeners` (gRPC and HTTP, serving until shutdown), `tasks` (the relay, consumers,
//! jobs, pruning, supervised tasks), `watch` (readiness); a service that ends unexpectedly is
//! handled by [`crate::supervise`].
//!
//! The gRPC port is bound at once, so an orchestrator sees the process and its health from the
//! first second; service calls made before the dependencies are ready get UNAVAILABLE.

use crate::auth::{Caller, Verifier};
use crate::boundary::{BoundaryConfig, BoundaryLayer, TextRules};
use crate::bus::Bus;
use crate::clock::SharedClock;
use crate::config::{ServiceSpec, Settings};
use crate::consumer::{self, ConsumerContext, ConsumerSpec, Handler};
use crate::jobs::{JobHandler, JobRunner};
use crate::limiter::PublicLimiter;
use crate::outbox::{OutboxWake, Relay, RelayHealth};
use crate::process::Process;
use crate::readiness::{Readiness, ReadinessSource};
use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, PgPool};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::layer::util::{Identity, Stack};

mod fault;
mod listeners;
pub mod rpc_metrics;
mod tasks;
mod watch;

pub use fault::Fault;
pub use tasks::housekeep;
use watch::Watch;

/// The gRPC router of a host, behind its boundary.
pub type GrpcRouter = Router<Stack<BoundaryLayer, Stack<rpc_metrics::RpcMetricsLayer, Identity>>>;

/// The gRPC services a host serves, named by their full protobuf names, and its text rules.
#[derive(Debug, Clone, Default)]
pub struct GrpcApi {
    /// Services that need a bearer token.
    pub private: Vec<&'static str>,
    /// Services anyone may call (rate limited per client).
    pub public: Vec<&'static str>,
    pub rules: TextRules,
    /// The encoded file descriptor set holding these services' contracts (the service's proto
    /// crate's `FILE_DESCRIPTOR_SET`): the boundary decodes requests by it, reflection lists it.
    pub contracts: &'static [u8],
}

#[derive(Debug)]
pub struct ServiceHost {
    pub name: &'static str,
    /// What the service declared: its name and default ports.
    service: ServiceSpec,
    pub settings: Settings,
    pub clock: SharedClock,
    /// Where the service's database is (its own URL, or `<prefix>_<service>` on the shared one).
    database: crate::db::Target,
    pub pool: PgPool,
    pub bus: Bus,
    pub verifier: Verifier,
    /// Writers of events commit with `outbox.commit(tx)` (or call `outbox.wake()` after their
    /// commit); consumers and job runners started here do it for their handlers.
    pub outbox: OutboxWake,
    readiness: ReadinessSource,
    relay_health: Option<RelayHealth>,
    limiter: PublicLimiter,
    refusal_page: Option<crate::http::RefusalPage>,
    reporter: HealthReporter,
    health_service:
        tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>,
    shutdown: CancellationToken,
    /// Cancelled after the gRPC server has drained, so the relay flushes what in-flight requests
    /// committed.
    background: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// Why the gRPC or HTTP server ended before shutdown was asked for (see `supervise`).
    fault: Fault,
    http_addr: Option<SocketAddr>,
    grpc_names: Vec<&'static str>,
}

impl ServiceHost {
    /// Prepares the host; nothing here waits for PostgreSQL or NATS.
    pub async fn new(
        service: ServiceSpec,
        process: &Process,
        migrator: &'static Migrator,
    ) -> anyhow::Result<Self> {
        let name = service.name;
        let settings = process.settings.clone();
        let database = crate::db::target(&settings, name)?;
        let pool = crate::db::pool_options(settings.database_max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(settings.database_idle)
            .connect_lazy_with(database.options());
        settings.refuse_unsafe_defaults()?;
        let bus = Bus::from_settings(&settings).await?;
        let verifier = Verifier::new(&settings.auth)?;
        let reporter = HealthReporter::new();
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(reporter.clone()),
        );
        let mut host = Self {
            name,
            service,
            limiter: PublicLimiter::new(&settings.public).with_verifier(verifier.clone()),
            refusal_page: None,
            clock: process.clock.clone(),
            settings,
            database,
            pool,
            bus,
            verifier,
            outbox: OutboxWake::default(),
            readiness: ReadinessSource::default(),
            relay_health: None,
            reporter,
            health_service,
            background: CancellationToken::new(),
            shutdown: process.shutdown.clone(),
            tasks: Vec::new(),
            fault: Fault::default(),
            http_addr: None,
            grpc_names: Vec::new(),
        };
        process.status.register(name, host.readiness.clone());
        if host.settings.uses_development_key() {
            host.readiness.note(
                "development-key",
                "tokens are checked with the public development key (MOTCUA_DEVELOPMENT=true): anyone can sign them; never in production".into(),
            );
            metrics::gauge!("motcua_development_key", "service" => name).set(1.0);
        }
        if host.settings.simulated_clock {
            host.readiness.note(
                "simulated-clock",
                "time is the year simulator's (MOTCUA_SIMULATED_CLOCK=true), not the wall clock's: never in production".into(),
            );
            metrics::gauge!("motcua_clock_simulated", "service" => name).set(1.0);
        }
        host.tasks.push(tokio::spawn(
            host.verifier.clone().refresh_loop(host.shutdown.clone()),
        ));
        host.spawn_readiness(migrator);
        host.spawn_housekeeping();
        host.spawn_job_gauges();
        Ok(host)
    }

    fn spawn_readiness(&mut self, migrator: &'static Migrator) {
        let watch = Watch {
            settings: self.settings.clone(),
            database: self.database.clone(),
            name: self.name,
            migrator,
            bus: self.bus.clone(),
            verifier: self.verifier.clone(),
            readiness: self.readiness.clone(),
            reporter: self.reporter.clone(),
            shutdown: self.shutdown.clone(),
        };
        self.tasks.push(tokio::spawn(watch.run()));
    }

    /// Declares the relay's health to readiness; the watcher reads it once the relay starts.
    fn relay_health(&mut self) -> RelayHealth {
        self.relay_health
            .get_or_insert_with(RelayHealth::default)
            .clone()
    }

    /// True once the database and streams are ready and every dependency answers.
    pub fn is_ready(&self) -> bool {
        self.readiness.is_ready()
    }

    /// A handle to wait for readiness (work that must not run before the migrations).
    pub fn readiness(&self) -> Readiness {
        self.readiness.handle()
    }

    /// Where a service's own task sets a health detail that does not stop it serving (shown in
    /// `/status` and the health RPC's details).
    pub fn health_details(&self) -> ReadinessSource {
        self.readiness.clone()
    }
}

/// A served service: its addresses and the task that ends after shutdown, with why the service
/// ended if nobody asked it to (see [`crate::supervise`]).
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub task: JoinHandle<Result<(), String>>,
}
