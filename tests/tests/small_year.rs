//! A small year: the 2017 province's profile (deploy/sim/tq2017.toml) at 0.8 % of its dossiers —
//! a few hundred, of every field it had, by desk, post and the portal, some asked for a
//! supplement, one refused, one withdrawn — through all five services on the simulated clock,
//! from January to the last result returned in the next year. At the end every check of the
//! simulator holds exactly: each dossier's final state in workflow and on the public lookup, the
//! outcome workflow recorded, Biểu 06 for the year and each month per field cell by cell, each
//! notification sent once, no dead letter, no unpublished event, no failed job.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_bench::sim::{self, profile::Profile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_year_replayed_through_all_five_services_matches_every_record() {
    let report = sim::run(sim::Options {
        profile: Profile::load("tq2017").unwrap(),
        scale: 0.008,
        seed: 7,
        concurrency: 16,
        progress: false,
        processes: false,
        chaos: None,
        replicas: Default::default(),
    })
    .await
    .unwrap();
    let table = report.render();
    println!("{table}");
    assert!(
        report.dossiers >= 200,
        "a few hundred dossiers: {}",
        report.dossiers
    );
    let checked: u64 = report.checks.iter().map(|c| c.checked).sum();
    assert!(
        checked > 3 * report.dossiers as u64,
        "every dossier was checked in every service: {checked} checks"
    );
    assert_eq!(report.mismatches(), 0, "{table}");
    // The figures beside the checks: every dossier's events reached what citizens and leaders
    // read, with their lag measured, and the machine's own write rate in the same run.
    for consumer in ["lookup-dossiers", "reporting-dossiers"] {
        let lag = report
            .lags
            .iter()
            .find(|l| l.consumer == consumer)
            .unwrap_or_else(|| panic!("no lag measured for {consumer}: {table}"));
        assert!(
            lag.events >= 3 * report.dossiers && lag.p50 <= lag.p99 && lag.p99 <= lag.max,
            "{lag:?}"
        );
    }
    assert!(report.raw_rate.0 > 0.0, "{table}");
}
