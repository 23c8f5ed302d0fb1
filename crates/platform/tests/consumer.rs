//! Idempotent consumers against the real PostgreSQL and NATS: redelivery changes nothing, outages
//! are waited out, dead letters are never lost, prerequisites are waited for within a bound,
//! batches commit together, configuration changes apply.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::proxy::Proxy;
use common::*;
use futures::future::BoxFuture;
use motcua_platform::CancellationToken;
use motcua_platform::consumer::{self, ConsumerContext, ConsumerSpec, Event, HandleError, Handler};
use sqlx::PgConnection;
use std::sync::Arc;
use std::time::Duration;

/// Records each event it handles in `effects` (with its transaction id); fails on demand.
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
                b"flaky" => return Err(HandleError::Retry("a bug that never goes away".into())),
                b"panics" => panic!("index out of bounds in a handler"),
                b"until-mended" => {
                    let mended: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM mended)")
                        .fetch_one(&mut *tx)
                        .await?;
                    if !mended {
                        return Err(HandleError::Retry("the template is broken".into()));
                    }
                }
                b"needs-case" => {
                    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cases)")
                        .fetch_one(&mut *tx)
                        .await?;
                    if !exists {
                        return Err(HandleError::wait_for("the case of dossier X"));
                    }
                }
                _ => {}
            }
            sqlx::query(
                "INSERT INTO effects (event_id, payload, tx) VALUES ($1, $2, txid_current())",
            )
            .bind(event.id)
            .bind(event.payload.to_vec())
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }
}

async fn tables(f: &Fixture) {
    sqlx::query(
        "CREATE TABLE effects (event_id uuid NOT NULL, payload bytea NOT NULL, tx bigint NOT NULL)",
    )
    .execute(&f.pool)
    .await
    .unwrap();
    sqlx::query("CREATE TABLE cases (code text)")
        .execute(&f.pool)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE mended (at text)")
        .execute(&f.pool)
        .await
        .unwrap();
}

fn spec(name: &str) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(name, "DOSSIERS", "dossier.>");
    spec.max_tries = 3;
    spec.backoff = Duration::from_millis(20);
    spec
}

fn start(
    ctx: ConsumerContext,
    spec: ConsumerSpec,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let token = CancellationToken::new();
    let task = tokio::spawn(consumer::run(ctx, spec, Arc::new(Recorder), token.clone()));
    (token, task)
}

