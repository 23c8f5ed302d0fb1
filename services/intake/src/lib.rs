//! Intake: the versioned catalog of procedures and dossiers as received at desks, by post and
//! online. Where to look:
//!
//! - [`service`]: the gRPC API (the roles each RPC accepts are at its top); [`rules`]: the text
//!   limits every request field is held to at the boundary.
//! - [`submission`]: the rules of a submission (channel, documents, applicant) and storing it with
//!   its code, receipt and event; [`changes`]: supplement and withdrawal requests.
//! - [`catalog`]: the catalog file and the rules a procedure version must satisfy.
//! - [`applicant`]: applicant fields and their checks.
//! - [`store`]: SQL; [`events`]: the events intake publishes; [`attachments`]: content storage.
//! - [`follow`]: workflow's state events, followed to keep each dossier's status current.
//! - [`contacts`]: applicants' phone and e-mail erased after retention; [`backfill`]: older rows
//!   brought up to date at start; [`retention`]: what intake keeps how long.
//! - [`settings`]: intake's own settings.

pub mod applicant;
pub mod attachments;
pub mod backfill;
pub mod bounds;
pub mod catalog;
pub mod changes;
pub mod consume;
pub mod contacts;
pub mod grpc;
pub mod publish;
pub mod retention;
pub mod settings;
pub mod store;
pub mod submission;

use anyhow::Context;
use motcua_domain::calendars::Calendars;
use motcua_platform::SharedClock;
use motcua_platform::config::ServiceSpec;
use motcua_platform::host::{GrpcApi, Running, ServiceHost};
use motcua_platform::process::Process;
use motcua_proto::intake::intake_service_server::{IntakeServiceServer, SERVICE_NAME};
use settings::IntakeSettings;
use sqlx::PgPool;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

#[derive(Debug, Clone)]
/// The intake service's state: what its gRPC API, its submissions and its changes share.
pub struct Intake {
    pub pool: sqlx::PgPool,
    pub clock: SharedClock,
    pub calendars: Arc<motcua_domain::calendars::Calendars>,
    pub secrets: motcua_domain::secrets::SecretHasher,
    /// Lookup's public address, for the receipt's QR link (None: no link printed).
    pub lookup_url: Option<String>,
    pub attachments: attachments::Attachments,
    /// Receiving agencies found in the catalog so far (see `Intake::agency_known`).
    pub known_agencies: Arc<std::sync::RwLock<std::collections::HashSet<String>>>,
    /// Told after each commit that wrote events.
    pub outbox: motcua_platform::outbox::OutboxWake,
}

pub(crate) fn invalid(m: impl Into<String>) -> motcua_platform::ServiceError {
    motcua_platform::ServiceError::InvalidArgument(m.into())
}

pub const NAME: &str = SERVICE.name;

/// This service as the platform sees it: its name and default ports (README "Running and calling").
pub const SERVICE: ServiceSpec = ServiceSpec {
    name: "intake",
    grpc_port: 50051,
    http_port: 8081,
};

pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Starts intake: binds its gRPC address at once, becomes ready when PostgreSQL and NATS answer,
/// loads the catalog file, and runs until the process shuts down.
pub async fn start(process: &Process, settings: IntakeSettings) -> anyhow::Result<Running> {
    let attachments =
        attachments::Attachments::open(&settings.attachments, settings.max_attachment_bytes)?;
    let catalog = match &settings.catalog_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("MOTCUA_CATALOG_FILE {}", path.display()))?;
            catalog::parse_file(&text)
                .map_err(|e| anyhow::anyhow!("MOTCUA_CATALOG_FILE {}: {e}", path.display()))?
        }
        None => catalog::Catalog::default(),
    };
    let hours: Vec<(String, String)> = catalog
        .agencies
        .iter()
        .filter_map(|a| Some((a.code.clone(), a.working_hours.clone()?)))
        .collect();
    let calendars = Calendars::new(&settings.calendar, &hours)
        .context("building the working-time calendars")?;
    // parse_file counted working days at 8 h (or the file's own agency hours); the deployment's
    // MOTCUA_WORKING_HOURS may make a day longer or shorter, so the steps are added up again.
    for p in &catalog.procedures {
        let day = calendars
            .for_agency(&p.competent_agency)
            .hours()
            .day_seconds();
        catalog::validate(p, day).map_err(|e| anyhow::anyhow!("catalog: {e}"))?;
    }
    if settings.secrets.is_development() {
        tracing::warn!(
            "lookup secrets are hashed with the public development key; set MOTCUA_SECRET_HASH_KEYS in production"
        );
    }
    if settings.lookup_url.is_none() {
        tracing::warn!(
            "MOTCUA_LOOKUP_PUBLIC_URL is not set: receipts carry no QR link to the lookup page"
        );
    }
    let max_bytes = process.settings.limits.max_message_bytes;
    let mut host = ServiceHost::new(SERVICE, process, &MIGRATIONS).await?;
    host.spawn_retention(retention::TABLES, &process.vars);
    {
        let (pool, clock, ready) = (host.pool.clone(), host.clock.clone(), host.readiness());
        let (retention, stop) = (settings.contact_retention, process.shutdown.clone());
        host.spawn(async move {
            ready.wait().await;
            contacts::erase_forever(pool, clock, retention, stop).await;
        });
    }
    {
        let (pool, ready) = (host.pool.clone(), host.readiness());
        host.spawn(async move {
            ready.wait().await;
            match backfill::fold_old_names(&pool).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(n, "older applicants' names folded for search"),
                Err(e) => tracing::warn!(error = %e, "folding older applicants' names failed; retried at the next start"),
            }
        });
    }
    host.spawn_relay();
    host.spawn_consumer(consume::consumer(), Arc::new(consume::States));
    let (pool, ready, clock) = (host.pool.clone(), host.readiness(), host.clock.clone());
    let outbox = host.outbox.clone();
    host.spawn(async move {
        ready.wait().await;
        let loaded = load_catalog(&pool, &clock, catalog).await;
        outbox.wake();
        if let Err(e) = loaded {
            tracing::error!(error = ?e, "loading the catalog failed");
        }
    });
    let intake = Intake {
        pool: host.pool.clone(),
        clock: host.clock.clone(),
        calendars: Arc::new(calendars),
        secrets: settings.secrets,
        lookup_url: settings.lookup_url,
        attachments,
        known_agencies: Arc::default(),
        outbox: host.outbox.clone(),
    };
    let api = IntakeServiceServer::new(intake)
        .max_decoding_message_size(max_bytes)
        .max_encoding_message_size(max_bytes);
    let router = host
        .router(GrpcApi {
            contracts: motcua_proto::FILE_DESCRIPTOR_SET,
            private: vec![SERVICE_NAME],
            public: vec![],
            rules: bounds::TEXT_RULES,
        })?
        .add_service(InterceptedService::new(api, host.interceptor()));
    let listener = host.bind().await?;
    Ok(host.serve(router, listener))
}

/// Stores the catalog file's agencies and publishes each procedure whose (code, effective_from) is
/// not yet in the database. Returns how many procedures were added.
pub async fn load_catalog(
    pool: &PgPool,
    clock: &SharedClock,
    catalog: catalog::Catalog,
) -> anyhow::Result<usize> {
    for a in &catalog.agencies {
        store::upsert_agency(pool, a, clock.now()).await?;
    }
    let mut added = 0;
    for mut p in catalog.procedures {
        let effective = chrono::NaiveDate::parse_from_str(&p.effective_from, "%Y-%m-%d")?;
        let mut tx = pool.begin().await?;
        if store::procedure_exists(&mut tx, &p.code, effective).await? {
            continue;
        }
        grpc::publish(&mut tx, &mut p, "catalog-file", clock.now()).await?;
        tx.commit().await?;
        added += 1;
    }
    tracing::info!(added, agencies = catalog.agencies.len(), "catalog loaded");
    Ok(added)
}
