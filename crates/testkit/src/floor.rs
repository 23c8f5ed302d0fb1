//! The test floor every service's tests stand on: one test's settings, clock, bus, databases and
//! streams, and any set of the five services started in this process on port 0.
//!
//! A [`Floor`] gives a test a fresh id (its databases `t_<id>_<service>`, its stream prefix
//! `t<id>.`), a [`ManualClock`] the test moves (a working Monday morning unless it says otherwise),
//! and [`Floor::start`] for each service it needs, wired to the ones already running (workflow and
//! notification ask intake and lookup where they listen). [`Floor::stop`] stops the services and
//! removes the databases, streams and attachment files; a test that fails before `stop` has them
//! removed by the floor's [`Scratch`] when it is dropped.

use crate::scratch::Scratch;
use crate::wait_serving;
use chrono::{DateTime, Utc};
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::{Settings, Vars};
use motcua_platform::host::Running;
use motcua_platform::process::Process;
use motcua_platform::{Clock, ManualClock};
use sqlx::PgPool;
use sqlx::pool::PoolOptions;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The tests' agency: the provincial Department of Natural Resources and Environment.
pub const AGENCY: &str = "000.00.06.H56";

/// The department of the agency that handles land records.
pub const LAND_DEPARTMENT: &str = "van-phong-dang-ky-dat-dai";

/// Connections of a test's own pool on a service's database ([`Floor::pool`]).
pub const TEST_POOL_CONNECTIONS: u32 = 4;

/// Where every test's clock starts unless it says otherwise: Monday 2 March 2026, 09:00 in
/// Vietnam, a working morning.
pub fn start_time() -> DateTime<Utc> {
    vn("2026-03-02T09:00:00")
}

/// A local time in Vietnam (`2026-03-02T09:00:00`), as UTC.
pub fn vn(local: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{local}+07:00"))
        .unwrap_or_else(|e| panic!("{local}: {e}"))
        .with_timezone(&Utc)
}

/// The catalog the project ships (deploy/catalog/tnmt.toml).
pub fn catalog_file() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/catalog/tnmt.toml"
    )
}

/// Where the test with this id keeps attachments (removed by [`Floor::stop`] and on drop).
pub fn attachments_dir(id: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("motcua-test-{id}"))
}

/// The settings every test starts from: its own databases and streams, development mode (the
/// development token key), no metrics listener, the shipped catalog, small streams (JetStream
/// reserves max_bytes up front and tests make many), public rate limits no test reaches unless it
/// lowers them, and a short shutdown grace.
pub fn floor_vars(id: &str) -> Vars {
    Vars::from_pairs([
        ("MOTCUA_DATABASE_PREFIX", format!("t_{id}")),
        ("MOTCUA_DEVELOPMENT", "true".to_owned()),
        ("MOTCUA_BUS_PREFIX", format!("t{id}.")),
        ("MOTCUA_METRICS_ADDR", "off".to_owned()),
        ("MOTCUA_CATALOG_FILE", catalog_file().to_owned()),
        (
            "MOTCUA_ATTACHMENTS_DIR",
            attachments_dir(id).display().to_string(),
        ),
        ("MOTCUA_SHUTDOWN_GRACE_SECS", "5".to_owned()),
        ("MOTCUA_PUBLIC_RATE_PER_SECOND", "10000".to_owned()),
        ("MOTCUA_PUBLIC_RATE_BURST", "10000".to_owned()),
        ("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (64u64 << 20).to_string()),
        ("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (16u64 << 20).to_string()),
        ("MOTCUA_DEAD_LETTERS_MAX_BYTES", (16u64 << 20).to_string()),
    ])
}

/// One service started on the floor.
pub struct Started {
    pub name: &'static str,
    pub process: Process,
    pub running: Running,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.name, self.running.addr)
    }
}

impl Started {
    /// Asks the service to stop and waits (up to 15 s) until it has.
    pub async fn stop(self) {
        self.process.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.running.task).await;
    }
}

