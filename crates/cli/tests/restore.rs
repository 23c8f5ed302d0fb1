//! The restore drill of docs/operations.md ("Backup and restore"), on this machine: with dossiers
//! received and counted, every service's database is dumped (`pg_dump -Fc`), dropped as in a
//! disaster, restored (`pg_restore`), and the services started again on them: they serve, Biểu 06
//! for the period is what it was, and new dossiers are received, processed and counted as before —
//! the consumers go on from the stream where their databases say they were.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_platform::auth::Role;
use motcua_platform::config::Settings;
use motcua_proto::intake::intake_service_client::IntakeServiceClient;
use motcua_proto::reporting::reporting_service_client::ReportingServiceClient;
use motcua_proto::reporting::{GetForm06Request, GetForm06Response, Period, PeriodKind};
use motcua_testkit::dossiers::land_submission;
use motcua_testkit::floor::{AGENCY, Floor, LAND_DEPARTMENT, wait_until};
use motcua_testkit::scratch::database_url;
use motcua_testkit::{Bearer, token};
use std::process::Command;

/// Every service, whose databases the drill restores.
const SERVICES: [&str; 5] = ["intake", "workflow", "lookup", "notification", "reporting"];

async fn start_all(floor: &mut Floor) {
    for service in SERVICES {
        floor.start(service).await;
    }
}

async fn submit(floor: &Floor, keys: std::ops::Range<u32>) {
    let desk = token(&[Role::Desk], AGENCY, LAND_DEPARTMENT, "mc-1");
    let mut intake = IntakeServiceClient::with_interceptor(
        motcua_testkit::channel(floor.addr("intake")).await,
        Bearer::new(&desk),
    );
    for i in keys {
        intake
            .submit_dossier(land_submission(&format!("drill-{i}")))
            .await
            .unwrap();
    }
}

async fn form06(floor: &Floor) -> GetForm06Response {
    let leader = token(&[Role::Leader], AGENCY, "", "ld-1");
    let mut reporting = ReportingServiceClient::with_interceptor(
        motcua_testkit::channel(floor.addr("reporting")).await,
        Bearer::new(&leader),
    );
    reporting
        .get_form06(GetForm06Request {
            period: Some(Period {
                kind: PeriodKind::Custom as i32,
                from: "2026-03-01".into(),
                to: "2026-03-31".into(),
                ..Default::default()
            }),
            agency: AGENCY.into(),
            by_procedure: true,
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until every service has taken in `n` dossiers.
async fn counted(floor: &Floor, n: i64) {
    for (service, table) in [
        ("workflow", "cases"),
        ("lookup", "dossiers"),
        ("reporting", "facts"),
    ] {
        let pool = floor.pool(service);
        let sql = format!("SELECT count(*) FROM {table}");
        wait_until(&format!("{service} holds {n} dossiers"), || {
            let (pool, sql) = (pool.clone(), sql.clone());
            async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .is_ok_and(|c| c == n)
            }
        })
        .await;
    }
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dumped_dropped_and_restored_databases_serve_the_same_report_and_catch_up() {
    let mut floor = Floor::new(|_| {}).await;
    start_all(&mut floor).await;
    submit(&floor, 0..5).await;
    counted(&floor, 5).await;
    let before = form06(&floor).await;
    assert_eq!(before.total.as_ref().unwrap().received_total, 5);

    // The backup: every service's database, as an operator's nightly dump would take it.
    let settings = Settings::from_vars(&floor.vars).unwrap();
    let dir = std::env::temp_dir().join(format!("motcua-drill-{}", floor.id));
    std::fs::create_dir_all(&dir).unwrap();
    for service in SERVICES {
        floor.stop_service(service).await;
    }
    for service in SERVICES {
        let db = settings.database_name(service);
        run(
            "pg_dump",
            Command::new("pg_dump")
                .args(["-Fc", "-f"])
                .arg(dir.join(format!("{service}.dump")))
                .arg(format!("{}/{db}", database_url())),
        );
    }
    // The disaster, then the restore into databases made anew.
    for service in SERVICES {
        let db = settings.database_name(service);
        for sql in [
            format!("DROP DATABASE \"{db}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{db}\""),
        ] {
            run(
                &sql,
                Command::new("psql")
                    .args([format!("{}/postgres", database_url()).as_str(), "-qAtc"])
                    .arg(&sql),
            );
        }
        run(
            "pg_restore",
            Command::new("pg_restore")
                .args(["--no-owner", "-d"])
                .arg(format!("{}/{db}", database_url()))
                .arg(dir.join(format!("{service}.dump"))),
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();

    // The services on the restored databases: the same report, and life goes on.
    start_all(&mut floor).await;
    assert_eq!(form06(&floor).await, before, "Biểu 06 after the restore");
    submit(&floor, 5..7).await;
    counted(&floor, 7).await;
    let after = form06(&floor).await;
    assert_eq!(after.total.as_ref().unwrap().received_total, 7);
    floor.stop().await;
}
