//! Test harness: notification (and lookup, for SMS lookups; intake and workflow for the whole
//! path) on the shared test floor (`motcua_testkit::floor`): in one process on port 0, against the
//! real PostgreSQL and NATS, on a clock the test moves; a local HTTP server stands in for the SMS
//! gateway and webhook receivers, and a local SMTP server (mailin-embedded) for the mail relay.

#![allow(dead_code, unused_imports)]

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

pub use motcua_testkit::dossiers::{changed, state, submitted};
use motcua_testkit::floor::Floor;
pub use motcua_testkit::floor::{AGENCY, start_time};

pub const PHONE: &str = "0912345678";
pub const EMAIL: &str = "an.nv@example.vn";
pub const GATEWAY_SECRET: &str = "gateway-shared-secret-for-tests";

/// A fresh, well-formed dossier code of the agency, never the same twice in one test process
/// (random four digits collided now and then among a test's thirty dossiers).
pub fn new_code() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 10000;
    format!("{AGENCY}-260302-{n:04}")
}

pub fn new_id() -> String {
    motcua_testkit::scratch::new_id()
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

/// Notification's settings on the floor: the stand-ins for the gateway and the mail relay.
pub fn notification_vars(v: &mut Vars, stand: &str, smtp_port: u16) {
    for (key, value) in [
        // Notification alone: applicants are reached through the contacts the test's events
        // carry (the whole path points it at a running intake).
        ("MOTCUA_NOTIFICATION_INTAKE_URL", "off".to_owned()),
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
    ] {
        v.set(key, value);
    }
}

/// The floor, notification's database and the stand-ins; the floor's fields and methods (clock,
/// bus, vars, services, addr, …) are the app's.
pub struct App {
    pub floor: Floor,
    pub db: PgPool,
    pub stand: Stand,
    pub stand_url: String,
    pub mailbox: Mailbox,
}

motcua_testkit::on_the_floor!(App);

impl App {
    /// Notification alone (the test publishes the events), with `change` applied to its settings.
    pub async fn start(change: impl Fn(&mut Vars)) -> Self {
        let (stand, stand_url) = Stand::start().await;
        let (mailbox, smtp_port) = Mailbox::start();
        let floor = Floor::new(|v| {
            notification_vars(v, &stand_url, smtp_port);
            change(v);
        })
        .await;
        let mut app = Self {
            db: floor.pool("notification"),
            floor,
            stand,
            stand_url,
            mailbox,
        };
        app.start_notification().await;
        app
    }

    pub async fn start_notification(&mut self) {
        self.floor.start("notification").await;
    }

    /// Intake or workflow beside notification (the whole path); notification, which asks intake
    /// for applicants' contacts, is restarted pointed at this intake.
    pub async fn start_other(&mut self, service: &'static str) {
        let addr = self.floor.start(service).await.addr;
        if service == "intake" {
            self.vars
                .set("MOTCUA_NOTIFICATION_INTAKE_URL", format!("http://{addr}"));
            self.restart_notification(|_| {}).await;
        }
    }

    /// Lookup beside notification, and notification pointed at it (restarted).
    pub async fn with_lookup(mut self) -> Self {
        let addr = self.floor.start("lookup").await.addr;
        self.vars
            .set("MOTCUA_NOTIFICATION_LOOKUP_URL", format!("http://{addr}"));
        self.restart_notification(|_| {}).await;
        self
    }

    /// `http://127.0.0.1:<port>` of notification's HTTP side.
    pub fn web(&self) -> String {
        self.floor.web("notification")
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
        motcua_testkit::floor::wait_until(&format!("event {id} handled"), || async {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = $1)",
            )
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap_or(false)
        })
        .await;
    }

    /// Stops notification and starts it again with `change` applied to its settings.
    pub async fn restart_notification(&mut self, change: impl Fn(&mut Vars)) {
        self.stop_service("notification").await;
        change(&mut self.vars);
        self.start_notification().await;
    }

    /// Publishes an event as a producer's relay would; `id` is the event id (a redelivery or a
    /// second relay's copy reuses it with another NATS message id).
    pub async fn publish(&self, subject: &str, event_type: &str, id: uuid::Uuid, payload: Vec<u8>) {
        let copy = uuid::Uuid::new_v4().to_string();
        self.floor
            .publish_copy(subject, event_type, id, &copy, payload)
            .await;
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
        motcua_testkit::floor::wait_until(what, || async {
            sqlx::query_scalar::<_, bool>(sql)
                .bind(arg)
                .fetch_one(&self.db)
                .await
                .unwrap_or(false)
        })
        .await;
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

    pub async fn stop(self) {
        self.db.close().await;
        self.floor.stop().await;
    }
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
    app.floor.now()
}
