//! The outbox relay against the real PostgreSQL and NATS: nothing lost, nothing stuck.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::CancellationToken;
use motcua_platform::outbox::{self, OutboxEvent, OutboxWake, Relay};
use std::collections::HashSet;
use std::time::Duration;

fn relay(f: &Fixture) -> Relay {
    Relay::new(f.pool.clone(), f.bus.clone())
}

async fn enqueue_all(f: &Fixture, events: &[OutboxEvent]) {
    let mut tx = f.pool.begin().await.unwrap();
    for e in events {
        outbox::enqueue(&mut tx, e).await.unwrap();
    }
    tx.commit().await.unwrap();
}

fn event(subject: &str, payload: Vec<u8>) -> OutboxEvent {
    OutboxEvent::new(subject.into(), "test", payload)
}

/// Where the test kills the relay: a trigger in the test's own database (not in the relay) makes
/// the statement that marks rows published wait, once `hold_from` rows are marked, while the test
/// holds advisory lock `GATE`. A relay stopped there has published its batch and not yet marked
/// it: the one moment where a relay that trusted its own bookkeeping, or published without message
/// ids, would lose or repeat events.
const GATE: i64 = 4_242_001;

async fn gate(f: &Fixture) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE relay_gate (hold_from bigint NOT NULL);
         INSERT INTO relay_gate VALUES (-1);
         CREATE FUNCTION relay_gate() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.published_at IS NOT NULL AND OLD.published_at IS NULL
              AND (SELECT hold_from FROM relay_gate) >= 0
              AND (SELECT count(*) FROM outbox WHERE published_at IS NOT NULL)
                  >= (SELECT hold_from FROM relay_gate) THEN
             PERFORM pg_advisory_xact_lock_shared({GATE});
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER relay_gate BEFORE UPDATE ON outbox
           FOR EACH ROW EXECUTE FUNCTION relay_gate();"
    )))
    .execute(&f.pool)
    .await
    .unwrap();
}

/// The backend waiting at the gate, if one is.
async fn at_the_gate(f: &Fixture) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT l.pid FROM pg_locks l
         WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = $1::bigint::oid
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(GATE)
    .fetch_optional(&f.pool)
    .await
    .unwrap()
}

async fn stream_count(f: &Fixture) -> u64 {
    f.bus
        .js
        .get_stream(f.bus.stream_name("DOSSIERS"))
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .state
        .messages
}

