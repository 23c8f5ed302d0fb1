//! What every service gets from the platform, checked on intake: authentication, health,
//! reflection, request limits, trace context, configuration errors and graceful shutdown.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use futures::StreamExt;
use motcua_platform::auth::{Claims, Role, mint};
use motcua_proto::intake::SubmitDossierRequest;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_roles() {
    let app = spawn().await;
    let call = |bearer: Bearer| {
        let addr = app.addr;
        async move {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            IntakeServiceClient::with_interceptor(channel, bearer)
                .submit_dossier(counter_submission(""))
                .await
        }
    };
    let unauth = |r: Result<tonic::Response<_>, tonic::Status>, why: &str| {
        let e = r.expect_err(why);
        assert_eq!(e.code(), Code::Unauthenticated, "{why}: {}", e.message());
    };
    unauth(call(Bearer::raw(None)).await, "missing");
    unauth(
        call(Bearer::raw(Some("Bearer not.a.jwt"))).await,
        "malformed",
    );
    unauth(
        call(Bearer::raw(Some("Basic dXNlcjpwYXNz"))).await,
        "wrong scheme",
    );
    unauth(
        call(Bearer::new(&token(&[Role::Desk], AGENCY, "u", -3600))).await,
        "expired",
    );
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "u".into(),
        name: String::new(),
        agency: AGENCY.into(),
        roles: vec![Role::Desk],
        exp: now + 600,
        iat: now,
        ..Default::default()
    };
    let forged = mint("another-key-that-is-long-enough-for-hs256!!", &claims).unwrap();
    unauth(call(Bearer::new(&forged)).await, "wrong key");
    let denied = call(Bearer::new(&token(
        &[Role::Specialist, Role::Leader],
        AGENCY,
        "u",
        600,
    )))
    .await
    .expect_err("role");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(denied.message().contains("desk"), "{}", denied.message());
    call(Bearer::new(&token(&[Role::Desk], AGENCY, "u", 600)))
        .await
        .expect("a desk may submit");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_only_the_services_that_run_and_others_say_so() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let app = spawn().await;
    let mut client = ServerReflectionClient::new(app.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses.next().await.expect("one response").expect("ok");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected response")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "motcua.intake.v1.IntakeService"
        ],
        "only what this port serves"
    );
    // The descriptor of a message is served too.
    let symbol = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "motcua.intake.v1.SubmitDossierRequest".into(),
        )),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![symbol]))
        .await
        .unwrap()
        .into_inner();
    let r = responses.next().await.unwrap().unwrap();
    assert!(matches!(
        r.message_response,
        Some(MessageResponse::FileDescriptorResponse(_))
    ));
    // A service of the contracts that does not run here answers with what does.
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();
    let err = grpc
        .unary(
            tonic::Request::new(Nothing {}),
            http::uri::PathAndQuery::from_static("/motcua.workflow.v1.WorkflowService/ListQueue"),
            tonic_prost::ProstCodec::<Nothing, Nothing>::default(),
        )
        .await
        .expect_err("not served here");
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(
        err.message().contains("motcua.workflow.v1.WorkflowService")
            && err.message().contains("motcua.intake.v1.IntakeService"),
        "{}",
        err.message()
    );
    app.stop().await;
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawSubmit {
    #[prost(bytes = "vec", tag = "2")]
    procedure_code: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Nothing {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_and_oversized_requests_are_invalid_arguments() {
    let app = spawn_with(|v| v.set("MOTCUA_MAX_MESSAGE_BYTES", "65536")).await;
    // Invalid UTF-8 in a string field, sent as raw protobuf.
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(RawSubmit {
        procedure_code: vec![0xff, 0xfe, b'1'],
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(&[Role::Desk], AGENCY, "u", 600))
            .parse()
            .unwrap(),
    );
    let path =
        http::uri::PathAndQuery::from_static("/motcua.intake.v1.IntakeService/SubmitDossier");
    let err = grpc
        .unary(
            req,
            path,
            tonic_prost::ProstCodec::<RawSubmit, Nothing>::default(),
        )
        .await
        .expect_err("invalid utf-8");
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(err.message().contains("UTF-8"), "{}", err.message());

    let mut desk = app.client(&[Role::Desk]).await;
    let mut big: SubmitDossierRequest = counter_submission("big");
    big.note = "x".repeat(100_000);
    let err = desk.submit_dossier(big).await.expect_err("too large");
    assert_eq!(err.code(), Code::InvalidArgument, "{}", err.message());
    assert!(err.message().contains("too large"), "{}", err.message());
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_trace_follows_the_dossier_into_nats() {
    let app = spawn().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut desk = app.client(&[Role::Desk]).await;
    let mut req = tonic::Request::new(counter_submission("traced"));
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    let code = desk
        .submit_dossier(req)
        .await
        .expect("ok")
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code;
    let stream = app
        .bus
        .js
        .get_stream(app.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let mut message = None;
    for _ in 0..100 {
        if let Ok(m) = stream
            .get_last_raw_message_by_subject(&app.bus.subject("dossier.dat-dai.submitted"))
            .await
        {
            message = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let message = message.expect("event published");
    let traceparent = message
        .headers
        .get("traceparent")
        .expect("traceparent")
        .as_str()
        .to_owned();
    assert!(
        traceparent.contains(trace_id),
        "{traceparent} continues trace {trace_id} of dossier {code}"
    );
    app.stop().await;
}

/// A nats-server of the test's own; killed on drop (its store stays for a restart).
struct OwnNats(std::process::Child);

impl Drop for OwnNats {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nats_server_binary() -> String {
    std::env::var("MOTCUA_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".to_owned())
}

/// DESIGN.md "Staying up": with NATS away intake keeps taking dossiers (their events wait in the
/// outbox) and answering reads, says so in its health details, and publishes every waiting event,
/// in order, when the bus is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_serves_through_a_nats_outage_and_publishes_what_waited_in_order() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("motcua-nats-{}", new_id()));
    let start_nats = || {
        let child = std::process::Command::new(nats_server_binary())
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH (deploy/up.sh installs it)");
        OwnNats(child)
    };
    let nats = start_nats();
    let app = start_with(|v| {
        v.set("MOTCUA_NATS_URL", format!("nats://127.0.0.1:{port}"));
        v.set("MOTCUA_RELAY_STALL_SECS", "1");
    })
    .await;
    app.wait_serving(Duration::from_secs(30)).await;
    app.wait_catalog().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let mut codes = vec![submitted_code(&mut desk, "before").await];
    wait_until("the first event published", || async {
        motcua_platform::outbox::pending(&app.pool).await.unwrap() == 0
    })
    .await;

    // NATS goes away: seen in the health details, and health stays SERVING.
    drop(nats);
    wait_until("the outage in the health details", || async {
        app.status.notes("intake").contains_key("nats")
    })
    .await;
    assert_eq!(app.health().await, ServingStatus::Serving as i32);
    for key in ["during-1", "during-2", "during-3"] {
        codes.push(submitted_code(&mut desk, key).await);
    }
    let read = desk
        .get_dossier(motcua_proto::intake::GetDossierRequest {
            dossier_code: codes[2].clone(),
        })
        .await
        .expect("reads are served from the database");
    assert_eq!(
        read.into_inner()
            .dossier
            .unwrap()
            .receipt
            .unwrap()
            .dossier_code,
        codes[2]
    );
    assert_eq!(
        motcua_platform::outbox::pending(&app.pool).await.unwrap(),
        3,
        "the three events wait in the outbox"
    );
    wait_until("publishing is behind, in the health details", || async {
        app.status.notes("intake").contains_key("publishing-behind")
    })
    .await;
    assert_eq!(app.health().await, ServingStatus::Serving as i32);

    // NATS is back (same store): everything that waited goes out, in the order it was written.
    let _nats = start_nats();
    wait_until("the outbox drained", || async {
        motcua_platform::outbox::pending(&app.pool).await.unwrap() == 0
    })
    .await;
    wait_until("the details cleared", || async {
        let notes = app.status.notes("intake");
        !notes.contains_key("nats") && !notes.contains_key("publishing-behind")
    })
    .await;
    let published = submitted_codes_in_stream_order(&app).await;
    assert_eq!(published, codes, "every event, once, in order");
    app.stop().await;
    drop(_nats);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn submitted_code(
    desk: &mut IntakeServiceClient<
        tonic::service::interceptor::InterceptedService<tonic::transport::Channel, Bearer>,
    >,
    key: &str,
) -> String {
    desk.submit_dossier(counter_submission(key))
        .await
        .unwrap_or_else(|e| panic!("{key}: {e}"))
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code
}

use motcua_testkit::floor::wait_until;

/// The dossier codes of the `submitted` events on the stream, in stream order.
async fn submitted_codes_in_stream_order(app: &TestApp) -> Vec<String> {
    use futures::StreamExt;
    use prost::Message;
    let stream = app
        .bus
        .js
        .get_stream(app.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: app.bus.subject("dossier.*.submitted"),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(100)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    let mut codes = Vec::new();
    while let Some(m) = batch.next().await {
        let e =
            motcua_proto::events::DossierSubmitted::decode(m.unwrap().payload.as_ref()).unwrap();
        codes.push(e.state.unwrap().dossier_code);
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_submission_finish_and_flushes_its_event() {
    let app = spawn().await;
    // Hold the sequence row so the submission blocks inside its transaction.
    let blocker = app.hold_todays_sequence().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let in_flight =
        tokio::spawn(async move { desk.submit_dossier(counter_submission("in-flight")).await });
    app.wait_lock_waiters(1).await;
    assert!(
        !in_flight.is_finished(),
        "the submission waits on the held row"
    );

    app.shutdown.cancel(); // what SIGTERM does
    // New connections are refused while the in-flight call drains.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let refused = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
            .unwrap()
            .connect()
            .await
            .is_err();
        if refused {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new connections were still accepted after shutdown began"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !in_flight.is_finished(),
        "the in-flight call still waits while new ones are refused"
    );
    blocker.commit().await.unwrap();

    let reply = in_flight
        .await
        .unwrap()
        .expect("the in-flight call completes");
    assert!(
        reply
            .into_inner()
            .receipt
            .unwrap()
            .dossier_code
            .ends_with("-0001")
    );
    let mut app = app;
    let task = app.task.take().unwrap();
    tokio::time::timeout(Duration::from_secs(15), task)
        .await
        .expect("service stops within the grace period")
        .unwrap()
        .expect("asked to stop, the service ends without a fault");
    // The relay flushed before stopping: the event is on the stream.
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await,
        0
    );
    let stream = app
        .bus
        .js
        .get_stream(app.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    assert_eq!(stream.get_info().await.unwrap().state.messages, 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_exit_64_naming_the_variable_and_sigterm_stops_cleanly() {
    let bin = env!("CARGO_BIN_EXE_motcua-intake");
    for (var, value) in [
        ("MOTCUA_REQUEST_TIMEOUT_SECS", "soon"),
        ("MOTCUA_DATABASE_URL", "mysql://x"),
        ("MOTCUA_LOG_FORMAT", "xml"),
        ("MOTCUA_JWT_JWKS_URL", "http://sso.example.gov.vn/jwks.json"),
        ("MOTCUA_SECRET_HASH_KEYS", "k1:too-short"),
    ] {
        let out = std::process::Command::new(bin)
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{err}");
    }

    let scratch = motcua_testkit::scratch::Scratch::new();
    let id = scratch.id().to_owned();
    let vars = [
        ("MOTCUA_DATABASE_PREFIX", format!("t_{id}")),
        ("MOTCUA_DEVELOPMENT", "true".to_owned()),
        ("MOTCUA_BUS_PREFIX", format!("t{id}.")),
        ("MOTCUA_INTAKE_GRPC_ADDR", "127.0.0.1:0".into()),
        ("MOTCUA_METRICS_ADDR", "off".into()),
        (
            "MOTCUA_ATTACHMENTS_DIR",
            std::env::temp_dir()
                .join(format!("motcua-test-{id}"))
                .display()
                .to_string(),
        ),
    ];
    let mut child = tokio::process::Command::new(bin)
        .envs(vars.clone())
        .stderr(Stdio::piped())
        // A failed assertion before the test stops it must not leave the service running.
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("health changed") && line.contains("true") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(ready, Ok(true), "the binary became ready");
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    scratch.remove().await.unwrap();
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("motcua-test-{id}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_is_cut_off_and_leaves_nothing_half_written() {
    let app = spawn_with(|v| v.set("MOTCUA_REQUEST_TIMEOUT_SECS", "1")).await;
    let blocker = app.hold_todays_sequence().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let err = desk
        .submit_dossier(counter_submission("slow"))
        .await
        .expect_err("deadline");
    assert!(
        matches!(err.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{err:?}"
    );
    blocker.commit().await.unwrap();
    // The next submission takes the same sequence row, so it is answered only after the
    // abandoned transaction has ended, however it ended: afterwards that one left nothing.
    let code = desk
        .submit_dossier(counter_submission("next"))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code;
    // The abandoned transaction returned its number: the next dossier is 0001.
    assert!(code.ends_with("-0001"), "{code}");
    assert_eq!(
        app.count("SELECT count(*) FROM dossiers").await,
        1,
        "only the next one"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE subject LIKE 'dossier.%'")
            .await,
        1,
        "only the next one's event"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_metrics_count_dossiers_published_events_and_every_call() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    motcua_platform::metrics::install();
    let stop = motcua_platform::CancellationToken::new();
    let addr = motcua_platform::metrics::serve(
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
        stop.clone().cancelled_owned(),
    )
    .await
    .unwrap();
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    desk.submit_dossier(counter_submission("metered"))
        .await
        .unwrap();
    let scrape = || async {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut body = String::new();
        conn.read_to_string(&mut body).await.unwrap();
        body
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let body = scrape().await;
        // Every call is counted by method and status code, and timed in a histogram (buckets that
        // Prometheus can add up across replicas).
        if body.contains("motcua_intake_dossiers_total{status=\"submitted\"}")
            && body.contains("motcua_outbox_published_total")
            && body.contains(
                "motcua_grpc_requests_total{method=\"/motcua.intake.v1.IntakeService/SubmitDossier\",code=\"0\"} 1",
            )
            && body.contains(
                "motcua_grpc_request_duration_seconds_bucket{method=\"/motcua.intake.v1.IntakeService/SubmitDossier\",le=\"0.005\"}",
            )
        {
            assert!(
                body.starts_with("HTTP/1.0 200") || body.starts_with("HTTP/1.1 200"),
                "{body}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics missing:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    app.stop().await;
}

/// Serves a JWKS document that the test can change, like an identity provider rotating keys.
async fn identity_provider(
    jwks: std::sync::Arc<std::sync::RwLock<String>>,
) -> std::net::SocketAddr {
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { jwks.read().unwrap().clone() }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn rs256_token(der_b64: &str, kid: &str) -> String {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(der_b64.trim())
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "sso-user".into(),
        name: "Lê Văn Cường".into(),
        agency: AGENCY.into(),
        roles: vec![Role::Desk],
        exp: now + 600,
        iat: now,
        ..Default::default()
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&der),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_an_identity_provider_are_checked_against_its_jwks_and_rotation_is_picked_up() {
    let k1 = include_str!("fixtures/k1.jwk.json");
    let k2 = include_str!("fixtures/k2.jwk.json");
    let jwks = std::sync::Arc::new(std::sync::RwLock::new(format!("{{\"keys\":[{k1}]}}")));
    let idp = identity_provider(jwks.clone()).await;
    let app = spawn_with(|v| v.set("MOTCUA_JWT_JWKS_URL", format!("http://{idp}/jwks.json"))).await;
    let call = |token: String| {
        let addr = app.addr;
        async move {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let mut client = IntakeServiceClient::with_interceptor(channel, Bearer::new(&token));
            client
                .list_procedures(motcua_proto::intake::ListProceduresRequest::default())
                .await
        }
    };
    call(rs256_token(include_str!("fixtures/k1.der.b64"), "k1"))
        .await
        .expect("a k1 token is accepted");
    let dev = call(token(&[Role::Desk], AGENCY, "u", 600))
        .await
        .expect_err("the development key is not trusted");
    assert_eq!(dev.code(), Code::Unauthenticated);

    // The provider rotates in k2: the first k2 token is refused and wakes a refresh; soon k2 works.
    *jwks.write().unwrap() = format!("{{\"keys\":[{k1},{k2}]}}");
    let k2_token = rs256_token(include_str!("fixtures/k2.der.b64"), "k2");
    assert_eq!(
        call(k2_token.clone())
            .await
            .expect_err("unknown key")
            .code(),
        Code::Unauthenticated
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while call(k2_token.clone()).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rotated key was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_shed_at_once_and_health_stays_up() {
    // The flood sends the largest submissions the bounds allow: 100 documents, each named with
    // 300 three-byte letters. Four calls at once; request memory for three and a half of them.
    let big = |n: usize| {
        let mut r = counter_submission(&format!("big-{n}"));
        r.documents
            .extend((0..100).map(|_| motcua_proto::intake::SubmittedDocument {
                name: "ễ".repeat(300),
                copies: 1,
                ..Default::default()
            }));
        r.documents.truncate(100);
        r
    };
    let size = prost::Message::encoded_len(&big(0));
    assert!(size > 80_000, "a big submission is {size} bytes");
    let app = spawn_with(|v| {
        v.set("MOTCUA_MAX_IN_FLIGHT", "4");
        v.set("MOTCUA_MAX_MESSAGE_BYTES", (size + 1024).to_string());
        v.set("MOTCUA_REQUEST_MEMORY_BYTES", (size * 7 / 2).to_string());
    })
    .await;
    // Every admitted submission blocks inside its transaction on the held sequence row.
    let blocker = app.hold_todays_sequence().await;
    let spawn_call = |req: SubmitDossierRequest| {
        let addr = app.addr;
        let token = token(&[Role::Desk], AGENCY, "officer-1", 600);
        tokio::spawn(async move {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            IntakeServiceClient::with_interceptor(channel, Bearer::new(&token))
                .submit_dossier(req)
                .await
        })
    };
    let code = |r: Result<tonic::Response<_>, tonic::Status>| match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };
    // 12 big ones against memory for three and a half: three fit; the others are refused at
    // once, not buffered.
    let flood: Vec<_> = (0..12).map(|n| spawn_call(big(n))).collect();
    // Nine are answered at once (refused); three wait on the held row.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while flood.iter().filter(|c| c.is_finished()).count() < 9 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the flood was not answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.wait_lock_waiters(3).await;
    assert_eq!(
        flood.iter().filter(|c| c.is_finished()).count(),
        9,
        "exactly three were let in and wait"
    );
    // One small call takes the fourth place and waits too; the next is shed at once.
    let waiting = spawn_call(counter_submission("small-1"));
    app.wait_lock_waiters(4).await;
    assert!(!waiting.is_finished());
    let started = tokio::time::Instant::now();
    let shed = spawn_call(counter_submission("small-2"))
        .await
        .unwrap()
        .expect_err("shed");
    assert_eq!(shed.code(), Code::ResourceExhausted, "{}", shed.message());
    assert!(shed.message().contains("server busy"), "{}", shed.message());
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused at once"
    );
    assert_eq!(
        app.health().await,
        ServingStatus::Serving as i32,
        "busy is not down: health is not counted against the limits"
    );
    blocker.commit().await.unwrap();
    let mut codes = std::collections::BTreeMap::new();
    for c in flood {
        *codes
            .entry(format!("{:?}", code(c.await.unwrap())))
            .or_insert(0) += 1;
    }
    assert_eq!(codes.get("Ok").copied(), Some(3), "{codes:?}");
    assert_eq!(
        codes.get("ResourceExhausted").copied(),
        Some(9),
        "{codes:?}"
    );
    assert_eq!(code(waiting.await.unwrap()), Code::Ok);
    // The flood is over: the service answers as before.
    assert_eq!(
        code(spawn_call(counter_submission("after")).await.unwrap()),
        Code::Ok
    );
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 5);
    app.stop().await;
}

/// A JWKS as Keycloak publishes it: the signing key with its certificate chain and thumbprints,
/// and an encryption key (RSA-OAEP) that must be skipped, not refused.
fn keycloak_jwks(signing: &str) -> String {
    let mut sig: serde_json::Value = serde_json::from_str(signing).unwrap();
    sig["x5c"] =
        serde_json::json!(["MIICnTCCAYUCBgGRRZ1gAjANBgkqhkiG9w0BAQsFADASMRAwDgYDVQQDDAdtb3RjdWE="]);
    sig["x5t"] = serde_json::json!("q1AWpfQIYcVMUQJNMD9t0JqJxLI");
    sig["x5t#S256"] = serde_json::json!("6e7v_JtbNAfJB3mUVUgx1Y9sdjYUAG7VrA3lRa7T3Gs");
    let mut enc = sig.clone();
    enc["kid"] = serde_json::json!("enc-key");
    enc["use"] = serde_json::json!("enc");
    enc["alg"] = serde_json::json!("RSA-OAEP");
    serde_json::json!({ "keys": [enc, sig] }).to_string()
}

fn provider_token(der_b64: &str, kid: &str, iss: &str, aud: serde_json::Value) -> String {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(der_b64.trim())
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "f2c1-sso-user".into(),
        name: "Lê Văn Cường".into(),
        agency: AGENCY.into(),
        roles: vec![Role::Desk],
        exp: now + 600,
        iat: now,
        iss: Some(iss.into()),
        aud: Some(aud),
        ..Default::default()
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(&der),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_identity_providers_keys_issuer_and_audience_work() {
    let jwks = std::sync::Arc::new(std::sync::RwLock::new(keycloak_jwks(include_str!(
        "fixtures/k1.jwk.json"
    ))));
    let idp = identity_provider(jwks).await;
    let issuer = "https://sso.example.gov.vn/realms/motcua";
    let app = spawn_with(|v| {
        v.set("MOTCUA_JWT_JWKS_URL", format!("http://{idp}/jwks.json"));
        v.set("MOTCUA_JWT_ISSUER", issuer);
        v.set("MOTCUA_JWT_AUDIENCE", "motcua");
    })
    .await;
    let list = |token: String| {
        let addr = app.addr;
        async move {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            IntakeServiceClient::with_interceptor(channel, Bearer::new(&token))
                .list_procedures(motcua_proto::intake::ListProceduresRequest::default())
                .await
        }
    };
    let key = include_str!("fixtures/k1.der.b64");
    // Real providers send an audience list; ours is in it.
    list(provider_token(
        key,
        "k1",
        issuer,
        serde_json::json!(["account", "motcua"]),
    ))
    .await
    .expect("the provider's token is accepted although its JWKS holds an encryption key");
    for (iss, aud, why) in [
        (
            "https://evil.example/realms/motcua",
            serde_json::json!("motcua"),
            "issuer",
        ),
        (issuer, serde_json::json!("account"), "audience"),
    ] {
        let e = list(provider_token(key, "k1", iss, aud))
            .await
            .expect_err(why);
        assert_eq!(e.code(), Code::Unauthenticated, "{why}");
        assert!(e.message().contains(why), "{}", e.message());
    }
    app.stop().await;
}
