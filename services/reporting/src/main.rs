//! `motcua-reporting`: the reporting service alone (the `motcua serve --target reporting` of a
//! cluster).

use motcua_platform::config::{Settings, Vars};
use motcua_platform::{process, supervise};
use motcua_reporting::settings::ReportingSettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    const PROGRAM: &str = "motcua-reporting";
    let vars = Vars::from_env();
    let settings = process::or_exit(PROGRAM, Settings::from_vars(&vars));
    let reporting = process::or_exit(PROGRAM, ReportingSettings::from_vars(&vars));
    let started = process::begin(PROGRAM, vars, settings).await?;
    let running = motcua_reporting::start(&started, reporting).await?;
    tracing::info!(addr = %running.addr, "reporting listening");
    // A server that fails stops the process with exit 70, naming the service.
    supervise::run_to_end(PROGRAM, &started, vec![("reporting", running)]).await;
    Ok(())
}
