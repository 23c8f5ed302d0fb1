//! `motcua-bench workflow`: ForwardStep transitions per second over gRPC from many concurrent
//! clients, each a committed change whose state event JetStream has acknowledged, with p50 / p99
//! latency of one call; beside the raw PostgreSQL rate of the same write (read the case locked,
//! update it, a history row, an outbox row, in one transaction) with the same connections and
//! clients, and the ratio.
//!
//! Cases are opened the way production opens them: `submitted` events on the stream, taken by
//! workflow's consumer. Each has `--steps` desk steps, so each client forwards its own cases step
//! by step (no two clients touch one case: the figure is throughput, not contention).

use super::{bench_vars, quantile, wait_published, wait_ready};
use clap::Args;
use motcua_domain::time::ts;
use motcua_platform::auth::{Claims, Role, mint};
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::DEV_JWT_SECRET;
use motcua_platform::process::Process;
use motcua_platform::{SharedClock, SystemClock};
use motcua_proto::common::{ProcessStep, ProcessingTime, processing_time::Span};
use motcua_proto::events::{DossierState, DossierSubmitted};
use motcua_proto::workflow::workflow_service_client::WorkflowServiceClient;
use motcua_proto::workflow::{Action, ClaimTaskRequest, ForwardStepRequest};
use motcua_workflow::settings::WorkflowSettings;
use prost::Message;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel as GrpcChannel;

#[derive(Debug, Args)]
pub struct WorkflowArgs {
    /// Cases to move through their steps.
    #[arg(long, default_value_t = 1280)]
    cases: usize,
    /// Steps per case (each case gives steps − 1 forwards).
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// PostgreSQL connections, for workflow's pool and for the baseline alike.
    #[arg(long, default_value_t = 32)]
    connections: u32,
}

