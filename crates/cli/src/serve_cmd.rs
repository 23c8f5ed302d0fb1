//! `motcua serve --target all|LIST`: runs the chosen services in one process, the same code as
//! their separate deployments.

use clap::Args;
use motcua_platform::config::{EXIT_CONFIG, Settings};

/// Services this build contains. The other services of DESIGN.md join this list as they land.
pub const AVAILABLE: &[&str] = &["intake"];
const PLANNED: &[&str] = &["workflow", "notification", "lookup", "reporting"];

#[derive(Debug, Args)]
pub struct ServeCmd {
    /// `all`, or a comma-separated list such as `intake`.
    #[arg(long, default_value = "all")]
    target: String,
}

fn targets(target: &str) -> Result<Vec<&'static str>, String> {
    if target == "all" {
        return Ok(AVAILABLE.to_vec());
    }
    let mut out = Vec::new();
    for t in target.split(',').map(str::trim) {
        match AVAILABLE.iter().find(|a| **a == t) {
            Some(a) if !out.contains(a) => out.push(*a),
            Some(_) => {}
            None if PLANNED.contains(&t) => {
                return Err(format!(
                    "--target: {t} is not in this build yet; available: {}",
                    AVAILABLE.join(", ")
                ));
            }
            None => {
                return Err(format!(
                    "--target: unknown service {t:?}; available: all, {}",
                    AVAILABLE.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

pub fn run(cmd: ServeCmd) -> Result<(), String> {
    let targets = targets(&cmd.target)?;
    let settings = Settings::from_env().unwrap_or_else(|e| {
        eprintln!("motcua: {e}");
        std::process::exit(EXIT_CONFIG)
    });
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime
        .block_on(serve(targets, settings))
        .map_err(|e| format!("{e:#}"))
}

async fn serve(targets: Vec<&'static str>, settings: Settings) -> anyhow::Result<()> {
    motcua_platform::telemetry::init("motcua", &settings)?;
    motcua_platform::metrics::install();
    let shutdown = motcua_platform::shutdown::on_signals();
    if let Some(addr) = settings.metrics_addr {
        let bound =
            motcua_platform::metrics::serve(addr, shutdown.clone().cancelled_owned()).await?;
        println!("metrics    http://{bound}/metrics");
    }
    let mut tasks = Vec::new();
    for target in targets {
        let running = match target {
            "intake" => motcua_intake::start(settings.clone(), shutdown.clone()).await?,
            other => anyhow::bail!("service {other} is not in this build"),
        };
        println!("{target:<10} grpc://{}", running.addr);
        tasks.push(running.task);
    }
    futures::future::join_all(tasks).await;
    motcua_platform::telemetry::shutdown();
    Ok(())
}
