//! Test harness: lookup (and, for the whole path, intake and workflow) in one process on port 0,
//! against the real PostgreSQL (a fresh database each) and NATS (a fresh prefix), on a clock the
//! test moves; the real gRPC clients and an HTTP client.

#![allow(dead_code)]

use motcua_domain::secrets::SecretHasher;
use motcua_lookup::settings::LookupSettings;
use motcua_platform::auth::Role;
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::Vars;
use motcua_platform::host::Running;
use motcua_platform::process::Process;
use motcua_platform::{Clock, ManualClock};
use motcua_proto::common::{ApplicantType, Channel, DocumentForm, DossierStatus};
use motcua_proto::events::{DossierState, DossierStateChanged, DossierSubmitted};
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::intake::{Applicant, SubmitDossierRequest, SubmittedDocument};
use motcua_proto::lookup::lookup_service_client::LookupServiceClient;
use motcua_proto::lookup::{LookupDossierRequest, PublicDossier};
use motcua_proto::workflow::Action;
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_testkit::scratch::Scratch;
use prost::Message;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

pub const AGENCY: &str = "000.00.06.H56";
pub const LAND_DEPARTMENT: &str = "van-phong-dang-ky-dat-dai";
/// Lookup's public address as intake prints it on receipts (tests open the link on the local
/// port instead).
pub const PUBLIC_URL: &str = "https://tracuu.example.gov.vn";

/// Monday 2 March 2026, 09:00 in Vietnam: a working morning.
pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00+07:00")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

pub fn new_id() -> String {
    motcua_testkit::scratch::new_id()
}

pub fn catalog_file() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/catalog/tnmt.toml"
    )
}