/// Lets a service's test harness `$app` (with a field `floor`) be used as its [`Floor`]: the
/// floor's fields and methods (clock, bus, vars, start, addr, publish, …) are the harness's.
#[macro_export]
macro_rules! on_the_floor {
    ($app:ty) => {
        impl std::ops::Deref for $app {
            type Target = $crate::floor::Floor;
            fn deref(&self) -> &$crate::floor::Floor {
                &self.floor
            }
        }

        impl std::ops::DerefMut for $app {
            fn deref_mut(&mut self) -> &mut $crate::floor::Floor {
                &mut self.floor
            }
        }
    };
}

/// One test's settings, clock, bus and services; see the module's documentation.
pub struct Floor {
    pub id: String,
    /// What the next service started reads (a test changes them between starts).
    pub vars: Vars,
    pub clock: Arc<ManualClock>,
    pub bus: Bus,
    /// A client for the services' HTTP sides (with the process's crypto provider installed).
    pub http: reqwest::Client,
    /// The services running, in the order they started (replicas of one service side by side).
    pub services: Vec<Started>,
    /// Removes the test's databases and streams however the test ends.
    pub scratch: Scratch,
    /// Every process made on the floor: asked to stop when the floor goes, however the test ends.
    processes: std::sync::Mutex<Vec<motcua_platform::CancellationToken>>,
}

impl Floor {
    /// A floor whose clock starts at [`start_time`], with `change` applied to [`floor_vars`].
    pub async fn new(change: impl FnOnce(&mut Vars)) -> Self {
        Self::at(start_time(), change).await
    }

    /// A floor whose clock starts at `at`.
    pub async fn at(at: DateTime<Utc>, change: impl FnOnce(&mut Vars)) -> Self {
        let scratch = Scratch::new();
        let id = scratch.id().to_owned();
        let mut vars = floor_vars(&id);
        change(&mut vars);
        let clock = ManualClock::new(at);
        let settings = &Settings::from_vars(&vars).expect("the test's settings");
        motcua_platform::telemetry::init("motcua-test", settings).expect("telemetry");
        Self {
            bus: Bus::from_settings(settings).await.expect("NATS"),
            http: motcua_platform::http::client(Duration::from_secs(10)).expect("HTTP client"),
            id,
            vars,
            clock,
            services: Vec::new(),
            scratch,
            processes: Default::default(),
        }
    }

    /// A process with the floor's settings, listening on port 0 as `name` (gRPC and HTTP).
    pub fn process(&self, name: &str, vars: &Vars) -> Process {
        let mut vars = vars.clone();
        let upper = name.to_uppercase();
        for kind in ["GRPC", "HTTP"] {
            let var = format!("MOTCUA_{upper}_{kind}_ADDR");
            if vars.raw(&var).is_none() {
                vars.set(&var, "127.0.0.1:0");
            }
        }
        let process = Process::new(vars, self.clock.clone()).expect("the test's settings");
        self.processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(process.shutdown.clone());
        process
    }

    /// Starts `service` with the floor's settings, wired to the services already running, and
    /// waits until it serves (and, for intake, until the catalog is published).
    pub async fn start(&mut self, service: &'static str) -> &Running {
        let vars = self.vars.clone();
        self.start_with(service, vars).await
    }

