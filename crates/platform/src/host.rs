//! The frame every service runs in: lazily connected PostgreSQL and NATS, a readiness task that
//! creates the database, applies migrations and the streams as soon as both answer, truthful health
//! (NOT_SERVING until then, and again whenever a dependency stops answering), reflection,
//! authentication, request limits, the outbox relay, consumers and graceful shutdown.
//!
//! The gRPC port is bound at once, so an orchestrator sees the process and its health from the
//! first second; service calls made before the dependencies are ready get UNAVAILABLE.

use crate::auth::{Caller, Verifier};
use crate::bus::Bus;
use crate::config::Settings;
use crate::consumer::{self, ConsumerSpec, Handler};
use crate::outbox::Relay;
use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::Router;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// Whether the host's dependencies are ready; cheap to clone and wait on.
#[derive(Debug, Clone)]
pub struct Readiness {
    flag: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Waits until ready.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_ready() {
                return;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }
}

#[derive(Debug)]
pub struct ServiceHost {
    pub name: &'static str,
    pub settings: Settings,
    pub pool: PgPool,
    pub bus: Bus,
    pub verifier: Verifier,
    ready: Arc<AtomicBool>,
    reporter: HealthReporter,
    health_service:
        tonic_health::pb::health_server::HealthServer<tonic_health::server::HealthService>,
    shutdown: CancellationToken,
    /// Cancelled after the gRPC server has drained, so the relay flushes what in-flight requests
    /// committed.
    background: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    ready_signal: Arc<tokio::sync::Notify>,
}

impl ServiceHost {
    /// Prepares the host; nothing here waits for PostgreSQL or NATS.
    pub async fn new(
        name: &'static str,
        settings: Settings,
        migrator: &'static Migrator,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let server =
            PgConnectOptions::from_str(&settings.database_url).context("MOTCUA_DATABASE_URL")?;
        let database = settings.database_name(name);
        let pool = PgPoolOptions::new()
            .max_connections(settings.database_max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(server.database(&database));
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
            settings,
            pool,
            bus,
            verifier,
            ready: Arc::new(AtomicBool::new(false)),
            reporter,
            health_service,
            background: CancellationToken::new(),
            shutdown,
            tasks: Vec::new(),
            ready_signal: Arc::new(tokio::sync::Notify::new()),
        };
        host.spawn_readiness(migrator);
        Ok(host)
    }

    fn spawn_readiness(&mut self, migrator: &'static Migrator) {
        let (settings, pool, bus, ready, reporter, name, shutdown, signal) = (
            self.settings.clone(),
            self.pool.clone(),
            self.bus.clone(),
            self.ready.clone(),
            self.reporter.clone(),
            self.name,
            self.shutdown.clone(),
            self.ready_signal.clone(),
        );
        let verifier = self.verifier.clone();
        self.tasks.push(tokio::spawn(
            self.verifier.clone().refresh_loop(self.shutdown.clone()),
        ));
        self.tasks.push(tokio::spawn(async move {
            // 1. Prepare: database, migrations, streams, retried until both dependencies answer.
            loop {
                let prepared = prepare(&settings, name, migrator, &bus, &verifier);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = prepared => match r {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(service = name, error = format!("{e:#}"), "dependencies not ready; retrying");
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            }
                        }
                    }
                }
            }
            // 2. Watch: SERVING while both answer.
            let mut serving = None;
            loop {
                let db_ok = tokio::time::timeout(Duration::from_secs(2), sqlx::query("SELECT 1").execute(&pool))
                    .await
                    .is_ok_and(|r| r.is_ok());
                let ok = db_ok && bus.is_connected();
                if serving != Some(ok) {
                    serving = Some(ok);
                    ready.store(ok, Ordering::SeqCst);
                    let status = if ok { ServingStatus::Serving } else { ServingStatus::NotServing };
                    reporter.set_service_status("", status).await;
                    reporter.set_service_status(format!("motcua.{name}.v1.{}Service", capitalise(name)), status).await;
                    tracing::info!(service = name, serving = ok, "health changed");
                    if ok {
                        signal.notify_waiters();
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }));
    }

    /// True once the database and streams are ready and both dependencies answer.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// A handle to wait for readiness (work that must not run before the migrations).
    pub fn readiness(&self) -> Readiness {
        Readiness {
            flag: self.ready.clone(),
            notify: self.ready_signal.clone(),
        }
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

    /// Readiness and authentication for every service call; the caller is stored in the
    /// request's extensions (see [`crate::auth::caller`]).
    pub fn interceptor(
        &self,
    ) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone + use<>
    {
        let ready = self.ready.clone();
        let verifier = self.verifier.clone();
        move |mut req: tonic::Request<()>| {
            if !ready.load(Ordering::SeqCst) {
                return Err(tonic::Status::unavailable(
                    "dịch vụ đang khởi động hoặc mất kết nối cơ sở dữ liệu / NATS (service not ready: PostgreSQL or NATS not answering)",
                ));
            }
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

    /// A gRPC router with health, reflection, the request timeout and tracing; add the service.
    pub fn router(&self) -> anyhow::Result<Router> {
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(motcua_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(motcua_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;
        Ok(Server::builder()
            .timeout(self.settings.request_timeout)
            .trace_fn(crate::telemetry::grpc_request_span)
            .add_service(self.health_service.clone())
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha))
    }

    /// Starts the outbox relay.
    pub fn spawn_relay(&mut self) {
        let relay = Relay::new(self.pool.clone(), self.bus.clone());
        let token = self.background.clone();
        let ready = self.ready_signal.clone();
        let is_ready = self.ready.clone();
        self.tasks.push(tokio::spawn(async move {
            // The relay needs the outbox table: wait for the migrations.
            while !is_ready.load(Ordering::SeqCst) {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = ready.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            relay.run(token).await;
        }));
    }

    /// Starts a consumer once the host is ready.
    pub fn spawn_consumer<H: Handler>(&mut self, spec: ConsumerSpec, handler: Arc<H>) {
        let (pool, bus, token, is_ready) = (
            self.pool.clone(),
            self.bus.clone(),
            self.background.clone(),
            self.ready.clone(),
        );
        self.tasks.push(tokio::spawn(async move {
            while !is_ready.load(Ordering::SeqCst) {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            loop {
                match consumer::run(pool.clone(), bus.clone(), spec.clone(), handler.clone(), token.clone()).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(consumer = %spec.name, error = ?e, "consumer stopped; restarting");
                        tokio::select! {
                            _ = token.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }));
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
    pub fn serve(self, router: Router, listener: TcpListener) -> Running {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let grace = self.settings.shutdown_grace;
        let name = self.name;
        let task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
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
        Running { addr, task }
    }
}

/// A served service: its address and the task that ends after shutdown.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub task: JoinHandle<()>,
}

/// Creates the database, applies the migrations and the streams, and fetches token keys when they
/// come from a JWKS URL. Run until it succeeds: everything in it is idempotent.
async fn prepare(
    settings: &Settings,
    name: &str,
    migrator: &'static Migrator,
    bus: &Bus,
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
    bus.ensure_streams().await?;
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
