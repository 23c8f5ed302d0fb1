//! `motcua-bench …`: benchmarks that print their figure beside this machine's own limit measured
//! in the same run (the raw PostgreSQL rate of the same durable write), and the ratio. Run by
//! `just bench`; a binary of its own so that the `motcua` binary operators run holds none of it.
//!
//! Each starts its service in this process on a fresh database and stream prefix, against the
//! PostgreSQL and NATS of MOTCUA_DATABASE_URL / MOTCUA_NATS_URL, and removes both afterwards.
//! Durability settings are the server's defaults.

mod intake;
mod lookup;
mod notification;
mod reporting;
mod sim_cmd;
mod workflow;

use clap::{Parser, Subcommand};
use motcua_bench::quantile;
use motcua_platform::bus::Bus;
use motcua_platform::config::Vars;
use sqlx::PgPool;
use std::time::Duration;
use tonic::transport::Channel as GrpcChannel;

#[derive(Debug, Parser)]
#[command(
    name = "motcua-bench",
    version,
    about = "motcua's benchmarks: each figure beside this machine's own limit, and the ratio"
)]
struct Cli {
    #[command(subcommand)]
    command: BenchCmd,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli.command) {
        eprintln!("motcua-bench: {e}");
        std::process::exit(1);
    }
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// SubmitDossier throughput against the raw PostgreSQL write rate.
    Intake(intake::IntakeArgs),
    /// Forward-step transitions per second and their latency against the raw write rate.
    Workflow(workflow::WorkflowArgs),
    /// Public status lookups per second and their latency against a no-op on the same stack;
    /// the lag from a workflow change to lookup.
    Lookup(lookup::LookupArgs),
    /// Deliveries per second (log provider, HTTP gateway stand-in) against the raw write rate of
    /// a delivery row; the consumer's lag at the workflow benchmark's rate.
    Notification(notification::NotificationArgs),
    /// The projection's events per second against the raw write rate; Biểu 06 for a national
    /// year and a province-year against a plain scan of the same rows.
    Reporting(reporting::ReportingArgs),
    /// A year of a province replayed through the five services in simulated time, checked
    /// against the simulator's own records; its last line `sim: <dossiers> dossiers, <wall> s,
    /// <mismatches> mismatches`.
    Sim(sim_cmd::SimArgs),
}

fn run(cmd: BenchCmd) -> Result<(), String> {
    match cmd {
        BenchCmd::Intake(args) => intake::run(args),
        BenchCmd::Workflow(args) => workflow::run(args),
        BenchCmd::Lookup(args) => lookup::run(args),
        BenchCmd::Notification(args) => notification::run(args),
        BenchCmd::Reporting(args) => reporting::run(args),
        BenchCmd::Sim(args) => sim_cmd::run(args),
    }
}

/// Settings for a bench run of `service`: a fresh database prefix and bus prefix, port 0, no
/// metrics, `connections` in the pool, and small stream reservations (the streams are deleted).
fn bench_vars(service: &str, connections: u32) -> (String, Vars) {
    let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let mut vars = Vars::from_env();
    vars.set("MOTCUA_DATABASE_PREFIX", format!("bench_{id}"));
    vars.set("MOTCUA_DEVELOPMENT", "true");
    vars.set("MOTCUA_BUS_PREFIX", format!("bench{id}."));
    vars.set(
        &format!("MOTCUA_{}_GRPC_ADDR", service.to_uppercase()),
        "127.0.0.1:0",
    );
    vars.set(
        &format!("MOTCUA_{}_HTTP_ADDR", service.to_uppercase()),
        "127.0.0.1:0",
    );
    vars.set("MOTCUA_METRICS_ADDR", "off");
    vars.set("MOTCUA_DATABASE_MAX_CONNECTIONS", connections.to_string());
    vars.set("MOTCUA_DOSSIER_EVENTS_MAX_BYTES", (1u64 << 30).to_string());
    vars.set("MOTCUA_CATALOG_EVENTS_MAX_BYTES", (64u64 << 20).to_string());
    vars.set("MOTCUA_DEAD_LETTERS_MAX_BYTES", (64u64 << 20).to_string());
    (id, vars)
}

async fn wait_ready(channel: GrpcChannel) -> anyhow::Result<()> {
    motcua_bench::wait_ready(channel, "the service", Duration::from_secs(30)).await
}

/// Waits until the outbox is empty and the stream holds `expected` dossier events.
async fn wait_published(pool: &PgPool, bus: &Bus, expected: u64) -> anyhow::Result<()> {
    let stream = bus
        .js
        .get_stream(bus.stream_name(motcua_platform::bus::DOSSIERS))
        .await?;
    for _ in 0..12_000 {
        let pending = motcua_platform::outbox::pending(pool).await?;
        if pending == 0 && stream.get_info().await?.state.messages >= expected {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    anyhow::bail!("events were not all published within 60 s")
}
