//! `motcua-workflow`: the workflow service alone (the `motcua serve --target workflow` of a cluster).

use motcua_platform::config::{Settings, Vars};
use motcua_platform::{process, supervise};
use motcua_workflow::settings::WorkflowSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    const PROGRAM: &str = "motcua-workflow";
    let vars = Vars::from_env();
    let settings = process::or_exit(PROGRAM, Settings::from_vars(&vars));
    let workflow = process::or_exit(PROGRAM, WorkflowSettings::from_vars(&vars));
    let started = process::begin(PROGRAM, vars, settings).await?;
    let running = motcua_workflow::start(&started, workflow).await?;
    tracing::info!(addr = %running.addr, "workflow listening");
    // A server that fails stops the process with exit 70, naming the service.
    supervise::run_to_end(PROGRAM, &started, vec![("workflow", running)]).await;
    Ok(())
}
