//! `motcua deadletters` and `motcua outbox`, as an operator runs them against the real NATS and
//! PostgreSQL.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::{Retention, ServerUrl};
use motcua_platform::db::Target;
use motcua_platform::outbox::{self, OutboxEvent};
use motcua_testkit::scratch::Scratch;
use std::process::Command;
use std::time::Duration;

static NO_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;

fn motcua(id: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_motcua"))
        .args(args)
        .env("MOTCUA_BUS_PREFIX", format!("t{id}."))
        .env("MOTCUA_DATABASE_PREFIX", format!("t_{id}"))
        .env("MOTCUA_DEVELOPMENT", "true")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn retention() -> Retention {
    Retention {
        dossier_events_max_age: Duration::from_secs(3600),
        dossier_events_max_bytes: 16 << 20,
        catalog_events_max_bytes: 16 << 20,
        dead_letters_max_age: Duration::from_secs(3600),
        dead_letters_max_bytes: 16 << 20,
        processed_events: Duration::from_secs(86_400),
        published_outbox: Duration::from_secs(86_400),
        failed_jobs: Duration::from_secs(90 * 86_400),
        stream_replicas: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_from_the_command_line() {
    let scratch = Scratch::new();
    let id = scratch.id().to_owned();
    let bus = Bus::connect(&ServerUrl::new("nats://127.0.0.1:4222"), &format!("t{id}."))
        .await
        .unwrap();
    bus.ensure_streams(&retention()).await.unwrap();
    let event_id = uuid::Uuid::now_v7().to_string();
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::EVENT_ID, event_id.as_str());
    h.insert(headers::EVENT_TYPE, "submitted");
    h.insert(headers::CONSUMER, "notification-dossiers");
    h.insert(headers::DEAD_REASON, "template has no placeholder {due}");
    h.insert(
        headers::ORIGINAL_SUBJECT,
        bus.subject("dossier.dat-dai.submitted").as_str(),
    );
    let m = async_nats::jetstream::message::PublishMessage::build()
        .payload(b"payload".to_vec().into())
        .headers(h)
        .message_id("dead-1");
    bus.js
        .send_publish(bus.subject("deadletter.notification-dossiers"), m)
        .await
        .unwrap()
        .await
        .unwrap();

    let (code, out, err) = motcua(&id, &["deadletters", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("notification-dossiers") && out.contains("dossier.dat-dai.submitted"),
        "{out}"
    );
    assert!(
        out.contains("template has no placeholder") && out.contains("1 dead letter(s)"),
        "{out}"
    );

    let (code, _, err) = motcua(&id, &["deadletters", "replay"]);
    assert_eq!(code, 2, "replaying everything needs --all: {err}");
    assert!(err.contains("--all"), "{err}");
    let (code, out, err) = motcua(
        &id,
        &[
            "deadletters",
            "replay",
            "--consumer",
            "notification-dossiers",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 dead letter(s) replayed"), "{out}");
    let dossiers = bus
        .js
        .get_stream(bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let replayed = dossiers
        .get_last_raw_message_by_subject(&bus.subject("dossier.dat-dai.submitted"))
        .await
        .unwrap();
    assert_eq!(
        replayed.headers.get(headers::EVENT_ID).unwrap().as_str(),
        event_id
    );
    assert!(replayed.headers.get(headers::DEAD_REASON).is_none());
    let (_, out, _) = motcua(&id, &["deadletters", "list"]);
    assert!(out.contains("0 dead letter(s)"), "{out}");
    scratch.remove().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_events_are_listed_and_put_back_in_line() {
    let scratch = Scratch::new();
    let id = scratch.id().to_owned();
    let url = ServerUrl::new("postgres://postgres@127.0.0.1:5432");
    let database = format!("t_{id}_intake");
    let pool = motcua_platform::db::connect(
        &Target::on_server(&url, &database).unwrap(),
        2,
        &NO_MIGRATIONS,
    )
    .await
    .unwrap();
    let event = OutboxEvent::new("nowhere.x".into(), "lost", b"x".to_vec());
    let mut tx = pool.begin().await.unwrap();
    outbox::enqueue(&mut tx, &event).await.unwrap();
    tx.commit().await.unwrap();
    sqlx::query(
        "UPDATE outbox SET parked_at = now(), last_error = 'no stream covers subject nowhere.x'",
    )
    .execute(&pool)
    .await
    .unwrap();

    let (code, out, err) = motcua(&id, &["outbox", "parked", "--service", "intake"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&event.id.to_string()) && out.contains("no stream covers"),
        "{out}"
    );
    let (code, _, err) = motcua(&id, &["outbox", "parked", "--service", "payments"]);
    assert_eq!(code, 2);
    assert!(err.contains("--service"), "{err}");
    let (code, out, err) = motcua(
        &id,
        &[
            "outbox",
            "retry",
            "--service",
            "intake",
            "--id",
            &event.id.to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 parked event(s) put back in line"), "{out}");
    assert_eq!(outbox::pending(&pool).await.unwrap(), 1);
    pool.close().await;
    scratch.remove().await.unwrap();
}
