//! The outbox relay and the idempotent consumer against the real PostgreSQL and NATS.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use async_nats::jetstream::consumer::pull;
use futures::StreamExt;
use futures::future::BoxFuture;
use motcua_platform::CancellationToken;
use motcua_platform::bus::{Bus, headers};
use motcua_platform::consumer::{self, ConsumerSpec, Event, HandleError, Handler};
use motcua_platform::outbox::{self, OutboxEvent, Relay};
use sqlx::migrate::Migrator;
use sqlx::{PgConnection, PgPool};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;
const URL: &str = "postgres://postgres@127.0.0.1:5432";

struct Fixture {
    pool: PgPool,
    bus: Bus,
    database: String,
}

async fn fixture() -> Fixture {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let database = format!("t_{id}_bus");
    let pool = motcua_platform::db::connect(URL, &database, 8, &NO_MIGRATIONS)
        .await
        .expect("database");
    let bus = Bus::connect("nats://127.0.0.1:4222", &format!("t{id}."))
        .await
        .expect("nats");
    bus.ensure_streams().await.expect("streams");
    Fixture {
        pool,
        bus,
        database,
    }
}

impl Fixture {
    async fn cleanup(self) {
        self.pool.close().await;
        motcua_platform::db::drop_database(URL, &self.database)
            .await
            .expect("drop");
        self.bus.delete_streams().await;
    }

