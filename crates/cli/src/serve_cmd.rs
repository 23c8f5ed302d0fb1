//! `motcua serve --target all|LIST`: runs the chosen services in one process, the same code as
//! their separate deployments.

use clap::Args;
use motcua_intake::settings::IntakeSettings;
use motcua_lookup::settings::LookupSettings;
use motcua_notification::settings::NotificationSettings;
use motcua_platform::config::{ServiceSpec, Settings, Vars};
use motcua_platform::{process, supervise};
use motcua_reporting::settings::ReportingSettings;
use motcua_workflow::settings::WorkflowSettings;

/// Services this build contains, as each declares itself: the five of DESIGN.md.
pub const SERVICES: [ServiceSpec; 5] = [
    motcua_intake::SERVICE,
    motcua_workflow::SERVICE,
    motcua_lookup::SERVICE,
    motcua_notification::SERVICE,
    motcua_reporting::SERVICE,
];

#[derive(Debug, Args)]
pub struct ServeCmd {
    /// `all`, or a comma-separated list such as `intake`.
    #[arg(long, default_value = "all")]
    target: String,
}

pub(crate) fn targets(target: &str) -> Result<Vec<&'static str>, String> {
    let available = SERVICES.map(|s| s.name);
    if target == "all" {
        return Ok(available.to_vec());
    }
    let mut out = Vec::new();
    for t in target.split(',').map(str::trim) {
        match available.iter().find(|a| **a == t) {
            Some(a) if !out.contains(a) => out.push(*a),
            Some(_) => {}
            None => {
                return Err(format!(
                    "--target: unknown service {t:?}; available: all, {}",
                    available.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// Each chosen service's settings, checked before anything starts.
enum Chosen {
    Intake(IntakeSettings),
    Workflow(WorkflowSettings),
    Lookup(LookupSettings),
    Notification(Box<NotificationSettings>),
    Reporting(ReportingSettings),
}

pub fn run(cmd: ServeCmd) -> Result<(), String> {
    let targets = targets(&cmd.target)?;
    let vars = Vars::from_env();
    let settings = process::or_exit("motcua", Settings::from_vars(&vars));
    let chosen: Vec<Chosen> = targets
        .iter()
        .map(|t| match *t {
            "intake" => Ok(Chosen::Intake(process::or_exit(
                "motcua",
                IntakeSettings::from_vars(&vars),
            ))),
            "workflow" => Ok(Chosen::Workflow(process::or_exit(
                "motcua",
                WorkflowSettings::from_vars(&vars),
            ))),
            "lookup" => Ok(Chosen::Lookup(process::or_exit(
                "motcua",
                LookupSettings::from_vars(&vars),
            ))),
            "notification" => Ok(Chosen::Notification(Box::new(process::or_exit(
                "motcua",
                NotificationSettings::from_vars(&vars),
            )))),
            "reporting" => Ok(Chosen::Reporting(process::or_exit(
                "motcua",
                ReportingSettings::from_vars(&vars),
            ))),
            other => Err(format!("service {other} is not in this build")),
        })
        .collect::<Result<_, _>>()?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime
        .block_on(serve(program_name(&targets), chosen, vars, settings))
        .map_err(|e| format!("{e:#}"))
}

/// The name the process's traces and logs go under: the service's own (`motcua-intake`, as its
/// separate binary names itself) when it runs one, `motcua` when it runs several.
fn program_name(targets: &[&str]) -> String {
    match targets {
        [one] => format!("motcua-{one}"),
        _ => "motcua".to_owned(),
    }
}

async fn serve(
    program: String,
    chosen: Vec<Chosen>,
    vars: Vars,
    settings: Settings,
) -> anyhow::Result<()> {
    let started = process::begin(&program, vars, settings).await?;
    if let Some(bound) = started.metrics_addr {
        println!("metrics    http://{bound}/metrics");
    }
    let mut services = Vec::new();
    for service in chosen {
        let (target, running) = match service {
            Chosen::Intake(s) => ("intake", motcua_intake::start(&started, s).await?),
            Chosen::Workflow(s) => ("workflow", motcua_workflow::start(&started, s).await?),
            Chosen::Lookup(s) => ("lookup", motcua_lookup::start(&started, s).await?),
            Chosen::Reporting(s) => ("reporting", motcua_reporting::start(&started, s).await?),
            Chosen::Notification(s) => (
                "notification",
                motcua_notification::start(&started, *s).await?,
            ),
        };
        println!("{target:<10} grpc://{}", running.addr);
        if let Some(http) = running.http_addr {
            println!("{target:<10} http://{http}");
        }
        services.push((target, running));
    }
    // One service that dies stops the others and the process (exit 70, naming it): a process that
    // stays up with a service gone would look healthy to whoever restarts it.
    supervise::run_to_end("motcua", &started, services).await;
    Ok(())
}
