//! The host every service runs in, as a bare host with no service of its own plus small stand-ins:
//! readiness tells "down" from "busy", a stalled relay and a panicking task show in readiness, the
//! HTTP side and public gRPC services are rate limited per client.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::proxy::Proxy;
use common::*;
use motcua_platform::config::Vars;
use motcua_platform::host::{GrpcApi, Running, ServiceHost};
use motcua_platform::outbox::{self, OutboxEvent};
use motcua_platform::process::Process;
use motcua_platform::supervise::{ServiceEnded, supervise};
use motcua_proto::lookup::lookup_service_server::{
    LookupService, LookupServiceServer, SERVICE_NAME,
};
use motcua_proto::lookup::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;

/// The bare host stands where lookup would (its variables, its default ports).
const LOOKUP: motcua_platform::config::ServiceSpec = motcua_platform::config::ServiceSpec {
    name: "lookup",
    grpc_port: 50054,
    http_port: 8084,
};

fn client() -> reqwest::Client {
    motcua_platform::http::client(Duration::from_secs(10)).unwrap()
}

/// A public service standing in for lookup: it knows no dossier.
struct NoDossiers;

#[tonic::async_trait]
impl LookupService for NoDossiers {
    async fn lookup_dossier(
        &self,
        _: Request<LookupDossierRequest>,
    ) -> Result<Response<LookupDossierResponse>, Status> {
        Err(Status::not_found("không tìm thấy hồ sơ"))
    }
    async fn search_procedures(
        &self,
        _: Request<SearchProceduresRequest>,
    ) -> Result<Response<SearchProceduresResponse>, Status> {
        Ok(Response::new(SearchProceduresResponse::default()))
    }
    async fn get_procedure(
        &self,
        _: Request<GetProcedureRequest>,
    ) -> Result<Response<GetProcedureResponse>, Status> {
        Err(Status::not_found("không tìm thấy thủ tục"))
    }
}

struct Bare {
    process: Process,
    running: Running,
    pool: sqlx::PgPool,
    host_pool: sqlx::PgPool,
    ready: motcua_platform::readiness::Readiness,
    id: String,
    scratch: motcua_testkit::scratch::Scratch,
}

