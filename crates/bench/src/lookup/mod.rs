//! `motcua-bench lookup`: public status lookups per second and their latency over gRPC and over
//! HTTP (JSON), beside a no-op handler on the same server stack (the same host: boundary, rate
//! limiter, load shedding, HTTP middleware) measured in the same run — the ceiling of the stack —
//! and the ratio; the answer times of a wrong secret and of an unknown code side by side; and the
//! lag from a change in workflow to its visibility in lookup at a steady rate of changes.
//!
//! Lookups: `--dossiers` dossiers are put in lookup's model through its own projection code, then
//! `--concurrency` clients (each its own connection) ask for random ones with the right token for
//! `--seconds` per measurement. The per-client rate limit is lifted for the run (one address
//! sends everything).
//!
//! Lag: workflow and lookup run in this process; `--lag-cases` cases are opened from `submitted`
//! events, then one ForwardStep each is sent at `--lag-rate` a second. For each, the lag is from
//! workflow's answer (its change committed) until a lookup with the dossier's token shows the new
//! version, asked every 2 ms as a citizen would: commit to visible, through the relay, JetStream,
//! lookup's consumer and commit, and whatever lookup keeps in memory.

use super::{bench_vars, quantile, wait_ready};
use clap::Args;
use motcua_domain::events::DossierEvent;
use motcua_domain::secrets::SecretHasher;
use motcua_platform::auth::{Claims, Role, mint};
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::{DEV_JWT_SECRET, Vars};
use motcua_platform::host::{GrpcApi, ServiceHost};
use motcua_platform::process::Process;
use motcua_platform::{SharedClock, SystemClock};
use motcua_proto::common::DossierStatus;
use motcua_proto::events::{DossierState, DossierSubmitted};
use motcua_proto::lookup::lookup_service_client::LookupServiceClient;
use motcua_proto::lookup::lookup_service_server::{
    LookupService, LookupServiceServer, SERVICE_NAME,
};
use motcua_proto::lookup::*;
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::{Action, ClaimTaskRequest};
use prost::Message;
use rand::Rng;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel as GrpcChannel;

mod lag;
mod load;
use lag::lag;
use load::*;

#[derive(Debug, Args)]
pub struct LookupArgs {
    /// Dossiers asked for again and again, at random (a results day).
    #[arg(long, default_value_t = 20_000)]
    dossiers: usize,
    /// Dossiers more, each asked for once (nothing kept in memory helps: the worst case).
    #[arg(long, default_value_t = 120_000)]
    fresh: usize,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// Changes a second in the lag measurement.
    #[arg(long, default_value_t = 500)]
    lag_rate: u64,
    /// Changes in the lag measurement (one per case).
    #[arg(long, default_value_t = 5000)]
    lag_cases: usize,
    /// PostgreSQL connections of each service's pool.
    #[arg(long, default_value_t = 32)]
    connections: u32,
}