    async fn stream_ids(&self, stream: &str, filter: &str) -> Vec<String> {
        let s = self
            .bus
            .js
            .get_stream(self.bus.stream_name(stream))
            .await
            .unwrap();
        let total = s.get_info().await.unwrap().state.messages as usize;
        let c = s
            .create_consumer(pull::Config {
                filter_subject: self.bus.subject(filter),
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut ids = Vec::new();
        while ids.len() < total {
            let mut batch = c
                .fetch()
                .max_messages(500)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .unwrap();
            let before = ids.len();
            while let Some(m) = batch.next().await {
                let m = m.unwrap();
                ids.push(
                    m.headers
                        .as_ref()
                        .unwrap()
                        .get("Nats-Msg-Id")
                        .unwrap()
                        .as_str()
                        .to_owned(),
                );
            }
            if ids.len() == before {
                break;
            }
        }
        ids
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_delivers_every_event_exactly_once_while_the_relay_is_killed() {
    let f = fixture().await;
    let mut expected = HashSet::new();
    let mut tx = f.pool.begin().await.unwrap();
    for i in 0..1500 {
        let e = OutboxEvent::new(
            "dossier.dat-dai.test".into(),
            "test",
            format!("event {i}").into_bytes(),
        );
        expected.insert(e.id.to_string());
        outbox::enqueue(&mut tx, &e).await.unwrap();
    }
    tx.commit().await.unwrap();

    // Kill the relay again and again, at arbitrary points of its batches, then let it finish.
    let mut kills = 0;
    for round in 0..40u64 {
        if outbox::pending(&f.pool).await.unwrap() == 0 {
            break;
        }
        let relay = Relay::new(f.pool.clone(), f.bus.clone()).with_batch(40);
        let task = tokio::spawn(relay.run(CancellationToken::new()));
        tokio::time::sleep(Duration::from_millis(5 + (round * 37) % 60)).await;
        task.abort();
        let _ = task.await;
        kills += 1;
    }
    assert!(kills >= 2, "the relay was killed mid-stream");
    Relay::new(f.pool.clone(), f.bus.clone())
        .drain()
        .await
        .unwrap();
    assert_eq!(outbox::pending(&f.pool).await.unwrap(), 0);

    let ids = f.stream_ids("DOSSIERS", "dossier.>").await;
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 1500, "no duplicates reached the stream");
    assert_eq!(unique, expected, "every committed event reached the stream");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_publishes_nothing_and_the_relay_wakes_on_commit() {
    let f = fixture().await;
    let token = CancellationToken::new();
    let task = tokio::spawn(Relay::new(f.pool.clone(), f.bus.clone()).run(token.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut tx = f.pool.begin().await.unwrap();
    outbox::enqueue(
        &mut tx,
        &OutboxEvent::new("dossier.dat-dai.x".into(), "x", b"rolled back".to_vec()),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = f.pool.begin().await.unwrap();
    let kept = OutboxEvent::new("dossier.dat-dai.x".into(), "x", b"kept".to_vec());
    outbox::enqueue(&mut tx, &kept).await.unwrap();
    tx.commit().await.unwrap();
    // LISTEN/NOTIFY wakes the relay well before its 2 s poll.
    let s = f
        .bus
        .js
        .get_stream(f.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    while s.get_info().await.unwrap().state.messages < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "event not published"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "relay woke on commit, took {:?}",
        start.elapsed()
    );
    token.cancel();
    task.await.unwrap();
    assert_eq!(
        f.stream_ids("DOSSIERS", "dossier.>").await,
        vec![kept.id.to_string()]
    );
    f.cleanup().await;
}

/// Records each event it handles in `effects`; fails on demand.
struct Recorder;

impl Handler for Recorder {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            match &event.payload[..] {
                b"poison" => {
                    return Err(HandleError::Poison("payload is not a dossier event".into()));
                }
                b"flaky" => return Err(HandleError::Retry("dependency down".into())),
                _ => {}
            }
            sqlx::query("INSERT INTO effects (event_id, payload) VALUES ($1, $2)")
                .bind(event.id)
                .bind(event.payload.to_vec())
                .execute(&mut *tx)
                .await?;
            Ok(())
        })
    }
}

async fn publish(bus: &Bus, event_id: uuid::Uuid, msg_id: &str, payload: &'static [u8]) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::EVENT_ID, event_id.to_string().as_str());
    h.insert(headers::EVENT_TYPE, "test");
    let m = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .headers(h)
        .message_id(msg_id);
    bus.js
        .send_publish(bus.subject("dossier.dat-dai.test"), m)
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_changes_nothing_and_poison_goes_to_the_dead_letter_subject() {
    let f = fixture().await;
    sqlx::query("CREATE TABLE effects (event_id uuid NOT NULL, payload bytea NOT NULL)")
        .execute(&f.pool)
        .await
        .unwrap();
    let once = uuid::Uuid::now_v7();
    // The same event twice (a redelivery or a republish under another message id).
    publish(&f.bus, once, "m-1", b"effect").await;
    publish(&f.bus, once, "m-2", b"effect").await;
    let poison = uuid::Uuid::now_v7();
    publish(&f.bus, poison, "m-3", b"poison").await;
    let flaky = uuid::Uuid::now_v7();
    publish(&f.bus, flaky, "m-4", b"flaky").await;
    let after = uuid::Uuid::now_v7();
    publish(&f.bus, after, "m-5", b"after").await;

    let token = CancellationToken::new();
    let mut spec = ConsumerSpec::new("test-consumer", "DOSSIERS", "dossier.>");
    spec.max_tries = 3;
    spec.backoff = Duration::from_millis(20);
    let task = tokio::spawn(consumer::run(
        f.pool.clone(),
        f.bus.clone(),
        spec,
        Arc::new(Recorder),
        token.clone(),
    ));

    let dead = f
        .bus
        .js
        .get_stream(f.bus.stream_name("DEADLETTER"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while dead.get_info().await.unwrap().state.messages < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dead letters did not arrive"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    token.cancel();
    task.await.unwrap().unwrap();

    let effects: Vec<(uuid::Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT event_id, payload FROM effects ORDER BY payload")
            .fetch_all(&f.pool)
            .await
            .unwrap();
    assert_eq!(
        effects,
        vec![(after, b"after".to_vec()), (once, b"effect".to_vec())],
        "one effect per event; the stream was not blocked"
    );
    let c = dead
        .create_consumer(pull::Config {
            filter_subject: f.bus.subject("deadletter.test-consumer"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = c
        .fetch()
        .max_messages(2)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .unwrap();
    let mut reasons = Vec::new();
    while let Some(m) = batch.next().await {
        let m = m.unwrap();
        let h = m.headers.as_ref().unwrap();
        assert_eq!(
            h.get(headers::ORIGINAL_SUBJECT).unwrap().as_str(),
            f.bus.subject("dossier.dat-dai.test")
        );
        reasons.push((
            m.payload.to_vec(),
            h.get(headers::DEAD_REASON).unwrap().as_str().to_owned(),
        ));
    }
    reasons.sort();
    assert_eq!(
        reasons,
        vec![
            (b"flaky".to_vec(), "dependency down".to_owned()),
            (
                b"poison".to_vec(),
                "payload is not a dossier event".to_owned()
            )
        ]
    );
    f.cleanup().await;
}