fn vars(id: &str, extra: &[(&str, String)]) -> Vars {
    let mut v = Vars::from_pairs([
        ("MOTCUA_DATABASE_PREFIX", format!("t_{id}")),
        ("MOTCUA_DEVELOPMENT", "true".to_owned()),
        ("MOTCUA_BUS_PREFIX", format!("t{id}.")),
        ("MOTCUA_LOOKUP_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_LOOKUP_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_METRICS_ADDR", "off".to_owned()),
        ("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (64u64 << 20).to_string()),
        ("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (16u64 << 20).to_string()),
        ("MOTCUA_DEAD_LETTERS_MAX_BYTES", (16u64 << 20).to_string()),
        ("MOTCUA_SHUTDOWN_GRACE_SECS", "5".to_owned()),
    ]);
    for (k, val) in extra {
        v.set(k, val.clone());
    }
    v
}

/// A host named "lookup" with the stand-in public service, an HTTP side, the relay, and
/// `prepare` run on it before it serves.
async fn bare(extra: &[(&str, String)], prepare: impl FnOnce(&mut ServiceHost)) -> Bare {
    let scratch = motcua_testkit::scratch::Scratch::new();
    let id = scratch.id().to_owned();
    let process = Process::new(vars(&id, extra), motcua_platform::SystemClock::shared()).unwrap();
    let mut host = ServiceHost::new(LOOKUP, &process, &NO_MIGRATIONS)
        .await
        .unwrap();
    host.spawn_relay();
    prepare(&mut host);
    let public = axum::Router::new().route("/api/v1/ping", axum::routing::get(|| async { "pong" }));
    let authenticated = axum::Router::new().route(
        "/internal",
        axum::routing::get(
            |axum::Extension(caller): axum::Extension<motcua_platform::auth::Caller>| async move {
                format!("inside for {}", caller.subject)
            },
        ),
    );
    host.serve_http(public, authenticated).await.unwrap();
    let router = host
        .router(GrpcApi {
            contracts: motcua_proto::FILE_DESCRIPTOR_SET,
            private: vec![],
            public: vec![SERVICE_NAME],
            rules: Default::default(),
        })
        .unwrap()
        .add_service(InterceptedService::new(
            LookupServiceServer::new(NoDossiers),
            host.public_interceptor(),
        ));
    let ready = host.readiness();
    let host_pool = host.pool.clone();
    let listener = host.bind().await.unwrap();
    let running = host.serve(router, listener);
    let database = process.settings.database_name("lookup");
    let options = motcua_platform::db::options(&pg())
        .unwrap()
        .database(&database);
    Bare {
        pool: sqlx::PgPool::connect_lazy_with(options),
        process,
        running,
        host_pool,
        ready,
        id,
        scratch,
    }
}

impl Bare {
    async fn health(&self) -> i32 {
        let channel =
            tonic::transport::Channel::from_shared(format!("http://{}", self.running.addr))
                .unwrap()
                .connect()
                .await
                .unwrap();
        tonic_health::pb::health_client::HealthClient::new(channel)
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(-1)
    }

    async fn wait_health(&self, want: ServingStatus, within: Duration, what: &str) {
        eventually(within, what, || async {
            self.health().await == want as i32
        })
        .await;
    }

    async fn readyz(&self) -> (u16, String) {
        let url = format!("http://{}/readyz", self.running.http_addr.unwrap());
        let r = client().get(url).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn stop(self) {
        self.process.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.running.task).await;
        self.pool.close().await;
        self.host_pool.close().await;
        self.scratch.remove().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_key_a_service_refuses_to_start_unless_development_is_explicit() {
    // The host that starts makes its database (this test once left it behind).
    let scratch = motcua_testkit::scratch::Scratch::new();
    let id = scratch.id().to_owned();
    let mut v = vars(&id, &[]);
    v.set("MOTCUA_DEVELOPMENT", "");
    let process = Process::new(v, motcua_platform::SystemClock::shared()).unwrap();
    let refused = ServiceHost::new(LOOKUP, &process, &NO_MIGRATIONS)
        .await
        .expect_err("fail closed");
    let why = format!("{refused:#}");
    assert!(why.contains("MOTCUA_DEVELOPMENT=true"), "{why}");
    assert!(why.contains("MOTCUA_JWT_JWKS_URL"), "{why}");

    // Explicitly on a developer's machine, it runs and says so in its health details.
    let process = Process::new(vars(&id, &[]), motcua_platform::SystemClock::shared()).unwrap();
    let host = ServiceHost::new(LOOKUP, &process, &NO_MIGRATIONS)
        .await
        .unwrap();
    let notes = process.status.notes("lookup");
    assert!(
        notes
            .get("development-key")
            .is_some_and(|n| n.contains("public development key")),
        "{notes:?}"
    );
    assert_eq!(
        process.status.render()["lookup"]["details"]["development-key"],
        notes["development-key"].as_str()
    );
    drop(host);
    scratch.remove().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pool_is_not_an_outage_but_a_database_that_is_down_is() {
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let app = bare(
        &[
            ("MOTCUA_DATABASE_URL", proxy.url()),
            ("MOTCUA_DATABASE_MAX_CONNECTIONS", "2".into()),
        ],
        |_| {},
    )
    .await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "never ready",
    )
    .await;
    // Load takes every connection of the service's pool, for longer than a ping's timeout.
    let held = [
        app.host_pool.acquire().await.unwrap(),
        app.host_pool.acquire().await.unwrap(),
    ];
    // Saturated for longer than the pool's own wait for a connection, twice: a readiness check
    // that asked the pool (rather than its own connection) would have timed out by then.
    for _ in 0..2 {
        let waited = app.host_pool.acquire().await;
        assert!(
            matches!(waited, Err(sqlx::Error::PoolTimedOut)),
            "the pool was not saturated"
        );
    }
    assert_eq!(
        app.health().await,
        ServingStatus::Serving as i32,
        "busy is not down"
    );
    drop(held);
    // The database goes away: that is an outage, and readiness says why.
    proxy.down().await;
    app.wait_health(
        ServingStatus::NotServing,
        Duration::from_secs(20),
        "down was not noticed",
    )
    .await;
    let (status, body) = app.readyz().await;
    assert_eq!(status, 503);
    assert!(body.contains("PostgreSQL is not answering"), "{body}");
    proxy.up().await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "not back after the outage",
    )
    .await;
    assert_eq!(app.readyz().await.0, 200);
    app.stop().await;
}

/// A stand-in for a service of the same process: it ends when `run` does.
fn service(run: impl std::future::Future<Output = Result<(), String>> + Send + 'static) -> Running {
    Running {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        http_addr: None,
        task: tokio::spawn(run),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// `motcua serve --target all` and each service's binary: a service that ends unexpectedly stops
/// the others (they drain as on SIGTERM) and is named, so the process exits non-zero instead of
/// staying up with a service gone.
async fn a_service_that_ends_unexpectedly_stops_the_others_and_is_named() {
    let app = bare(&[], |_| {}).await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "never ready",
    )
    .await;
    let Bare {
        process,
        running,
        pool,
        host_pool,
        scratch,
        ..
    } = app;
    let healthy_addr = running.addr;
    let fragile = service(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Err("gRPC server failed: the listener closed".to_owned())
    });
    let ended = tokio::time::timeout(
        Duration::from_secs(20),
        supervise(&process, vec![("lookup", running), ("workflow", fragile)]),
    )
    .await
    .expect("the healthy service was stopped too, within its grace period");
    assert_eq!(
        ended,
        Err(ServiceEnded {
            service: "workflow",
            why: "gRPC server failed: the listener closed".into()
        })
    );
    assert!(process.shutdown.is_cancelled());
    assert!(
        tokio::net::TcpStream::connect(healthy_addr).await.is_err(),
        "the healthy service no longer listens"
    );
    pool.close().await;
    host_pool.close().await;
    scratch.remove().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// A panic and a quiet return are named too; a process asked to stop ends without a fault, and a
/// service whose server failed during the drain is still named.
async fn supervision_names_a_panic_and_a_quiet_return_and_is_silent_when_asked_to_stop() {
    let fresh = || Process::new(vars("sup", &[]), motcua_platform::SystemClock::shared()).unwrap();
    let until_stopped = |p: &Process| {
        let stop = p.shutdown.clone();
        service(async move {
            stop.cancelled().await;
            Ok(())
        })
    };

    let process = fresh();
    let panics = service(async { panic!("a bug") });
    let ended = supervise(
        &process,
        vec![("intake", until_stopped(&process)), ("reporting", panics)],
    )
    .await;
    assert_eq!(
        ended.map_err(|e| (e.service, e.why)),
        Err(("reporting", "it panicked".to_owned()))
    );

    let process = fresh();
    let quits = service(async { Ok(()) });
    let ended = supervise(
        &process,
        vec![("notification", quits), ("lookup", until_stopped(&process))],
    )
    .await
    .unwrap_err();
    assert_eq!(ended.service, "notification");
    assert!(
        ended
            .to_string()
            .contains("notification ended unexpectedly"),
        "{ended}"
    );

    let process = fresh();
    let stop = process.shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
    });
    let a = until_stopped(&process);
    let b = until_stopped(&process);
    assert_eq!(
        supervise(&process, vec![("intake", a), ("workflow", b)]).await,
        Ok(())
    );

    let process = fresh();
    process.shutdown.cancel();
    let failed_draining = service(async { Err("HTTP server failed: too many open files".into()) });
    assert_eq!(
        supervise(&process, vec![("lookup", failed_draining)])
            .await
            .map_err(|e| e.service),
        Err("lookup")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_panics_is_restarted_and_shows_in_readiness_meanwhile() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let app = bare(&[], move |host| {
        let ready = host.readiness();
        host.spawn_supervised("flaky-task", move || {
            let (counter, ready) = (counter.clone(), ready.clone());
            async move {
                ready.wait().await;
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("boom in a background task");
                }
                futures::future::pending::<()>().await
            }
        });
    })
    .await;
    // Not ready while the task is down or freshly restarted, and readiness says why.
    eventually(
        Duration::from_secs(30),
        "the panic went unnoticed",
        || async {
            let (status, body) = app.readyz().await;
            status == 503 && body.contains("flaky-task")
        },
    )
    .await;
    assert_eq!(app.health().await, ServingStatus::NotServing as i32);
    eventually(Duration::from_secs(30), "not restarted", || async {
        runs.load(Ordering::SeqCst) == 2
    })
    .await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "not serving again after the restart",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// Publishing behind is a health detail, not an outage: the service stays SERVING (it serves from
/// its database; the events wait in the outbox) and `/status` says what waits.
async fn a_relay_that_cannot_publish_for_a_while_shows_in_the_health_details_not_readiness() {
    let app = bare(&[("MOTCUA_RELAY_STALL_SECS", "1".into())], |_| {}).await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "never ready",
    )
    .await;
    assert!(app.ready.is_ready());
    // The dossier stream is full and refuses new events.
    let bus = motcua_platform::bus::Bus::connect(
        &app.process.settings.nats_url,
        &format!("t{}.", app.id),
    )
    .await
    .unwrap();
    let name = bus.stream_name("DOSSIERS");
    let mut config = bus
        .js
        .get_stream(&name)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    config.discard = async_nats::jetstream::stream::DiscardPolicy::New;
    config.max_messages = 1;
    bus.js.update_stream(&config).await.unwrap();
    let event =
        |p: &str| OutboxEvent::new("dossier.dat-dai.test".into(), "test", p.as_bytes().to_vec());
    for p in ["fills the stream", "refused"] {
        let mut tx = app.pool.begin().await.unwrap();
        outbox::enqueue(&mut tx, &event(p)).await.unwrap();
        tx.commit().await.unwrap();
    }
    eventually(
        Duration::from_secs(30),
        "the stalled relay went unnoticed",
        || async {
            app.process
                .status
                .notes("lookup")
                .contains_key("publishing-behind")
        },
    )
    .await;
    assert!(app.ready.is_ready(), "still serving");
    let (status, body) = app.readyz().await;
    assert_eq!(status, 200, "{body}");
    // Room again: the delayed event goes out and the service serves again.
    config.max_messages = -1;
    bus.js.update_stream(&config).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "the delayed event was not published",
        || async { outbox::pending(&app.pool).await.unwrap() == 0 },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the detail stayed after catching up",
        || async {
            !app.process
                .status
                .notes("lookup")
                .contains_key("publishing-behind")
        },
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_routes_are_rate_limited_per_client_with_retry_after_and_security_headers() {
    let app = bare(
        &[
            ("MOTCUA_PUBLIC_RATE_PER_SECOND", "1".into()),
            ("MOTCUA_PUBLIC_RATE_BURST", "3".into()),
        ],
        |_| {},
    )
    .await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "never ready",
    )
    .await;
    let http = app.running.http_addr.unwrap();
    let client = client();
    let get = |path: &str, forwarded: Option<&str>| {
        let mut r = client.get(format!("http://{http}{path}"));
        if let Some(f) = forwarded {
            r = r.header("x-forwarded-for", f);
        }
        r.send()
    };
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);
    for i in 0..3 {
        // A client that claims to be someone else each time is still the same client.
        let r = get("/api/v1/ping", Some(&format!("198.51.100.{i}")))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'self'")
        );
    }
    let limited = get("/api/v1/ping", Some("203.0.113.9")).await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    // Health is not rate limited; authenticated routes need the same token as gRPC.
    assert_eq!(get("/readyz", None).await.unwrap().status(), 200);
    let anonymous = get("/internal", None).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    let now = chrono::Utc::now().timestamp();
    let token = motcua_platform::auth::mint(
        motcua_platform::config::DEV_JWT_SECRET,
        &motcua_platform::auth::Claims {
            sub: "leader-1".into(),
            agency: "000.00.06.H56".into(),
            roles: vec![motcua_platform::auth::Role::Leader],
            exp: now + 600,
            ..Default::default()
        },
    )
    .unwrap();
    let officer = client
        .get(format!("http://{http}/internal"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(officer.text().await.unwrap(), "inside for leader-1");

    // The public gRPC service: the same per-client budget, RESOURCE_EXHAUSTED with retry-after.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut lookup = motcua_proto::lookup::lookup_service_client::LookupServiceClient::new(channel);
    let mut codes = Vec::new();
    for _ in 0..6 {
        let r = lookup
            .lookup_dossier(LookupDossierRequest {
                dossier_code: "000.00.06.H56-260302-0001".into(),
                secret: "ABCDEFGHJK".into(),
            })
            .await;
        codes.push(match r {
            Ok(_) => Code::Ok,
            Err(s) => {
                if s.code() == Code::ResourceExhausted {
                    assert!(s.metadata().get("retry-after").is_some(), "{s:?}");
                }
                s.code()
            }
        });
    }
    assert_eq!(
        &codes[..3],
        &[Code::NotFound; 3],
        "no token needed: {codes:?}"
    );
    assert!(codes[3..].contains(&Code::ResourceExhausted), "{codes:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = bare(
        &[
            ("MOTCUA_PUBLIC_RATE_PER_SECOND", "1".into()),
            ("MOTCUA_PUBLIC_RATE_BURST", "2".into()),
            ("MOTCUA_TRUSTED_PROXIES", "127.0.0.1/32".into()),
        ],
        |_| {},
    )
    .await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "never ready",
    )
    .await;
    let http = app.running.http_addr.unwrap();
    let client = client();
    for i in 0..5 {
        let r = client
            .get(format!("http://{http}/api/v1/ping"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "client {i} has a budget of its own");
    }
    app.stop().await;
}

/// Issue 18 item 11b: "pool timed out" does not say that PostgreSQL refused more clients. When a
/// pool finds no connection, the health details say whether the server refused a new one (here:
/// the role's connection limit, the same refusal, SQLSTATE 53300, as the server's
/// max_connections) or the pooled ones were all busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_finds_no_connection_says_whether_postgres_refused_one() {
    let role = format!("t_{}_role", new_id());
    let admin = sqlx::PgPool::connect_lazy_with(motcua_platform::db::options(&pg()).unwrap());
    // The role's name is made here from a random id, not taken from outside.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN CREATEDB CONNECTION LIMIT 3"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let url = format!("postgres://{role}@127.0.0.1:5432");
    let app = bare(
        &[
            ("MOTCUA_DATABASE_URL", url.clone()),
            ("MOTCUA_DATABASE_MAX_CONNECTIONS", "8".into()),
        ],
        |_| {},
    )
    .await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "never ready",
    )
    .await;
    // Someone else takes what is left of the role's connections.
    let options = motcua_platform::db::options(&motcua_platform::config::ServerUrl::new(&url))
        .unwrap()
        .database(&app.process.settings.database_name("lookup"));
    let mut held = Vec::new();
    while let Ok(c) = sqlx::ConnectOptions::connect(&options).await {
        held.push(c);
    }
    // A call needs a connection the pool cannot open: it times out, as a service call would.
    let mut calls = Vec::new();
    for _ in 0..3 {
        calls.push(app.host_pool.acquire());
    }
    for r in futures::future::join_all(calls).await {
        if let Err(e) = r {
            let _: motcua_platform::ServiceError = e.into();
        }
    }
    eventually(
        Duration::from_secs(30),
        "the refusal was not named",
        || async {
            app.process
                .status
                .notes("lookup")
                .get("postgres-connections")
                .is_some_and(|n| n.contains("refuses new connections") && n.contains("too many"))
        },
    )
    .await;
    assert!(app.ready.is_ready(), "busy is not down");
    drop(held);
    app.stop().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
        .execute(&admin)
        .await;
}

/// A service at rest holds no pooled connection: idle ones close after MOTCUA_DATABASE_IDLE_SECS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_pooled_connections_close() {
    let app = bare(&[("MOTCUA_DATABASE_IDLE_SECS", "1".into())], |_| {}).await;
    app.wait_health(
        ServingStatus::Serving,
        Duration::from_secs(30),
        "never ready",
    )
    .await;
    let mut conns = Vec::new();
    for _ in 0..5 {
        conns.push(app.host_pool.acquire().await.unwrap());
    }
    assert!(app.host_pool.size() >= 5);
    drop(conns);
    eventually(
        Duration::from_secs(30),
        "idle connections stayed open",
        || async { app.host_pool.size() == 0 },
    )
    .await;
    app.stop().await;
}
