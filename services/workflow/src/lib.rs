//! Workflow: a dossier's life after intake. Where to look:
//!
//! - [`rules`]: the rules — who may do what, when, and what each change does (pure functions).
//! - [`grpc`]: the gRPC API and the one way every change is stored ([`grpc::commit`]).
//! - [`consume`]: cases opened, resumed and asked to withdraw by intake's events.
//! - [`timers`]: due-soon and overdue timers; [`publish`]: the events workflow publishes.
//! - [`queue`]: officers' queues; [`store`]: SQL; [`settings`]: workflow's own settings;
//!   [`bounds`]: how long and how many each field of the API may be.
//!
//! The land path on its own: durable consumers per field (`workflow-<field>-<event>`), and
//! MOTCUA_WORKFLOW_FIELDS chooses the fields an instance takes. A land instance (`dat-dai`) and an
//! instance for the rest (`all-except:dat-dai`) share one database: every case lives in one place,
//! so a leader's queue and any officer's call see every field, and the timers of both run from one
//! table, each exactly once.

pub mod bounds;
pub mod consume;
pub mod grpc;
pub mod publish;
pub mod queue;
pub mod retention;
pub mod rules;
pub mod settings;
pub mod store;
pub mod timers;

use anyhow::Context;
use motcua_domain::calendars::Calendars;
use motcua_platform::bus::DOSSIERS;
use motcua_platform::config::ServiceSpec;
use motcua_platform::consumer::ConsumerSpec;
use motcua_platform::host::{GrpcApi, Running, ServiceHost};
use motcua_platform::jobs::JobRunner;
use motcua_platform::process::Process;
use motcua_proto::workflow::workflow_service_server::{SERVICE_NAME, WorkflowServiceServer};
use settings::WorkflowSettings;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

pub const NAME: &str = SERVICE.name;

/// This service as the platform sees it: its name and default ports (README "Running and calling").
pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "workflow",
    grpc_port: 50052,
    http_port: 8082,
};

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The durable consumer of one of intake's event types in one field: `dossier.<field>.<event>`.
/// One subject each (NATS 2.9 takes one filter per consumer), so workflow never receives its own
/// state events, and a field's consumers move with the instance that takes the field.
pub fn consumer(field: &str, event_type: &str) -> ConsumerSpec {
    ConsumerSpec::new(
        &format!("workflow-{field}-{event_type}"),
        DOSSIERS,
        &format!("dossier.{field}.{event_type}"),
    )
}

/// Starts workflow: its consumers of intake's events (one per field it handles), its timers and
/// its gRPC API; runs until the process shuts down.
pub async fn start(process: &Process, settings: WorkflowSettings) -> anyhow::Result<Running> {
    let calendars = Arc::new(
        Calendars::new(&settings.calendar, &settings.agency_hours)
            .context("building the working-time calendars")?,
    );
    let settings = Arc::new(settings);
    let mut host = ServiceHost::new(SERVICE, process, &MIGRATIONS).await?;
    host.spawn_retention(retention::TABLES, &process.vars);
    host.spawn_relay();
    let handler = Arc::new(consume::IntakeEvents {
        clock: host.clock.clone(),
        calendars: calendars.clone(),
        settings: settings.clone(),
    });
    for field in &settings.fields {
        for event_type in consume::TYPES {
            host.spawn_consumer(consumer(field, event_type), handler.clone());
        }
    }
    let runner = JobRunner::new(host.pool.clone(), host.clock.clone(), timers::QUEUE);
    host.spawn_jobs(
        runner,
        Arc::new(timers::Deadlines {
            clock: host.clock.clone(),
        }),
    );
    tracing::info!(fields = ?settings.fields, "workflow takes these fields");
    let max_bytes = process.settings.limits.max_message_bytes;
    let api = WorkflowServiceServer::new(grpc::Workflow {
        pool: host.pool.clone(),
        clock: host.clock.clone(),
        calendars,
        intake: queue::IntakeSearch::new(&settings.intake_endpoint)?,
        settings,
        outbox: host.outbox.clone(),
    })
    .max_decoding_message_size(max_bytes)
    .max_encoding_message_size(max_bytes);
    let router = host
        .router(GrpcApi {
            contracts: motcua_proto::FILE_DESCRIPTOR_SET,
            private: vec![SERVICE_NAME],
            public: vec![],
            rules: rules(),
        })?
        .add_service(InterceptedService::new(api, host.interceptor()));
    let listener = host.bind().await?;
    Ok(host.serve(router, listener))
}

/// How long each text field of workflow's API may be, and which may hold line breaks.
fn rules() -> motcua_platform::boundary::TextRules {
    motcua_platform::boundary::TextRules {
        default_max_chars: 300,
        limits: &[
            ("dossier_code", 64),
            ("idempotency_key", 128),
            ("note", 2000),
            ("reason", 2000),
            ("result", 2000),
            ("close_early_reason", 2000),
            ("query", 100),
            ("id", 64),
            ("file_name", 255),
            ("media_type", 127),
            ("sha256", 64),
            ("missing", 500),
            ("description", 500),
            ("reference", 200),
            ("to_step", 64),
            ("officer", 128),
            ("subject", 128),
            ("name", 200),
            ("agency", 32),
            ("page_token", 200),
            ("field", 32),
            ("procedure_code", 64),
        ],
        multiline: &["note", "reason", "result", "close_early_reason"],
    }
}