pub fn vars(id: &str) -> Vars {
    Vars::from_pairs([
        ("MOTCUA_DATABASE_PREFIX", format!("t_{id}")),
        ("MOTCUA_DEVELOPMENT", "true".to_owned()),
        ("MOTCUA_BUS_PREFIX", format!("t{id}.")),
        ("MOTCUA_INTAKE_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_WORKFLOW_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_LOOKUP_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_LOOKUP_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_METRICS_ADDR", "off".to_owned()),
        ("MOTCUA_CATALOG_FILE", catalog_file().to_owned()),
        ("MOTCUA_LOOKUP_PUBLIC_URL", PUBLIC_URL.to_owned()),
        (
            "MOTCUA_ATTACHMENTS_DIR",
            std::env::temp_dir()
                .join(format!("motcua-lk-{id}"))
                .display()
                .to_string(),
        ),
        ("MOTCUA_SHUTDOWN_GRACE_SECS", "5".to_owned()),
        // Tests call from one address many times a second; the rate-limit test sets its own.
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
    pub lookup_db: PgPool,
    pub http: reqwest::Client,
    /// Removes the test's databases and streams however the test ends.
    pub scratch: Scratch,
}

/// Lookup alone (events are published by the test).
pub async fn lookup_only(change: impl Fn(&mut Vars)) -> App {
    let mut app = App::new(change).await;
    app.start_lookup().await;
    app
}

/// Intake, workflow and lookup: the whole path a citizen's dossier takes.
pub async fn whole_path() -> App {
    let mut app = App::new(|_| {}).await;
    app.start("intake").await;
    app.start("workflow").await;
    app.start_lookup().await;
    app
}

fn pool(process: &Process, service: &str) -> PgPool {
    PgPool::connect_lazy_with(
        motcua_platform::db::options(&process.settings.database_url)
            .unwrap()
            .database(&process.settings.database_name(service)),
    )
}

impl App {
    pub async fn new(change: impl Fn(&mut Vars)) -> Self {
        let id = new_id();
        let mut vars = vars(&id);
        change(&mut vars);
        let clock = ManualClock::new(start_time());
        let process = Process::new(vars.clone(), clock.clone()).unwrap();
        motcua_platform::telemetry::init("lookup-test", &process.settings).unwrap();
        Self {
            bus: Bus::connect(&process.settings.nats_url, &process.settings.bus_prefix)
                .await
                .unwrap(),
            lookup_db: pool(&process, "lookup"),
            http: motcua_platform::http::client(Duration::from_secs(10)).unwrap(),
            scratch: Scratch::with_id(id.clone()),
            id,
            vars,
            clock,
            services: Vec::new(),
        }
    }

    pub async fn start(&mut self, service: &'static str) {
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
        self.services.push((service, process, running));
    }

    pub async fn start_lookup(&mut self) {
        let process = Process::new(self.vars.clone(), self.clock.clone()).unwrap();
        let settings = LookupSettings::from_vars(&self.vars).unwrap();
        let running = motcua_lookup::start(&process, settings).await.unwrap();
        wait_serving(running.addr).await;
        self.services.push(("lookup", process, running));
    }

    pub async fn stop_service(&mut self, name: &str) {
        let i = self
            .services
            .iter()
            .position(|(n, _, _)| *n == name)
            .unwrap();
        let (_, process, running) = self.services.remove(i);
        process.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
    }

    fn running(&self, name: &str) -> &Running {
        &self
            .services
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("{name} is not running"))
            .2
    }

    pub fn addr(&self, name: &str) -> std::net::SocketAddr {
        self.running(name).addr
    }

    /// The gRPC addresses of every lookup replica running, in the order they started.
    pub fn lookup_replicas(&self) -> Vec<std::net::SocketAddr> {
        self.services
            .iter()
            .filter(|(n, _, _)| *n == "lookup")
            .map(|(_, _, r)| r.addr)
            .collect()
    }

    /// `http://127.0.0.1:<port>` of lookup's HTTP side.
    pub fn web(&self) -> String {
        format!("http://{}", self.running("lookup").http_addr.unwrap())
    }

    pub async fn lookup_client(&self) -> LookupServiceClient<GrpcChannel> {
        LookupServiceClient::new(channel(self.addr("lookup")).await)
    }

    pub async fn intake_client(
        &self,
    ) -> IntakeServiceClient<InterceptedService<GrpcChannel, Bearer>> {
        IntakeServiceClient::with_interceptor(
            channel(self.addr("intake")).await,
            Bearer::new(&token(&[Role::Desk], "", "desk-1")),
        )
    }

    pub async fn officer(&self, roles: &[Role], department: &str, sub: &str) -> Officer {
        WorkflowServiceClient::with_interceptor(
            channel(self.addr("workflow")).await,
            Bearer::new(&token(roles, department, sub)),
        )
    }

    /// Waits until lookup shows `code` at `version` or later (asked with `secret`).
    pub async fn wait_version(&self, code: &str, secret: &str, version: u64) -> PublicDossier {
        let mut client = self.lookup_client().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client
                .lookup_dossier(LookupDossierRequest {
                    dossier_code: code.to_owned(),
                    secret: secret.to_owned(),
                })
                .await
            {
                let d = r.into_inner().dossier.unwrap();
                if d.version >= version {
                    return d;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "lookup never showed {code} at version {version}"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Waits until lookup's database satisfies `sql` (a boolean query).
    pub async fn wait_db(&self, sql: &'static str, what: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let ok: bool = sqlx::query_scalar(sql)
                .fetch_one(&self.lookup_db)
                .await
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Publishes an event on the stream as a producer's relay would (event id as message id).
    pub async fn publish(&self, subject: &str, event_type: &str, id: uuid::Uuid, payload: Vec<u8>) {
        let mut h = async_nats::HeaderMap::new();
        h.insert(headers::EVENT_ID, id.to_string().as_str());
        h.insert(headers::EVENT_TYPE, event_type);
        h.insert("Nats-Msg-Id", id.to_string().as_str());
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

    pub async fn stop(mut self) {
        while let Some((_, process, running)) = self.services.pop() {
            process.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
        }
        self.lookup_db.close().await;
        self.scratch
            .remove()
            .await
            .expect("removing the test's databases and streams");
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("motcua-lk-{}", self.id)));
    }
}

/// A test that fails before `stop`: its services stop, its files go, and `scratch` (dropped
/// after this) removes the databases and streams.
impl Drop for App {
    fn drop(&mut self) {
        for (_, process, _) in &self.services {
            process.shutdown.cancel();
        }
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("motcua-lk-{}", self.id)));
    }
}

pub type Officer = WorkflowServiceClient<InterceptedService<GrpcChannel, Bearer>>;

pub use motcua_testkit::{Bearer, channel, wait_serving};

/// A development token of the agency's officer `sub` in `department`.
pub fn token(roles: &[Role], department: &str, sub: &str) -> String {
    motcua_testkit::token(roles, AGENCY, department, sub)
}

pub fn land_submission(key: &str) -> SubmitDossierRequest {
    let doc = |key: &str| SubmittedDocument {
        key: key.into(),
        form: DocumentForm::Original as i32,
        copies: 1,
        ..Default::default()
    };
    SubmitDossierRequest {
        idempotency_key: key.into(),
        procedure_code: "1.013831".into(),
        channel: Channel::Counter as i32,
        applicant: Some(Applicant {
            r#type: ApplicantType::Citizen as i32,
            name: "Nguyễn Văn An".into(),
            id_number: "038085001234".into(),
            phone: "0912345678".into(),
            email: String::new(),
            address: "Số 12 đường Lê Lợi, phường Điện Biên, tỉnh Thanh Hóa".into(),
        }),
        documents: vec![doc("don-dang-ky"), doc("giay-chung-nhan"), doc("hop-dong")],
        ..Default::default()
    }
}

pub fn act(version: u64) -> Option<Action> {
    Some(Action {
        expected_version: version,
        ..Default::default()
    })
}

/// A dossier's state as intake and workflow would publish it, hashed with the development key.
pub fn state(code: &str, version: u64, status: DossierStatus, token: &str) -> DossierState {
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
        receiving_agency: AGENCY.into(),
        competent_agency: AGENCY.into(),
        applicant_name_masked: "N***** V** A*".into(),
        received_at: Some(motcua_domain::time::ts(start_time())),
        due_at: Some(motcua_domain::time::ts(
            start_time() + chrono::Duration::days(12),
        )),
        lookup_token_hmac: token_hash,
        applicant_id_hmac: hasher.hash(code, "038085001234").1,
        secret_key_id: key,
        ..Default::default()
    }
}

pub fn submitted(state: DossierState) -> Vec<u8> {
    DossierSubmitted {
        state: Some(state),
        applicant_phone: "0912345678".into(),
        ..Default::default()
    }
    .encode_to_vec()
}

pub fn changed(
    state: DossierState,
    kind: motcua_proto::events::ChangeKind,
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

/// A gRPC lookup: the dossier, or the refusal.
pub async fn grpc_dossier(
    app: &App,
    code: &str,
    secret: &str,
) -> Result<PublicDossier, tonic::Status> {
    app.lookup_client()
        .await
        .lookup_dossier(LookupDossierRequest {
            dossier_code: code.into(),
            secret: secret.into(),
        })
        .await
        .map(|r| r.into_inner().dossier.unwrap())
}

/// (status, Retry-After, body) of a JSON lookup.
pub async fn json_lookup(app: &App, code: &str, secret: &str) -> (u16, Option<String>, String) {
    let r = app
        .http
        .post(format!("{}/api/v1/dossiers/lookup", app.web()))
        .header("content-type", "application/json")
        .body(serde_json::json!({"dossier_code": code, "secret": secret}).to_string())
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), retry, r.text().await.unwrap())
}

