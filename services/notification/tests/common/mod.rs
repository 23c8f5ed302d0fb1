//! Test harness: notification (and lookup, for SMS lookups) in one process on port 0, against the
//! real PostgreSQL (a fresh database each) and NATS (a fresh prefix), on a clock the test moves;
//! a local HTTP server stands in for the SMS gateway and webhook receivers, and a local SMTP
//! server (mailin-embedded) for the mail relay.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use motcua_domain::secrets::SecretHasher;
use motcua_platform::auth::Role;
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::Vars;
use motcua_platform::host::Running;
use motcua_platform::process::Process;
use motcua_platform::{Clock, ManualClock};
use motcua_proto::common::{Actor, DossierStatus};
use motcua_proto::events::{
    ChangeKind, DeadlineKind, DeadlineReached, DeadlineScope, DossierState, DossierStateChanged,
    DossierSubmitted,
};
use motcua_proto::notification::notification_service_client::NotificationServiceClient;
use prost::Message;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

pub const AGENCY: &str = "000.00.06.H56";
pub const PHONE: &str = "0912345678";
pub const EMAIL: &str = "an.nv@example.vn";
pub const GATEWAY_SECRET: &str = "gateway-shared-secret-for-tests";

/// Monday 2 March 2026, 09:00 in Vietnam: a working morning, outside quiet hours.
pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00+07:00")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// A fresh, well-formed dossier code of the agency, never the same twice in one test process
/// (random four digits collided now and then among a test's thirty dossiers).
pub fn new_code() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 10000;
    format!("{AGENCY}-260302-{n:04}")
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// What the stand-in gateway does with the next requests.
pub const OK: u8 = 0;
pub const FAIL: u8 = 1;
pub const HANG: u8 = 2;

/// A local HTTP server standing in for the SMS gateway (`/sms`) and webhook receivers
/// (`/hook/ok`, `/hook/hang`): it records what it receives.
#[derive(Clone, Default)]
pub struct Stand {
    pub sms: Arc<Mutex<Vec<serde_json::Value>>>,
    pub hooks: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    pub mode: Arc<AtomicU8>,
    pub calls: Arc<Mutex<u32>>,
}

