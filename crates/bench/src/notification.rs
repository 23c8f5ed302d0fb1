//! `motcua-bench notification`: deliveries per second from event to delivery recorded, through the
//! log provider and through an HTTP SMS gateway stand-in (a local server that answers at once),
//! beside the raw PostgreSQL rate of writing a delivery row and marking it sent with the same
//! connections; then the consumer's lag while events arrive at the workflow benchmark's
//! transition rate.
//!
//! Events are published on the stream as intake's and workflow's relays would. Each `submitted`
//! asks for two deliveries (SMS and e-mail to the applicant); the timer runs from the first
//! publish to the last delivery recorded as sent. Quiet hours are off for the run (it may run at
//! night), rate limits are lifted; everything else is the service's defaults.

use super::bench_vars;
use clap::Args;
use motcua_bench::pending;
use motcua_notification::settings::NotificationSettings;
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::Vars;
use motcua_platform::process::Process;
use motcua_platform::{SharedClock, SystemClock};
use motcua_proto::common::DossierStatus;
use motcua_proto::events::{ChangeKind, DossierState, DossierStateChanged, DossierSubmitted};
use prost::Message;
use sqlx::PgPool;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct NotificationArgs {
    /// `submitted` events per delivery measurement (two deliveries each).
    #[arg(long, default_value_t = 2000)]
    events: usize,
    /// PostgreSQL connections, for notification's pool and for the baseline alike.
    #[arg(long, default_value_t = 16)]
    connections: u32,
    /// Events per second in the lag measurement (the workflow benchmark's transition rate).
    #[arg(long, default_value_t = 2000)]
    rate: usize,
    /// Seconds of the lag measurement.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub fn run(args: NotificationArgs) -> Result<(), String> {
    if args.events == 0 || args.connections == 0 || args.rate == 0 || args.seconds == 0 {
        return Err("--events, --connections, --rate and --seconds must be positive".into());
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(bench(args)).map_err(|e| format!("{e:#}"))
}

const AGENCY: &str = "000.00.06.H56";
const CONSUMER: &str = "notification-dossiers";

fn state(code: &str, version: u64, now: chrono::DateTime<chrono::Utc>) -> DossierState {
    DossierState {
        dossier_code: code.into(),
        version,
        status: DossierStatus::Received as i32,
        procedure_code: "1.013831".into(),
        procedure_name: "Đăng ký biến động quyền sử dụng đất".into(),
        field: "dat-dai".into(),
        receiving_agency: AGENCY.into(),
        competent_agency: AGENCY.into(),
        received_at: Some(motcua_domain::time::ts(now)),
        due_at: Some(motcua_domain::time::ts(now + chrono::Duration::days(10))),
        ..Default::default()
    }
}

async fn publish(bus: &Bus, event_type: &str, payload: Vec<u8>) -> anyhow::Result<()> {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::EVENT_ID, uuid::Uuid::now_v7().to_string().as_str());
    h.insert(headers::EVENT_TYPE, event_type);
    let m = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .headers(h);
    bus.js
        .send_publish(bus.subject(&format!("dossier.dat-dai.{event_type}")), m)
        .await?
        .await?;
    Ok(())
}

/// A running notification on a fresh database and prefix.
struct Instance {
    process: Process,
    task: tokio::task::JoinHandle<Result<(), String>>,
    database: String,
    settings: motcua_platform::config::Settings,
    bus: Bus,
    pool: PgPool,
}

async fn start(vars: &Vars, connections: u32) -> anyhow::Result<Instance> {
    let clock: SharedClock = SystemClock::shared();
    let process = Process::new(vars.clone(), clock)?;
    let settings = process.settings.clone();
    let running =
        motcua_notification::start(&process, NotificationSettings::from_vars(vars)?).await?;
    super::wait_ready(
        tonic::transport::Channel::from_shared(format!("http://{}", running.addr))?.connect_lazy(),
    )
    .await?;
    let database = settings.database_name("notification");
    let bus = Bus::from_settings(&settings).await?;
    let pool = motcua_platform::db::pool_options(connections)
        .connect_with(motcua_platform::db::options(&settings.database_url)?.database(&database))
        .await?;
    Ok(Instance {
        process,
        task: running.task,
        database,
        settings,
        bus,
        pool,
    })
}

impl Instance {
    async fn stop(self) {
        self.process.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
        self.pool.close().await;
        let _ =
            motcua_platform::db::drop_database(&self.settings.database_url, &self.database).await;
        self.bus.delete_streams().await;
    }

