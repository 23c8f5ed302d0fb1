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
//! The gRPC port is bound at once, so an orchestrator sees the process and its health from the
//! first second; service calls made before the dependencies are ready get UNAVAILABLE.

use crate::auth::{Caller, Verifier};
use crate::boundary::{BoundaryConfig, BoundaryLayer, TextRules};
use crate::bus::Bus;
use crate::clock::SharedClock;
use crate::config::Settings;
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

/// The gRPC router of a host, behind its boundary.
pub type GrpcRouter = Router<Stack<BoundaryLayer, Identity>>;

/// The gRPC services a host serves, named by their full protobuf names, and its text rules.
#[derive(Debug, Clone, Default)]
pub struct GrpcApi {
    /// Services that need a bearer token.
    pub private: Vec<&'static str>,
    /// Services anyone may call (rate limited per client).
    pub public: Vec<&'static str>,
    pub rules: TextRules,
}

#[derive(Debug)]
pub struct ServiceHost {
    pub name: &'static str,
    pub settings: Settings,
    pub clock: SharedClock,
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
    http_addr: Option<SocketAddr>,
    grpc_names: Vec<&'static str>,
}

impl ServiceHost {
    /// Prepares the host; nothing here waits for PostgreSQL or NATS.
    pub async fn new(
        name: &'static str,
        process: &Process,
        migrator: &'static Migrator,
    ) -> anyhow::Result<Self> {
        let settings = process.settings.clone();
        let server = crate::db::options(&settings.database_url)?;
        let database = settings.database_name(name);
        let pool = crate::db::pool_options(settings.database_max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(settings.database_idle)
            .connect_lazy_with(server.database(&database));
        settings.refuse_unsafe_defaults()?;
        let bus = Bus::connect(&settings.nats_url, &settings.bus_prefix).await?;
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
            limiter: PublicLimiter::new(&settings.public).with_verifier(verifier.clone()),
            refusal_page: None,
            clock: process.clock.clone(),
            settings,
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
        host.tasks.push(tokio::spawn(
            host.verifier.clone().refresh_loop(host.shutdown.clone()),
        ));
        host.spawn_readiness(migrator);
        host.spawn_housekeeping();
        Ok(host)
    }

    fn spawn_readiness(&mut self, migrator: &'static Migrator) {
        let watch = Watch {
            settings: self.settings.clone(),
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

    /// Spawns a task that ends with the host (stopped after the gRPC server drains).
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let token = self.background.clone();
        self.tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = task => {}
            }
        }));
    }

    /// Spawns a long-running task that is restarted if it panics. A panic is logged as an error,
    /// counted in `motcua_task_panics_total`, and keeps the host NOT_SERVING until the restarted
    /// task has run for a few seconds: a task that keeps dying is an outage, not a footnote.
    pub fn spawn_supervised<F, Fut>(&mut self, task: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let token = self.background.clone();
        let readiness = self.readiness.clone();
        let service = self.name;
        self.tasks.push(tokio::spawn(async move {
            loop {
                let mut run = tokio::spawn(make());
                let settled = async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    readiness.clear(task);
                    futures::future::pending::<()>().await
                };
                let ended = tokio::select! {
                    // Shutting down: the task sees the same token and finishes its work (the relay
                    // flushes); the host bounds the wait by the grace period.
                    _ = token.cancelled() => { let _ = run.await; return }
                    ended = &mut run => ended,
                    _ = settled => unreachable!("settled never ends"),
                };
                match ended {
                    Ok(()) => return,
                    Err(e) if e.is_panic() => {
                        let why = e
                            .into_panic()
                            .downcast::<String>()
                            .map(|s| *s)
                            .or_else(|p| p.downcast::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_else(|_| "(no message)".into());
                        tracing::error!(service, task, panic = %why, "background task panicked; restarting it");
                        metrics::counter!("motcua_task_panics_total", "service" => service, "task" => task)
                            .increment(1);
                        readiness.report(task, format!("panicked: {why}"));
                    }
                    Err(_) => return,
                }
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }));
    }

    /// Readiness, authentication for private services and the caller in the request's extensions
    /// (see [`crate::auth::caller`]).
    pub fn interceptor(
        &self,
    ) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone + use<>
    {
        let readiness = self.readiness();
        let verifier = self.verifier.clone();
        move |mut req: tonic::Request<()>| {
            ready_or_unavailable(&readiness)?;
            let header = req
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            let caller: Caller = verifier
                .verify_header(header)
                .map_err(tonic::Status::from)?;
            req.extensions_mut().insert(caller);
            Ok(req)
        }
    }

    /// Readiness only, for public services (their rate limit is at the boundary).
    pub fn public_interceptor(
        &self,
    ) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone + use<>
    {
        let readiness = self.readiness();
        move |req: tonic::Request<()>| {
            ready_or_unavailable(&readiness)?;
            Ok(req)
        }
    }

    /// A gRPC router with the boundary, health, reflection of exactly the services served, the
    /// request timeout and tracing; add the services with the interceptors above.
    pub fn router(&mut self, api: GrpcApi) -> anyhow::Result<GrpcRouter> {
        let names: Vec<&'static str> = api.private.iter().chain(&api.public).copied().collect();
        self.grpc_names = names.clone();
        // Reflection lists exactly what this port serves, not every contract compiled in.
        let mut v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(motcua_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection");
        let mut v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(motcua_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        for n in &names {
            v1 = v1.with_service_name(*n);
            v1alpha = v1alpha.with_service_name(*n);
        }
        let limits = &self.settings.limits;
        let boundary = BoundaryLayer::new(BoundaryConfig {
            services: names.iter().map(|s| (*s).to_owned()).collect(),
            public: api.public.iter().map(|s| (*s).to_owned()).collect(),
            rules: api.rules,
            max_message_bytes: limits.max_message_bytes,
            max_in_flight: limits.max_in_flight,
            memory_bytes: limits.request_memory_bytes,
            limiter: self.limiter.clone(),
        });
        Ok(Server::builder()
            .timeout(limits.request_timeout)
            .trace_fn(crate::telemetry::grpc_request_span)
            .layer(boundary)
            .add_service(self.health_service.clone())
            .add_service(v1.build_v1()?)
            .add_service(v1alpha.build_v1alpha()?))
    }

    /// Starts the outbox relay (supervised; its health counts in readiness).
    pub fn spawn_relay(&mut self) {
        let relay = Relay::new(self.pool.clone(), self.bus.clone())
            .with_streams(self.settings.retention.clone())
            .with_health(self.relay_health())
            .with_wake(self.outbox.clone());
        let token = self.background.clone();
        let ready = self.readiness();
        self.spawn_supervised("outbox-relay", move || {
            let (relay, token, ready) = (relay.clone(), token.clone(), ready.clone());
            async move {
                // The relay needs the outbox table: wait for the migrations.
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = ready.wait() => {}
                }
                relay.run(token).await;
            }
        });
        self.watch_relay();
    }

    /// Turns a relay that has failed to publish for MOTCUA_RELAY_STALL_SECS into a health detail
    /// ("publishing is behind") and a metric, and back when it catches up. Not a readiness
    /// problem: the service serves from its database, and the events wait in the outbox.
    fn watch_relay(&mut self) {
        let Some(health) = self.relay_health.clone() else {
            return;
        };
        let (readiness, stall, token) = (
            self.readiness.clone(),
            self.settings.relay_stall,
            self.background.clone(),
        );
        self.spawn(async move {
            loop {
                match health.failing() {
                    Some((for_how_long, why)) if for_how_long >= stall => {
                        metrics::gauge!("motcua_outbox_relay_stalled").set(1.0);
                        readiness.note(
                            "publishing-behind",
                            format!(
                                "events wait in the outbox: none published for {}s ({why})",
                                for_how_long.as_secs()
                            ),
                        );
                    }
                    _ => {
                        metrics::gauge!("motcua_outbox_relay_stalled").set(0.0);
                        readiness.unnote("publishing-behind");
                    }
                }
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        });
    }

    /// Starts a consumer once the host is ready; it pauses while the host is not.
    pub fn spawn_consumer<H: Handler>(&mut self, spec: ConsumerSpec, handler: Arc<H>) {
        let ctx = ConsumerContext {
            pool: self.pool.clone(),
            bus: self.bus.clone(),
            readiness: self.readiness(),
            outbox: self.outbox.clone(),
        };
        let token = self.background.clone();
        let name = spec.name.clone();
        self.spawn_supervised("consumer", move || {
            let (ctx, spec, handler, token) =
                (ctx.clone(), spec.clone(), handler.clone(), token.clone());
            async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = ctx.readiness.wait() => {}
                    }
                    match consumer::run(ctx.clone(), spec.clone(), handler.clone(), token.clone()).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::error!(consumer = %spec.name, error = format!("{e:#}"), "consumer stopped; starting it again");
                            tokio::select! {
                                _ = token.cancelled() => return,
                                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            }
                        }
                    }
                }
            }
        });
        tracing::debug!(consumer = %name, "consumer scheduled");
    }

    /// Starts a runner of the durable jobs of `queue` once the host is ready.
    pub fn spawn_jobs<H: JobHandler>(&mut self, runner: JobRunner, handler: Arc<H>) {
        let runner = runner.with_wake(self.outbox.clone());
        let token = self.background.clone();
        let ready = self.readiness();
        self.spawn_supervised("jobs", move || {
            let (runner, handler, token, ready) = (
                runner.clone(),
                handler.clone(),
                token.clone(),
                ready.clone(),
            );
            async move {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = ready.wait() => {}
                }
                runner.run(handler, token).await;
            }
        });
    }

    /// Prunes the service's own tables past their retention every hour of the service's clock
    /// (its registry, see [`crate::retention`]), once the migrations have run.
    pub fn spawn_retention(
        &mut self,
        tables: &'static [crate::retention::Kept],
        vars: &crate::config::Vars,
    ) {
        let (pool, clock, ready, vars) = (
            self.pool.clone(),
            self.clock.clone(),
            self.readiness(),
            vars.clone(),
        );
        let token = self.background.clone();
        self.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = ready.wait() => {}
            }
            crate::retention::prune_hourly(pool, clock, tables, vars, token).await;
        });
    }

    /// Prunes what is kept only for a while, every hour: see [`housekeep`].
    fn spawn_housekeeping(&mut self) {
        let (pool, retention, limiter, ready, token) = (
            self.pool.clone(),
            self.settings.retention.clone(),
            self.limiter.clone(),
            self.readiness(),
            self.background.clone(),
        );
        self.spawn_supervised("housekeeping", move || {
            let (pool, retention, limiter, ready, token) = (
                pool.clone(),
                retention.clone(),
                limiter.clone(),
                ready.clone(),
                token.clone(),
            );
            async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = ready.wait() => {}
                    }
                    match housekeep(&pool, &retention).await {
                        Ok(rows) => tracing::debug!(rows, "housekeeping: pruned"),
                        Err(e) => {
                            tracing::warn!(error = %e, "housekeeping failed; next hour again")
                        }
                    }
                    limiter.forget_idle();
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    }
                }
            }
        });
    }

    /// Serves the HTTP side on MOTCUA_<SERVICE>_HTTP_ADDR: health, readiness, the service's public
    /// routes (rate limited, with security headers) and its authenticated routes (bearer token).
    pub async fn serve_http(
        &mut self,
        public: axum::Router,
        authenticated: axum::Router,
    ) -> anyhow::Result<SocketAddr> {
        self.serve_http_with(public, authenticated, axum::Router::new())
            .await
    }

    /// [`Self::serve_http`] with routes that check their caller themselves (see
    /// [`crate::http::HttpSide::self_authenticated`]).
    pub async fn serve_http_with(
        &mut self,
        public: axum::Router,
        authenticated: axum::Router,
        self_authenticated: axum::Router,
    ) -> anyhow::Result<SocketAddr> {
        let addr = self.settings.http_addr(self.name);
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {} HTTP address {addr}", self.name))?;
        let bound = listener.local_addr()?;
        let app = crate::http::router(crate::http::HttpSide {
            service: self.name,
            readiness: self.readiness.clone(),
            limiter: self.limiter.clone(),
            verifier: self.verifier.clone(),
            max_in_flight: self.settings.limits.max_in_flight,
            public,
            authenticated,
            self_authenticated,
            refusal_page: self.refusal_page,
        });
        let stop = self.shutdown.clone();
        let name = self.name;
        self.tasks.push(tokio::spawn(async move {
            let served = axum::serve(
                crate::accept::http(listener),
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
            if let Err(e) = served {
                tracing::error!(service = name, error = %e, "HTTP server failed");
            }
        }));
        self.http_addr = Some(bound);
        Ok(bound)
    }

    /// How the service's pages show the HTTP side's 429 and 503 (call before serving HTTP).
    pub fn set_refusal_page(&mut self, page: crate::http::RefusalPage) {
        self.refusal_page = Some(page);
    }

    /// Binds the service's gRPC address (port 0 picks a free one).
    pub async fn bind(&self) -> anyhow::Result<TcpListener> {
        let addr = self.settings.grpc_addr(self.name);
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {} gRPC address {addr}", self.name))
    }

    /// Serves until shutdown: stops accepting, lets in-flight calls finish within the grace
    /// period, then flushes the outbox relay and stops the background tasks.
    pub fn serve(self, router: GrpcRouter, listener: TcpListener) -> Running {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let grace = self.settings.shutdown_grace;
        let name = self.name;
        let http_addr = self.http_addr;
        let task = tokio::spawn(async move {
            let incoming = crate::accept::grpc(listener);
            let shutdown = self.shutdown.clone();
            let serve =
                router.serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
            let deadline = async {
                shutdown.cancelled().await;
                tokio::time::sleep(grace).await;
            };
            tokio::select! {
                r = serve => if let Err(e) = r { tracing::error!(service = name, error = %e, "gRPC server failed") },
                _ = deadline => tracing::warn!(service = name, "grace period over; dropping remaining calls"),
            }
            self.background.cancel();
            let wait_all = futures::future::join_all(self.tasks);
            if tokio::time::timeout(grace, wait_all).await.is_err() {
                tracing::warn!(
                    service = name,
                    "background tasks did not stop within the grace period"
                );
            }
            tracing::info!(service = name, "stopped");
        });
        Running {
            addr,
            http_addr,
            task,
        }
    }
}

