//! Operators' commands on the bus: dead letters (`motcua deadletters list|replay`) and events a
//! service's relay set aside (`motcua outbox parked|retry`). They use the same MOTCUA_* settings as
//! the services (NATS URL and prefix; PostgreSQL URL and database prefix).

use clap::{Args, Subcommand};
use motcua_platform::bus::Bus;
use motcua_platform::config::Settings;
use motcua_platform::process;
use std::str::FromStr;

#[derive(Debug, Subcommand)]
pub enum DeadLettersCmd {
    /// Lists dead letters: sequence, consumer, subject, event, when, and why.
    List(ListArgs),
    /// Republishes dead letters to their original subject (all of a consumer, or by sequence),
    /// then removes them. Other consumers skip events they already handled.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this consumer's (durable name, e.g. lookup-dossiers).
    #[arg(long)]
    consumer: Option<String>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Only this consumer's.
    #[arg(long)]
    consumer: Option<String>,
    /// Only these sequences (from `list`); repeat for several.
    #[arg(long = "seq")]
    sequences: Vec<u64>,
    /// Needed to replay every dead letter when neither --consumer nor --seq is given.
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Lists the events a service's relay set aside because they can never be published as they are.
    Parked(ServiceArg),
    /// Puts parked events back in line once the cause is mended (a stream created, a limit raised).
    Retry(RetryArgs),
}

#[derive(Debug, Args)]
pub struct ServiceArg {
    /// The service whose outbox to read: intake, workflow, …
    #[arg(long)]
    service: String,
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    #[arg(long)]
    service: String,
    /// Only these event ids; all parked events when absent.
    #[arg(long = "id")]
    ids: Vec<String>,
}

fn settings() -> Settings {
    process::or_exit("motcua", Settings::from_env())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Runtime::new().map_err(|e| e.to_string())
}

pub fn deadletters(cmd: DeadLettersCmd) -> Result<(), String> {
    let s = settings();
    if let DeadLettersCmd::Replay(a) = &cmd
        && a.consumer.is_none()
        && a.sequences.is_empty()
        && !a.all
    {
        return Err("replay: name --consumer or --seq, or say --all".into());
    }
    runtime()?.block_on(async move {
        let bus = Bus::from_settings(&s).await.map_err(|e| format!("{e:#}"))?;
        match cmd {
            DeadLettersCmd::List(a) => {
                let letters =
                    motcua_platform::deadletters::list(&bus, a.consumer.as_deref(), a.limit)
                        .await
                        .map_err(|e| format!("{e:#}"))?;
                println!(
                    "{:<8} {:<24} {:<36} {:<22} {:<26} reason",
                    "seq", "consumer", "subject", "type", "dead at"
                );
                for d in &letters {
                    println!(
                        "{:<8} {:<24} {:<36} {:<22} {:<26} {}",
                        d.sequence, d.consumer, d.subject, d.event_type, d.dead_at, d.reason
                    );
                }
                println!("{} dead letter(s)", letters.len());
            }
            DeadLettersCmd::Replay(a) => {
                let done =
                    motcua_platform::deadletters::replay(&bus, a.consumer.as_deref(), &a.sequences)
                        .await
                        .map_err(|e| format!("{e:#}"))?;
                for d in &done {
                    println!(
                        "replayed {} ({} {} to {})",
                        d.sequence, d.event_type, d.event_id, d.subject
                    );
                }
                println!("{} dead letter(s) replayed", done.len());
            }
        }
        Ok(())
    })
}

fn service_database(s: &Settings, service: &str) -> Result<motcua_platform::db::Target, String> {
    if !crate::serve_cmd::SERVICES.iter().any(|s| s.name == service) {
        let names: Vec<&str> = crate::serve_cmd::SERVICES.iter().map(|s| s.name).collect();
        return Err(format!(
            "--service: {service:?} is not one of {}",
            names.join(", ")
        ));
    }
    motcua_platform::db::target(s, service).map_err(|e| format!("{e:#}"))
}

pub fn outbox(cmd: OutboxCmd) -> Result<(), String> {
    let s = settings();
    let service = match &cmd {
        OutboxCmd::Parked(a) => a.service.clone(),
        OutboxCmd::Retry(a) => a.service.clone(),
    };
    let target = service_database(&s, &service)?;
    let database = target.database.clone();
    let ids = match &cmd {
        OutboxCmd::Retry(a) if !a.ids.is_empty() => Some(
            a.ids
                .iter()
                .map(|i| {
                    uuid::Uuid::from_str(i).map_err(|_| format!("--id: {i:?} is not an event id"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        _ => None,
    };
    runtime()?.block_on(async move {
        let pool = sqlx::PgPool::connect_with(target.options())
            .await
            .map_err(|e| format!("connecting to {database}: {e}"))?;
        match cmd {
            OutboxCmd::Parked(_) => {
                let parked = motcua_platform::outbox::parked(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
                for p in &parked {
                    println!(
                        "{} {} {} {} bytes, parked {} after {} attempt(s): {}",
                        p.id, p.subject, p.event_type, p.bytes, p.parked_at, p.attempts, p.reason
                    );
                }
                println!("{} parked event(s) in {database}", parked.len());
            }
            OutboxCmd::Retry(_) => {
                let n = motcua_platform::outbox::retry_parked(&pool, ids.as_deref())
                    .await
                    .map_err(|e| e.to_string())?;
                println!("{n} parked event(s) put back in line in {database}");
            }
        }
        Ok(())
    })
}