pub fn run(args: WorkflowArgs) -> Result<(), String> {
    if args.cases == 0 || args.steps < 2 || args.concurrency == 0 || args.connections == 0 {
        return Err(
            "--cases, --concurrency and --connections must be positive, --steps at least 2".into(),
        );
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(bench(args)).map_err(|e| format!("{e:#}"))
}

const AGENCY: &str = "000.00.06.H56";

fn code(i: usize) -> String {
    format!("{AGENCY}-261127-{i:05}")
}

/// A `submitted` event as intake would publish it, for a case of `steps` desk steps.
fn submitted(i: usize, steps: usize, now: chrono::DateTime<chrono::Utc>) -> DossierSubmitted {
    let hours = |h| {
        Some(ProcessingTime {
            span: Some(Span::WorkingHours(h)),
        })
    };
    DossierSubmitted {
        state: Some(DossierState {
            dossier_code: code(i),
            version: 1,
            status: 1,
            national_code: 2,
            procedure_code: "bench".into(),
            procedure_version: 1,
            procedure_name: "Thủ tục thử tải".into(),
            field: "dat-dai".into(),
            receiving_agency: AGENCY.into(),
            competent_agency: AGENCY.into(),
            received_at: Some(ts(now)),
            due_at: Some(ts(now + chrono::Duration::days(30))),
            ..Default::default()
        }),
        processing_time: hours(8 * steps as u32),
        steps: (0..steps)
            .map(|s| ProcessStep {
                key: format!("buoc-{s}"),
                name: format!("Bước {s}"),
                role: "desk".into(),
                limit: hours(8),
                department: String::new(),
            })
            .collect(),
        ..Default::default()
    }
}

async fn bench(args: WorkflowArgs) -> anyhow::Result<()> {
    let (_, vars) = bench_vars("workflow", args.connections);
    let clock: SharedClock = SystemClock::shared();
    let process = Process::new(vars.clone(), clock.clone())?;
    let settings = process.settings.clone();
    let running = motcua_workflow::start(&process, WorkflowSettings::from_vars(&vars)?).await?;
    let database = settings.database_name("workflow");
    let bus = Bus::from_settings(&settings).await?;
    let result = async {
        let channel = GrpcChannel::from_shared(format!("http://{}", running.addr))?.connect_lazy();
        wait_ready(channel.clone()).await?;
        let options = motcua_platform::db::options(&settings.database_url)?.database(&database);
        let pool = motcua_platform::db::pool_options(args.connections)
            .connect_with(options)
            .await?;

        // Open the cases through the stream, as intake would.
        let now = clock.now();
        for i in 0..args.cases {
            let mut h = async_nats::HeaderMap::new();
            h.insert(headers::EVENT_ID, uuid::Uuid::now_v7().to_string().as_str());
            h.insert(headers::EVENT_TYPE, "submitted");
            let m = async_nats::jetstream::message::PublishMessage::build()
                .payload(submitted(i, args.steps, now).encode_to_vec().into())
                .headers(h);
            bus.js.send_publish(bus.subject("dossier.dat-dai.submitted"), m).await?.await?;
        }
        for _ in 0..6000 {
            let opened: i64 = sqlx::query_scalar("SELECT count(*) FROM cases").fetch_one(&pool).await?;
            if opened as usize >= args.cases {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Events so far: the submitted ones and one `opened` each.
        wait_published(&pool, &bus, 2 * args.cases as u64).await?;
        // Statistics, as autovacuum gives a production table within a minute of such a load. A
        // table filled seconds ago has none, and the plans cached meanwhile guess: the timers'
        // DELETE then filtered every job of the queue (an O(jobs) scan per change) instead of
        // looking up its own keys.
        sqlx::query("ANALYZE").execute(&pool).await?;

        let now_s = chrono::Utc::now().timestamp();
        let token = mint(
            DEV_JWT_SECRET,
            &Claims {
                sub: "bench-desk".into(),
                name: "bench".into(),
                agency: AGENCY.into(),
                roles: vec![Role::Desk],
                exp: now_s + 3600,
                iat: now_s,
                ..Default::default()
            },
        )?;
        let header: MetadataValue<_> = format!("Bearer {token}").parse()?;
        // Each step is taken (ClaimTask) and then forwarded (ForwardStep), as officers must: two
        // changes, each a transition of its own (a version, a history line, an event).
        let transitions = args.cases * (args.steps - 1) * 2;
        println!(
            "bench workflow: {} cases × {} steps claimed and forwarded = {transitions} transitions, {} concurrent clients, {} PostgreSQL connections (workflow's pool and the baseline's alike)",
            args.cases,
            args.steps - 1,
            args.concurrency,
            args.connections
        );
        let start = Instant::now();
        let mut clients = Vec::new();
        for c in 0..args.concurrency {
            let header = header.clone();
            // Each client its own connection, as officers' browsers and other systems are: one
            // shared HTTP/2 connection would serialise every call through one server task.
            let channel = GrpcChannel::from_shared(format!("http://{}", running.addr))?.connect().await?;
            let mut client = WorkflowServiceClient::with_interceptor(channel, move |mut req: tonic::Request<()>| {
                req.metadata_mut().insert("authorization", header.clone());
                Ok(req)
            });
            let mine: Vec<usize> = (c..args.cases).step_by(args.concurrency).collect();
            let steps = args.steps;
            clients.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(mine.len() * steps);
                for i in mine {
                    let mut version = 2;
                    for _ in 1..steps {
                        let t = Instant::now();
                        let reply = client
                            .claim_task(ClaimTaskRequest {
                                dossier_code: code(i),
                                action: Some(Action { expected_version: version, ..Default::default() }),
                            })
                            .await
                            .map_err(|s| anyhow::anyhow!("claim {}: {s}", code(i)))?;
                        latencies.push(t.elapsed());
                        version = reply.into_inner().case.map_or(0, |c| c.version);
                        let t = Instant::now();
                        let reply = client
                            .forward_step(ForwardStepRequest {
                                dossier_code: code(i),
                                action: Some(Action { expected_version: version, ..Default::default() }),
                            })
                            .await
                            .map_err(|s| anyhow::anyhow!("forward {}: {s}", code(i)))?;
                        latencies.push(t.elapsed());
                        version = reply.into_inner().case.map_or(0, |c| c.version);
                    }
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut latencies = Vec::with_capacity(transitions);
        for c in clients {
            latencies.extend(c.await??);
        }
        let answered = start.elapsed();
        wait_published(&pool, &bus, (2 * args.cases + transitions) as u64).await?;
        let elapsed = start.elapsed();
        latencies.sort();
        let rate = transitions as f64 / elapsed.as_secs_f64();
        let raw = raw_rate(&pool, transitions, args.concurrency).await?;
        println!(
            "transitions answered in {:.2} s; all events acknowledged by JetStream after {:.2} s",
            answered.as_secs_f64(),
            elapsed.as_secs_f64()
        );
        println!(
            "workflow ClaimTask + ForwardStep (gRPC → PostgreSQL → JetStream): {rate:.0} transitions/s; latency p50 {:.1} ms, p99 {:.1} ms (target p99 < 50 ms)",
            quantile(&latencies, 0.5).as_secs_f64() * 1000.0,
            quantile(&latencies, 0.99).as_secs_f64() * 1000.0
        );
        println!(
            "machine limit, raw PostgreSQL (lock and update a case, a history row, an outbox row per transaction, {} connections, {} clients): {raw:.0} transactions/s",
            args.connections, args.concurrency
        );
        println!("ratio: {:.3} (target ≥ 0.50, p99 < 20 ms)", rate / raw);
        motcua_bench::figures::record(motcua_bench::figures::Figure {
            bench: "workflow",
            figure: "ClaimTask + ForwardStep",
            value: rate,
            unit: "transitions/s",
            baseline: raw,
            target: Some(0.50),
            lower_is_better: false,
        });
        motcua_bench::figures::record(motcua_bench::figures::Figure {
            bench: "workflow",
            figure: "transition p99",
            value: quantile(&latencies, 0.99).as_secs_f64() * 1000.0,
            unit: "ms",
            baseline: 20.0,
            target: Some(1.0),
            lower_is_better: true,
        });
        pool.close().await;
        anyhow::Ok(())
    }
    .await;
    process.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), running.task).await;
    let _ = motcua_platform::db::drop_database(&settings.database_url, &database).await;
    bus.delete_streams().await;
    result
}

/// Transactions per second of the write a transition needs, on tables of the same shape.
async fn raw_rate(pool: &PgPool, count: usize, concurrency: usize) -> anyhow::Result<f64> {
    sqlx::query(
        "CREATE TABLE bench_raw_case (code text PRIMARY KEY, version bigint NOT NULL, record bytea NOT NULL, updated_at timestamptz NOT NULL)",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "CREATE TABLE bench_raw_history (code text NOT NULL, version bigint NOT NULL, kind text NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (code, version))",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "CREATE TABLE bench_raw_outbox (id uuid PRIMARY KEY, seq bigserial, subject text NOT NULL, payload bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(pool)
    .await?;
    let record = vec![7u8; 1500];
    for c in 0..concurrency {
        sqlx::query("INSERT INTO bench_raw_case VALUES ($1, 1, $2, now())")
            .bind(format!("raw-{c}"))
            .bind(&record)
            .execute(pool)
            .await?;
    }
    let per_client = count.div_ceil(concurrency);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let (pool, record) = (pool.clone(), record.clone());
        tasks.push(tokio::spawn(async move {
            let code = format!("raw-{c}");
            for _ in 0..per_client {
                let mut tx = pool.begin().await?;
                let (version,): (i64,) = sqlx::query_as("SELECT version FROM bench_raw_case WHERE code = $1 FOR UPDATE")
                    .bind(&code)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("UPDATE bench_raw_case SET version = $2, record = $3, updated_at = now() WHERE code = $1")
                    .bind(&code)
                    .bind(version + 1)
                    .bind(&record)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO bench_raw_history VALUES ($1, $2, 'forwarded', now())")
                    .bind(&code)
                    .bind(version + 1)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO bench_raw_outbox (id, subject, payload) VALUES ($1, 'dossier.dat-dai.state-changed', $2)")
                    .bind(uuid::Uuid::now_v7())
                    .bind(&record)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per_client * concurrency) as f64 / start.elapsed().as_secs_f64())
}
