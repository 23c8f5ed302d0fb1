//! `motcua-notification`: the notification service alone (the `motcua serve --target notification`
//! of a cluster).

use motcua_notification::settings::NotificationSettings;
use motcua_platform::config::{Settings, Vars};
use motcua_platform::{process, supervise};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    const PROGRAM: &str = "motcua-notification";
    let vars = Vars::from_env();
    let settings = process::or_exit(PROGRAM, Settings::from_vars(&vars));
    let notification = process::or_exit(PROGRAM, NotificationSettings::from_vars(&vars));
    let started = process::begin(PROGRAM, vars, settings).await?;
    let running = motcua_notification::start(&started, notification).await?;
    tracing::info!(addr = %running.addr, http = ?running.http_addr, "notification listening");
    // A server that fails stops the process with exit 70, naming the service.
    supervise::run_to_end(PROGRAM, &started, vec![("notification", running)]).await;
    Ok(())
}
