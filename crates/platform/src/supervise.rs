//! A process whose service dies stops and says which: `motcua serve --target all` must not stay up
//! with one of its services gone (an orchestrator sees a live process and restarts nothing), and a
//! service's own binary must not exit 0 when its server failed.
//!
//! A host records why it ended unexpectedly in its [`crate::host::Fault`] and cancels the process's shutdown
//! token, so the other services in the process drain and stop as on SIGTERM; [`supervise`] then
//! names the first service that ended without being asked, and [`run_to_end`] exits with
//! [`EXIT_SERVICE_ENDED`].

use crate::host::Running;
use crate::process::Process;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

/// Exit code of a process one of whose services ended unexpectedly (EX_SOFTWARE of sysexits.h).
pub const EXIT_SERVICE_ENDED: i32 = 70;

/// A service that ended without being asked to, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service {service} ended unexpectedly: {why}")]
pub struct ServiceEnded {
    pub service: &'static str,
    pub why: String,
}

/// Waits for `services` until every one has ended. The first that ends while the process was not
/// asked to stop (its server failed, it panicked, or it just returned) stops the others through the
/// process's shutdown token and is returned.
pub async fn supervise(
    process: &Process,
    services: Vec<(&'static str, Running)>,
) -> Result<(), ServiceEnded> {
    let mut waiting: FuturesUnordered<_> = services
        .into_iter()
        .map(|(service, running)| async move { (service, running.task.await) })
        .collect();
    let mut first = None;
    while let Some((service, ended)) = waiting.next().await {
        let why = match ended {
            Ok(Ok(())) if process.shutdown.is_cancelled() => continue,
            Ok(Ok(())) => "it stopped without being asked to".to_owned(),
            Ok(Err(why)) => why,
            Err(e) if e.is_panic() => "it panicked".to_owned(),
            Err(e) => e.to_string(),
        };
        if first.is_none() {
            tracing::error!(
                service,
                why,
                "service ended unexpectedly; stopping the others"
            );
            process.shutdown.cancel();
            first = Some(ServiceEnded { service, why });
        }
    }
    first.map_or(Ok(()), Err)
}

/// A binary's end: supervises its services, flushes telemetry, and exits with
/// [`EXIT_SERVICE_ENDED`] naming the service if one ended unexpectedly.
pub async fn run_to_end(program: &str, process: &Process, services: Vec<(&'static str, Running)>) {
    let ended = supervise(process, services).await;
    crate::process::end();
    if let Err(e) = ended {
        eprintln!("{program}: {e}");
        std::process::exit(EXIT_SERVICE_ENDED);
    }
}
