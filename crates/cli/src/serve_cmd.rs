//! `motcua serve --target all|LIST`: runs the chosen services in one process, the same code as
//! their separate deployments.

use clap::Args;
use motcua_platform::config::Settings;
use motcua_platform::process;

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
    let settings = process::settings_or_exit("motcua");
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime
        .block_on(serve(targets, settings))
        .map_err(|e| format!("{e:#}"))
}

async fn serve(targets: Vec<&'static str>, settings: Settings) -> anyhow::Result<()> {
    let started = process::begin("motcua", &settings).await?;
    let shutdown = started.shutdown;
    if let Some(bound) = started.metrics_addr {
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
    process::end();
    Ok(())
}
