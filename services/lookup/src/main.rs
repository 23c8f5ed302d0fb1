//! `motcua-lookup`: the lookup service alone (the `motcua serve --target lookup` of a cluster).

use motcua_lookup::settings::LookupSettings;
use motcua_platform::config::{Settings, Vars};
use motcua_platform::{process, supervise};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    const PROGRAM: &str = "motcua-lookup";
    let vars = Vars::from_env();
    let settings = process::or_exit(PROGRAM, Settings::from_vars(&vars));
    let lookup = process::or_exit(PROGRAM, LookupSettings::from_vars(&vars));
    let started = process::begin(PROGRAM, vars, settings).await?;
    let running = motcua_lookup::start(&started, lookup).await?;
    tracing::info!(addr = %running.addr, http = ?running.http_addr, "lookup listening");
    // A server that fails stops the process with exit 70, naming the service.
    supervise::run_to_end(PROGRAM, &started, vec![("lookup", running)]).await;
    Ok(())
}
