//! `motcua lookup rebuild [--check]`: lookup's read model from the streams (see
//! `motcua_lookup::rebuild`). Uses the same MOTCUA_* settings as the service.

use clap::{Args, Subcommand};
use motcua_lookup::rebuild::{self, Mode};
use motcua_platform::bus::Bus;
use motcua_platform::config::Settings;
use motcua_platform::{SharedClock, SystemClock, process};
use sqlx::{ConnectOptions, PgConnection};

#[derive(Debug, Subcommand)]
pub enum LookupCmd {
    /// Rebuilds the read model from DOSSIERS and CATALOG and puts it in place of the live one
    /// (lookup keeps answering meanwhile). With --check, only compares and reports.
    Rebuild(RebuildArgs),
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Compare a model rebuilt from the streams with the live one; change nothing. Exits 1 when
    /// they differ.
    #[arg(long)]
    check: bool,
    /// Replace even when the rebuilt model holds fewer rows than the live one (events past the
    /// streams' retention are then gone from lookup).
    #[arg(long, conflicts_with = "check")]
    force: bool,
}

pub fn run(cmd: LookupCmd) -> Result<(), String> {
    let LookupCmd::Rebuild(args) = cmd;
    let settings = process::or_exit("motcua", Settings::from_env());
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let report = runtime
        .block_on(async {
            let target = motcua_platform::db::target(&settings, motcua_lookup::NAME)?;
            let conn: PgConnection = target.options().connect().await.map_err(|e| {
                anyhow::anyhow!("connecting to lookup's database {}: {e}", target.database)
            })?;
            let bus = Bus::from_settings(&settings).await?;
            let clock: SharedClock = SystemClock::shared();
            let mode = if args.check {
                Mode::Check
            } else {
                Mode::Replace { force: args.force }
            };
            rebuild::run(conn, &bus, &clock, mode).await
        })
        .map_err(|e| format!("{e:#}"))?;
    println!(
        "read {} dossier events and {} catalog events ({} refused); lookup holds {} dossiers and {} procedures",
        report.dossier_events,
        report.catalog_events,
        report.refused,
        report.dossiers,
        report.procedures
    );
    for (table, n) in &report.differences {
        println!("{table}: {n} rows differed between the rebuilt and the live model");
    }
    if args.check {
        if !report.equal() {
            std::process::exit(1);
        }
        println!("the live model equals the one rebuilt from the streams");
    } else {
        println!("the rebuilt model is in place");
    }
    Ok(())
}
