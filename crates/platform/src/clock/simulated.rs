//! Simulated time shared by every process of a run (issue "year replay"; DESIGN.md "Time").
//!
//! One driver (the simulator) owns the time: it writes it to the key `now` of a NATS key-value
//! bucket (`<PREFIX>SIM_CLOCK`). Every service process that runs with `MOTCUA_SIMULATED_CLOCK=true`
//! joins the bucket ([`SimulatedClock::join`]), watches the key and moves its clock with it, so
//! five services in one process or five processes as in a cluster follow the same time, and every
//! timer whose time has come wakes at once (as the [`super::ManualClock`] of tests does).
//!
//! A driver must know that every process has seen a time before it acts at that time (a result
//! recorded a moment "too early" would be classified differently). So each process writes the
//! revision of the last time it applied under `seen.<instance>` in a second bucket
//! (`<PREFIX>SIM_CLOCK_SEEN`), and again every [`HEARTBEAT`] while it lives; [`SimulatedTime::set`]
//! returns once every live instance (one heard from within [`LIVE_FOR`]) has seen the new time.
//! A process killed by the chaos run stops heartbeating and is no longer waited for; restarted, it
//! joins again and reads the time from the bucket.
//!
//! Time never runs backwards for a process: a value older than the one it holds is ignored.

use super::Clock;
use crate::bus::Bus;
use anyhow::Context;
use async_nats::jetstream::kv;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The key holding the simulated time (RFC 3339, UTC).
const NOW: &str = "now";
/// How often a process repeats which time it has seen.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// An instance not heard from for this long is taken for dead and no longer waited for.
pub const LIVE_FOR: Duration = Duration::from_secs(4);

