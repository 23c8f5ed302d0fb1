//! `motcua migrate --target all|LIST`: makes each chosen service's database ready — creates it when
//! the settings allow (a shared server URL) and applies the platform's and the service's
//! migrations — then exits. Kubernetes runs it as an init container, so a new release's pod serves
//! only once its schema is there, and a migration that fails stops the rollout at its first pod
//! (k8s/base). `motcua serve` applies the same migrations at start; after this they are a no-op.
//!
//! PostgreSQL not answering yet (a cluster starting, a failover) is waited for up to `--wait-secs`;
//! anything else (a changed migration, a database that does not exist under a service's own URL,
//! a role without the right) fails at once: waiting would not mend it.

use clap::Args;
use motcua_platform::config::Settings;
use motcua_platform::process;
use sqlx::migrate::Migrator;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct MigrateCmd {
    /// `all`, or a comma-separated list such as `intake`.
    #[arg(long, default_value = "all")]
    target: String,
    /// How long to wait for PostgreSQL to answer before giving up.
    #[arg(long, default_value_t = 120)]
    wait_secs: u64,
}

/// Each service's own migrations.
fn migrator(service: &str) -> &'static Migrator {
    match service {
        "intake" => &motcua_intake::MIGRATIONS,
        "workflow" => &motcua_workflow::MIGRATIONS,
        "lookup" => &motcua_lookup::MIGRATIONS,
        "notification" => &motcua_notification::MIGRATIONS,
        _ => &motcua_reporting::MIGRATIONS,
    }
}

pub fn run(cmd: MigrateCmd) -> Result<(), String> {
    let targets = crate::serve_cmd::targets(&cmd.target)?;
    let settings = process::or_exit("motcua", Settings::from_env());
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(cmd.wait_secs);
    for service in targets {
        if let Err(e) = runtime.block_on(migrate(&settings, service, deadline)) {
            eprintln!("motcua: {service}: {e:#}");
            std::process::exit(1);
        }
    }
    Ok(())
}

async fn migrate(settings: &Settings, service: &str, deadline: Instant) -> anyhow::Result<()> {
    let target = motcua_platform::db::target(settings, service)?;
    let migrations = migrator(service);
    loop {
        match motcua_platform::db::connect(&target, 1, migrations).await {
            Ok(pool) => {
                pool.close().await;
                let newest = migrations.iter().map(|m| m.version).max().unwrap_or(0);
                println!(
                    "• {service}: database {} has every migration of this release (service {newest})",
                    target.database
                );
                return Ok(());
            }
            Err(e) if unavailable(&e) && Instant::now() < deadline => {
                eprintln!("• {service}: PostgreSQL does not answer yet ({e:#}); trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether the failure is PostgreSQL not answering (worth waiting for), anywhere in the chain.
fn unavailable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<sqlx::Error>()
            .is_some_and(motcua_platform::db::is_unavailable)
    })
}
