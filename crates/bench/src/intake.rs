//! `motcua-bench intake`: submissions per second over gRPC, end to end (every event acknowledged
//! by JetStream), beside the raw PostgreSQL rate of the minimal durable write a submission needs
//! (one dossier row and one outbox row in one transaction) measured in the same run.
//!
//! It starts intake in this process on a fresh database and stream prefix, against the PostgreSQL
//! and NATS of MOTCUA_DATABASE_URL / MOTCUA_NATS_URL, and removes both afterwards. Durability
//! settings are the server's defaults.
//!
//! Fairness: intake's pool and the baseline's pool have the same number of connections
//! (`--connections`, printed with both figures), and the same number of concurrent clients drive
//! them. Intake also holds one connection for its relay's LISTEN and one for its readiness probe,
//! outside the pool.

use super::{bench_vars, wait_published, wait_ready};
use clap::Args;
use motcua_intake::settings::IntakeSettings;
use motcua_platform::CancellationToken;
use motcua_platform::auth::{Claims, Role, mint};
use motcua_platform::bus::Bus;
use motcua_platform::config::DEV_JWT_SECRET;
use motcua_platform::process::Process;
use motcua_platform::{SharedClock, SystemClock};
use motcua_proto::intake::SubmitDossierRequest;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel as GrpcChannel;

const CATALOG: &str = include_str!("../../../deploy/catalog/tnmt.toml");

#[derive(Debug, Args)]
pub struct IntakeArgs {
    /// Submissions to time.
    #[arg(long, default_value_t = 3000)]
    count: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Receiving agencies the clients spread over (each has its own daily sequence).
    #[arg(long, default_value_t = 8)]
    agencies: usize,
    /// PostgreSQL connections, for intake's pool and for the baseline alike.
    #[arg(long, default_value_t = 32)]
    connections: u32,
}

