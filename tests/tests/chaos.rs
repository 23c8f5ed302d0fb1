//! The year under faults: the five services as processes of their own binaries on a NATS and a
//! PostgreSQL of the test's own; while a small year runs, each service is killed outright
//! (SIGKILL) and restarted, NATS is killed and restarted on its store, and PostgreSQL crashes
//! (immediate stop) and restarts. Every check of the simulator still holds exactly: nothing lost,
//! nothing doubled.
//!
//! The service binaries are the workspace's own (`target/<profile>/motcua-<service>`), which
//! `cargo test --workspace` builds before it runs any test; alone, run `cargo build --bins` first.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_bench::sim::{self, chaos::Pace, profile::Profile};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_survives_killed_services_a_restarted_nats_and_a_crashed_postgres() {
    let report = sim::run(sim::Options {
        profile: Profile::load("tq2017").unwrap(),
        scale: 0.002,
        seed: 11,
        concurrency: 16,
        progress: false,
        processes: true,
        chaos: Some(Pace {
            every: Duration::from_secs(1),
            max: 7,
        }),
        replicas: Default::default(),
    })
    .await
    .unwrap();
    let table = report.render();
    println!("{table}");
    let faults: Vec<&str> = report.faults.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        faults.len(),
        7,
        "every fault happened while the year ran: {faults:?}"
    );
    for part in [
        "intake",
        "workflow",
        "lookup",
        "notification",
        "reporting",
        "NATS",
        "PostgreSQL",
    ] {
        assert!(
            faults.iter().any(|f| f.starts_with(part)),
            "{part} was broken once: {faults:?}"
        );
    }
    assert!(report.dossiers >= 50, "{} dossiers", report.dossiers);
    assert_eq!(report.mismatches(), 0, "{table}");
}