async fn marked(f: &Fixture) -> i64 {
    f.count("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_delivers_every_event_exactly_once_while_the_relay_is_killed_mid_stream() {
    let f = fixture().await;
    let events: Vec<OutboxEvent> = (0..1500)
        .map(|i| event("dossier.dat-dai.test", format!("event {i}").into_bytes()))
        .collect();
    let expected: HashSet<String> = events.iter().map(|e| e.id.to_string()).collect();
    enqueue_all(&f, &events).await;
    gate(&f).await;
    let mut holder = f.pool.acquire().await.unwrap().detach();

    // Killed in its first batch, then after 5, 15 and 26 batches of 40 went out and were marked.
    for hold_from in [0i64, 200, 600, 1040] {
        sqlx::query("UPDATE relay_gate SET hold_from = $1")
            .bind(hold_from)
            .execute(&f.pool)
            .await
            .unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(GATE)
            .execute(&mut holder)
            .await
            .unwrap();
        let task = tokio::spawn(relay(&f).with_batch(40).run(CancellationToken::new()));
        eventually(
            Duration::from_secs(30),
            &format!("the relay never came to mark its batch after {hold_from} events"),
            || async { at_the_gate(&f).await.is_some() },
        )
        .await;
        let pid = at_the_gate(&f).await.unwrap();
        // Stopped mid-stream: everything before is published and marked once, the batch it is in
        // is on the stream but not marked.
        assert_eq!(marked(&f).await, hold_from, "marked before the kill");
        assert_eq!(
            stream_count(&f).await,
            hold_from as u64 + 40,
            "on the stream at the kill (after {hold_from}): the marked events once each, and the batch being marked"
        );
        task.abort();
        let _ = task.await;
        // The process dies with its connection: its transaction, and the marks in it, are gone.
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&f.pool)
            .await
            .unwrap();
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(GATE)
            .execute(&mut holder)
            .await
            .unwrap();
        eventually(
            Duration::from_secs(10),
            "the killed relay's backend ended",
            || async {
                let alive: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
                        .bind(pid)
                        .fetch_one(&f.pool)
                        .await
                        .unwrap();
                alive == 0
            },
        )
        .await;
        assert_eq!(
            marked(&f).await,
            hold_from,
            "the killed batch is not marked"
        );
    }

    sqlx::query("UPDATE relay_gate SET hold_from = -1")
        .execute(&f.pool)
        .await
        .unwrap();
    relay(&f).drain().await.unwrap();
    assert_eq!(outbox::pending(&f.pool).await.unwrap(), 0);
    let ids = f.stream_ids("DOSSIERS", "dossier.>").await;
    let unique: HashSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), 1500, "no duplicates reached the stream");
    assert_eq!(unique, expected, "every committed event reached the stream");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_wake_or_another_process_notify_wakes_the_relay_and_a_rollback_publishes_nothing()
{
    let f = fixture().await;
    let token = CancellationToken::new();
    let wake = OutboxWake::default();
    // The poll is an hour: only the writer's wake (or a NOTIFY) can wake the relay in the test.
    let task = tokio::spawn(
        relay(&f)
            .with_poll(Duration::from_secs(3600))
            .with_wake(wake.clone())
            .run(token.clone()),
    );
    // Writing an event must not NOTIFY: PostgreSQL serialises the commits of notifying
    // transactions, which capped event-writing changes at a fraction of the database's rate.
    let mut listener = motcua_platform::db::listener(&f.pool, "motcua_outbox")
        .await
        .unwrap();
    let first = event("dossier.dat-dai.x", b"first".to_vec());
    enqueue_all(&f, std::slice::from_ref(&first)).await;
    wake.wake();
    eventually(Duration::from_secs(10), "the first event", || async {
        outbox::pending(&f.pool).await.unwrap() == 0
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), listener.recv())
            .await
            .is_err(),
        "a commit that wrote an event sent a NOTIFY"
    );
    let mut tx = f.pool.begin().await.unwrap();
    outbox::enqueue(
        &mut tx,
        &event("dossier.dat-dai.x", b"rolled back".to_vec()),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    wake.wake();
    // The relay now sleeps with an hour's poll: only the next wake can have it publish `kept`.
    let kept = event("dossier.dat-dai.x", b"kept".to_vec());
    enqueue_all(&f, std::slice::from_ref(&kept)).await;
    wake.wake();
    eventually(
        Duration::from_secs(10),
        "the writer's wake did not wake the relay",
        || async { outbox::pending(&f.pool).await.unwrap() == 0 },
    )
    .await;
    // Another process (`motcua outbox retry`) has no handle on this relay: it sends NOTIFY.
    let elsewhere = event("dossier.dat-dai.x", b"elsewhere".to_vec());
    enqueue_all(&f, std::slice::from_ref(&elsewhere)).await;
    sqlx::query("SELECT pg_notify('motcua_outbox', '')")
        .execute(&f.pool)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "another process's NOTIFY did not wake the relay",
        || async { outbox::pending(&f.pool).await.unwrap() == 0 },
    )
    .await;
    token.cancel();
    task.await.unwrap();
    assert_eq!(
        f.stream_ids("DOSSIERS", "dossier.>").await,
        vec![
            first.id.to_string(),
            kept.id.to_string(),
            elsewhere.id.to_string()
        ],
        "the rolled back event was not published"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_nobody_announced_are_published_on_the_poll() {
    // A replica that crashed between its commit and its relay's drain told nobody.
    let f = fixture().await;
    let token = CancellationToken::new();
    // A row there at the start goes out with the relay's first drain; once it is marked, that
    // drain is over and the relay sleeps until something wakes it.
    let first = event("dossier.dat-dai.x", b"first".to_vec());
    enqueue_all(&f, std::slice::from_ref(&first)).await;
    let task = tokio::spawn(
        relay(&f)
            .with_poll(Duration::from_millis(200))
            .run(token.clone()),
    );
    eventually(Duration::from_secs(10), "the first drain", || async {
        outbox::pending(&f.pool).await.unwrap() == 0
    })
    .await;
    // Written without a wake or a NOTIFY: only the poll finds it.
    let orphan = event("dossier.dat-dai.x", b"orphan".to_vec());
    enqueue_all(&f, std::slice::from_ref(&orphan)).await;
    eventually(Duration::from_secs(10), "the orphan row", || async {
        outbox::pending(&f.pool).await.unwrap() == 0
    })
    .await;
    token.cancel();
    task.await.unwrap();
    assert_eq!(
        f.stream_ids("DOSSIERS", "dossier.>").await,
        vec![first.id.to_string(), orphan.id.to_string()]
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_can_never_be_published_is_parked_and_the_others_go_on() {
    let f = fixture().await;
    let before = event("dossier.dat-dai.ok", b"before".to_vec());
    let too_big = event("dossier.dat-dai.big", vec![7u8; f.bus.max_payload() + 1]);
    let nowhere = event("nowhere.dat-dai.lost", b"no stream covers me".to_vec());
    let after = event("dossier.dat-dai.ok", b"after".to_vec());
    // Writers cannot store an event over the limit any more...
    let mut tx = f.pool.begin().await.unwrap();
    let refused = outbox::enqueue(&mut tx, &too_big).await.unwrap_err();
    assert!(
        refused.to_string().contains("over the bus's limit"),
        "{refused}"
    );
    tx.rollback().await.unwrap();
    // ...but a row from before that check, or from when the server allowed more, still parks.
    enqueue_all(&f, std::slice::from_ref(&before)).await;
    sqlx::query(
        "INSERT INTO outbox (id, subject, event_type, payload, headers) VALUES ($1, $2, $3, $4, '{}')",
    )
    .bind(too_big.id)
    .bind(&too_big.subject)
    .bind(&too_big.event_type)
    .bind(&too_big.payload)
    .execute(&f.pool)
    .await
    .unwrap();
    enqueue_all(&f, &[nowhere.clone(), after.clone()]).await;

    let outcome = relay(&f).drain().await.unwrap();
    assert_eq!((outcome.published, outcome.parked), (2, 2), "{outcome:?}");
    let published: HashSet<String> = f
        .stream_ids("DOSSIERS", "dossier.>")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        published,
        HashSet::from([before.id.to_string(), after.id.to_string()]),
        "the events behind the bad ones were not held up"
    );
    assert_eq!(
        outbox::pending(&f.pool).await.unwrap(),
        0,
        "nothing left to retry forever"
    );
    let parked = outbox::parked(&f.pool).await.unwrap();
    let reasons: Vec<(uuid::Uuid, String)> =
        parked.iter().map(|p| (p.id, p.reason.clone())).collect();
    assert_eq!(parked.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|(id, r)| *id == too_big.id && r.contains("larger than")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(id, r)| *id == nowhere.id && r.contains("no stream covers")),
        "{reasons:?}"
    );

    // Mended (a stream now covers the subject): the operator puts it back in line.
    f.bus
        .js
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("{}_NOWHERE", f.bus.stream_name("X")),
            subjects: vec![f.bus.subject("nowhere.>")],
            max_bytes: 1 << 20,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        outbox::retry_parked(&f.pool, Some(&[nowhere.id]))
            .await
            .unwrap(),
        1
    );
    relay(&f).drain().await.unwrap();
    let parked = outbox::parked(&f.pool).await.unwrap();
    assert_eq!(
        parked.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![too_big.id]
    );
    let _ = f
        .bus
        .js
        .delete_stream(format!("{}_NOWHERE", f.bus.stream_name("X")))
        .await;
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_delays_only_its_own_event_and_reports_the_relay_failing() {
    let f = fixture().await;
    // The dossier stream refuses new messages (full, discard new): a storage problem to wait out.
    let name = f.bus.stream_name("DOSSIERS");
    let mut config = f
        .bus
        .js
        .get_stream(&name)
        .await
        .unwrap()
        .cached_info()
        .config
        .clone();
    config.max_messages = 1;
    config.discard = async_nats::jetstream::stream::DiscardPolicy::New;
    f.bus.js.update_stream(&config).await.unwrap();
    f.publish("dossier.dat-dai.full", uuid::Uuid::now_v7(), "filler", b"x")
        .await;

    let blocked = event("dossier.dat-dai.full", b"blocked".to_vec());
    let other = event("catalog.procedure-published", b"other stream".to_vec());
    enqueue_all(&f, &[blocked.clone(), other.clone()]).await;
    let r = relay(&f);
    let health = r.health();
    let outcome = r.drain().await.unwrap();
    assert_eq!(
        (outcome.published, outcome.delayed, outcome.parked),
        (1, 1, 0),
        "{outcome:?}"
    );
    assert_eq!(
        f.stream_ids("CATALOG", "catalog.>").await,
        vec![other.id.to_string()]
    );
    let (_, why) = health.failing().expect("the relay reports failing");
    assert!(why.contains("maximum messages"), "{why}");
    // Its retry is scheduled (a second later), not hammered.
    assert_eq!(r.drain().await.unwrap().taken, 0);
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE id = $1")
        .bind(blocked.id)
        .fetch_one(&f.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1);

    // Room again: the retry succeeds once due and the relay is healthy.
    config.max_messages = -1;
    f.bus.js.update_stream(&config).await.unwrap();
    eventually(
        Duration::from_secs(10),
        "the retry went out once due",
        || async { r.drain().await.unwrap().published == 1 },
    )
    .await;
    assert!(health.failing().is_none());
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_ours_deleted_by_mistake_is_created_again_and_nothing_is_lost() {
    let f = fixture().await;
    f.bus
        .js
        .delete_stream(f.bus.stream_name("DOSSIERS"))
        .await
        .unwrap();
    let e = event("dossier.dat-dai.submitted", b"after the deletion".to_vec());
    enqueue_all(&f, std::slice::from_ref(&e)).await;
    let r = relay(&f).with_streams(retention());
    let first = r.drain().await.unwrap();
    assert_eq!(
        (first.delayed, first.parked),
        (1, 0),
        "waited for, not parked: {first:?}"
    );
    eventually(
        Duration::from_secs(10),
        "published once the stream was back",
        || async { r.drain().await.unwrap().published == 1 },
    )
    .await;
    assert_eq!(
        f.stream_ids("DOSSIERS", "dossier.>").await,
        vec![e.id.to_string()]
    );
    f.cleanup().await;
}
