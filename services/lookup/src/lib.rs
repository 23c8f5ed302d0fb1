//! Lookup: the public read model. Where to look:
//!
//! - [`model`]: the read model built from intake's and workflow's events (and its consumers).
//! - [`queries`]: what every interface answers; [`guard`]: who may see a dossier;
//!   [`reads`]: dossier rows read many lookups to a query; [`cache`]: rows read recently.
//! - [`grpc`]: `motcua.lookup.v1`; [`web`]: the JSON API and the pages for citizens.
//! - [`rebuild`]: the model rebuilt from the streams (`motcua lookup rebuild`).
//! - [`error`]: the one table of refusals and their gRPC and HTTP codes; [`settings`].
//!
//! The HTTP port is the one part of motcua meant to face the public internet; the gRPC port
//! serves the same public service to other systems (the SMS gateway of notification, portals).

pub mod cache;
pub mod consume;
pub mod error;
pub mod grpc;
pub mod guard;
pub mod queries;
pub mod rebuild;
pub mod retention;
pub mod settings;
pub mod store;
pub mod web;

use motcua_platform::config::ServiceSpec;
use motcua_platform::host::{GrpcApi, Running, ServiceHost};
use motcua_platform::process::Process;
use motcua_proto::lookup::lookup_service_server::{LookupServiceServer, SERVICE_NAME};
use settings::LookupSettings;
use std::sync::Arc;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;

pub const NAME: &str = SERVICE.name;

/// This service as the platform sees it: its name and default ports (README "Running and calling").
pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "lookup",
    grpc_port: 50054,
    http_port: 8084,
};

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Starts lookup: its consumers of dossier and catalog events, its gRPC API and its HTTP side;
/// runs until the process shuts down.
pub async fn start(process: &Process, settings: LookupSettings) -> anyhow::Result<Running> {
    if settings.secrets.is_development() {
        tracing::warn!(
            "lookup secrets are checked with the public development key; set MOTCUA_SECRET_HASH_KEYS in production"
        );
    }
    let mut host = ServiceHost::new(SERVICE, process, &MIGRATIONS).await?;
    host.spawn_retention(retention::TABLES, &process.vars);
    host.spawn_consumer(
        consume::dossier_consumer(),
        Arc::new(consume::DossierEvents {
            clock: host.clock.clone(),
        }),
    );
    host.spawn_consumer(
        consume::catalog_consumer(),
        Arc::new(consume::CatalogEvents),
    );
    let guard = Arc::new(guard::Guard::new(&settings));
    let cache = cache::Cache::new(settings.cache_rows);
    {
        let (cache, pool, stop) = (cache.clone(), host.pool.clone(), process.shutdown.clone());
        host.spawn(cache.follow(pool, host.readiness(), stop));
    }
    let queries = queries::Queries {
        pool: host.pool.clone(),
        clock: host.clock.clone(),
        guard: guard.clone(),
        reader: store::Reader::start(host.pool.clone(), settings.readers),
        cache: cache.clone(),
        agency_names: Arc::new(settings.agency_names),
        department_names: Arc::new(settings.department_names),
    };
    host.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            guard.forget_idle();
        }
    });
    host.set_refusal_page(web::pages::refusal_page);
    host.serve_http(web::routes(queries.clone()), axum::Router::new())
        .await?;
    let max_bytes = process.settings.limits.max_message_bytes;
    let api = LookupServiceServer::new(grpc::Lookup { queries })
        .max_decoding_message_size(max_bytes)
        .max_encoding_message_size(max_bytes);
    let router = host
        .router(GrpcApi {
            contracts: motcua_proto::FILE_DESCRIPTOR_SET,
            private: vec![],
            public: vec![SERVICE_NAME],
            rules: rules(),
        })?
        .add_service(InterceptedService::new(api, host.public_interceptor()));
    let listener = host.bind().await?;
    Ok(host.serve(router, listener))
}

/// How long each text field of lookup's API may be.
fn rules() -> motcua_platform::boundary::TextRules {
    motcua_platform::boundary::TextRules {
        default_max_chars: 200,
        limits: &[
            ("dossier_code", 64),
            ("secret", 64),
            ("query", 200),
            ("field", 32),
            ("page_token", 16),
            ("code", 32),
        ],
        multiline: &[],
    }
}