async fn bucket(bus: &Bus, name: &str, max_age: Duration) -> anyhow::Result<kv::Store> {
    use async_nats::jetstream::stream;
    let bucket = bus.stream_name(name);
    if let Ok(store) = bus.js.get_key_value(&bucket).await {
        return Ok(store);
    }
    // The bucket's stream as `create_key_value` would make it: that call first asks for the
    // account's information, whose answer NATS 2.9 gives in a form the client cannot read.
    bus.js
        .get_or_create_stream(stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating the key-value bucket {bucket}"))?;
    bus.js
        .get_key_value(&bucket)
        .await
        .with_context(|| format!("opening the key-value bucket {bucket}"))
}

async fn clock_bucket(bus: &Bus) -> anyhow::Result<kv::Store> {
    bucket(bus, "SIM_CLOCK", Duration::ZERO).await
}

async fn seen_bucket(bus: &Bus) -> anyhow::Result<kv::Store> {
    // Keys of dead instances go by themselves.
    bucket(bus, "SIM_CLOCK_SEEN", Duration::from_secs(60)).await
}

fn encode(at: DateTime<Utc>) -> bytes::Bytes {
    at.to_rfc3339_opts(SecondsFormat::Micros, true).into()
}

fn decode(value: &[u8]) -> Option<DateTime<Utc>> {
    let text = std::str::from_utf8(value).ok()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A process's view of the simulated time: follows the bucket's key `now`.
#[derive(Debug)]
pub struct SimulatedClock {
    now: watch::Sender<DateTime<Utc>>,
}

impl SimulatedClock {
    /// Joins the run's simulated time: waits until the driver has set it (logging while it
    /// waits), then follows it until `shutdown`. Fails when NATS cannot be reached.
    pub async fn join(bus: &Bus, shutdown: CancellationToken) -> anyhow::Result<Arc<Self>> {
        let clocks = clock_bucket(bus).await?;
        let seen = seen_bucket(bus).await?;
        let mut waited = 0u32;
        let (start, revision) = loop {
            if let Some(entry) = clocks
                .entry(NOW)
                .await
                .context("reading the simulated time")?
                && let Some(at) = decode(&entry.value)
            {
                break (at, entry.revision);
            }
            if waited.is_multiple_of(50) {
                tracing::info!(
                    bucket = %bus.stream_name("SIM_CLOCK"),
                    "MOTCUA_SIMULATED_CLOCK: waiting for the simulator to set the time"
                );
            }
            waited += 1;
            tokio::select! {
                _ = shutdown.cancelled() => anyhow::bail!("stopped while waiting for the simulated time"),
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        };
        let clock = Arc::new(Self {
            now: watch::Sender::new(start),
        });
        metrics::gauge!("motcua_clock_simulated_seconds").set(start.timestamp() as f64);
        let instance = format!("seen.{}", uuid::Uuid::new_v4().simple());
        let applied = Arc::new(std::sync::atomic::AtomicU64::new(revision));
        let _ = seen.put(&instance, revision.to_string().into()).await;
        tokio::spawn(follow(
            clocks,
            clock.clone(),
            applied.clone(),
            seen.clone(),
            instance.clone(),
            shutdown.clone(),
        ));
        tokio::spawn(heartbeat(seen, instance, applied, shutdown));
        Ok(clock)
    }

    fn apply(&self, at: DateTime<Utc>) {
        self.now.send_if_modified(|now| {
            if at > *now {
                *now = at;
                true
            } else {
                false
            }
        });
        metrics::gauge!("motcua_clock_simulated_seconds").set(self.now.borrow().timestamp() as f64);
    }
}

/// Applies every new time from the bucket, telling the driver which revision it has seen; a lost
/// watch (NATS restarted) is opened again.
async fn follow(
    clocks: kv::Store,
    clock: Arc<SimulatedClock>,
    applied: Arc<std::sync::atomic::AtomicU64>,
    seen: kv::Store,
    instance: String,
    shutdown: CancellationToken,
) {
    use std::sync::atomic::Ordering;
    let watch = || clocks.watch_with_history(NOW);
    each_entry(watch, &shutdown, |entry| {
        let (clock, applied, seen, instance) = (&clock, &applied, &seen, &instance);
        async move {
            if let Some(at) = decode(&entry.value) {
                clock.apply(at);
                applied.fetch_max(entry.revision, Ordering::SeqCst);
                let _ = seen
                    .put(instance, applied.load(Ordering::SeqCst).to_string().into())
                    .await;
            }
        }
    })
    .await;
}

/// Hands every entry of the watch `open` makes to `apply`, until `stop`; a watch that fails or
/// ends (NATS restarted) is opened again half a second later.
async fn each_entry<O, W, A, F>(open: O, stop: &CancellationToken, mut apply: A)
where
    O: Fn() -> W,
    W: std::future::Future<Output = Result<kv::Watch, kv::WatchError>>,
    A: FnMut(kv::Entry) -> F,
    F: std::future::Future<Output = ()>,
{
    while !stop.is_cancelled() {
        let mut entries = match open().await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "simulated clock: watching the bucket failed; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return,
                next = entries.next() => next,
            };
            let Some(Ok(entry)) = next else { break };
            apply(entry).await;
        }
    }
}

async fn heartbeat(
    seen: kv::Store,
    instance: String,
    applied: Arc<std::sync::atomic::AtomicU64>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Leaving: the driver need not wait for this instance any more.
                let _ = seen.purge(&instance).await;
                return;
            }
            _ = tokio::time::sleep(HEARTBEAT) => {}
        }
        let revision = applied.load(std::sync::atomic::Ordering::SeqCst);
        let _ = seen.put(&instance, revision.to_string().into()).await;
    }
}

impl super::Clock for SimulatedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        super::sleep_on(self.now.subscribe(), at)
    }
}

/// The driver's side: sets the time of the run and waits until every live process has seen it.
#[derive(Debug)]
pub struct SimulatedTime {
    clocks: kv::Store,
    instances: watch::Receiver<HashMap<String, (u64, Instant)>>,
    stop: CancellationToken,
}

