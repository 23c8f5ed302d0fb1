//! Test harness: intake and workflow in one process on port 0, against the real PostgreSQL (a
//! fresh database each) and NATS (a fresh prefix), on a clock the test moves; typed gRPC clients
//! with tokens carrying roles and departments.

#![allow(dead_code)]

use futures::StreamExt;
use motcua_intake::settings::IntakeSettings;
use motcua_platform::auth::Role;
use motcua_platform::bus::Bus;
use motcua_platform::config::Vars;
use motcua_platform::host::Running;
use motcua_platform::process::Process;
use motcua_platform::{Clock, ManualClock};
use motcua_proto::common::{ApplicantType, Channel, DocumentForm};
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::intake::{Applicant, SubmitDossierRequest, SubmittedDocument};
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::{Action, Case, GetCaseRequest};
use motcua_testkit::scratch::Scratch;
use motcua_workflow::settings::WorkflowSettings;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

pub const AGENCY: &str = "000.00.06.H56";
pub const LAND_DEPARTMENT: &str = "van-phong-dang-ky-dat-dai";

/// Monday 2 March 2026, 09:00 in Vietnam: a working morning.
pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00+07:00")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

pub fn new_id() -> String {
    motcua_testkit::scratch::new_id()
}

pub fn vars(id: &str) -> Vars {
    let catalog = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/catalog/tnmt.toml"
    );
    Vars::from_pairs([
        ("MOTCUA_DATABASE_PREFIX", format!("t_{id}")),
        ("MOTCUA_DEVELOPMENT", "true".to_owned()),
        ("MOTCUA_BUS_PREFIX", format!("t{id}.")),
        ("MOTCUA_INTAKE_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_WORKFLOW_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("MOTCUA_METRICS_ADDR", "off".to_owned()),
        ("MOTCUA_CATALOG_FILE", catalog.to_owned()),
        (
            "MOTCUA_ATTACHMENTS_DIR",
            std::env::temp_dir()
                .join(format!("motcua-wf-{id}"))
                .display()
                .to_string(),
        ),
        ("MOTCUA_SHUTDOWN_GRACE_SECS", "5".to_owned()),
        ("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (64u64 << 20).to_string()),
        ("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (16u64 << 20).to_string()),
        ("MOTCUA_DEAD_LETTERS_MAX_BYTES", (16u64 << 20).to_string()),
    ])
}

pub struct App {
    pub id: String,
    pub vars: Vars,
    pub clock: Arc<ManualClock>,
    pub intake: Option<(Process, Running)>,
    pub workflows: Vec<(Process, Running)>,
    pub bus: Bus,
    pub workflow_db: PgPool,
    pub intake_db: PgPool,
    /// Removes the test's databases and streams however the test ends.
    pub scratch: Scratch,
}

pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// Intake and one workflow instance (all fields), with `change` applied to the settings.
pub async fn spawn_with(change: impl Fn(&mut Vars)) -> App {
    let id = new_id();
    let mut v = vars(&id);
    change(&mut v);
    let clock = ManualClock::new(start_time());
    let mut app = App::new(id, v, clock).await;
    app.start_intake().await;
    let workflow_vars = app.vars.clone();
    app.start_workflow(workflow_vars).await;
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
    pub async fn new(id: String, vars: Vars, clock: Arc<ManualClock>) -> Self {
        let process = Process::new(vars.clone(), clock.clone()).unwrap();
        motcua_platform::telemetry::init("workflow-test", &process.settings).unwrap();
        Self {
            bus: Bus::connect(&process.settings.nats_url, &process.settings.bus_prefix)
                .await
                .unwrap(),
            workflow_db: pool(&process, "workflow"),
            intake_db: pool(&process, "intake"),
            scratch: Scratch::with_id(id.clone()),
            id,
            vars,
            clock,
            intake: None,
            workflows: Vec::new(),
        }
    }

    pub async fn start_intake(&mut self) {
        let process = Process::new(self.vars.clone(), self.clock.clone()).unwrap();
        let settings = IntakeSettings::from_vars(&self.vars).unwrap();
        let running = motcua_intake::start(&process, settings).await.unwrap();
        wait_serving(running.addr).await;
        self.intake = Some((process, running));
        // The catalog is loaded once intake is ready.
        for _ in 0..200 {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM procedures")
                .fetch_one(&self.intake_db)
                .await
                .unwrap_or(0);
            if n >= 14 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("catalog not loaded");
    }

    /// Starts a workflow instance with these settings (another replica, or a land-only one).
    pub async fn start_workflow(&mut self, mut vars: Vars) -> usize {
        // Intake listens on a port of its own choosing: queue searches by name ask it there.
        if let Some((_, intake)) = &self.intake {
            vars.set(
                "MOTCUA_WORKFLOW_INTAKE_URL",
                format!("http://{}", intake.addr),
            );
        }
        let process = Process::new(vars.clone(), self.clock.clone()).unwrap();
        let settings = WorkflowSettings::from_vars(&vars).unwrap();
        let running = motcua_workflow::start(&process, settings).await.unwrap();
        wait_serving(running.addr).await;
        self.workflows.push((process, running));
        self.workflows.len() - 1
    }

    /// Stops workflow instance `i` (its consumers and timers with it).
    pub async fn stop_workflow(&mut self, i: usize) {
        let (process, running) = self.workflows.remove(i);
        process.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
    }

    pub fn intake_addr(&self) -> std::net::SocketAddr {
        self.intake.as_ref().unwrap().1.addr
    }

    pub fn workflow_addr(&self) -> std::net::SocketAddr {
        self.workflows[0].1.addr
    }

    pub async fn intake_client(
        &self,
        roles: &[Role],
    ) -> IntakeServiceClient<InterceptedService<GrpcChannel, Bearer>> {
        let channel = channel(self.intake_addr()).await;
        IntakeServiceClient::with_interceptor(
            channel,
            Bearer::new(&token(roles, AGENCY, "", "desk-1")),
        )
    }

    /// A workflow client for an officer: roles, department, subject.
    pub async fn officer(&self, roles: &[Role], department: &str, sub: &str) -> Officer {
        let channel = channel(self.workflow_addr()).await;
        WorkflowServiceClient::with_interceptor(
            channel,
            Bearer::new(&token(roles, AGENCY, department, sub)),
        )
    }

    /// Submits a land dossier (1.013831, 8 working days) at the desk and waits for its case.
    pub async fn submit_land(&self, key: &str) -> Case {
        let code = self
            .intake_client(&[Role::Desk])
            .await
            .submit_dossier(land_submission(key))
            .await
            .unwrap()
            .into_inner()
            .receipt
            .unwrap()
            .dossier_code;
        self.wait_case(&code, 2).await
    }

    /// Waits until the case of `code` is at least at `version`.
    pub async fn wait_case(&self, code: &str, version: u64) -> Case {
        let mut leader = self
            .officer(&[Role::Leader], "ban-giam-doc", "leader-1")
            .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = leader
                .get_case(GetCaseRequest {
                    dossier_code: code.to_owned(),
                    with_history: false,
                })
                .await
            {
                let c = r.into_inner().case.unwrap();
                if c.version >= version {
                    return c;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "case {code} never reached version {version}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The events of a type on the stream so far, decoded by the caller.
    pub async fn events(&self, event_type: &str) -> Vec<Vec<u8>> {
        let stream = self
            .bus
            .js
            .get_stream(self.bus.stream_name("DOSSIERS"))
            .await
            .unwrap();
        let total = stream.get_info().await.unwrap().state.messages as usize;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        let mut seen = 0;
        while seen < total {
            let mut batch = consumer
                .fetch()
                .max_messages(500)
                .expires(Duration::from_millis(300))
                .messages()
                .await
                .unwrap();
            let before = seen;
            while let Some(m) = batch.next().await {
                let m = m.unwrap();
                seen += 1;
                let kind = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Motcua-Event-Type"))
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default();
                if kind == event_type {
                    out.push(m.payload.to_vec());
                }
            }
            if seen == before {
                break;
            }
        }
        out
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.workflow_db)
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        while !self.workflows.is_empty() {
            self.stop_workflow(0).await;
        }
        if let Some((process, running)) = self.intake.take() {
            process.shutdown.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(15), running.task).await;
        }
        self.workflow_db.close().await;
        self.intake_db.close().await;
        self.scratch
            .remove()
            .await
            .expect("removing the test's databases and streams");
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("motcua-wf-{}", self.id)));
    }
}

/// A test that fails before `stop`: its instances stop, its files go, and `scratch` (dropped
/// after this) removes the databases and streams.
impl Drop for App {
    fn drop(&mut self) {
        for (process, _) in self.intake.iter().chain(self.workflows.iter()) {
            process.shutdown.cancel();
        }
        let _ =
            std::fs::remove_dir_all(std::env::temp_dir().join(format!("motcua-wf-{}", self.id)));
    }
}

pub type Officer = WorkflowServiceClient<InterceptedService<GrpcChannel, Bearer>>;

pub use motcua_testkit::{Bearer, channel, token, wait_serving};

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

/// An action on the version the caller saw.
pub fn act(version: u64) -> Option<Action> {
    Some(Action {
        expected_version: version,
        ..Default::default()
    })
}

pub fn act_keyed(version: u64, key: &str, note: &str) -> Option<Action> {
    Some(Action {
        expected_version: version,
        idempotency_key: key.into(),
        note: note.into(),
        attachments: vec![],
    })
}

pub fn now(app: &App) -> chrono::DateTime<chrono::Utc> {
    app.clock.now()
}

/// Takes the current step (ClaimTask) on `version`, as an officer does before working it.
pub async fn claim(officer: &mut Officer, code: &str, version: u64) -> Case {
    officer
        .claim_task(motcua_proto::workflow::ClaimTaskRequest {
            dossier_code: code.to_owned(),
            action: act(version),
        })
        .await
        .expect("claim")
        .into_inner()
        .case
        .expect("case")
}

/// Forwards the current step as an officer does: taking it first (ClaimTask) when nobody holds
/// it; returns the case after (the version moves by one, or two with the claim).
pub async fn claim_and_forward(officer: &mut Officer, code: &str, version: u64) -> Case {
    let held = officer
        .get_case(GetCaseRequest {
            dossier_code: code.to_owned(),
            with_history: false,
        })
        .await
        .expect("get case")
        .into_inner()
        .case
        .expect("case")
        .assignee
        .is_some();
    let version = if held {
        version
    } else {
        claim(officer, code, version).await.version
    };
    officer
        .forward_step(motcua_proto::workflow::ForwardStepRequest {
            dossier_code: code.to_owned(),
            action: act(version),
        })
        .await
        .expect("forward")
        .into_inner()
        .case
        .expect("case")
}
