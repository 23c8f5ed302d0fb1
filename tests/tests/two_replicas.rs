//! Two workflow processes sharing the land path, as two pods of one Deployment: a small year
//! (almost all of it land records) runs with the five services as processes of their own binaries
//! and workflow twice, the officers' calls balanced over both and both pulling from the same
//! durable consumers. Every check of the simulator holds exactly — each dossier's state, each
//! notification once, Biểu 06 cell by cell — so nothing was handled twice or lost between them;
//! and each replica's own metrics show it answered calls and handled events, so both did work.
//!
//! The service binaries are the workspace's own (`target/<profile>/motcua-<service>`), which
//! `cargo test --workspace` builds before it runs any test; alone, run `cargo build --bins` first.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_bench::sim::{self, profile::Profile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workflow_replicas_share_the_land_path_each_dossier_handled_once() {
    let report = sim::run(sim::Options {
        profile: Profile::load("tq2017").unwrap(),
        scale: 0.002,
        seed: 23,
        concurrency: 16,
        progress: false,
        processes: true,
        chaos: None,
        replicas: [("workflow", 2)].into_iter().collect(),
    })
    .await
    .unwrap();
    let table = report.render();
    println!("{table}");
    assert!(report.dossiers >= 50, "{} dossiers", report.dossiers);
    let workflow: Vec<_> = report
        .processes
        .iter()
        .filter(|m| m.service == "workflow")
        .collect();
    assert_eq!(workflow.len(), 2, "two workflow processes ran: {table}");
    for m in &workflow {
        assert!(
            m.calls > 0 && m.events > 0,
            "{} answered calls and handled events: {table}",
            m.name
        );
    }
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.what.starts_with("each replica") && c.checked == 2),
        "the simulator checked both replicas: {table}"
    );
    assert_eq!(report.mismatches(), 0, "{table}");
}
