//! Faults while the year runs (`--chaos`): every few seconds one service process is killed
//! outright (SIGKILL) and started again after a moment; once each, the run's own NATS is killed
//! and restarted on its store and its own PostgreSQL crashes (immediate stop) and restarts. The
//! year must still end with every check exact. What was done, when, and how long each took to
//! serve again is the run's record.

use super::fleet::Fleet;
use super::servers::{OwnNats, OwnPostgres};
use motcua_platform::CancellationToken;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// One fault and its recovery.
#[derive(Debug, Clone)]
pub struct Fault {
    pub what: String,
    /// Wall time since the run started.
    pub at: Duration,
    /// Until the part served again.
    pub back_after: Duration,
}

/// What the chaos run may break.
#[derive(Debug)]
pub struct Targets {
    pub fleet: Arc<Mutex<Fleet>>,
    pub services: Vec<&'static str>,
    pub nats: Arc<Mutex<OwnNats>>,
    pub postgres: Arc<OwnPostgres>,
}

/// How hard: a fault about every `every`, at most `max` of them.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub every: Duration,
    pub max: usize,
}

/// Breaks things until `stop` or `pace.max` faults; returns what it did. First each service once
/// in a random order, NATS third and PostgreSQL fifth; then services at random.
pub async fn run(
    targets: Targets,
    seed: u64,
    pace: Pace,
    stop: CancellationToken,
) -> anyhow::Result<Vec<Fault>> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed ^ 0xC4A05);
    let mut first: Vec<&'static str> = targets.services.clone();
    first.shuffle(&mut rng);
    let mut faults = Vec::new();
    let mut round = 0usize;
    while faults.len() < pace.max {
        let pause = pace.every.mul_f64(rng.random_range(0.5..1.5));
        tokio::select! {
            _ = stop.cancelled() => return Ok(faults),
            _ = tokio::time::sleep(pause) => {}
        }
        round += 1;
        let at = started.elapsed();
        let fault = if round == 3 {
            let t = Instant::now();
            targets.nats.lock().await.restart().await?;
            Fault {
                what: "NATS killed and restarted".into(),
                at,
                back_after: t.elapsed(),
            }
        } else if round == 5 {
            let t = Instant::now();
            targets.postgres.restart().await?;
            Fault {
                what: "PostgreSQL crashed (immediate stop) and restarted".into(),
                at,
                back_after: t.elapsed(),
            }
        } else {
            let service = match first.pop() {
                Some(s) => s,
                None => targets.services[rng.random_range(0..targets.services.len())],
            };
            let down = Duration::from_millis(rng.random_range(200..2000));
            let mut fleet = targets.fleet.lock().await;
            fleet.kill(service)?;
            tokio::time::sleep(down).await;
            let back = fleet.restart(service).await?;
            Fault {
                what: format!("{service} killed (SIGKILL), down {} ms", down.as_millis()),
                at,
                back_after: down + back,
            }
        };
        faults.push(fault);
    }
    Ok(faults)
}

/// The faults as lines for the run's report.
pub fn render(faults: &[Fault]) -> String {
    let mut out = String::from("\nfault | at (wall) | serving again after\n---|---:|---:\n");
    for f in faults {
        out += &format!(
            "{} | {:.1} s | {:.2} s\n",
            f.what,
            f.at.as_secs_f64(),
            f.back_after.as_secs_f64()
        );
    }
    out
}