pub fn run(args: LookupArgs) -> Result<(), String> {
    if args.dossiers == 0
        || args.fresh < 2
        || args.concurrency == 0
        || args.seconds == 0
        || args.lag_rate == 0
        || args.lag_cases == 0
        || args.connections == 0
    {
        return Err("every figure must be positive".into());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(bench(args)).map_err(|e| format!("{e:#}"))
}

const AGENCY: &str = "000.00.06.H56";

fn code(i: usize) -> String {
    format!("{AGENCY}-261127-{i:05}")
}

/// The applicant's ID number of dossier `i` (12 digits).
fn id_number(i: usize) -> String {
    format!("0380{i:08}")
}

/// What the `n`th lookup of a client sends for dossier `i`: the applicant's ID number one time in
/// four (the way through the per-code guard), the receipt's token otherwise (the QR link, SMS).
fn secret(i: usize, n: usize) -> String {
    if n % 4 == 3 { id_number(i) } else { token(i) }
}

/// A receipt's lookup token as intake issues it (10 characters of its alphabet, at least one a
/// letter: here the last), one per dossier.
fn token(i: usize) -> String {
    let alphabet = motcua_domain::secrets::TOKEN_ALPHABET;
    let letters = &alphabet[8..];
    let mut n = i;
    let mut token: String = (1..motcua_domain::secrets::TOKEN_LENGTH)
        .map(|_| {
            let c = alphabet[n % alphabet.len()];
            n /= alphabet.len();
            char::from(c)
        })
        .collect();
    token.push(char::from(letters[i % letters.len()]));
    token
}

/// A received dossier's state as intake publishes it.
fn state(i: usize, hasher: &SecretHasher, now: chrono::DateTime<chrono::Utc>) -> DossierState {
    let c = code(i);
    let (key, hash) = hasher.hash(&c, &token(i));
    DossierState {
        dossier_code: c.clone(),
        version: 1,
        status: DossierStatus::Received as i32,
        national_code: 2,
        procedure_code: "1.013831".into(),
        procedure_version: 1,
        procedure_name:
            "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất".into(),
        field: "dat-dai".into(),
        receiving_agency: AGENCY.into(),
        competent_agency: AGENCY.into(),
        applicant_name_masked: "N***** V** A*".into(),
        received_at: Some(motcua_domain::time::ts(now)),
        due_at: Some(motcua_domain::time::ts(now + chrono::Duration::days(12))),
        public_note: "Hồ sơ đã được tiếp nhận".into(),
        lookup_token_hmac: hash,
        applicant_id_hmac: hasher.hash(&c, &id_number(i)).1,
        secret_key_id: key,
        original_due_at: Some(motcua_domain::time::ts(now + chrono::Duration::days(12))),
        ..Default::default()
    }
}

/// The no-op lookup: the same host and boundary, an answer made in advance.
struct NoOp(PublicDossier);

#[tonic::async_trait]
impl LookupService for NoOp {
    async fn lookup_dossier(
        &self,
        _: tonic::Request<LookupDossierRequest>,
    ) -> Result<tonic::Response<LookupDossierResponse>, tonic::Status> {
        Ok(tonic::Response::new(LookupDossierResponse {
            dossier: Some(self.0.clone()),
        }))
    }
    async fn search_procedures(
        &self,
        _: tonic::Request<SearchProceduresRequest>,
    ) -> Result<tonic::Response<SearchProceduresResponse>, tonic::Status> {
        Ok(tonic::Response::new(SearchProceduresResponse::default()))
    }
    async fn get_procedure(
        &self,
        _: tonic::Request<GetProcedureRequest>,
    ) -> Result<tonic::Response<GetProcedureResponse>, tonic::Status> {
        Ok(tonic::Response::new(GetProcedureResponse::default()))
    }
}

static NO_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;

/// Serves the no-op on a host of its own; returns its gRPC and HTTP addresses.
async fn start_noop(
    process: &Process,
    answer: PublicDossier,
) -> anyhow::Result<(SocketAddr, SocketAddr, tokio::task::JoinHandle<()>)> {
    let mut host = ServiceHost::new(
        motcua_platform::config::ServiceSpec {
            name: "lookupnoop",
            grpc_port: 0,
            http_port: 0,
        },
        process,
        &NO_MIGRATIONS,
    )
    .await?;
    let json = serde_json::to_string(&serde_json::json!({
        "dossier_code": answer.dossier_code,
        "procedure_name": answer.procedure_name,
        "applicant_name_masked": answer.applicant_name_masked,
        "status_label": answer.status_label,
        "national_code": answer.national_code,
        "history": [],
    }))?;
    let routes = axum::Router::new().route(
        "/api/v1/dossiers/lookup",
        axum::routing::post(move || {
            let json = json.clone();
            async move { ([("content-type", "application/json")], json) }
        }),
    );
    let http = host.serve_http(routes, axum::Router::new()).await?;
    let router = host
        .router(GrpcApi {
            contracts: motcua_proto::FILE_DESCRIPTOR_SET,
            private: vec![],
            public: vec![SERVICE_NAME],
            rules: Default::default(),
        })?
        .add_service(tonic::service::interceptor::InterceptedService::new(
            LookupServiceServer::new(NoOp(answer)),
            host.public_interceptor(),
        ));
    let listener = host.bind().await?;
    let running = host.serve(router, listener);
    Ok((
        running.addr,
        http,
        tokio::spawn(async move {
            let _ = running.task.await;
        }),
    ))
}

async fn bench(args: LookupArgs) -> anyhow::Result<()> {
    let (_, mut vars) = bench_vars("lookup", args.connections);
    vars.set("MOTCUA_WORKFLOW_GRPC_ADDR", "127.0.0.1:0");
    vars.set("MOTCUA_LOOKUP_HTTP_ADDR", "127.0.0.1:0");
    // One address sends everything: lift the per-client limits for the run.
    vars.set("MOTCUA_PUBLIC_RATE_PER_SECOND", "100000000");
    vars.set("MOTCUA_PUBLIC_RATE_BURST", "100000000");
    vars.set("MOTCUA_LOOKUP_FAILURES_PER_CODE", "100000000");
    vars.set("MOTCUA_MAX_IN_FLIGHT", "4096");
    let clock: SharedClock = SystemClock::shared();
    // The services' own counters say how lookups were answered.
    motcua_platform::metrics::install();
    let process = Process::new(vars.clone(), clock.clone())?;
    let settings = process.settings.clone();
    let lookup = motcua_lookup::start(
        &process,
        motcua_lookup::settings::LookupSettings::from_vars(&vars)?,
    )
    .await?;
    let result = measure(&args, &vars, &process, &lookup, &clock).await;
    process.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), lookup.task).await;
    for service in ["lookup", "workflow", "lookupnoop"] {
        let _ = motcua_platform::db::drop_database(
            &settings.database_url,
            &settings.database_name(service),
        )
        .await;
    }
    if let Ok(bus) = Bus::from_settings(&settings).await {
        bus.delete_streams().await;
    }
    result
}