impl Stand {
    pub async fn start() -> (Self, String) {
        let stand = Stand::default();
        let app = axum::Router::new()
            .route("/sms", post(sms))
            .route("/hook/ok", post(hook_ok))
            .route("/hook/hang", post(hook_hang))
            .route("/hook/redirect", post(hook_redirect))
            .with_state(stand.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (stand, format!("http://{addr}"))
    }

    pub fn sms_texts(&self) -> Vec<String> {
        self.sms
            .lock()
            .unwrap()
            .iter()
            .map(|v| v["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

async fn sms(State(s): State<Stand>, body: Bytes) -> (StatusCode, String) {
    *s.calls.lock().unwrap() += 1;
    match s.mode.load(Ordering::SeqCst) {
        FAIL => return (StatusCode::BAD_GATEWAY, "upstream down".into()),
        HANG => {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        _ => {}
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let n = {
        let mut list = s.sms.lock().unwrap();
        list.push(v);
        list.len()
    };
    (StatusCode::OK, format!("{{\"messageId\": \"gw-{n}\"}}"))
}

async fn hook_ok(State(s): State<Stand>, headers: HeaderMap, body: Bytes) -> StatusCode {
    s.hooks.lock().unwrap().push((headers, body));
    StatusCode::NO_CONTENT
}

/// A receiver that sends its caller on to the cloud's metadata address.
async fn hook_redirect() -> (StatusCode, [(&'static str, &'static str); 1]) {
    (
        StatusCode::FOUND,
        [("location", "http://169.254.169.254/latest/meta-data/")],
    )
}

async fn hook_hang() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(60)).await;
    StatusCode::OK
}

/// A local SMTP server: each message's raw text.
#[derive(Clone, Default)]
pub struct Mailbox {
    pub mails: Arc<Mutex<Vec<String>>>,
    /// This session's message (the server clones the handler per connection).
    current: Vec<u8>,
}

impl mailin_embedded::Handler for Mailbox {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let raw = std::mem::take(&mut self.current);
        self.mails
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&raw).into_owned());
        mailin_embedded::response::OK
    }
}

impl Mailbox {
    pub fn start() -> (Self, u16) {
        let mailbox = Mailbox::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut server = mailin_embedded::Server::new(mailbox.clone());
        server
            .with_name("smtp.test")
            .with_num_threads(32)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        (mailbox, port)
    }

    /// The mails to `to`, decoded enough to read their subject and text.
    pub fn to(&self, to: &str) -> Vec<String> {
        self.mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.lines().any(|l| l.starts_with("To:") && l.contains(to)))
            .cloned()
            .collect()
    }
}

pub fn vars(id: &str, stand: &str, smtp_port: u16) -> Vars {
    Vars::from_pairs([
        ("MOTCUA_DATABASE_PREFIX", format!("t_{id}")),
        ("MOTCUA_DEVELOPMENT", "true".to_owned()),
        // Notification alone: applicants are reached through the contacts the test's events carry
        // (the whole path points it at a running intake).
        ("MOTCUA_NOTIFICATION_INTAKE_URL", "off".to_owned()),
        ("MOTCUA_BUS_PREFIX", format!("t{id}.")),
        ("MOTCUA_NOTIFICATION_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_NOTIFICATION_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_LOOKUP_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_LOOKUP_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_METRICS_ADDR", "off".to_owned()),
        ("MOTCUA_SHUTDOWN_GRACE_SECS", "5".to_owned()),
        ("MOTCUA_SMS_PROVIDER", "http".to_owned()),
        ("MOTCUA_SMS_GATEWAY_URL", format!("{stand}/sms")),
        ("MOTCUA_SMS_GATEWAY_ID_POINTER", "/messageId".to_owned()),
        ("MOTCUA_EMAIL_PROVIDER", "smtp".to_owned()),
        ("MOTCUA_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")),
        ("MOTCUA_SMS_INBOUND_SECRET", GATEWAY_SECRET.to_owned()),
        // The stand-in receivers listen on loopback, which webhooks may reach only when named.
        ("MOTCUA_WEBHOOK_ALLOWED_TARGETS", "127.0.0.1".to_owned()),
        ("MOTCUA_DELIVERY_TIMEOUT_SECS", "1".to_owned()),
        ("MOTCUA_DELIVERY_BACKOFF_SECS", "60".to_owned()),
        ("MOTCUA_DELIVERY_RETRY_HOURS", "2".to_owned()),
        (
            "MOTCUA_LOOKUP_PUBLIC_URL",
            "https://tracuu.example.gov.vn".to_owned(),
        ),
        (
            "MOTCUA_STAFF_FILE",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/staff.toml").to_owned(),
        ),
        ("MOTCUA_PUBLIC_RATE_PER_SECOND", "10000".to_owned()),
        ("MOTCUA_PUBLIC_RATE_BURST", "10000".to_owned()),
        ("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (64u64 << 20).to_string()),
        ("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (16u64 << 20).to_string()),
        ("MOTCUA_DEAD_LETTERS_MAX_BYTES", (16u64 << 20).to_string()),
    ])
}

pub struct App {
    pub id: String,
    pub vars: Vars,
    pub clock: Arc<ManualClock>,
    pub services: Vec<(&'static str, Process, Running)>,
    pub bus: Bus,
    pub db: PgPool,
    pub http: reqwest::Client,
    pub stand: Stand,
    pub stand_url: String,
    pub mailbox: Mailbox,
}

impl App {
    /// Notification alone (the test publishes the events), with `change` applied to its settings.
    pub async fn start(change: impl Fn(&mut Vars)) -> Self {
        let id = new_id();
        let (stand, stand_url) = Stand::start().await;
        let (mailbox, smtp_port) = Mailbox::start();
        let mut vars = vars(&id, &stand_url, smtp_port);
        change(&mut vars);
        let clock = ManualClock::new(start_time());
        let process = Process::new(vars.clone(), clock.clone()).unwrap();
        motcua_platform::telemetry::init("notification-test", &process.settings).unwrap();
        let db = PgPool::connect_lazy_with(
            motcua_platform::db::options(&process.settings.database_url)
                .unwrap()
                .database(&process.settings.database_name("notification")),
        );
        let mut app = Self {
            bus: Bus::connect(&process.settings.nats_url, &process.settings.bus_prefix)
                .await
                .unwrap(),
            db,
            http: motcua_platform::http::client(Duration::from_secs(10)).unwrap(),
            id,
            vars,
            clock,
            services: Vec::new(),
            stand,
            stand_url,
            mailbox,
        };
        app.start_notification().await;
        app
    }

    pub async fn start_notification(&mut self) {
        let process = Process::new(self.vars.clone(), self.clock.clone()).unwrap();
        let settings =
            motcua_notification::settings::NotificationSettings::from_vars(&self.vars).unwrap();
        let running = motcua_notification::start(&process, settings)
            .await
            .unwrap();
        wait_serving(running.addr).await;
        self.services.push(("notification", process, running));
    }

    /// Intake or workflow beside notification (the whole path; the test's settings must give
    /// them a catalog and addresses: see [`whole_path_vars`]).
    pub async fn start_other(&mut self, service: &'static str) {
        let process = Process::new(self.vars.clone(), self.clock.clone()).unwrap();
        let running = match service {
            "intake" => {
                let s = motcua_intake::settings::IntakeSettings::from_vars(&self.vars).unwrap();
                motcua_intake::start(&process, s).await.unwrap()
            }
            "workflow" => {
                let s = motcua_workflow::settings::WorkflowSettings::from_vars(&self.vars).unwrap();
                motcua_workflow::start(&process, s).await.unwrap()
            }
            other => panic!("no service {other}"),
        };
        wait_serving(running.addr).await;
        let intake = (service == "intake").then_some(running.addr);
        self.services.push((service, process, running));
        // Notification asks intake for applicants' contacts: point it at this one.
        if let Some(addr) = intake {
            self.vars
                .set("MOTCUA_NOTIFICATION_INTAKE_URL", format!("http://{addr}"));
            self.restart_notification(|_| {}).await;
        }
    }

    pub fn addr(&self, name: &str) -> std::net::SocketAddr {
        self.running(name).addr
    }

    /// Lookup beside notification, and notification pointed at it (restarted).
    pub async fn with_lookup(mut self) -> Self {
        let process = Process::new(self.vars.clone(), self.clock.clone()).unwrap();
        let settings = motcua_lookup::settings::LookupSettings::from_vars(&self.vars).unwrap();
        let running = motcua_lookup::start(&process, settings).await.unwrap();
        wait_serving(running.addr).await;
        self.vars.set(
            "MOTCUA_NOTIFICATION_LOOKUP_URL",
            format!("http://{}", running.addr),
        );
        self.services.push(("lookup", process, running));
        self.restart_notification(|_| {}).await;
        self
    }

    fn running(&self, name: &str) -> &Running {
        &self
            .services
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not running"))
            .2
    }

    /// `http://127.0.0.1:<port>` of notification's HTTP side.
    pub fn web(&self) -> String {
        format!("http://{}", self.running("notification").http_addr.unwrap())
    }

    pub async fn admin(&self) -> Client {
        NotificationServiceClient::with_interceptor(
            channel(self.running("notification").addr).await,
            Bearer::new(&token(&[Role::Admin], "admin-1")),
        )
    }

    pub async fn client_as(&self, roles: &[Role]) -> Client {
        self.client_with(&token(roles, "someone")).await
    }

    pub async fn client_with(&self, token: &str) -> Client {
        NotificationServiceClient::with_interceptor(
            channel(self.running("notification").addr).await,
            Bearer::new(token),
        )
    }

    /// Waits until notification's consumer has handled event `id` (its effect is committed with
    /// that record, so what it wrote — or did not write — is now there to read).
    pub async fn wait_handled(&self, id: uuid::Uuid) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let done: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1)",
            )
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap_or(false);
            if done {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "event {id} never handled"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Stops notification and starts it again with `change` applied to its settings.
    pub async fn restart_notification(&mut self, change: impl Fn(&mut Vars)) {
        let i = self
            .services
            .iter()
            .position(|(n, _, _)| *n == "notification")
            .unwrap();
        let (_, process, running) = self.services.remove(i);
        process.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
        change(&mut self.vars);
        self.start_notification().await;
    }

    /// Publishes an event as a producer's relay would; `id` is the event id (a redelivery or a
    /// second relay's copy reuses it with another NATS message id).
    pub async fn publish(&self, subject: &str, event_type: &str, id: uuid::Uuid, payload: Vec<u8>) {
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::EVENT_ID, id.to_string().as_str());
        h.insert(headers::EVENT_TYPE, event_type);
        h.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
        let m = async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .headers(h);
        self.bus
            .js
            .send_publish(self.bus.subject(subject), m)
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// A subscription made with `token` to the stand-in receiver at `path` (e.g. `/hook/ok`).
    pub async fn subscribe(
        &self,
        token: &str,
        path: &str,
    ) -> motcua_proto::notification::Subscription {
        self.client_with(token)
            .await
            .create_subscription(motcua_proto::notification::CreateSubscriptionRequest {
                url: format!("{}{path}", self.stand_url),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .subscription
            .unwrap()
    }

    /// Publishes the `submitted` event of dossier `code` (received now by its code's agency), as
    /// intake would; its event id.
    pub async fn receive(&self, code: &str, phone: &str, email: &str) -> uuid::Uuid {
        let id = uuid::Uuid::now_v7();
        let s = state(code, 1, DossierStatus::Received, "K7Q2M9XA3B");
        self.publish(
            "dossier.dat-dai.submitted",
            "submitted",
            id,
            submitted(s, phone, email),
        )
        .await;
        id
    }

    /// Waits until notification's database satisfies `sql` (a boolean query with `$1` = `arg`).
    pub async fn wait_db(&self, sql: &'static str, arg: &str, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ok: bool = sqlx::query_scalar(sql)
                .bind(arg)
                .fetch_one(&self.db)
                .await
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// (trigger, channel, recipient_kind, status) of a dossier's deliveries, sorted.
    pub async fn deliveries(&self, code: &str) -> Vec<(String, String, String, String)> {
        let mut rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT trigger, channel, recipient_kind, status FROM deliveries WHERE dossier_code = $1",
        )
        .bind(code)
        .fetch_all(&self.db)
        .await
        .unwrap();
        rows.sort();
        rows
    }

    pub async fn stop(mut self) {
        while let Some((_, process, running)) = self.services.pop() {
            process.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
        }
        self.db.close().await;
        let settings = motcua_platform::config::Settings::from_vars(&self.vars).unwrap();
        for service in ["notification", "lookup", "intake", "workflow"] {
            let _ = motcua_platform::db::drop_database(
                &settings.database_url,
                &settings.database_name(service),
            )
            .await;
        }
        self.bus.delete_streams().await;
    }
}

/// What intake and workflow need beside notification.
pub fn whole_path_vars(v: &mut Vars) {
    v.set("MOTCUA_INTAKE_GRPC_ADDR", "127.0.0.1:0");
    v.set("MOTCUA_WORKFLOW_GRPC_ADDR", "127.0.0.1:0");
    v.set(
        "MOTCUA_CATALOG_FILE",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/catalog/tnmt.toml"
        ),
    );
    v.set(
        "MOTCUA_ATTACHMENTS_DIR",
        std::env::temp_dir()
            .join(format!("motcua-nt-{}", new_id()))
            .display()
            .to_string(),
    );
}

pub type Client = NotificationServiceClient<InterceptedService<GrpcChannel, Bearer>>;

pub use motcua_testkit::{Bearer, channel, wait_serving};

/// A development token of the agency's `sub`.
pub fn token(roles: &[Role], sub: &str) -> String {
    motcua_testkit::token(roles, AGENCY, "", sub)
}

/// Another agency of the same province, and one of another province.
pub const OTHER_AGENCY: &str = "000.00.07.H56";
pub const OTHER_PROVINCE: &str = "000.00.01.H57";

/// A dossier code of `agency`, never the same twice in one test process.
pub fn code_of(agency: &str) -> String {
    new_code().replacen(AGENCY, agency, 1)
}

/// A dossier's state as intake and workflow would publish it, hashed with the development key;
/// received by and routed to the agency its code names.
pub fn state(code: &str, version: u64, status: DossierStatus, token: &str) -> DossierState {
    let agency = code.split('-').next().unwrap();
    let hasher = SecretHasher::development();
    let (key, token_hash) = hasher.hash(code, token);
    DossierState {
        dossier_code: code.to_owned(),
        version,
        status: status as i32,
        national_code: motcua_domain::status::national_code(status),
        procedure_code: "1.013831".into(),
        procedure_version: 1,
        procedure_name: "Đăng ký biến động đất đai".into(),
        field: "dat-dai".into(),
        receiving_agency: agency.into(),
        competent_agency: agency.into(),
        applicant_name_masked: "N***** V** A*".into(),
        received_at: Some(motcua_domain::time::ts(start_time())),
        due_at: Some(motcua_domain::time::ts(
            start_time() + chrono::Duration::days(12),
        )),
        lookup_token_hmac: token_hash,
        applicant_id_hmac: hasher.hash(code, "038085001234").1,
        secret_key_id: key,
        current_department: "van-phong-dang-ky-dat-dai".into(),
        ..Default::default()
    }
}

pub fn submitted(state: DossierState, phone: &str, email: &str) -> Vec<u8> {
    DossierSubmitted {
        state: Some(state),
        applicant_phone: phone.into(),
        applicant_email: email.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

pub fn changed(
    state: DossierState,
    kind: ChangeKind,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    DossierStateChanged {
        state: Some(state),
        kind: kind as i32,
        at: Some(motcua_domain::time::ts(at)),
        ..Default::default()
    }
    .encode_to_vec()
}

pub fn deadline(
    code: &str,
    kind: DeadlineKind,
    assignee: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<u8> {
    DeadlineReached {
        dossier_code: code.into(),
        field: "dat-dai".into(),
        competent_agency: AGENCY.into(),
        kind: kind as i32,
        scope: DeadlineScope::Step as i32,
        step: "tham-dinh".into(),
        step_name: "Thẩm định hồ sơ".into(),
        department: "van-phong-dang-ky-dat-dai".into(),
        assignee: Some(Actor {
            subject: assignee.into(),
            name: "Trần Thị Bình".into(),
            agency: AGENCY.into(),
        }),
        due_at: Some(motcua_domain::time::ts(at)),
        at: Some(motcua_domain::time::ts(at)),
        state_version: 3,
    }
    .encode_to_vec()
}

pub fn now(app: &App) -> chrono::DateTime<chrono::Utc> {
    app.clock.now()
}