    /// Starts `service` with these settings (another replica, a land-only workflow, …).
    pub async fn start_with(&mut self, service: &'static str, mut vars: Vars) -> &Running {
        // Peers listen on ports of their own choosing: tell the service where, unless the test did.
        let peers = [
            ("workflow", "intake", "MOTCUA_WORKFLOW_INTAKE_URL"),
            ("notification", "intake", "MOTCUA_NOTIFICATION_INTAKE_URL"),
            ("notification", "lookup", "MOTCUA_NOTIFICATION_LOOKUP_URL"),
        ];
        for (who, peer, var) in peers {
            if who == service
                && vars.raw(var).is_none()
                && let Some(addr) = self.try_addr(peer)
            {
                vars.set(var, format!("http://{addr}"));
            }
        }
        let mut process = self.process(service, &vars);
        if vars.raw("MOTCUA_SIMULATED_CLOCK") == Some("true") {
            // As a separate process would: this service's own clock, following the simulator's.
            process.clock =
                motcua_platform::SimulatedClock::join(&self.bus, process.shutdown.clone())
                    .await
                    .expect("joining the simulated time");
        }
        let running = match service {
            "intake" => {
                let s = motcua_intake::settings::IntakeSettings::from_vars(&vars).expect("intake");
                motcua_intake::start(&process, s).await
            }
            "workflow" => {
                let s = motcua_workflow::settings::WorkflowSettings::from_vars(&vars)
                    .expect("workflow");
                motcua_workflow::start(&process, s).await
            }
            "lookup" => {
                let s = motcua_lookup::settings::LookupSettings::from_vars(&vars).expect("lookup");
                motcua_lookup::start(&process, s).await
            }
            "notification" => {
                let s = motcua_notification::settings::NotificationSettings::from_vars(&vars)
                    .expect("notification");
                motcua_notification::start(&process, s).await
            }
            "reporting" => {
                let s = motcua_reporting::settings::ReportingSettings::from_vars(&vars)
                    .expect("reporting");
                motcua_reporting::start(&process, s).await
            }
            other => panic!("no service {other}"),
        }
        .unwrap_or_else(|e| panic!("{service} starts: {e:#}"));
        wait_serving(running.addr).await;
        if service == "intake" {
            self.wait_catalog().await;
        }
        self.services.push(Started {
            name: service,
            process,
            running,
        });
        &self.services[self.services.len() - 1].running
    }

