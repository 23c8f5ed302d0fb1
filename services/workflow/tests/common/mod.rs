//! Test harness: intake and workflow on the shared test floor (`motcua_testkit::floor`): in one
//! process on port 0, against the real PostgreSQL and NATS, on a clock the test moves; typed gRPC
//! clients with tokens carrying roles and departments.

#![allow(dead_code, unused_imports)]

use futures::StreamExt;
use motcua_platform::Clock;
use motcua_platform::auth::Role;
use motcua_platform::config::Vars;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::{Action, Case, GetCaseRequest};
use motcua_testkit::floor::Floor;
use sqlx::PgPool;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as GrpcChannel;

pub use motcua_testkit::dossiers::{act, land_submission};
pub use motcua_testkit::floor::{AGENCY, LAND_DEPARTMENT, start_time};

pub fn new_id() -> String {
    motcua_testkit::scratch::new_id()
}

/// The floor and the two services' databases; the floor's fields and methods (clock, bus, vars,
/// start, addr, stop_service, …) are the app's.
pub struct App {
    pub floor: Floor,
    pub workflow_db: PgPool,
    pub intake_db: PgPool,
}

motcua_testkit::on_the_floor!(App);

pub async fn spawn() -> App {
    spawn_with(|_| {}).await
}

/// Intake and one workflow instance (all fields), with `change` applied to the settings.
pub async fn spawn_with(change: impl Fn(&mut Vars)) -> App {
    let mut app = App::new(change).await;
    app.start_intake().await;
    let workflow_vars = app.vars.clone();
    app.start_workflow(workflow_vars).await;
    app
}

impl App {
    /// The floor with `change` applied to its settings; no service started yet.
    pub async fn new(change: impl Fn(&mut Vars)) -> Self {
        let floor = Floor::new(|v| change(v)).await;
        Self {
            workflow_db: floor.pool("workflow"),
            intake_db: floor.pool("intake"),
            floor,
        }
    }

    pub async fn start_intake(&mut self) {
        self.floor.start("intake").await;
    }

    /// Starts a workflow instance with these settings (another replica, or a land-only one);
    /// returns its index among the workflow instances running.
    pub async fn start_workflow(&mut self, vars: Vars) -> usize {
        self.floor.start_with("workflow", vars).await;
        self.addrs("workflow").len() - 1
    }

    /// Stops workflow instance `i` (its consumers and timers with it).
    pub async fn stop_workflow(&mut self, i: usize) {
        let at = self
            .floor
            .services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.name == "workflow")
            .nth(i)
            .map(|(at, _)| at)
            .expect("no such workflow instance");
        self.floor.services.remove(at).stop().await;
    }

    pub fn intake_addr(&self) -> std::net::SocketAddr {
        self.addr("intake")
    }

    pub fn workflow_addr(&self) -> std::net::SocketAddr {
        self.addr("workflow")
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

    pub async fn stop(self) {
        self.workflow_db.close().await;
        self.intake_db.close().await;
        self.floor.stop().await;
    }
}

pub type Officer = WorkflowServiceClient<InterceptedService<GrpcChannel, Bearer>>;

pub use motcua_testkit::{Bearer, channel, token, wait_serving};

pub fn act_keyed(version: u64, key: &str, note: &str) -> Option<Action> {
    Some(Action {
        expected_version: version,
        idempotency_key: key.into(),
        note: note.into(),
        attachments: vec![],
    })
}

pub fn now(app: &App) -> chrono::DateTime<chrono::Utc> {
    app.floor.now()
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
