//! Test harness: lookup (and, for the whole path, intake and workflow) on the shared test floor
//! (`motcua_testkit::floor`): in one process on port 0, against the real PostgreSQL and NATS, on a
//! clock the test moves; the real gRPC clients and an HTTP client.

#![allow(dead_code, unused_imports)]

use motcua_platform::auth::Role;
use motcua_platform::config::Vars;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::lookup::lookup_service_client::LookupServiceClient;
use motcua_proto::lookup::{LookupDossierRequest, PublicDossier};
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_testkit::floor::Floor;
use prost::Message;
use sqlx::PgPool;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

pub use motcua_testkit::dossiers::{act, land_submission, state};
pub use motcua_testkit::floor::{AGENCY, LAND_DEPARTMENT, catalog_file, start_time};
pub use motcua_testkit::{Bearer, channel, wait_serving};

/// Lookup's public address as intake prints it on receipts (tests open the link on the local
/// port instead).
pub const PUBLIC_URL: &str = "https://tracuu.example.gov.vn";

pub fn new_id() -> String {
    motcua_testkit::scratch::new_id()
}

/// The floor and lookup's database; the floor's fields and methods (clock, bus, vars, start,
/// addr, publish, stop_service, …) are the app's.
pub struct App {
    pub floor: Floor,
    pub lookup_db: PgPool,
}

motcua_testkit::on_the_floor!(App);

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

impl App {
    pub async fn new(change: impl Fn(&mut Vars)) -> Self {
        let floor = Floor::new(|v| {
            v.set("MOTCUA_LOOKUP_PUBLIC_URL", PUBLIC_URL);
            change(v);
        })
        .await;
        Self {
            lookup_db: floor.pool("lookup"),
            floor,
        }
    }

    pub async fn start_lookup(&mut self) {
        self.floor.start("lookup").await;
    }

    /// The gRPC addresses of every lookup replica running, in the order they started.
    pub fn lookup_replicas(&self) -> Vec<std::net::SocketAddr> {
        self.addrs("lookup")
    }

    /// `http://127.0.0.1:<port>` of lookup's HTTP side.
    pub fn web(&self) -> String {
        self.floor.web("lookup")
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
        motcua_testkit::floor::wait_db(&self.lookup_db, sql, what).await;
    }

    pub async fn stop(self) {
        self.lookup_db.close().await;
        self.floor.stop().await;
    }
}

pub type Officer = WorkflowServiceClient<InterceptedService<GrpcChannel, Bearer>>;

/// A development token of the agency's officer `sub` in `department`.
pub fn token(roles: &[Role], department: &str, sub: &str) -> String {
    motcua_testkit::token(roles, AGENCY, department, sub)
}

/// The `dossier-submitted` event of `state`, with the applicant's phone.
pub fn submitted(state: motcua_proto::events::DossierState) -> Vec<u8> {
    motcua_testkit::dossiers::submitted(state, "0912345678", "")
}

pub use motcua_testkit::dossiers::changed;

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
    let pool = app.lookup_db.clone();
    motcua_testkit::floor::wait_until("lookup holds every procedure", || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM procedures")
            .fetch_one(&pool)
            .await
            .is_ok_and(|held| held >= n)
    })
    .await;
    app
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
    app.floor.now()
}
