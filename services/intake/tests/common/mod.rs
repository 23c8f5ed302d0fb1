//! Test harness: a real intake on the shared test floor (`motcua_testkit::floor`): on port 0,
//! against the real PostgreSQL (a fresh database per test) and the real NATS (a fresh stream and
//! subject prefix per test), with typed gRPC clients.

#![allow(dead_code, unused_imports)]

use motcua_intake::settings::IntakeSettings;
use motcua_platform::auth::{Claims, Role, mint};
use motcua_platform::config::{DEV_JWT_SECRET, Settings, Vars};
use motcua_platform::{CancellationToken, Clock};
use motcua_proto::common::ApplicantType;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::intake::{Applicant, SubmitDossierRequest};
use motcua_testkit::floor::Floor;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

pub use motcua_testkit::floor::{AGENCY, start_time};

/// Intake on the floor; the floor's fields (clock, bus, id, scratch) are the app's.
pub struct TestApp {
    pub floor: Floor,
    pub addr: SocketAddr,
    pub settings: Settings,
    pub intake: IntakeSettings,
    pub shutdown: CancellationToken,
    pub task: Option<JoinHandle<Result<(), String>>>,
    pub pool: PgPool,
    /// The process's readiness and health details (what `/status` on the metrics port shows).
    pub status: motcua_platform::readiness::StatusBoard,
}

motcua_testkit::on_the_floor!(TestApp);

/// The secret-hash key of the tests' intake (what lookup would hold).
pub const TEST_HASH_KEY: &str = "test-secret-hash-key-0123456789abcdef";

