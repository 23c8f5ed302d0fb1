//! `motcua-intake`: the intake service alone (the `motcua serve --target intake` of a cluster).

use motcua_intake::settings::IntakeSettings;
use motcua_platform::config::{Settings, Vars};
use motcua_platform::{process, supervise};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    const PROGRAM: &str = "motcua-intake";
    let vars = Vars::from_env();
    let settings = process::or_exit(PROGRAM, Settings::from_vars(&vars));
    let intake = process::or_exit(PROGRAM, IntakeSettings::from_vars(&vars));
    let started = process::begin(PROGRAM, vars, settings).await?;
    let running = motcua_intake::start(&started, intake).await?;
    tracing::info!(addr = %running.addr, "intake listening");
    // A server that fails stops the process with exit 70, naming the service.
    supervise::run_to_end(PROGRAM, &started, vec![("intake", running)]).await;
    Ok(())
}