fn ready_or_unavailable(readiness: &Readiness) -> Result<(), tonic::Status> {
    if readiness.is_ready() {
        Ok(())
    } else {
        Err(tonic::Status::unavailable(
            "dịch vụ đang khởi động hoặc mất kết nối cơ sở dữ liệu / NATS (service not ready: PostgreSQL or NATS not answering)",
        ))
    }
}

/// A served service: its addresses and the task that ends after shutdown.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub task: JoinHandle<()>,
}

/// The readiness watcher: prepares the dependencies, then checks them every second.
struct Watch {
    settings: Settings,
    name: &'static str,
    migrator: &'static Migrator,
    bus: Bus,
    verifier: Verifier,
    readiness: ReadinessSource,
    reporter: HealthReporter,
    shutdown: CancellationToken,
}

impl Watch {
    async fn run(self) {
        // 1. Prepare: database, migrations, streams, token keys; retried until all answer.
        loop {
            let prepared = prepare(&self.settings, self.name, self.migrator, &self.verifier);
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                r = prepared => match r {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(service = self.name, error = format!("{e:#}"), "dependencies not ready; retrying");
                        tokio::select! {
                            _ = self.shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
        // 2. Watch: SERVING while the database answers and no part has failed. PostgreSQL is
        // pinged over a connection of the watcher's own, so a pool saturated by load is not
        // mistaken for a database that is down. NATS away is a health detail, not a problem: the
        // service goes on serving from its database (see the module comment).
        let mut probe: Option<PgConnection> = None;
        let mut serving = None;
        let mut streams_made = false;
        let mut connections = ConnectionWatch::default();
        loop {
            connections.check(&self).await;
            let mut problems = Vec::new();
            if !self.database_answers(&mut probe).await {
                problems.push("PostgreSQL is not answering".to_owned());
            }
            let connected = self.bus.is_connected();
            metrics::gauge!("motcua_nats_connected", "service" => self.name).set(if connected {
                1.0
            } else {
                0.0
            });
            if connected {
                self.readiness.unnote("nats");
            } else {
                self.readiness.note(
                    "nats",
                    "NATS is not connected: writes wait in the outbox, data read may be behind"
                        .into(),
                );
            }
            if connected && !streams_made {
                match self.bus.ensure_streams(&self.settings.retention).await {
                    Ok(()) => {
                        streams_made = true;
                        self.readiness.unnote("streams");
                    }
                    Err(e) => self
                        .readiness
                        .note("streams", format!("streams not made yet: {e:#}")),
                }
            }
            problems.extend(self.readiness.reported());
            let ok = problems.is_empty();
            self.readiness.set(problems.clone());
            if serving != Some(ok) {
                serving = Some(ok);
                let status = if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                self.reporter.set_service_status("", status).await;
                self.reporter
                    .set_service_status(
                        format!("motcua.{}.v1.{}Service", self.name, capitalise(self.name)),
                        status,
                    )
                    .await;
                tracing::info!(service = self.name, serving = ok, why = %problems.join("; "), "health changed");
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn database_answers(&self, probe: &mut Option<PgConnection>) -> bool {
        if probe.is_none() {
            let options = crate::db::options(&self.settings.database_url)
                .map(|o| o.database(&self.settings.database_name(self.name)));
            if let Ok(options) = options {
                *probe = tokio::time::timeout(
                    Duration::from_secs(5),
                    PgConnection::connect_with(&options),
                )
                .await
                .ok()
                .and_then(Result::ok);
            }
        }
        let Some(conn) = probe.as_mut() else {
            return false;
        };
        let answered = tokio::time::timeout(Duration::from_secs(5), conn.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        if !answered {
            *probe = None;
        }
        answered
    }
}

/// Tells an operator why calls found no database connection: when a pool of this process timed
/// out, one fresh connection is tried, and the health detail `postgres-connections` says whether
/// PostgreSQL refused it (too many clients: the server's max_connections or the role's limit) or
/// every pooled connection was busy. The detail goes a minute after the last timeout.
#[derive(Default)]
struct ConnectionWatch {
    timeouts_seen: u64,
    last: Option<tokio::time::Instant>,
}

impl ConnectionWatch {
    async fn check(&mut self, w: &Watch) {
        let now = crate::db::POOL_TIMEOUTS.load(std::sync::atomic::Ordering::Relaxed);
        if now > self.timeouts_seen {
            self.timeouts_seen = now;
            self.last = Some(tokio::time::Instant::now());
            let options = crate::db::options(&w.settings.database_url)
                .map(|o| o.database(&w.settings.database_name(w.name)));
            let what = match options {
                Ok(o) => match crate::db::refusal(&o).await {
                    Some(why) => {
                        tracing::error!(service = w.name, refusal = %why, "PostgreSQL refuses new connections; calls wait for a pooled one and time out");
                        format!(
                            "PostgreSQL refuses new connections ({why}): raise the server's max_connections (or the role's limit), lower MOTCUA_DATABASE_MAX_CONNECTIONS ({}), or put a pooler in front",
                            w.settings.database_max_connections
                        )
                    }
                    None => format!(
                        "every pooled connection ({}) was busy longer than 5 s: the database is slow or the pool small",
                        w.settings.database_max_connections
                    ),
                },
                Err(e) => format!("{e:#}"),
            };
            w.readiness.note("postgres-connections", what);
        } else if self
            .last
            .is_some_and(|at| at.elapsed() > Duration::from_secs(60))
        {
            self.last = None;
            w.readiness.unnote("postgres-connections");
        }
    }
}

/// Creates the database, applies the migrations, and fetches token keys when they come from a
/// JWKS URL. Run until it succeeds: everything in it is idempotent.
async fn prepare(
    settings: &Settings,
    name: &str,
    migrator: &'static Migrator,
    verifier: &Verifier,
) -> anyhow::Result<()> {
    let prepared = crate::db::connect(
        &settings.database_url,
        &settings.database_name(name),
        1,
        migrator,
    )
    .await?;
    prepared.close().await;
    // The streams are not waited for: NATS away must not keep a service from serving. The watcher
    // makes them once NATS answers; the relay remakes a missing one before it publishes.
    if verifier.needs_fetch() {
        verifier
            .fetch()
            .await
            .context("fetching token keys (MOTCUA_JWT_JWKS_URL)")?;
    }
    Ok(())
}

fn capitalise(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Prunes the platform's tables ([`crate::retention::PLATFORM`]) past their retention, in real
/// time (PostgreSQL's clock: bookkeeping, not the rules' time): published outbox rows, processed
/// event ids, failures of events that never came back, and jobs that failed for good. Returns
/// how many rows went.
pub async fn housekeep(pool: &PgPool, retention: &crate::config::Retention) -> sqlx::Result<u64> {
    let outbox = crate::outbox::prune(pool, retention.published_outbox).await?;
    let processed = consumer::prune(pool, retention.processed_events).await?;
    let failures =
        sqlx::query("DELETE FROM consumer_failures WHERE last_failed_at < now() - $1::interval")
            .bind(retention.processed_events)
            .execute(pool)
            .await?
            .rows_affected();
    let jobs = sqlx::query("DELETE FROM jobs WHERE failed_at < now() - $1::interval")
        .bind(retention.failed_jobs)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(outbox + processed + failures + jobs)
}
