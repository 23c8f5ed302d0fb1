//! `motcua-bench sim`: the year replay from the command line (deploy/sim.sh calls it).

use clap::Args;
use motcua_bench::sim;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// A profile of deploy/sim/ (tq2017, national-peak) or a path to a profile file.
    #[arg(long, default_value = "tq2017")]
    profile: String,
    /// Multiplies the profile's dossier counts (0.01: a hundredth of the year).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// The same seed lays out the same year.
    #[arg(long, default_value_t = 2017)]
    seed: u64,
    /// How many acts of one moment run at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Run the five services as processes of their own binaries (beside this one), as in a
    /// cluster, instead of inside the simulator.
    #[arg(long)]
    processes: bool,
    /// Kill a service process (SIGKILL) about every N seconds and restart it; restart NATS and
    /// crash PostgreSQL once each — a NATS and a PostgreSQL of the run's own, on free ports.
    #[arg(long, value_name = "SECONDS")]
    chaos: Option<u64>,
    /// With --chaos: at most this many faults.
    #[arg(long, default_value_t = 1000)]
    faults: usize,
    /// Run a service as several replicas sharing its database and streams, e.g. `workflow=2`
    /// (implies --processes); repeat for more services.
    #[arg(long, value_name = "SERVICE=N")]
    replicas: Vec<String>,
}

/// `--replicas` as a map of service to count.
fn replicas(given: &[String]) -> Result<std::collections::BTreeMap<&'static str, usize>, String> {
    let mut out = std::collections::BTreeMap::new();
    for r in given {
        let parsed = r.split_once('=').and_then(|(s, n)| {
            let service = sim::SERVICES.into_iter().find(|k| *k == s)?;
            Some((
                service,
                n.parse::<usize>().ok().filter(|n| (1..=8).contains(n))?,
            ))
        });
        let (service, n) = parsed.ok_or_else(|| {
            format!(
                "--replicas {r}: give SERVICE=N with a service of {} and N from 1 to 8",
                sim::SERVICES.join(", ")
            )
        })?;
        out.insert(service, n);
    }
    Ok(out)
}

pub fn run(args: SimArgs) -> Result<(), String> {
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        return Err(format!("--scale {}: give a positive number", args.scale));
    }
    let replicas = replicas(&args.replicas)?;
    let profile = sim::profile::Profile::load(&args.profile).map_err(|e| format!("{e:#}"))?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let report = rt
        .block_on(sim::run(sim::Options {
            profile,
            scale: args.scale,
            seed: args.seed,
            concurrency: args.concurrency,
            progress: true,
            processes: args.processes || !replicas.is_empty(),
            chaos: args.chaos.map(|s| sim::chaos::Pace {
                every: std::time::Duration::from_secs(s),
                max: args.faults,
            }),
            replicas,
        }))
        .map_err(|e| format!("{e:#}"))?;
    print!("{}", report.render());
    // The suite's record: the year's wall time against the ten minutes (full scale only
    // compares across commits), and whether it was exact.
    let figure = format!(
        "{} ×{} seed {}{}",
        args.profile,
        args.scale,
        args.seed,
        if args.chaos.is_some() { " chaos" } else { "" }
    );
    motcua_bench::figures::record(motcua_bench::figures::Figure {
        bench: "sim",
        figure: &figure,
        value: report.wall.as_secs_f64(),
        unit: "s wall",
        baseline: 600.0,
        target: Some(1.0),
        lower_is_better: true,
    });
    motcua_bench::figures::record(motcua_bench::figures::Figure {
        bench: "sim",
        figure: &format!("{figure} mismatches"),
        value: report.mismatches() as f64,
        unit: "mismatches",
        baseline: 1.0,
        target: Some(0.0),
        lower_is_better: true,
    });
    if report.mismatches() > 0 {
        return Err(format!("{} mismatches", report.mismatches()));
    }
    Ok(())
}
