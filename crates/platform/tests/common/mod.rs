//! The platform's test harness: a fresh database (platform tables migrated) and a fresh bus prefix
//! per test on the real PostgreSQL and NATS, a controllable clock, and a TCP proxy that can take
//! the database away and give it back.

#![allow(dead_code)]

use async_nats::jetstream::consumer::pull;
use futures::StreamExt;
use motcua_platform::bus::{Bus, headers};
use motcua_platform::config::{Retention, ServerUrl};
use motcua_platform::consumer::ConsumerContext;
use motcua_platform::readiness::Readiness;
use motcua_platform::{ManualClock, SharedClock};
use motcua_testkit::scratch::Scratch;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::sync::Arc;
use std::time::Duration;

pub mod proxy;

pub static NO_MIGRATIONS: Migrator = Migrator::DEFAULT;
pub const PG: &str = "postgres://postgres@127.0.0.1:5432";
pub const NATS: &str = "nats://127.0.0.1:4222";

pub fn pg() -> ServerUrl {
    ServerUrl::new(PG)
}

/// `database` on the test server, created when missing.
pub fn on(database: &str) -> motcua_platform::db::Target {
    motcua_platform::db::Target::on_server(&pg(), database).expect("a PostgreSQL URL")
}

/// Small streams: tests make many and delete them; JetStream reserves max_bytes up front.
pub fn retention() -> Retention {
    Retention {
        dossier_events_max_age: Duration::from_secs(3600),
        dossier_events_max_bytes: 64 << 20,
        catalog_events_max_bytes: 16 << 20,
        dead_letters_max_age: Duration::from_secs(3600),
        dead_letters_max_bytes: 16 << 20,
        processed_events: Duration::from_secs(30 * 86_400),
        published_outbox: Duration::from_secs(7 * 86_400),
        failed_jobs: Duration::from_secs(90 * 86_400),
        stream_replicas: None,
    }
}

pub fn new_id() -> String {
    motcua_testkit::scratch::new_id()
}

pub fn start_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-03-02T09:00:00+07:00")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

pub struct Fixture {
    pub id: String,
    pub pool: PgPool,
    pub bus: Bus,
    pub database: String,
    pub clock: Arc<ManualClock>,
    /// Removes the database and the streams however the test ends.
    pub scratch: Scratch,
}

pub async fn fixture() -> Fixture {
    let scratch = Scratch::new();
    let id = scratch.id().to_owned();
    let database = format!("t_{id}_bus");
    let pool = motcua_platform::db::connect(&on(&database), 8, &NO_MIGRATIONS)
        .await
        .expect("database");
    let bus = Bus::connect(&ServerUrl::new(NATS), &format!("t{id}."))
        .await
        .expect("nats");
    bus.ensure_streams(&retention()).await.expect("streams");
    Fixture {
        id,
        pool,
        bus,
        database,
        clock: ManualClock::new(start_time()),
        scratch,
    }
}

impl Fixture {
    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    pub fn consumer_ctx(&self) -> ConsumerContext {
        ConsumerContext {
            pool: self.pool.clone(),
            bus: self.bus.clone(),
            readiness: Readiness::always(),
            outbox: Default::default(),
        }
    }

    /// Removes the test's database and every stream of its prefix (those a test made itself too).
    pub async fn cleanup(self) {
        self.pool.close().await;
        self.scratch
            .remove()
            .await
            .expect("removing the test's database and streams");
    }

    /// Messages of a stream matching `filter`, as (message id, event id, payload).
    pub async fn stream_messages(
        &self,
        stream: &str,
        filter: &str,
    ) -> Vec<async_nats::jetstream::Message> {
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
        let mut out = Vec::new();
        while out.len() < total {
            let mut batch = c
                .fetch()
                .max_messages(500)
                .expires(Duration::from_millis(500))
                .messages()
                .await
                .unwrap();
            let before = out.len();
            while let Some(m) = batch.next().await {
                out.push(m.unwrap());
            }
            if out.len() == before {
                break;
            }
        }
        out
    }

    /// Event ids (Nats-Msg-Id) of a stream's messages.
    pub async fn stream_ids(&self, stream: &str, filter: &str) -> Vec<String> {
        self.stream_messages(stream, filter)
            .await
            .iter()
            .map(|m| header(m, "Nats-Msg-Id"))
            .collect()
    }

    /// (payload, reason) of every dead letter.
    pub async fn dead_letters(&self) -> Vec<(Vec<u8>, String)> {
        let mut out: Vec<(Vec<u8>, String)> = self
            .stream_messages("DEADLETTER", "deadletter.>")
            .await
            .iter()
            .map(|m| (m.payload.to_vec(), header(m, headers::DEAD_REASON)))
            .collect();
        out.sort();
        out
    }

    /// Publishes a test event straight to the stream.
    pub async fn publish(&self, subject: &str, event_id: uuid::Uuid, msg_id: &str, payload: &[u8]) {
        motcua_testkit::floor::publish_event(
            &self.bus,
            subject,
            "test",
            event_id,
            msg_id,
            payload.to_vec(),
        )
        .await;
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

pub fn header(m: &async_nats::jetstream::Message, name: &str) -> String {
    m.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// Polls `check` until it holds, for at most `within`; the message says what did not happen.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
