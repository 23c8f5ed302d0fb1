//! The people the simulator acts as, each through the public gRPC API with their own token: the
//! desk and the integrating portal at intake, and the officers of each role and department at
//! workflow (a dossier stays with one officer of each role, as in an office).

use super::profile::Officers;
use motcua_platform::auth::Role;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::lookup::lookup_service_client::LookupServiceClient;
use motcua_proto::reporting::reporting_service_client::ReportingServiceClient;
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_testkit::{Bearer, token};
use std::collections::HashMap;
use std::sync::Mutex;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub type Intake = IntakeServiceClient<InterceptedService<Channel, Bearer>>;
pub type Workflow = WorkflowServiceClient<InterceptedService<Channel, Bearer>>;
pub type Reporting = ReportingServiceClient<InterceptedService<Channel, Bearer>>;
pub type Lookup = LookupServiceClient<Channel>;

/// The one-stop desk's department (the catalog's steps name it).
pub const DESK_DEPARTMENT: &str = "bo-phan-mot-cua";

/// Channels to the services and the tokens of everyone who acts.
#[derive(Debug)]
pub struct People {
    pub agency: String,
    officers: Officers,
    intake: Channel,
    workflow: Channel,
    reporting: Channel,
    lookup: Channel,
    /// (role, department, officer number) → token, minted once.
    tokens: Mutex<HashMap<(Role, String, u32), String>>,
    /// The citizens' side: lookup's public pages and API, notification's SMS gateway endpoint.
    pub web: Web,
}

/// Where the HTTP sides are, and the client citizens and the SMS gateway use.
#[derive(Debug, Clone)]
pub struct Web {
    pub http: reqwest::Client,
    /// `http://host:port` of lookup's HTTP side.
    pub lookup: String,
    /// `http://host:port` of notification's HTTP side.
    pub notification: String,
    /// What the gateway sends in `x-gateway-secret` (MOTCUA_SMS_INBOUND_SECRET of the run).
    pub gateway_secret: String,
}

impl People {
    pub fn new(
        agency: &str,
        officers: Officers,
        [intake, workflow, reporting, lookup]: [Channel; 4],
        web: Web,
    ) -> Self {
        Self {
            agency: agency.to_owned(),
            officers,
            intake,
            workflow,
            reporting,
            lookup,
            tokens: Mutex::default(),
            web,
        }
    }

    fn token(&self, role: Role, department: &str, n: u32) -> String {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens
            .entry((role, department.to_owned(), n))
            .or_insert_with(|| {
                let sub = format!("sim-{}-{department}-{n}", role.as_str());
                token(&[role], &self.agency, department, &sub)
            })
            .clone()
    }

    /// The desk officer `n` at intake (counter and postal submissions, supplements, withdrawals).
    pub fn desk_intake(&self, n: u32) -> Intake {
        let t = self.token(Role::Desk, DESK_DEPARTMENT, n % self.officers.desk);
        IntakeServiceClient::with_interceptor(self.intake.clone(), Bearer::new(&t))
    }

    /// The national portal forwarding online submissions.
    pub fn portal(&self) -> Intake {
        let t = self.token(Role::Integration, "", 0);
        IntakeServiceClient::with_interceptor(self.intake.clone(), Bearer::new(&t))
    }

    /// The officer of `role` in `department` who handles the dossier numbered `officer`.
    pub fn officer(&self, role: Role, department: &str, officer: u32) -> Workflow {
        let of_role = match role {
            Role::Desk => self.officers.desk,
            Role::Leader => self.officers.leader,
            _ => self.officers.specialist,
        };
        let t = self.token(role, department, officer % of_role.max(1));
        WorkflowServiceClient::with_interceptor(self.workflow.clone(), Bearer::new(&t))
    }

    /// The agency's leader reading cases and reports.
    pub fn leader(&self) -> Workflow {
        self.officer(Role::Leader, "ban-giam-doc", 0)
    }

    pub fn reporting(&self) -> Reporting {
        let t = self.token(Role::Leader, "ban-giam-doc", 0);
        ReportingServiceClient::with_interceptor(self.reporting.clone(), Bearer::new(&t))
    }

    /// A citizen's public lookup (no token).
    pub fn citizen(&self) -> Lookup {
        LookupServiceClient::new(self.lookup.clone())
    }
}