    /// Waits until intake has published every procedure of the floor's catalog file (it does so
    /// after it starts serving: a test asking for one not yet stored would see "unknown").
    pub async fn wait_catalog(&self) {
        let file = self
            .vars
            .raw("MOTCUA_CATALOG_FILE")
            .unwrap_or(catalog_file())
            .to_owned();
        let text = std::fs::read_to_string(&file).expect("the catalog file");
        let shipped = motcua_intake::catalog::parse_file(&text)
            .expect("the catalog loads")
            .procedures
            .len() as i64;
        let pool = self.pool("intake");
        wait_until("intake publishes its catalog", || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM procedures")
                .fetch_one(&pool)
                .await
                .is_ok_and(|n| n >= shipped)
        })
        .await;
        pool.close().await;
    }

    /// Stops the first running instance of `name` and waits until it has stopped.
    pub async fn stop_service(&mut self, name: &str) {
        let i = self
            .services
            .iter()
            .position(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is not running"));
        self.services.remove(i).stop().await;
    }

    /// The first running instance of `name`.
    pub fn running(&self, name: &str) -> &Running {
        &self
            .services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is not running"))
            .running
    }

    /// The process of the first running instance of `name` (its readiness, its shutdown).
    pub fn process_of(&self, name: &str) -> &Process {
        &self
            .services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is not running"))
            .process
    }

    /// The gRPC address of the first running instance of `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.running(name).addr
    }

    fn try_addr(&self, name: &str) -> Option<SocketAddr> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.running.addr)
    }

    /// The gRPC addresses of every running instance of `name`, in the order they started.
    pub fn addrs(&self, name: &str) -> Vec<SocketAddr> {
        self.services
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.running.addr)
            .collect()
    }

    /// `http://127.0.0.1:<port>` of the HTTP side of `name`.
    pub fn web(&self, name: &str) -> String {
        let addr = self.running(name).http_addr;
        format!(
            "http://{}",
            addr.unwrap_or_else(|| panic!("{name} has no HTTP side"))
        )
    }

    /// A pool on `service`'s database (connected when first used) for a test's own reads and
    /// checks. It holds at most [`TEST_POOL_CONNECTIONS`]: a whole-system test already runs five
    /// services with their own pools, and two such tests side by side must stay under a stock
    /// server's 100 connections.
    pub fn pool(&self, service: &str) -> PgPool {
        self.pool_of(service, TEST_POOL_CONNECTIONS)
    }

    /// A pool on `service`'s database of `connections` (connected when first used): a benchmark's
    /// baseline sized like the service's own pool.
    pub fn pool_of(&self, service: &str, connections: u32) -> PgPool {
        let settings = self.settings();
        PoolOptions::new()
            .max_connections(connections)
            .connect_lazy_with(
                motcua_platform::db::target(&settings, service)
                    .expect("database URL")
                    .options(),
            )
    }

    /// The settings every service of the floor starts with.
    pub fn settings(&self) -> Settings {
        Settings::from_vars(&self.vars).expect("the test's settings")
    }

    /// The floor's time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Publishes event `event_id` as a producer's relay would (`subject` without the bus prefix),
    /// with the event id as the NATS message id: a second publish of it is the relay's duplicate,
    /// which JetStream drops.
    pub async fn publish(
        &self,
        subject: &str,
        event_type: &str,
        event_id: uuid::Uuid,
        payload: Vec<u8>,
    ) {
        self.publish_copy(
            subject,
            event_type,
            event_id,
            &event_id.to_string(),
            payload,
        )
        .await;
    }

    /// Publishes event `event_id` under NATS message id `msg_id`: another id is a redelivery or a
    /// second relay's copy that reaches the consumers, which must see it once.
    pub async fn publish_copy(
        &self,
        subject: &str,
        event_type: &str,
        event_id: uuid::Uuid,
        msg_id: &str,
        payload: Vec<u8>,
    ) {
        publish_event(&self.bus, subject, event_type, event_id, msg_id, payload).await;
    }

    /// Stops every service, then removes the databases, streams and attachment files.
    pub async fn stop(mut self) {
        while let Some(s) = self.services.pop() {
            s.stop().await;
        }
        for shutdown in self
            .processes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            shutdown.cancel();
        }
        self.scratch
            .remove()
            .await
            .expect("removing the test's databases and streams");
        let _ = std::fs::remove_dir_all(attachments_dir(&self.id));
    }
}

impl std::fmt::Debug for Floor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Floor")
            .field("id", &self.id)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

/// A test that fails before `stop`: its services stop, its files go, and `scratch` (dropped after
/// this) removes the databases and streams.
impl Drop for Floor {
    fn drop(&mut self) {
        let processes = self.processes.lock().unwrap_or_else(|p| p.into_inner());
        for shutdown in processes.iter() {
            shutdown.cancel();
        }
        let _ = std::fs::remove_dir_all(attachments_dir(&self.id));
    }
}

/// Publishes event `event_id` of `event_type` on `subject` (without the bus prefix) under NATS
/// message id `msg_id`, with the headers a producer's relay writes, and waits for JetStream's
/// acknowledgement.
pub async fn publish_event(
    bus: &Bus,
    subject: &str,
    event_type: &str,
    event_id: uuid::Uuid,
    msg_id: &str,
    payload: Vec<u8>,
) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::EVENT_ID, event_id.to_string().as_str());
    h.insert(headers::EVENT_TYPE, event_type);
    let m = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .headers(h)
        .message_id(msg_id);
    bus.js
        .send_publish(bus.subject(subject), m)
        .await
        .expect("publish")
        .await
        .expect("JetStream acknowledges");
}

/// Waits (up to 30 s) until `check` holds; fails the test naming `what` if it never does.
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Waits until the boolean query `sql` is true on `pool`.
pub async fn wait_db(pool: &PgPool, sql: &'static str, what: &str) {
    wait_until(what, || async {
        sqlx::query_scalar::<_, bool>(sql)
            .fetch_one(pool)
            .await
            .unwrap_or(false)
    })
    .await;
}