    /// Publishes `events` submitted events; the deliveries per second until all are sent.
    async fn deliveries_per_second(&self, events: usize, tag: &str) -> anyhow::Result<f64> {
        let now = chrono::Utc::now();
        let start = Instant::now();
        for i in 0..events {
            let code = format!("{AGENCY}-261127-{tag}{i:05}");
            let e = DossierSubmitted {
                state: Some(state(&code, 1, now)),
                applicant_phone: "0912345678".into(),
                applicant_email: "an.nv@example.vn".into(),
                ..Default::default()
            };
            publish(&self.bus, "submitted", e.encode_to_vec()).await?;
        }
        // Printed so that a reader sees the publisher is not what is measured.
        println!(
            "{events} events published in {:.2} s",
            start.elapsed().as_secs_f64()
        );
        let expected = 2 * events as i64;
        let deadline = Instant::now() + Duration::from_secs(600);
        // The wait's own queries stay off the service's CPU: queued rows are counted through the
        // due index (a backlog, not the table), and the whole table only once none is queued.
        // Counting every row every 5 ms took a third of PostgreSQL's time in the run.
        loop {
            let queued: i64 =
                sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'queued'")
                    .fetch_one(&self.pool)
                    .await?;
            if queued == 0 {
                let all: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
                    .fetch_one(&self.pool)
                    .await?;
                if all >= expected {
                    break;
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "deliveries not all recorded after 600 s ({queued} queued)"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let failed: i64 =
            sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'failed'")
                .fetch_one(&self.pool)
                .await?;
        anyhow::ensure!(failed == 0, "{failed} deliveries failed");
        Ok(expected as f64 / start.elapsed().as_secs_f64())
    }
}

/// A local HTTP server standing in for an SMS gateway: answers every message at once.
async fn gateway() -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(|| async { r#"{"messageId": "gw"}"# }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}/sms"))
}

fn vars(connections: u32) -> Vars {
    let (_, mut vars) = bench_vars("notification", connections);
    vars.set("MOTCUA_NOTIFICATION_HTTP_ADDR", "127.0.0.1:0");
    vars.set("MOTCUA_SMS_QUIET_HOURS", "off");
    for var in [
        "MOTCUA_SMS_RATE_PER_SECOND",
        "MOTCUA_EMAIL_RATE_PER_SECOND",
        "MOTCUA_WEBHOOK_RATE_PER_SECOND",
    ] {
        vars.set(var, "1000000");
    }
    vars
}

async fn bench(args: NotificationArgs) -> anyhow::Result<()> {
    // 1. Through the log provider.
    let log = start(&vars(args.connections), args.connections).await?;
    let result = async {
        let via_log = log.deliveries_per_second(args.events, "1").await?;
        let raw = raw_rate(&log.pool, 2 * args.events, args.connections as usize).await?;
        println!(
            "machine limit, raw PostgreSQL (insert a delivery row, then mark it sent, {} connections): {raw:.0} deliveries/s",
            args.connections
        );
        motcua_bench::figures::record(motcua_bench::figures::Figure {
            bench: "notification",
            figure: "deliveries, log provider",
            value: via_log,
            unit: "deliveries/s",
            baseline: raw,
            target: Some(0.40),
            lower_is_better: false,
        });
        println!(
            "notification, log provider ({} events → {} deliveries, event published → delivery recorded): {via_log:.0} deliveries/s | ratio {:.3}",
            args.events,
            2 * args.events,
            via_log / raw
        );

        // 3. Lag at the workflow benchmark's transition rate: each dossier's `submitted` (two
        // deliveries) and then nine state changes, published at --rate for --seconds.
        let total = args.rate * args.seconds as usize;
        let now = chrono::Utc::now();
        let start = Instant::now();
        let mut samples = Vec::new();
        let mut next_sample = Instant::now();
        for i in 0..total {
            let dossier = i / 10;
            let code = format!("{AGENCY}-261127-L{dossier:06}");
            if i % 10 == 0 {
                let e = DossierSubmitted {
                    state: Some(state(&code, 1, now)),
                    applicant_phone: "0912345678".into(),
                    applicant_email: "an.nv@example.vn".into(),
                    ..Default::default()
                };
                publish(&log.bus, "submitted", e.encode_to_vec()).await?;
            } else {
                let e = DossierStateChanged {
                    state: Some(state(&code, (i % 10) as u64 + 1, now)),
                    kind: ChangeKind::Forwarded as i32,
                    change: "forwarded".into(),
                    at: Some(motcua_domain::time::ts(now)),
                    ..Default::default()
                };
                publish(&log.bus, "state-changed", e.encode_to_vec()).await?;
            }
            // Keep to the rate.
            let due = start + Duration::from_secs_f64((i + 1) as f64 / args.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            if Instant::now() >= next_sample {
                samples.push(pending(&log.bus, CONSUMER).await?);
                next_sample += Duration::from_millis(500);
            }
        }
        let published_in = start.elapsed();
        let drain_start = Instant::now();
        while pending(&log.bus, CONSUMER).await? > 0 {
            anyhow::ensure!(
                drain_start.elapsed() < Duration::from_secs(300),
                "the consumer did not catch up within 300 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drained = drain_start.elapsed();
        // And every delivery those events asked for, recorded.
        loop {
            let queued: i64 =
                sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE status = 'queued'")
                    .fetch_one(&log.pool)
                    .await?;
            if queued == 0 {
                break;
            }
            anyhow::ensure!(
                drain_start.elapsed() < Duration::from_secs(300),
                "deliveries were not all recorded within 300 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let delivered = drain_start.elapsed();
        let achieved = total as f64 / published_in.as_secs_f64();
        let max = samples.iter().max().copied().unwrap_or(0);
        let half = samples.len() / 2;
        let first_half = samples[..half].iter().max().copied().unwrap_or(0);
        let second_half = samples[half..].iter().max().copied().unwrap_or(0);
        println!(
            "consumer lag at {achieved:.0} events/s for {:.1} s ({total} events, 1 in 10 asks for two deliveries): pending events sampled every 0.5 s max {max} (first half {first_half}, second half {second_half}); events caught up {:.0} ms and deliveries {:.0} ms after the last publish | {}",
            published_in.as_secs_f64(),
            drained.as_secs_f64() * 1000.0,
            delivered.as_secs_f64() * 1000.0,
            // Bounded: the second half's backlog is no larger than twice the first's (a backlog
            // that grows keeps growing) and it is gone within a second of the last event.
            if second_half <= 2 * first_half.max(50) && delivered < Duration::from_secs(1) {
                "bounded"
            } else {
                "GROWING"
            }
        );
        anyhow::Ok(raw)
    }
    .await;
    log.stop().await;
    let raw = result?;

    // 2. Through the HTTP gateway stand-in (e-mail stays on the log provider).
    let mut vars = vars(args.connections);
    vars.set("MOTCUA_SMS_PROVIDER", "http");
    vars.set("MOTCUA_SMS_GATEWAY_URL", gateway().await?);
    let http = start(&vars, args.connections).await?;
    let result = http.deliveries_per_second(args.events, "2").await;
    http.stop().await;
    let via_http = result?;
    motcua_bench::figures::record(motcua_bench::figures::Figure {
        bench: "notification",
        figure: "deliveries, HTTP SMS gateway",
        value: via_http,
        unit: "deliveries/s",
        baseline: raw,
        target: Some(0.40),
        lower_is_better: false,
    });
    println!(
        "notification, HTTP SMS gateway stand-in + log e-mail ({} events → {} deliveries): {via_http:.0} deliveries/s | ratio {:.3} to the raw rate above",
        args.events,
        2 * args.events,
        via_http / raw
    );
    Ok(())
}

/// Deliveries per second of the raw writes a delivery needs: insert its row (in a transaction
/// of its own), then mark it sent, from `concurrency` clients.
async fn raw_rate(pool: &PgPool, count: usize, concurrency: usize) -> anyhow::Result<f64> {
    sqlx::query(
        "CREATE TABLE bench_raw_deliveries (id uuid PRIMARY KEY, event_id uuid NOT NULL, dossier_code text NOT NULL,
             channel text NOT NULL, recipient_ref text NOT NULL, body text NOT NULL, status text NOT NULL,
             next_attempt_at timestamptz NOT NULL, sent_at timestamptz,
             UNIQUE (event_id, recipient_ref, channel))",
    )
    .execute(pool)
    .await?;
    let per_client = count.div_ceil(concurrency);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                let id = uuid::Uuid::now_v7();
                sqlx::query(
                    "INSERT INTO bench_raw_deliveries VALUES ($1, $2, $3, 'sms', $3, $4, 'queued', now(), NULL)",
                )
                .bind(id)
                .bind(uuid::Uuid::now_v7())
                .bind(format!("raw-{c}-{i}"))
                .bind("Ho so 000.00.06.H56-261127-00001 da duoc tiep nhan, hen tra ket qua ngay 07/12/2026.")
                .execute(&pool)
                .await?;
                sqlx::query("UPDATE bench_raw_deliveries SET status = 'sent', sent_at = now() WHERE id = $1")
                    .bind(id)
                    .execute(&pool)
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per_client * concurrency) as f64 / start.elapsed().as_secs_f64())
}
