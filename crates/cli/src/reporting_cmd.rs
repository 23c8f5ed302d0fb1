//! `motcua reporting rebuild [--check]`: reporting's fact rows and daily counts from the DOSSIERS
//! stream (see `motcua_reporting::rebuild`). Uses the same MOTCUA_* settings as the service.

use clap::{Args, Subcommand};
use motcua_platform::bus::Bus;
use motcua_platform::config::Settings;
use motcua_platform::process;
use motcua_reporting::rebuild::{self, Mode};
use sqlx::{ConnectOptions, PgConnection};

#[derive(Debug, Subcommand)]
pub enum ReportingCmd {
    /// Rebuilds the fact rows and daily counts from DOSSIERS in place of the live ones (reports
    /// keep reading the old rows meanwhile). With --check, only compares and reports.
    Rebuild(RebuildArgs),
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Compare a model rebuilt from the stream with the live one; change nothing. Exits 1 when
    /// they differ.
    #[arg(long)]
    check: bool,
    /// Replace even when the rebuilt model holds fewer dossiers than the live one.
    #[arg(long, conflicts_with = "check")]
    force: bool,
}

pub fn run(cmd: ReportingCmd) -> Result<(), String> {
    let ReportingCmd::Rebuild(args) = cmd;
    let settings = process::or_exit("motcua", Settings::from_env());
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let report = runtime
        .block_on(async {
            let target = motcua_platform::db::target(&settings, motcua_reporting::NAME)?;
            let (database, options) = (target.database.clone(), target.options());
            let conn: PgConnection = options.connect().await.map_err(|e| {
                anyhow::anyhow!("connecting to reporting's database {database}: {e}")
            })?;
            let bus = Bus::from_settings(&settings).await?;
            let mode = if args.check {
                Mode::Check
            } else {
                Mode::Replace { force: args.force }
            };
            rebuild::run(conn, &bus, mode).await
        })
        .map_err(|e| format!("{e:#}"))?;
    println!(
        "read {} dossier events ({} refused); the rebuilt model holds {} dossiers",
        report.events, report.refused, report.dossiers
    );
    for (table, n) in &report.differences {
        println!("{table}: {n} rows differ between the rebuilt and the live model");
    }
    if args.check {
        if !report.equal() {
            std::process::exit(1);
        }
        println!("the live model equals the one rebuilt from the stream");
    } else {
        println!("the rebuilt model is in place");
    }
    Ok(())
}
