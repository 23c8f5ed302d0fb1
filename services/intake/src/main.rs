//! `motcua-intake`: the intake service alone (the `motcua serve --target intake` of a cluster).

use motcua_platform::config::{EXIT_CONFIG, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(EXIT_CONFIG)
    });
    motcua_platform::telemetry::init("motcua-intake", &settings)?;
    motcua_platform::metrics::install();
    let shutdown = motcua_platform::shutdown::on_signals();
    if let Some(addr) = settings.metrics_addr {
        motcua_platform::metrics::serve(addr, shutdown.clone().cancelled_owned()).await?;
    }
    let running = motcua_intake::start(settings, shutdown).await?;
    tracing::info!(addr = %running.addr, "intake listening");
    running.task.await?;
    motcua_platform::telemetry::shutdown();
    Ok(())
}
