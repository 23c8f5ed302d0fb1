//! The figures a benchmark prints, also written as JSON lines for the suite (`deploy/bench.sh`):
//! when MOTCUA_BENCH_RESULTS names a file, each [`record`] appends one line to it — the figure,
//! its same-run baseline, the ratio and the target — so results compare across commits.

use std::io::Write;

/// One figure beside its baseline. `target` is the ratio the issue asks for (higher is better),
/// or for a time the bound it must stay under (`lower_is_better`).
#[derive(Debug, Clone, Copy)]
pub struct Figure<'a> {
    pub bench: &'a str,
    pub figure: &'a str,
    pub value: f64,
    pub unit: &'a str,
    pub baseline: f64,
    pub target: Option<f64>,
    pub lower_is_better: bool,
}

/// Appends the figure to $MOTCUA_BENCH_RESULTS (nothing when unset; a write failure is said on
/// standard error and does not stop the benchmark).
pub fn record(f: Figure<'_>) {
    let Ok(path) = std::env::var("MOTCUA_BENCH_RESULTS") else {
        return;
    };
    let ratio = if f.baseline > 0.0 {
        f.value / f.baseline
    } else {
        0.0
    };
    let line = serde_json::json!({
        "bench": f.bench,
        "figure": f.figure,
        "value": f.value,
        "unit": f.unit,
        "baseline": f.baseline,
        "ratio": ratio,
        "target": f.target,
        "lower_is_better": f.lower_is_better,
    });
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{line}"));
    if let Err(e) = written {
        eprintln!("MOTCUA_BENCH_RESULTS {path}: {e}");
    }
}