pub fn new_id() -> String {
    motcua_testkit::scratch::new_id()
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(change: impl FnOnce(&mut Vars)) -> TestApp {
    let app = start_with(change).await;
    app.wait_serving(Duration::from_secs(30)).await;
    app.wait_catalog().await;
    app
}

/// Starts intake without waiting for it to become ready.
pub async fn start_with(change: impl FnOnce(&mut Vars)) -> TestApp {
    let floor = Floor::new(|v| {
        v.set("MOTCUA_SHUTDOWN_GRACE_SECS", "10");
        v.set("MOTCUA_SECRET_HASH_KEYS", format!("t1:{TEST_HASH_KEY}"));
        change(v);
    })
    .await;
    let process = floor.process("intake", &floor.vars);
    let settings = process.settings.clone();
    let intake = IntakeSettings::from_vars(&floor.vars).expect("intake settings");
    let shutdown = process.shutdown.clone();
    let running = motcua_intake::start(&process, intake.clone())
        .await
        .expect("intake starts");
    TestApp {
        addr: running.addr,
        intake,
        pool: floor.pool("intake"),
        settings,
        shutdown,
        task: Some(running.task),
        status: process.status.clone(),
        floor,
    }
}

impl TestApp {
    pub async fn channel(&self) -> GrpcChannel {
        GrpcChannel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn health(&self) -> i32 {
        let mut client = tonic_health::pb::health_client::HealthClient::new(self.channel().await);
        match client
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
        {
            Ok(r) => r.into_inner().status,
            Err(_) => -1,
        }
    }

    pub async fn wait_serving(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while self.health().await
            != tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "intake did not become SERVING"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every procedure of the shipped catalog is published.
    pub async fn wait_catalog(&self) {
        self.floor.wait_catalog().await;
    }

    /// Workflow asks for a supplement: the state event it publishes (status SUPPLEMENT_REQUESTED,
    /// the given version), which intake follows; returns once intake shows that status.
    pub async fn asked_for_supplement(&self, code: &str, version: u64) {
        self.followed(
            code,
            version,
            motcua_proto::common::DossierStatus::SupplementRequested,
            "supplement-requested",
        )
        .await;
    }

    /// Workflow's state event (`change` at `version`, now in `status`) published, and intake
    /// following it.
    pub async fn followed(
        &self,
        code: &str,
        version: u64,
        status: motcua_proto::common::DossierStatus,
        change: &str,
    ) {
        use motcua_proto::events::{DossierState, DossierStateChanged};
        use prost::Message;
        let field = code_field(&self.pool, code).await;
        let event = DossierStateChanged {
            state: Some(DossierState {
                dossier_code: code.to_owned(),
                version,
                status: status as i32,
                field: field.clone(),
                ..Default::default()
            }),
            change: change.into(),
            at: Some(motcua_domain::time::ts(self.clock.now())),
            ..Default::default()
        };
        self.floor
            .publish(
                &format!("dossier.{field}.state-changed"),
                motcua_domain::events::STATE_CHANGED,
                uuid::Uuid::now_v7(),
                event.encode_to_vec(),
            )
            .await;
        for _ in 0..200 {
            let version_held: i64 =
                sqlx::query_scalar("SELECT version FROM dossiers WHERE code = $1")
                    .bind(code)
                    .fetch_one(&self.pool)
                    .await
                    .expect("version");
            if version_held >= version as i64 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("intake did not follow {change} of {code}");
    }

    pub async fn client(
        &self,
        roles: &[Role],
    ) -> IntakeServiceClient<InterceptedService<GrpcChannel, Bearer>> {
        self.client_for(roles, AGENCY, "officer-1").await
    }

    pub async fn client_for(
        &self,
        roles: &[Role],
        agency: &str,
        sub: &str,
    ) -> IntakeServiceClient<InterceptedService<GrpcChannel, Bearer>> {
        let token = token(roles, agency, sub, 3600);
        IntakeServiceClient::with_interceptor(self.channel().await, Bearer::new(&token))
    }

    /// The national portal's client (agency 000.00.00.G22, role integration), given this
    /// province's scope (claim `province` = H56) as the province's identity provider would.
    pub async fn portal(&self) -> IntakeServiceClient<InterceptedService<GrpcChannel, Bearer>> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: "cong-dich-vu-cong".into(),
            name: "Cổng Dịch vụ công".into(),
            agency: "000.00.00.G22".into(),
            roles: vec![Role::Integration],
            province: motcua_platform::auth::province_of(AGENCY).into(),
            exp: now + 3600,
            iat: now,
            ..Default::default()
        };
        let token = mint(DEV_JWT_SECRET, &claims).expect("mint");
        IntakeServiceClient::with_interceptor(self.channel().await, Bearer::new(&token))
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Today (Vietnam) on the service's clock, as in dossier codes: yyMMdd.
    pub fn today_code(&self) -> String {
        motcua_domain::time::vietnam_day(self.clock.now())
            .format("%y%m%d")
            .to_string()
    }

    /// Locks today's dossier sequence of AGENCY in an open transaction, so a submission blocks
    /// inside its own transaction until the returned one ends.
    pub async fn hold_todays_sequence(&self) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let today = motcua_domain::time::vietnam_day(self.clock.now());
        let mut blocker = self.pool.begin().await.expect("begin");
        sqlx::query("INSERT INTO dossier_sequences (agency, day, last) VALUES ($1, $2, 0)")
            .bind(AGENCY)
            .bind(today)
            .execute(&mut *blocker)
            .await
            .expect("hold the sequence row");
        blocker
    }

    /// Waits until `n` calls of the service wait for a row lock in its database (submissions
    /// blocked behind [`Self::hold_todays_sequence`]): the sign that they were let in and are
    /// inside their transactions, not still on their way.
    pub async fn wait_lock_waiters(&self, n: i64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE NOT l.granted AND a.datname = current_database()",
            )
            .fetch_one(&self.pool)
            .await
            .expect("lock waiters");
            if waiting == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{waiting} calls wait for a lock, not {n}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the service and removes the test's database, streams and files.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
        self.pool.close().await;
        self.floor.stop().await;
    }
}

pub fn token(roles: &[Role], agency: &str, sub: &str, ttl: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: sub.into(),
        name: "Nguyễn Thị Cán Bộ".into(),
        agency: agency.into(),
        roles: roles.to_vec(),
        exp: now + ttl,
        iat: now,
        ..Default::default()
    };
    mint(DEV_JWT_SECRET, &claims).expect("mint")
}

#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    pub fn new(token: &str) -> Self {
        Self(Some(format!("Bearer {token}").parse().expect("ascii")))
    }
    pub fn raw(header: Option<&str>) -> Self {
        Self(header.map(|h| h.parse().expect("ascii")))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

pub fn citizen() -> Applicant {
    Applicant {
        r#type: ApplicantType::Citizen as i32,
        name: "Nguyễn Văn An".into(),
        id_number: "038085001234".into(),
        phone: "0912 345 678".into(),
        email: "an.nguyen@example.vn".into(),
        address: "Số 12 đường Lê Lợi, phường Điện Biên, tỉnh Thanh Hóa".into(),
    }
}

/// A complete counter submission of 1.013831 (land change registration, 8 working days), the
/// applicant with a phone written as people write it and an e-mail, the result at the desk.
pub fn counter_submission(key: &str) -> SubmitDossierRequest {
    SubmitDossierRequest {
        applicant: Some(citizen()),
        result_delivery: "tai-quay".into(),
        ..motcua_testkit::dossiers::land_submission(key)
    }
}

async fn code_field(pool: &PgPool, code: &str) -> String {
    sqlx::query_scalar("SELECT field FROM dossiers WHERE code = $1")
        .bind(code)
        .fetch_one(pool)
        .await
        .expect("dossier's field")
}