pub fn run(args: IntakeArgs) -> Result<(), String> {
    if args.count == 0 || args.concurrency == 0 || args.agencies == 0 || args.connections == 0 {
        return Err("--count, --concurrency, --agencies and --connections must be positive".into());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(intake(args)).map_err(|e| format!("{e:#}"))
}

fn agency(i: usize) -> String {
    format!("000.00.{:02}.H56", 10 + i)
}

/// The tests' land dossier, received at the desk of `agency`.
fn submission(n: usize, agency: &str) -> SubmitDossierRequest {
    SubmitDossierRequest {
        receiving_agency: agency.into(),
        ..motcua_testkit::dossiers::land_submission(&format!("bench-{n}"))
    }
}

async fn intake(args: IntakeArgs) -> anyhow::Result<()> {
    let (id, mut vars) = bench_vars("intake", args.connections);
    vars.set(
        "MOTCUA_ATTACHMENTS_DIR",
        std::env::temp_dir()
            .join(format!("motcua-bench-{id}"))
            .display()
            .to_string(),
    );
    let clock: SharedClock = SystemClock::shared();
    let process = Process::new(vars.clone(), clock.clone())?;
    let settings = process.settings.clone();
    let shutdown: CancellationToken = process.shutdown.clone();
    let intake_settings = IntakeSettings::from_vars(&vars)?;
    let attachments_dir = match &intake_settings.attachments {
        motcua_intake::settings::AttachmentStore::Dir(dir) => Some(dir.clone()),
        motcua_intake::settings::AttachmentStore::S3 { .. } => None,
    };
    let running = motcua_intake::start(&process, intake_settings).await?;
    let database = settings.database_name("intake");
    let bus = Bus::from_settings(&settings).await?;
    let result = async {
        let channel = GrpcChannel::from_shared(format!("http://{}", running.addr))?.connect_lazy();
        wait_ready(channel.clone()).await?;
        let options = motcua_platform::db::options(&settings.database_url)?.database(&database);
        // The baseline's pool: the same number of connections as intake's.
        let pool = motcua_platform::db::pool_options(args.connections)
            .connect_with(options)
            .await?;
        let mut catalog = motcua_intake::catalog::parse_file(CATALOG).map_err(anyhow::Error::msg)?;
        catalog.agencies.extend((0..args.agencies).map(|i| motcua_intake::catalog::FileAgency {
            code: agency(i),
            name: format!("Cơ quan thử tải {i}"),
            working_hours: None,
        }));
        motcua_intake::load_catalog(&pool, &clock, catalog).await?;
        let clients: Vec<_> = (0..args.agencies)
            .map(|i| {
                let now = chrono::Utc::now().timestamp();
                let claims = Claims { sub: format!("bench-{i}"), name: "bench".into(), agency: agency(i), roles: vec![Role::Desk], exp: now + 3600, iat: now, ..Default::default() };
                let header: MetadataValue<_> = format!("Bearer {}", mint(DEV_JWT_SECRET, &claims)?).parse()?;
                Ok(IntakeServiceClient::with_interceptor(channel.clone(), move |mut req: tonic::Request<()>| {
                    req.metadata_mut().insert("authorization", header.clone());
                    Ok(req)
                }))
            })
            .collect::<anyhow::Result<_>>()?;

        println!("bench intake: {} submissions, {} concurrent clients, {} agencies, {} PostgreSQL connections (intake's pool and the baseline's alike)", args.count, args.concurrency, args.agencies, args.connections);
        submit_all(&clients, 0, 100.min(args.count), args.concurrency).await?; // warm-up
        wait_published(&pool, &bus, 100.min(args.count) as u64).await?;
        let start = Instant::now();
        submit_all(&clients, 1000, args.count, args.concurrency).await?;
        let answered = start.elapsed();
        wait_published(&pool, &bus, (100.min(args.count) + args.count) as u64).await?;
        let elapsed = start.elapsed();
        let rate = args.count as f64 / elapsed.as_secs_f64();

        let raw = motcua_bench::raw::submission_rate(&pool, args.count, args.concurrency).await?;
        println!("submissions answered in {:.2} s; all events acknowledged by JetStream after {:.2} s", answered.as_secs_f64(), elapsed.as_secs_f64());
        println!("intake SubmitDossier (gRPC → PostgreSQL → JetStream): {rate:.0} submissions/s");
        println!("machine limit, raw PostgreSQL (1 dossier row + 1 outbox row per transaction, {} connections, {} clients): {raw:.0} transactions/s", args.connections, args.concurrency);
        println!("ratio: {:.3} (target ≥ 0.40)", rate / raw);
        motcua_bench::figures::record(motcua_bench::figures::Figure {
            bench: "intake",
            figure: "SubmitDossier",
            value: rate,
            unit: "submissions/s",
            baseline: raw,
            target: Some(0.40),
            lower_is_better: false,
        });
        pool.close().await;
        anyhow::Ok(())
    }
    .await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), running.task).await;
    let _ = motcua_platform::db::drop_database(&settings.database_url, &database).await;
    bus.delete_streams().await;
    if let Some(dir) = attachments_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

async fn submit_all<C>(
    clients: &[IntakeServiceClient<C>],
    offset: usize,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<()>
where
    IntakeServiceClient<C>: Clone + Send + 'static,
    C: tonic::client::GrpcService<tonic::body::Body> + Send,
    C::ResponseBody: tonic::transport::Body<Data = bytes::Bytes> + Send + 'static,
    <C::ResponseBody as tonic::transport::Body>::Error:
        Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    C::Future: Send,
{
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let permit = permits.clone().acquire_owned().await?;
        let i = n % clients.len();
        let mut client = clients[i].clone();
        let req = submission(offset + n, &agency(i));
        tasks.push(tokio::spawn(async move {
            let r = client.submit_dossier(req).await;
            drop(permit);
            r.map(|_| ())
        }));
    }
    for t in tasks {
        t.await?
            .map_err(|s| anyhow::anyhow!("submission failed: {s}"))?;
    }
    Ok(())
}
