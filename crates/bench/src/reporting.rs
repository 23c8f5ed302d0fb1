//! `motcua-bench reporting`: the projection's events per second (state events on the stream, as
//! intake's and workflow's relays publish them, each a fact upsert and its daily counts) beside the
//! raw PostgreSQL rate of a plain upsert in the same batches; then Biểu 06 over a year at national scale (`--dossiers`, many agencies,
//! loaded straight into PostgreSQL) and for one province-year (31,002 dossiers), each beside a
//! plain `count(*)` over the same rows measured in the same run (the machine's scan speed).

use super::{bench_vars, wait_ready};
use clap::Args;
use motcua_platform::auth::{Claims, Role, mint};
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::DEV_JWT_SECRET;
use motcua_platform::process::Process;
use motcua_platform::{SharedClock, SystemClock};
use motcua_proto::common::{Channel, DossierStatus, Outcome};
use motcua_proto::events::{ChangeKind, DossierState, DossierStateChanged, DossierSubmitted};
use motcua_proto::reporting::reporting_service_client::ReportingServiceClient;
use motcua_proto::reporting::{GetForm06Request, Period, PeriodKind};
use motcua_reporting::settings::ReportingSettings;
use prost::Message;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;
use tonic::transport::Channel as GrpcChannel;

#[derive(Debug, Args)]
pub struct ReportingArgs {
    /// Dossiers in the national-scale year.
    #[arg(long, default_value_t = 10_000_000)]
    dossiers: u64,
    /// Agencies they are spread over (one of them, the province's, has 31,002).
    #[arg(long, default_value_t = 700)]
    agencies: u64,
    /// State events for the projection's rate (each dossier: submitted and four changes).
    #[arg(long, default_value_t = 20_000)]
    events: usize,
}

