//! Intake: the versioned catalog of procedures and dossiers as received at desks, by post and
//! online. Where to look:
//!
//! - [`service`]: the gRPC API (the roles each RPC accepts are at its top).
//! - [`submission`]: the rules of a submission (channel, documents, applicant) and storing it with
//!   its code, receipt and event; [`changes`]: supplement and withdrawal requests.
//! - [`catalog`]: the catalog file and the rules a procedure version must satisfy.
//! - [`applicant`]: applicant fields, normalisation, masking.
//! - [`calendars`]: working time per agency; [`time`]: timestamp conversions.
//! - [`store`]: SQL; [`events`]: subjects and event payloads; [`attachments`]: content storage.

pub mod applicant;
pub mod attachments;
pub mod calendars;
pub mod catalog;
pub mod changes;
pub mod events;
pub mod service;
pub mod store;
pub mod submission;
pub mod time;

use anyhow::Context;
use motcua_platform::CancellationToken;
use motcua_platform::config::Settings;
use motcua_platform::host::{Running, ServiceHost};
use motcua_platform::request_errors::UnreadableIsInvalid;
use motcua_proto::intake::intake_service_server::IntakeServiceServer;
use sqlx::PgPool;
use std::sync::Arc;
use tonic::service::interceptor::InterceptedService;

pub const NAME: &str = "intake";

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Starts intake: binds its gRPC address at once, becomes ready when PostgreSQL and NATS answer,
/// loads the catalog file, and runs until `shutdown`.
pub async fn start(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Running> {
    let attachments =
        attachments::Attachments::local(&settings.attachments_dir, settings.max_attachment_bytes)
            .with_context(|| {
            format!(
                "MOTCUA_ATTACHMENTS_DIR {}",
                settings.attachments_dir.display()
            )
        })?;
    let catalog = match &settings.catalog_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("MOTCUA_CATALOG_FILE {}", path.display()))?;
            catalog::parse_file(&text)
                .map_err(|e| anyhow::anyhow!("MOTCUA_CATALOG_FILE {}: {e}", path.display()))?
        }
        None => catalog::Catalog::default(),
    };
    for p in &catalog.procedures {
        catalog::validate(p).map_err(|e| anyhow::anyhow!("catalog: {e}"))?;
    }
    let calendars = calendars::Calendars::new(&settings, &catalog.agencies)
        .context("building the working-time calendars")?;
    let procedures = catalog.procedures;
    let max_bytes = settings.max_message_bytes;
    let mut host = ServiceHost::new(NAME, settings, &MIGRATIONS, shutdown).await?;
    host.spawn_relay();
    let (pool, ready) = (host.pool.clone(), host.readiness());
    host.spawn(async move {
        ready.wait().await;
        if let Err(e) = load_catalog(&pool, procedures).await {
            tracing::error!(error = ?e, "loading the catalog failed");
        }
    });
    let intake = service::Intake {
        pool: host.pool.clone(),
        calendars: Arc::new(calendars),
        attachments,
    };
    let api = IntakeServiceServer::new(intake)
        .max_decoding_message_size(max_bytes)
        .max_encoding_message_size(max_bytes);
    let api = UnreadableIsInvalid(InterceptedService::new(api, host.interceptor()));
    let router = host.router()?.add_service(api);
    let listener = host.bind().await?;
    Ok(host.serve(router, listener))
}

/// Publishes each catalog entry whose (code, effective_from) is not yet in the database.
pub async fn load_catalog(
    pool: &PgPool,
    procedures: Vec<motcua_proto::common::Procedure>,
) -> anyhow::Result<usize> {
    let mut added = 0;
    for mut p in procedures {
        let effective = chrono::NaiveDate::parse_from_str(&p.effective_from, "%Y-%m-%d")?;
        let mut tx = pool.begin().await?;
        if store::procedure_exists(&mut tx, &p.code, effective).await? {
            continue;
        }
        service::publish(&mut tx, &mut p, "catalog-file").await?;
        tx.commit().await?;
        added += 1;
    }
    tracing::info!(added, "catalog loaded");
    Ok(added)
}
