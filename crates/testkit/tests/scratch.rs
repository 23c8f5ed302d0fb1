//! A test that fails half-way leaves no database and no stream behind, and the sweep of what ended
//! runs left never takes what a running test uses.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_testkit::scratch::{self, InUse, Scratch};
use sqlx::Connection;
use std::str::FromStr;

async fn postgres() -> sqlx::PgConnection {
    let options = sqlx::postgres::PgConnectOptions::from_str(&scratch::database_url())
        .unwrap()
        .database("postgres");
    sqlx::PgConnection::connect_with(&options).await.unwrap()
}

async fn jetstream() -> async_nats::jetstream::Context {
    async_nats::jetstream::new(async_nats::connect(scratch::nats_url()).await.unwrap())
}

/// Makes a database and a stream named as a test with `id` would.
async fn make(id: &str) -> (String, String) {
    let database = format!("t_{id}_intake");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut postgres().await)
    .await
    .unwrap();
    let stream = format!("T{}_DOSSIERS", id.to_ascii_uppercase());
    jetstream()
        .await
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("t{id}.dossier.>")],
            max_bytes: 1 << 20,
            ..Default::default()
        })
        .await
        .unwrap();
    (database, stream)
}

async fn exists(database: &str, stream: &str) -> (bool, bool) {
    let db: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&mut postgres().await)
            .await
            .unwrap();
    let st = jetstream().await.get_stream(stream).await.is_ok();
    (db, st)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_that_panics_half_way_leaves_no_database_and_no_stream() {
    let id = scratch::new_id();
    let made = id.clone();
    // A test body on a runtime of its own, as #[tokio::test] runs one, that panics after making
    // its database and stream and never reaches its clean-up.
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let _scratch = Scratch::with_id(made.clone());
                let (database, stream) = make(&made).await;
                assert_eq!(exists(&database, &stream).await, (true, true));
                panic!("the test fails half-way");
            })
    })
    .join();
    assert!(outcome.is_err(), "the test body panicked");
    let database = format!("t_{id}_intake");
    let stream = format!("T{}_DOSSIERS", id.to_ascii_uppercase());
    assert_eq!(
        exists(&database, &stream).await,
        (false, false),
        "the guard removed the database and the stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_takes_what_ended_processes_left_and_nothing_a_running_test_uses() {
    // A process that has ended: its pid names leftovers.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let ended = child.id();
    child.wait().unwrap();
    let dead = format!("p{ended}r0badc0de");
    let alive = scratch::new_id(); // this process's
    let live = Scratch::with_id(alive.clone());
    let (dead_db, dead_stream) = make(&dead).await;
    let (live_db, live_stream) = make(&alive).await;
    // And one named the old way, which cannot be told apart from a running test's.
    let old = format!("{:012x}", u64::from(std::process::id()) << 16 | 0xabc);
    let (old_db, old_stream) = make(&old).await;

    let found = scratch::leftovers().await.unwrap();
    let state = |name: &str| {
        found
            .databases
            .iter()
            .chain(found.streams.iter())
            .find(|(n, _)| n == name)
            .map(|(_, u)| *u)
    };
    assert_eq!(state(&dead_db), Some(InUse::No));
    assert_eq!(state(&dead_stream), Some(InUse::No));
    assert_eq!(state(&live_db), Some(InUse::Yes));
    assert_eq!(state(&live_stream), Some(InUse::Yes));
    assert_eq!(state(&old_db), Some(InUse::Unknown));

    let removed = scratch::sweep().await.unwrap();
    assert!(removed.contains(&dead_db), "{removed:?}");
    assert_eq!(exists(&dead_db, &dead_stream).await, (false, false));
    assert_eq!(
        exists(&live_db, &live_stream).await,
        (true, true),
        "a running test's are kept"
    );
    assert_eq!(exists(&old_db, &old_stream).await, (true, true));

    scratch::remove(&old).await.unwrap();
    live.remove().await.unwrap();
    assert_eq!(exists(&live_db, &live_stream).await, (false, false));
    assert_eq!(exists(&old_db, &old_stream).await, (false, false));
}