impl SimulatedTime {
    /// Opens (or creates) the run's buckets and starts following which instances live.
    pub async fn open(bus: &Bus) -> anyhow::Result<Self> {
        let clocks = clock_bucket(bus).await?;
        let seen = seen_bucket(bus).await?;
        let (tx, instances) = watch::channel(HashMap::new());
        let stop = CancellationToken::new();
        tokio::spawn(track_instances(seen, tx, stop.clone()));
        Ok(Self {
            clocks,
            instances,
            stop,
        })
    }

    /// The time last set, if any.
    pub async fn now(&self) -> anyhow::Result<Option<DateTime<Utc>>> {
        Ok(self
            .clocks
            .get(NOW)
            .await
            .context("reading the simulated time")?
            .and_then(|v| decode(&v)))
    }

    /// Sets the time without waiting for anyone (before the services start).
    pub async fn put(&self, at: DateTime<Utc>) -> anyhow::Result<u64> {
        self.clocks
            .put(NOW, encode(at))
            .await
            .context("setting the simulated time")
    }

    /// Sets the time and waits (up to `within`) until every live instance has seen it.
    pub async fn set(&self, at: DateTime<Utc>, within: Duration) -> anyhow::Result<()> {
        let revision = self.put(at).await?;
        let mut instances = self.instances.clone();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let behind: Vec<String> = instances
                .borrow_and_update()
                .iter()
                .filter(|(_, (seen, heard))| heard.elapsed() < LIVE_FOR && *seen < revision)
                .map(|(k, _)| k.clone())
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => anyhow::bail!(
                    "the simulated time {at} was not seen within {within:?} by {}", behind.join(", ")
                ),
                // Re-check now and then too: an instance that died stops counting after LIVE_FOR.
                _ = instances.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// Waits (up to `within`) until at least `n` instances live (the services have joined).
    pub async fn wait_instances(&self, n: usize, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        let mut instances = self.instances.clone();
        loop {
            let live = self.live();
            if live >= n {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => anyhow::bail!(
                    "{live} of {n} processes joined the simulated time within {within:?}"
                ),
                _ = instances.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    /// How many instances were heard from within [`LIVE_FOR`].
    pub fn live(&self) -> usize {
        self.instances
            .borrow()
            .values()
            .filter(|(_, heard)| heard.elapsed() < LIVE_FOR)
            .count()
    }
}

impl Drop for SimulatedTime {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn track_instances(
    seen: kv::Store,
    tx: watch::Sender<HashMap<String, (u64, Instant)>>,
    stop: CancellationToken,
) {
    let watch = || seen.watch_all();
    each_entry(watch, &stop, |entry| {
        tx.send_modify(|m| match entry.operation {
            kv::Operation::Put => {
                let revision = std::str::from_utf8(&entry.value)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                m.insert(entry.key.clone(), (revision, heard_at(&entry)));
            }
            kv::Operation::Delete | kv::Operation::Purge => {
                m.remove(&entry.key);
            }
        });
        async {}
    })
    .await;
}

/// When an instance wrote this entry, as a point of this process's monotonic time: not when the
/// watcher read it, since a dead instance's last word read from the bucket's history is already
/// old. Wall time (the server's stamp against the system clock), through the platform's one
/// reader of it, since this bookkeeping must not follow the simulated time.
fn heard_at(entry: &kv::Entry) -> Instant {
    let now_ns = super::SystemClock
        .now()
        .timestamp_nanos_opt()
        .map(i128::from)
        .unwrap_or_default();
    let age = Duration::from_nanos(
        u64::try_from(now_ns - entry.created.unix_timestamp_nanos()).unwrap_or(0),
    );
    Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
}

/// Removes the run's buckets (tests, the simulator when it is done).
pub async fn delete_buckets(bus: &Bus) {
    for name in ["SIM_CLOCK", "SIM_CLOCK_SEEN"] {
        let _ = bus.js.delete_key_value(bus.stream_name(name)).await;
    }
}
