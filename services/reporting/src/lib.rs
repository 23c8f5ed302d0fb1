//! Reporting: the official statistics from the events. Where to look:
//!
//! - [`facts`]: one fact row per dossier, built from intake's and workflow's events;
//!   [`agencies`]: the agencies reports may name (catalog file and published catalog);
//!   [`daily`]: the daily counts kept with them, which Biểu 06 reads; [`rebuild`]: both
//!   from the stream (`motcua reporting rebuild`).
//! - [`periods`]: reporting periods (the 15th-to-14th convention, or any range of days).
//! - [`form06`]: Biểu 06/VPCP/KSTT and its column definitions; [`export`]: as XLSX and CSV laid
//!   out like the official form.
//! - [`views`]: leaders' views (trend, backlog now, repeated supplement requests).
//! - [`grpc`]: `motcua.reporting.v1` and who sees what; [`web`]: the leaders' dashboard
//!   ([`sessions`]: its sign-in); [`retention`]: what is kept how long; [`settings`].

pub mod agencies;
pub mod charts;
pub mod consume;
pub mod daily;
pub mod export;
pub mod form06;
pub mod grpc;
pub mod periods;
pub mod rebuild;
pub mod retention;
pub mod sessions;
pub mod settings;
mod store;
pub mod views;
pub mod web;

use motcua_platform::config::ServiceSpec;
use motcua_platform::host::{GrpcApi, Running, ServiceHost};
use motcua_platform::process::Process;
use motcua_proto::reporting::reporting_service_server::{ReportingServiceServer, SERVICE_NAME};
use settings::ReportingSettings;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

pub const NAME: &str = SERVICE.name;

/// This service as the platform sees it: its name and default ports (README "Running and calling").
pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "reporting",
    grpc_port: 50055,
    http_port: 8085,
};

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Starts reporting: its consumers of dossier and catalog events, the pruning of what is kept no
/// longer, its gRPC API and the leaders' dashboard;
/// runs until the process shuts down.
pub async fn start(process: &Process, settings: ReportingSettings) -> anyhow::Result<Running> {
    let mut host = ServiceHost::new(SERVICE, process, &MIGRATIONS).await?;
    host.spawn_consumer(consume::consumer(), Arc::new(consume::Facts));
    host.spawn_consumer(agencies::consumer(), Arc::new(agencies::Learn));
    host.spawn_retention(retention::TABLES, &process.vars);
    let api = grpc::Api {
        pool: host.pool.clone(),
        clock: host.clock.clone(),
        agencies: agencies::Known {
            pool: host.pool.clone(),
            named: Arc::new(settings.agencies),
        },
    };
    let (public, private) = web::routes(web::Web {
        api: api.clone(),
        verifier: host.verifier.clone(),
        departments: Arc::new(settings.departments),
    });
    host.serve_http_with(public, axum::Router::new(), private)
        .await?;
    let max_bytes = process.settings.limits.max_message_bytes;
    let api = ReportingServiceServer::new(api)
        .max_decoding_message_size(max_bytes)
        .max_encoding_message_size(max_bytes);
    let router = host
        .router(GrpcApi {
            contracts: motcua_proto::FILE_DESCRIPTOR_SET,
            private: vec![SERVICE_NAME],
            public: vec![],
            rules: motcua_platform::boundary::TextRules {
                default_max_chars: 64,
                limits: &[],
                multiline: &[],
            },
        })?
        .add_service(InterceptedService::new(api, host.interceptor()));
    let listener = host.bind().await?;
    Ok(host.serve(router, listener))
}