pub fn run(args: ReportingArgs) -> Result<(), String> {
    if args.dossiers < 31_002 || args.agencies < 2 || args.events < 5 {
        return Err(
            "--dossiers must be at least 31002, --agencies at least 2, --events at least 5".into(),
        );
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(bench(args)).map_err(|e| format!("{e:#}"))
}

const PROVINCE: &str = "000.00.06.H56";
const PROVINCE_YEAR: u64 = 31_002;

fn state(code: &str, version: u64, now: chrono::DateTime<chrono::Utc>) -> DossierState {
    DossierState {
        dossier_code: code.into(),
        version,
        status: DossierStatus::InProgress as i32,
        procedure_code: "1.013831".into(),
        procedure_version: 1,
        procedure_name: "Đăng ký biến động quyền sử dụng đất".into(),
        field: "dat-dai".into(),
        receiving_agency: PROVINCE.into(),
        competent_agency: PROVINCE.into(),
        channel: Channel::Counter as i32,
        received_at: Some(motcua_domain::time::ts(now)),
        due_at: Some(motcua_domain::time::ts(now + chrono::Duration::days(10))),
        ..Default::default()
    }
}

async fn bench(args: ReportingArgs) -> anyhow::Result<()> {
    let (_, vars) = bench_vars("reporting", 8);
    let clock: SharedClock = SystemClock::shared();
    let process = Process::new(vars.clone(), clock.clone())?;
    let settings = process.settings.clone();
    let running = motcua_reporting::start(&process, ReportingSettings::from_vars(&vars)?).await?;
    let database = settings.database_name("reporting");
    let bus = Bus::from_settings(&settings).await?;
    let result = async {
        let channel = GrpcChannel::from_shared(format!("http://{}", running.addr))?.connect_lazy();
        wait_ready(channel.clone()).await?;
        let pool = motcua_platform::db::pool_options(4)
            .connect_with(motcua_platform::db::options(&settings.database_url)?.database(&database))
            .await?;

        // 1. The projection: events on the stream → fact rows.
        let now = chrono::Utc::now();
        let start = Instant::now();
        for i in 0..args.events {
            let code = format!("{PROVINCE}-261127-{:05}", i / 5);
            let version = (i % 5) as u64 + 1;
            let (event_type, payload) = if version == 1 {
                let e = DossierSubmitted {
                    state: Some(state(&code, 1, now)),
                    ..Default::default()
                };
                ("submitted", e.encode_to_vec())
            } else {
                let mut s = state(&code, version, now);
                if version == 5 {
                    s.status = DossierStatus::Finished as i32;
                    s.finished_at = Some(motcua_domain::time::ts(now));
                    s.outcome = Outcome::Early as i32;
                }
                let e = DossierStateChanged {
                    state: Some(s),
                    kind: ChangeKind::Forwarded as i32,
                    ..Default::default()
                };
                ("state-changed", e.encode_to_vec())
            };
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
        }
        let published = start.elapsed();
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let done: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM processed_events WHERE consumer = 'reporting-dossiers'",
            )
            .fetch_one(&pool)
            .await?;
            if done as usize >= args.events {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "the projection did not finish in 600 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let projected = args.events as f64 / start.elapsed().as_secs_f64();
        let raw = raw_rate(&pool, args.events).await?;
        println!(
            "machine limit, raw PostgreSQL (a processed-event row and a fact upsert per event, 256 per transaction, one connection): {raw:.0} events/s"
        );
        motcua_bench::figures::record(motcua_bench::figures::Figure {
            bench: "reporting",
            figure: "projection",
            value: projected,
            unit: "events/s",
            baseline: raw,
            target: None,
            lower_is_better: false,
        });
        println!(
            "reporting projection ({} events published in {:.2} s → fact rows): {projected:.0} events/s | ratio {:.3} (keeps up with the workflow benchmark's ~2000 transitions/s: {})",
            args.events,
            published.as_secs_f64(),
            projected / raw,
            if projected >= 2000.0 { "yes" } else { "NO" }
        );

        // 2. A national year straight into the table.
        sqlx::query("TRUNCATE facts, daily").execute(&pool).await?;
        let load = Instant::now();
        load_year(&pool, args.dossiers, args.agencies).await?;
        println!(
            "loaded {} dossiers over {} agencies in {:.1} s",
            args.dossiers,
            args.agencies,
            load.elapsed().as_secs_f64()
        );
        let token = {
            let now_s = chrono::Utc::now().timestamp();
            mint(
                DEV_JWT_SECRET,
                &Claims {
                    sub: "bench-admin".into(),
                    name: "bench".into(),
                    agency: PROVINCE.into(),
                    roles: vec![Role::Admin],
                    // A province admin: a report with no agency named covers every agency of
                    // the province (reports never cross provinces), here all of the load's.
                    province: motcua_platform::auth::province_of(PROVINCE).into(),
                    exp: now_s + 3600,
                    iat: now_s,
                    ..Default::default()
                },
            )?
        };
        let header: MetadataValue<_> = format!("Bearer {token}").parse()?;
        let mut client = ReportingServiceClient::new(channel);
        let year = Some(Period {
            kind: PeriodKind::Year as i32,
            year: 2026,
            ..Default::default()
        });
        let mut ask = async |agency: &str| -> anyhow::Result<(Duration, u64)> {
            let mut best = Duration::MAX;
            let mut received = 0;
            for _ in 0..3 {
                let mut req = tonic::Request::new(GetForm06Request {
                    period: year.clone(),
                    agency: agency.into(),
                    by_procedure: false,
                });
                req.metadata_mut().insert("authorization", header.clone());
                let t = Instant::now();
                let r = client.get_form06(req).await?.into_inner();
                best = best.min(t.elapsed());
                received = r.total.map_or(0, |t| t.received_total);
            }
            Ok((best, received))
        };
        let (national, national_received) = ask("").await?;
        let scan = timed(&pool, "SELECT count(*) FROM facts WHERE NOT rejected").await?;
        println!(
            "Biểu 06, year 2026, all {} agencies ({national_received} dossiers counted): {:.0} ms (best of 3) | plain count(*) over the table {:.0} ms | ratio {:.2} (target < 1000 ms: {})",
            args.agencies,
            national.as_secs_f64() * 1000.0,
            scan.as_secs_f64() * 1000.0,
            national.as_secs_f64() / scan.as_secs_f64(),
            if national < Duration::from_secs(1) { "met" } else { "NOT met" }
        );
        let (province, province_received) = ask(PROVINCE).await?;
        let scan = timed(
            &pool,
            "SELECT count(*) FROM facts WHERE NOT rejected AND competent_agency = '000.00.06.H56'",
        )
        .await?;
        println!(
            "Biểu 06, year 2026, one province ({province_received} dossiers counted of {PROVINCE_YEAR}): {:.1} ms (best of 3) | plain count(*) over its rows {:.1} ms | ratio {:.2} (target < 50 ms: {})",
            province.as_secs_f64() * 1000.0,
            scan.as_secs_f64() * 1000.0,
            province.as_secs_f64() / scan.as_secs_f64(),
            if province < Duration::from_millis(50) { "met" } else { "NOT met" }
        );
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

/// Best of three runs of a query.
async fn timed(pool: &PgPool, sql: &'static str) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        sqlx::query(sql).execute(pool).await?;
        best = best.min(t.elapsed());
    }
    Ok(best)
}

/// A year of dossiers (received between 15/12/2025 and 14/12/2026, Vietnam's time), 80% finished
/// early, on time or late, 10% refused, 10% still open; 1% environment, the rest land; the
/// province's agency has exactly 31,002 of them.
async fn load_year(pool: &PgPool, dossiers: u64, agencies: u64) -> anyhow::Result<()> {
    let chunk = 1_000_000u64;
    let mut first = 1u64;
    while first <= dossiers {
        let last = (first + chunk - 1).min(dossiers);
        sqlx::query(
            "INSERT INTO facts (dossier_code, version, procedure_code, procedure_version, procedure_name, field,
                 receiving_agency, competent_agency, channel, status, received_at, due_at, original_due_at,
                 finished_at, stopped_at, stop_kind, outcome)
             SELECT 'N-' || i, 5, '1.013831', 1, 'Thủ tục', CASE WHEN i % 100 = 0 THEN 'moi-truong' ELSE 'dat-dai' END,
                    agency, agency, 1 + i % 3, 8, received, received + interval '12 days', received + interval '12 days',
                    CASE WHEN i % 10 < 8 THEN received + (i % 16) * interval '1 day' END,
                    CASE WHEN i % 10 = 8 THEN received + interval '3 days' END,
                    CASE WHEN i % 10 = 8 THEN 1 ELSE 0 END,
                    CASE WHEN i % 10 < 8 THEN 1 + i % 3 ELSE 0 END
             FROM (SELECT i,
                          CASE WHEN i <= $3 THEN '000.00.06.H56'
                               ELSE '000.01.' || lpad((i % ($4 - 1))::text, 3, '0') || '.H56' END AS agency,
                          timestamptz '2025-12-15 00:00:00+07' + (i % 364) * interval '1 day' + (i % 600) * interval '1 minute' AS received
                   FROM generate_series($1::bigint, $2::bigint) AS i) g",
        )
        .bind(first as i64)
        .bind(last as i64)
        .bind(PROVINCE_YEAR as i64)
        .bind(agencies as i64)
        .execute(pool)
        .await?;
        first = last + 1;
    }
    // The daily counts the projection keeps event by event, computed here in one pass.
    let mut tx = pool.begin().await?;
    motcua_reporting::daily::rebuild(&mut tx).await?;
    tx.commit().await?;
    sqlx::query("ANALYZE facts").execute(pool).await?;
    sqlx::query("ANALYZE daily").execute(pool).await?;
    Ok(())
}

/// Events per second of the writes the projection makes, on tables of the same shape: a
/// processed-event row and an upsert of a fact row, 256 events per transaction.
async fn raw_rate(pool: &PgPool, events: usize) -> anyhow::Result<f64> {
    sqlx::query("CREATE TABLE bench_raw_processed (consumer text, event_id uuid, PRIMARY KEY (consumer, event_id))")
        .execute(pool)
        .await?;
    sqlx::query("CREATE TABLE bench_raw_facts (LIKE facts INCLUDING ALL)")
        .execute(pool)
        .await?;
    let start = Instant::now();
    let mut done = 0;
    while done < events {
        let mut tx = pool.begin().await?;
        for i in done..(done + 256).min(events) {
            sqlx::query("INSERT INTO bench_raw_processed VALUES ('raw', $1)")
                .bind(uuid::Uuid::now_v7())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO bench_raw_facts (dossier_code, version, procedure_code, procedure_version, procedure_name,
                     field, receiving_agency, competent_agency, channel, status, received_at, due_at)
                 VALUES ($1, $2, '1.013831', 1, 'Thủ tục', 'dat-dai', 'A', 'A', 1, 3, now(), now())
                 ON CONFLICT (dossier_code) DO UPDATE SET version = EXCLUDED.version, status = EXCLUDED.status
                 WHERE bench_raw_facts.version < EXCLUDED.version",
            )
            .bind(format!("raw-{}", i / 5))
            .bind((i % 5) as i64 + 1)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        done = (done + 256).min(events);
    }
    Ok(events as f64 / start.elapsed().as_secs_f64())
}