async fn measure(
    args: &LookupArgs,
    vars: &Vars,
    process: &Process,
    lookup: &motcua_platform::host::Running,
    clock: &SharedClock,
) -> anyhow::Result<()> {
    let settings = &process.settings;
    let grpc = lookup.addr;
    let http = lookup
        .http_addr
        .ok_or_else(|| anyhow::anyhow!("lookup has no HTTP side"))?;
    wait_ready(GrpcChannel::from_shared(format!("http://{grpc}"))?.connect_lazy()).await?;
    let pool = motcua_platform::db::pool_options(8)
        .connect_with(
            motcua_platform::db::options(&settings.database_url)?
                .database(&settings.database_name("lookup")),
        )
        .await?;

    // The model: dossiers put in through lookup's own projection.
    let hasher = motcua_domain::secrets::SecretHasher::from_vars(|n| vars.raw(n))?;
    let now = clock.now();
    for chunk in (0..args.dossiers + args.fresh)
        .collect::<Vec<_>>()
        .chunks(1000)
    {
        let mut tx = pool.begin().await?;
        for &i in chunk {
            let event = DossierEvent::Submitted(DossierSubmitted {
                state: Some(state(i, &hasher, now)),
                ..Default::default()
            });
            motcua_lookup::consume::apply_dossier(
                &mut tx,
                &event,
                now,
                motcua_lookup::consume::Announce::No,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        tx.commit().await?;
    }
    let mut sample = motcua_lookup::consume::view(&state(0, &hasher, now));
    sample.status_label = "Đã tiếp nhận".into();
    let (noop_grpc, noop_http, noop_task) = start_noop(process, sample).await?;
    wait_ready(GrpcChannel::from_shared(format!("http://{noop_grpc}"))?.connect_lazy()).await?;
    println!(
        "bench lookup: {} concurrent clients each on its own connection, {} s per measurement, one lookup in four by the applicant's ID number and the rest by the receipt's token; \"hot\": {} dossiers asked at random (a results day: the target's case), \"fresh\": each of {} more asked once (nothing kept in memory helps: one replica's floor, printed beside the target)",
        args.concurrency, args.seconds, args.dossiers, args.fresh
    );
    let hot = Pick::Hot(args.dossiers);
    let half = args.dossiers + args.fresh / 2;
    let (grpc_fresh, http_fresh) = (
        Pick::fresh(args.dossiers, half),
        Pick::fresh(half, args.dossiers + args.fresh),
    );
    // Warm both (connections, statement caches), then measure.
    let warm = LookupArgs {
        seconds: 1,
        ..*args
    };
    grpc_load(grpc, &warm, hot.clone()).await?;
    grpc_load(noop_grpc, &warm, hot.clone()).await?;
    let ceiling = grpc_load(noop_grpc, args, hot.clone()).await?;
    for (what, pick) in [("hot", hot.clone()), ("fresh", grpc_fresh)] {
        let before = Answers::now();
        let service = grpc_load(grpc, args, pick).await?;
        let answers = Answers::now().since(before);
        print(
            &format!("gRPC LookupDossier, {what}"),
            &service,
            &ceiling,
            answers,
            what == "hot",
        );
    }
    http_load(http, &warm, hot.clone()).await?;
    http_load(noop_http, &warm, hot.clone()).await?;
    let ceiling = http_load(noop_http, args, hot.clone()).await?;
    for (what, pick) in [("hot", hot), ("fresh", http_fresh)] {
        let before = Answers::now();
        let service = http_load(http, args, pick).await?;
        let answers = Answers::now().since(before);
        print(
            &format!("HTTP POST /api/v1/dossiers/lookup, {what}"),
            &service,
            &ceiling,
            answers,
            what == "hot",
        );
    }
    noop_task.abort();
    let (wrong, unknown) = refusals(grpc, args).await?;
    println!(
        "refusals, one client: wrong secret p50 {:.3} ms, unknown code p50 {:.3} ms (ratio {:.3}: the same work)",
        ms(wrong),
        ms(unknown),
        ms(wrong) / ms(unknown)
    );
    lag(args, vars, process, &pool, grpc).await
}