/// (status, body) of the page's form post.
pub async fn page_lookup(app: &App, code: &str, secret: &str) -> (u16, String) {
    let r = app
        .http
        .post(format!("{}/tra-cuu", app.web()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("ma-ho-so", code), ("ma-tra-cuu", secret)]).unwrap())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The procedures of the catalog file intake loads (deploy/catalog/tnmt.toml).
pub fn catalog() -> Vec<motcua_proto::common::Procedure> {
    let text = std::fs::read_to_string(catalog_file()).unwrap();
    motcua_intake::catalog::parse_file(&text)
        .unwrap()
        .procedures
}

/// Intake (which publishes the catalog file) and lookup, once lookup holds every procedure.
pub async fn with_catalog() -> App {
    let mut app = App::new(|_| {}).await;
    app.start("intake").await;
    app.start_lookup().await;
    let n = catalog().len() as i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let held: i64 = sqlx::query_scalar("SELECT count(*) FROM procedures")
            .fetch_one(&app.lookup_db)
            .await
            .unwrap_or(0);
        if held >= n {
            return app;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lookup never held the {n} procedures"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The body of `GET path` on lookup's HTTP side.
pub async fn get_text(app: &App, path: &str) -> String {
    app.http
        .get(format!("{}{path}", app.web()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Publishes a procedure version on the catalog stream as intake would.
pub async fn publish_procedure(app: &App, p: motcua_proto::common::Procedure) {
    app.publish(
        "catalog.procedure-published",
        "procedure-published",
        uuid::Uuid::now_v7(),
        motcua_proto::events::ProcedurePublished { procedure: Some(p) }.encode_to_vec(),
    )
    .await;
}

/// The clock's now, for events.
pub fn now(app: &App) -> chrono::DateTime<chrono::Utc> {
    app.clock.now()
}
