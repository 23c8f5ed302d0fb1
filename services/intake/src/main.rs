//! `motcua-intake`: the intake service alone (the `motcua serve --target intake` of a cluster).

use motcua_platform::process;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = process::settings_or_exit("motcua-intake");
    let started = process::begin("motcua-intake", &settings).await?;
    let running = motcua_intake::start(settings, started.shutdown).await?;
    tracing::info!(addr = %running.addr, "intake listening");
    running.task.await?;
    process::end();
    Ok(())
}