async fn effects(f: &Fixture) -> Vec<(uuid::Uuid, Vec<u8>)> {
    sqlx::query_as("SELECT event_id, payload FROM effects ORDER BY payload, event_id")
        .fetch_all(&f.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_changes_nothing_and_what_never_succeeds_is_dead_lettered() {
    let f = fixture().await;
    tables(&f).await;
    let once = uuid::Uuid::now_v7();
    // The same event twice (a redelivery or a republish under another message id).
    f.publish("dossier.dat-dai.test", once, "m-1", b"effect")
        .await;
    f.publish("dossier.dat-dai.test", once, "m-2", b"effect")
        .await;
    f.publish(
        "dossier.dat-dai.test",
        uuid::Uuid::now_v7(),
        "m-3",
        b"poison",
    )
    .await;
    f.publish(
        "dossier.dat-dai.test",
        uuid::Uuid::now_v7(),
        "m-4",
        b"flaky",
    )
    .await;
    let after = uuid::Uuid::now_v7();
    f.publish("dossier.dat-dai.test", after, "m-5", b"after")
        .await;

    let (token, task) = start(f.consumer_ctx(), spec("test-consumer"));
    eventually(
        Duration::from_secs(20),
        "dead letters did not arrive",
        || async { f.dead_letters().await.len() == 2 },
    )
    .await;
    token.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(
        effects(&f).await,
        vec![(after, b"after".to_vec()), (once, b"effect".to_vec())],
        "one effect per event; the stream was not blocked"
    );
    let letters = f.dead_letters().await;
    assert_eq!(letters[0].0, b"flaky");
    assert!(
        letters[0]
            .1
            .contains("a bug that never goes away (after 3 tries)"),
        "{letters:?}"
    );
    assert_eq!(
        letters[1],
        (
            b"poison".to_vec(),
            "payload is not a dossier event".to_owned()
        )
    );
    assert_eq!(
        f.count("SELECT count(*) FROM consumer_failures").await,
        0,
        "failures are forgotten once dead"
    );
    f.cleanup().await;
}

/// How many times consumer `name` (of this test process) waited for a dependency.
fn outage_waits(name: &str) -> f64 {
    motcua_platform::metrics::counter_value(
        &motcua_platform::metrics::render(),
        &format!("motcua_consumer_outage_waits_total{{consumer=\"{name}\"}}"),
    )
}

/// The durable consumer `name`'s state on the server, once it is made.
async fn consumer_info(f: &Fixture, name: &str) -> Option<async_nats::jetstream::consumer::Info> {
    f.bus
        .js
        .get_stream(f.bus.stream_name("DOSSIERS"))
        .await
        .unwrap()
        .consumer_info(name)
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_waited_out_and_dead_letters_nothing() {
    motcua_platform::metrics::install();
    let f = fixture().await;
    tables(&f).await;
    // The consumer reaches PostgreSQL through a proxy the test can take down.
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let options =
        motcua_platform::db::options(&motcua_platform::config::ServerUrl::new(&proxy.url()))
            .unwrap()
            .database(&f.database);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy_with(options);
    let ctx = ConsumerContext {
        pool,
        ..f.consumer_ctx()
    };
    let (token, task) = start(ctx, spec("outage"));
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = uuid::Uuid::now_v7();
        ids.push(id);
        f.publish(
            "dossier.dat-dai.test",
            id,
            &format!("a{i}"),
            format!("before {i}").as_bytes(),
        )
        .await;
    }
    eventually(
        Duration::from_secs(10),
        "events before the outage",
        || async { effects(&f).await.len() == 10 },
    )
    .await;

    // PostgreSQL goes away (a restart, a failover) for longer than the retries would last.
    proxy.down().await;
    for i in 0..10 {
        let id = uuid::Uuid::now_v7();
        ids.push(id);
        f.publish(
            "dossier.dat-dai.test",
            id,
            &format!("b{i}"),
            format!("during {i}").as_bytes(),
        )
        .await;
    }
    // The consumer met the outage: an event it took could not be handled and waits (counted as
    // an outage wait, not as a failed try). A consumer that counted it as a failure could not
    // even write the count down, and never gets here.
    eventually(
        Duration::from_secs(20),
        "the consumer never waited out the outage",
        || async { outage_waits("outage") >= 1.0 },
    )
    .await;
    assert!(
        f.dead_letters().await.is_empty(),
        "an outage dead-lettered events"
    );
    proxy.up().await;

    eventually(
        Duration::from_secs(30),
        "events after the outage",
        || async { effects(&f).await.len() == 20 },
    )
    .await;
    token.cancel();
    task.await.unwrap().unwrap();
    let mut got: Vec<uuid::Uuid> = effects(&f).await.into_iter().map(|(id, _)| id).collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids, "every event applied exactly once");
    assert!(f.dead_letters().await.is_empty());
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_that_cannot_be_stored_is_kept_until_it_can() {
    let f = fixture().await;
    tables(&f).await;
    // No DEADLETTER stream: storing a dead letter fails.
    f.bus
        .js
        .delete_stream(f.bus.stream_name("DEADLETTER"))
        .await
        .unwrap();
    f.publish("dossier.dat-dai.test", uuid::Uuid::now_v7(), "p", b"poison")
        .await;
    let mut s = spec("keeper");
    s.max_tries = 1;
    let (token, task) = start(f.consumer_ctx(), s);
    // Delivered five times (the only message: four redeliveries after its copy could not be
    // stored), where a delivery limit would have had the server drop it.
    eventually(
        Duration::from_secs(20),
        "the message was not delivered again and again",
        || async {
            consumer_info(&f, "keeper")
                .await
                .is_some_and(|i| i.delivered.consumer_sequence >= 5)
        },
    )
    .await;
    let info = consumer_info(&f, "keeper").await.unwrap();
    assert_eq!(
        info.ack_floor.stream_sequence, 0,
        "not terminated while no copy is stored"
    );

    f.bus.ensure_streams(&retention()).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the dead letter was stored once it could be",
        || async { f.dead_letters().await.len() == 1 },
    )
    .await;
    token.cancel();
    task.await.unwrap().unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_prerequisite_is_waited_for_within_a_bound() {
    let f = fixture().await;
    tables(&f).await;
    let mut s = spec("waiter");
    s.wait_limit = Duration::from_secs(3);
    let (token, task) = start(f.consumer_ctx(), s);
    // A supplement arrives before its case: it waits, and is applied once the case is there.
    let early = uuid::Uuid::now_v7();
    f.publish(
        "dossier.dat-dai.supplement-submitted",
        early,
        "early",
        b"needs-case",
    )
    .await;
    // Tried, and waiting: one failed try counted.
    eventually(Duration::from_secs(10), "the early event tried", || async {
        f.count("SELECT count(*) FROM consumer_failures").await == 1
    })
    .await;
    assert!(effects(&f).await.is_empty());
    assert!(f.dead_letters().await.is_empty(), "waiting is not dying");
    sqlx::query("INSERT INTO cases VALUES ('X')")
        .execute(&f.pool)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "applied once its case existed",
        || async { effects(&f).await == vec![(early, b"needs-case".to_vec())] },
    )
    .await;

    // One whose prerequisite never comes is dead-lettered once the wait limit has passed, with
    // the reason.
    sqlx::query("DELETE FROM cases")
        .execute(&f.pool)
        .await
        .unwrap();
    let orphan = uuid::Uuid::now_v7();
    f.publish(
        "dossier.dat-dai.supplement-submitted",
        orphan,
        "orphan",
        b"needs-case",
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "the orphan failed once",
        || async { f.count("SELECT count(*) FROM consumer_failures").await == 1 },
    )
    .await;
    assert!(f.dead_letters().await.is_empty(), "not before the limit");
    eventually(
        Duration::from_secs(20),
        "dead-lettered after the wait limit",
        || async { f.dead_letters().await.len() == 1 },
    )
    .await;
    let (_, reason) = &f.dead_letters().await[0];
    assert!(reason.contains("the case of dossier X"), "{reason}");
    token.cancel();
    task.await.unwrap().unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_mode_applies_many_events_per_transaction_each_once() {
    let f = fixture().await;
    tables(&f).await;
    let mut ids = Vec::new();
    for i in 0..1000 {
        let id = uuid::Uuid::now_v7();
        ids.push(id);
        let payload: &[u8] = if i == 500 { b"poison" } else { b"batch" };
        f.publish("dossier.dat-dai.test", id, &format!("b{i}"), payload)
            .await;
        // Every tenth event is delivered twice.
        if i % 10 == 0 && i != 500 {
            f.publish("dossier.dat-dai.test", id, &format!("b{i}-again"), payload)
                .await;
        }
    }
    let (token, task) = start(f.consumer_ctx(), spec("batched").batched(200));
    eventually(Duration::from_secs(30), "all applied", || async {
        f.count("SELECT count(*) FROM effects").await == 999
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the poison event was dead-lettered",
        || async { f.dead_letters().await.len() == 1 },
    )
    .await;
    token.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(
        f.count("SELECT count(DISTINCT event_id) FROM effects")
            .await,
        999,
        "each event once, duplicates skipped"
    );
    let transactions = f.count("SELECT count(DISTINCT tx) FROM effects").await;
    assert!(
        transactions < 100,
        "{transactions} transactions for 999 events"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_filter_is_applied_to_the_existing_durable_consumer() {
    let f = fixture().await;
    let all = ConsumerSpec::new("workflow-dossiers", "DOSSIERS", "dossier.>");
    drop(consumer::ensure(&f.bus, &all).await.unwrap());
    // The land path is split off: this deployment now takes land dossiers only.
    let land = ConsumerSpec::new("workflow-dossiers", "DOSSIERS", "dossier.dat-dai.>");
    drop(consumer::ensure(&f.bus, &land).await.unwrap());
    let stream = f
        .bus
        .js
        .get_stream(f.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let info = stream.consumer_info("workflow-dossiers").await.unwrap();
    assert_eq!(
        info.config.filter_subject,
        f.bus.subject("dossier.dat-dai.>")
    );

    tables(&f).await;
    let land_event = uuid::Uuid::now_v7();
    f.publish(
        "dossier.moi-truong.submitted",
        uuid::Uuid::now_v7(),
        "env",
        b"environment",
    )
    .await;
    f.publish("dossier.dat-dai.submitted", land_event, "land", b"land")
        .await;
    let (token, task) = start(f.consumer_ctx(), land.clone());
    // The consumer has passed the whole stream: both messages are behind its acknowledged floor
    // and none is out. Had the environment event matched, its effect would be written by now.
    eventually(Duration::from_secs(10), "the stream consumed", || async {
        consumer_info(&f, "workflow-dossiers")
            .await
            .is_some_and(|i| i.ack_floor.stream_sequence == 2 && i.num_ack_pending == 0)
    })
    .await;
    assert_eq!(effects(&f).await, vec![(land_event, b"land".to_vec())]);
    token.cancel();
    task.await.unwrap().unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platforms_tables_are_pruned_only_beyond_their_retention() {
    let f = fixture().await;
    for age_days in [40, 29] {
        let id = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO processed_events (consumer, event_id, processed_at)
             VALUES ('c', $1, now() - make_interval(days => $2))",
        )
        .bind(id)
        .bind(age_days)
        .execute(&f.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO consumer_failures (consumer, event_id, tries, first_failed_at, last_failed_at, last_error)
             VALUES ('c', $1, 1, now() - make_interval(days => $2), now() - make_interval(days => $2), 'x')",
        )
        .bind(id)
        .bind(age_days)
        .execute(&f.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO jobs (queue, key, run_at, failed_at, created_at)
             VALUES ('q', $1, now(), now() - make_interval(days => $2 * 3), now())",
        )
        .bind(id.to_string())
        .bind(age_days)
        .execute(&f.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO jobs (queue, key, run_at, created_at) VALUES ('q', 'due', now(), now())",
    )
    .execute(&f.pool)
    .await
    .unwrap();
    // What the host's hourly housekeeping does, with 30 days for processed ids and failures and
    // 100 for failed jobs (the 120-day-old one goes, the 87-day-old and the due one stay).
    let mut r = retention();
    r.processed_events = Duration::from_secs(30 * 86_400);
    r.failed_jobs = Duration::from_secs(100 * 86_400);
    let pruned = motcua_platform::host::housekeep(&f.pool, &r).await.unwrap();
    assert_eq!(pruned, 3);
    assert_eq!(f.count("SELECT count(*) FROM processed_events").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM consumer_failures").await, 1);
    assert_eq!(f.count("SELECT count(*) FROM jobs").await, 2);
    // The platform's registry names every table it creates.
    let (missing, extra) = motcua_platform::retention::unlisted(&f.pool, &[])
        .await
        .unwrap();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{missing:?} {extra:?}"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_keep_events_for_a_bounded_time_and_size() {
    let f = fixture().await;
    let mut r = retention();
    r.dossier_events_max_age = Duration::from_secs(400 * 86_400);
    r.dossier_events_max_bytes = 32 << 20;
    f.bus.ensure_streams(&r).await.unwrap();
    let mut dossiers = f
        .bus
        .js
        .get_stream(f.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let config = dossiers.info().await.unwrap().config.clone();
    assert_eq!(config.max_age, Duration::from_secs(400 * 86_400));
    assert_eq!(config.max_bytes, 32 << 20);
    let dead = f
        .bus
        .js
        .get_stream(f.bus.stream_name("DEADLETTER"))
        .await
        .unwrap();
    assert_eq!(dead.cached_info().config.max_age, r.dead_letters_max_age);
    let catalog = f
        .bus
        .js
        .get_stream(f.bus.stream_name("CATALOG"))
        .await
        .unwrap();
    assert_eq!(
        catalog.cached_info().config.max_age,
        Duration::ZERO,
        "the catalog is kept by size only"
    );
    assert_eq!(
        catalog.cached_info().config.max_bytes,
        r.catalog_events_max_bytes
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_replayed_once_the_cause_is_mended() {
    use motcua_platform::deadletters;
    let f = fixture().await;
    tables(&f).await;
    let id = uuid::Uuid::now_v7();
    f.publish("dossier.dat-dai.submitted", id, "m", b"until-mended")
        .await;
    let (token, task) = start(f.consumer_ctx(), spec("notifier"));
    eventually(Duration::from_secs(20), "dead-lettered", || async {
        f.dead_letters().await.len() == 1
    })
    .await;
    let letters = deadletters::list(&f.bus, Some("notifier"), 10)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!(
        (l.consumer.as_str(), l.subject.as_str(), l.event_id.clone()),
        ("notifier", "dossier.dat-dai.submitted", id.to_string())
    );
    assert!(l.reason.contains("the template is broken"), "{}", l.reason);
    assert!(
        deadletters::list(&f.bus, Some("someone-else"), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Replayed too soon (not mended, within JetStream's duplicate window): it fails again and its
    // dead letter is stored again, not lost as a "duplicate".
    assert_eq!(
        deadletters::replay(&f.bus, Some("notifier"), &[])
            .await
            .unwrap()
            .len(),
        1
    );
    eventually(Duration::from_secs(20), "dead-lettered again", || async {
        deadletters::list(&f.bus, Some("notifier"), 10)
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;

    // Mended; replayed (well within JetStream's duplicate window of the original id).
    sqlx::query("INSERT INTO mended VALUES ('now')")
        .execute(&f.pool)
        .await
        .unwrap();
    let replayed = deadletters::replay(&f.bus, Some("notifier"), &[])
        .await
        .unwrap();
    assert_eq!(replayed.len(), 1);
    eventually(
        Duration::from_secs(20),
        "the replayed event was applied",
        || async { effects(&f).await == vec![(id, b"until-mended".to_vec())] },
    )
    .await;
    assert!(
        deadletters::list(&f.bus, None, 10)
            .await
            .unwrap()
            .is_empty(),
        "replayed letters are removed"
    );
    token.cancel();
    task.await.unwrap().unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_panics_is_a_failed_try_not_a_dead_consumer() {
    let f = fixture().await;
    tables(&f).await;
    let after = uuid::Uuid::now_v7();
    f.publish("dossier.dat-dai.test", uuid::Uuid::now_v7(), "p", b"panics")
        .await;
    f.publish("dossier.dat-dai.test", after, "a", b"after")
        .await;
    let (token, task) = start(f.consumer_ctx(), spec("panicky"));
    eventually(
        Duration::from_secs(20),
        "dead-lettered after its tries",
        || async { f.dead_letters().await.len() == 1 },
    )
    .await;
    let (_, reason) = &f.dead_letters().await[0];
    assert!(
        reason.contains("the handler panicked: index out of bounds"),
        "{reason}"
    );
    assert_eq!(effects(&f).await, vec![(after, b"after".to_vec())]);
    assert!(!task.is_finished(), "the consumer is still running");
    token.cancel();
    task.await.unwrap().unwrap();
    f.cleanup().await;
}

/// DESIGN.md: streams never drop an unconsumed event. A consumer stopped while its stream fills
/// loses nothing: the full stream refuses new events (they wait in the outbox, publishing behind)
/// instead of deleting the oldest, which the stopped consumer had not taken yet; once the operator
/// gives the stream room, everything goes out, and the consumer, started again, takes every event
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_stopped_while_its_stream_fills_gets_every_event_afterwards() {
    use motcua_platform::outbox::{self, OutboxEvent, Relay};
    let f = fixture().await;
    tables(&f).await;
    // A stream with room for a few events only.
    let mut small = retention();
    small.dossier_events_max_bytes = 2048;
    f.bus.ensure_streams(&small).await.unwrap();
    let events: Vec<OutboxEvent> = (0..20)
        .map(|i| {
            OutboxEvent::new(
                "dossier.dat-dai.test".into(),
                "test",
                format!("event {i:02} {}", "x".repeat(200)).into_bytes(),
            )
        })
        .collect();
    let mut tx = f.pool.begin().await.unwrap();
    for e in &events {
        outbox::enqueue(&mut tx, e).await.unwrap();
    }
    tx.commit().await.unwrap();
    let relay = Relay::new(f.pool.clone(), f.bus.clone());
    let _ = relay.drain().await;
    let in_stream = f.stream_ids("DOSSIERS", "dossier.>").await;
    let waiting = outbox::pending(&f.pool).await.unwrap() as usize;
    assert!(
        !in_stream.is_empty() && waiting > 0,
        "the stream filled: {} in it, {waiting} waiting",
        in_stream.len()
    );
    assert_eq!(in_stream.len() + waiting, events.len(), "none lost");
    assert_eq!(
        in_stream[0],
        events[0].id.to_string(),
        "the oldest, not yet consumed, is still there"
    );
    assert!(
        outbox::parked(&f.pool).await.unwrap().is_empty(),
        "a full stream is a wait, not a dead end"
    );

    // The operator gives the stream room: the rest goes out (the relay's backoff waited out).
    f.bus.ensure_streams(&retention()).await.unwrap();
    eventually(
        Duration::from_secs(60),
        "the outbox never drained",
        || async {
            let _ = relay.drain().await;
            outbox::pending(&f.pool).await.unwrap() == 0
        },
    )
    .await;
    // The consumer, started only now, takes every event once.
    let (token, task) = start(f.consumer_ctx(), spec("late"));
    eventually(
        Duration::from_secs(30),
        "not every event was taken",
        || async { f.count("SELECT count(*) FROM effects").await == events.len() as i64 },
    )
    .await;
    let taken: std::collections::HashSet<uuid::Uuid> =
        effects(&f).await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        taken,
        events.iter().map(|e| e.id).collect(),
        "every event, once"
    );
    token.cancel();
    task.await.unwrap().unwrap();
    f.cleanup().await;
}
