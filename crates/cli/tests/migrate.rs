//! `motcua migrate` and a service's own database URL, as a cluster runs them: the operator (or
//! CloudNativePG) makes each service's database and gives it to a role that owns it and can do
//! nothing else — no CREATEDB, no other database. The init container migrates it, and the
//! service serves on it.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_testkit::scratch::{Scratch, database_url};
use sqlx::{Connection, PgConnection};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A role that owns only its database, dropped when the test ends (after the scratch's databases:
/// declared before it).
struct OwnerRole(String);

impl Drop for OwnerRole {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([database_url().as_str(), "-qAtc"])
            .arg(format!("DROP ROLE IF EXISTS \"{}\"", self.0))
            .output();
    }
}

async fn admin() -> PgConnection {
    PgConnection::connect(&format!("{}/postgres", database_url()))
        .await
        .unwrap()
}

fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_motcua"));
    cmd.args(args)
        .env_remove("MOTCUA_DATABASE_URL")
        // The shared server URL leads nowhere: every service here uses its own URL.
        .env("MOTCUA_DATABASE_URL", "postgres://nobody@127.0.0.1:1")
        .env("MOTCUA_DEVELOPMENT", "true")
        .env("MOTCUA_METRICS_ADDR", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn said(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_migrates_and_serves_on_a_database_its_role_owns_without_creating_any() {
    let role = OwnerRole(format!("t_{}_owner", motcua_testkit::scratch::new_id()));
    let neighbour = OwnerRole(format!("t_{}_owner", motcua_testkit::scratch::new_id()));
    let scratch = Scratch::new();
    let id = scratch.id().to_owned();
    let (owner, intake_db, missing_db) = (
        role.0.clone(),
        format!("t_{id}_intake_own"),
        format!("t_{id}_workflow_own"),
    );
    let mut pg = admin().await;
    for sql in [
        format!("CREATE ROLE \"{owner}\" LOGIN NOCREATEDB NOCREATEROLE"),
        format!(
            "CREATE ROLE \"{}\" LOGIN NOCREATEDB NOCREATEROLE",
            neighbour.0
        ),
        format!("CREATE DATABASE \"{intake_db}\" OWNER \"{owner}\""),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut pg)
            .await
            .unwrap();
    }
    let server = database_url();
    let host = server
        .split("://")
        .nth(1)
        .unwrap()
        .rsplit('@')
        .next()
        .unwrap();
    let own_url = |db: &str| format!("postgres://{owner}@{host}/{db}");
    let intake_env = vec![
        ("MOTCUA_INTAKE_DATABASE_URL", own_url(&intake_db)),
        ("MOTCUA_BUS_PREFIX", scratch.bus_prefix()),
    ];

    // The init container: every migration, in tables the role owns; again, nothing to do.
    for _ in 0..2 {
        let out = run(&["migrate", "--target", "intake"], &intake_env);
        assert!(out.status.success(), "{}", said(&out));
        assert!(said(&out).contains(&intake_db), "{}", said(&out));
    }
    let mut db = PgConnection::connect(&format!("{server}/{intake_db}"))
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(applied as usize, motcua_intake::MIGRATIONS.iter().count());
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(owners, vec![owner.clone()], "every table is the role's");
    db.close().await.unwrap();
    // Another service's role cannot even connect to it.
    let refused = PgConnection::connect(&format!("postgres://{}@{host}/{intake_db}", neighbour.0))
        .await
        .expect_err("another service's role is kept out");
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );

    // A service's own database that nobody made is an operator's mistake: said at once, and not
    // "mended" by creating it under another name or waiting for it.
    let started = Instant::now();
    let out = run(
        &["migrate", "--target", "workflow", "--wait-secs", "60"],
        &[("MOTCUA_WORKFLOW_DATABASE_URL", own_url(&missing_db))],
    );
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains(&missing_db), "{}", said(&out));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed at once"
    );
    let made: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&missing_db)
            .fetch_one(&mut pg)
            .await
            .unwrap();
    assert!(!made);

    // A service URL must name the database.
    let out = run(
        &["migrate", "--target", "lookup"],
        &[(
            "MOTCUA_LOOKUP_DATABASE_URL",
            format!("postgres://{owner}@{host}"),
        )],
    );
    assert!(!out.status.success());
    assert!(
        said(&out).contains("MOTCUA_LOOKUP_DATABASE_URL"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("names no database"), "{}", said(&out));

    // The service itself serves on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_motcua"));
    serve
        .args(["serve", "--target", "intake"])
        .env("MOTCUA_DATABASE_URL", "postgres://nobody@127.0.0.1:1")
        .env("MOTCUA_DEVELOPMENT", "true")
        .env("MOTCUA_METRICS_ADDR", "off")
        .env("MOTCUA_INTAKE_GRPC_ADDR", format!("127.0.0.1:{port}"))
        .env("MOTCUA_INTAKE_HTTP_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in &intake_env {
        serve.env(k, v);
    }
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _serving = Killed(serve.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = async {
            let channel =
                tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}"))
                    .unwrap()
                    .connect()
                    .await
                    .ok()?;
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            let answer = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .ok()?;
            Some(answer.into_inner().status)
        }
        .await;
        if status == Some(tonic_health::pb::health_check_response::ServingStatus::Serving as i32) {
            break;
        }
        assert!(Instant::now() < deadline, "intake never served: {status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
