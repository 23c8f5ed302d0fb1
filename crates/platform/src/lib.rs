//! What every motcua service stands on, knowing no service. Where to look:
//!
//! - [`config`]: `MOTCUA_*` settings, exit code 64 on bad configuration, secrets that never print.
//! - [`clock`]: the time every rule reads (system, or controlled by tests).
//! - [`telemetry`]: logs, OpenTelemetry traces, trace context over gRPC and NATS.
//! - [`metrics`]: Prometheus `/metrics`.
//! - [`db`]: the service's database, created and migrated at start; what counts as "unavailable".
//! - [`bus`]: JetStream connection, stream names and retention.
//! - [`outbox`]: transactional outbox and its relay (nothing stuck: failing events are set aside).
//! - [`consumer`]: idempotent consumers, batched mode, waiting out outages, dead letters;
//!   [`deadletters`]: listing and replaying them; [`versions`]: "apply if newer".
//! - [`jobs`]: durable jobs and timers driven by the clock; [`retention`]: what each table keeps,
//!   how long, and the pruning.
//! - [`auth`]: bearer JWT (static key, JWKS), roles, issuer and audience.
//! - [`boundary`]: what every gRPC call passes first (text and enum checks, load shedding, rate
//!   limits); [`limiter`]: per-client limits; [`http`]: the HTTP side.
//! - [`error`]: the one mapping from service errors to gRPC status codes; [`text`]: quoting input.
//! - [`host`]: the frame a service runs in (health, readiness, supervised tasks, shutdown);
//!   [`readiness`]; [`shutdown`]: SIGTERM / SIGINT; [`process`]: start and exit of a binary.

/// The allocator of every motcua binary (and test) that links the platform: mimalloc. A service
/// allocates and frees small buffers for every request, message and row from many threads; with
/// glibc's allocator that took about a sixth of all CPU time in the public read benchmark
/// (`_int_malloc`, `malloc_consolidate`, `unlink_chunk`, …).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod accept;
pub mod auth;
pub mod boundary;
pub mod bus;
pub mod client;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod db;
pub mod deadletters;
pub mod error;
pub mod host;
pub mod http;
pub mod jobs;
pub mod limiter;
pub mod metrics;
pub mod outbox;
pub mod process;
pub mod readiness;
pub mod retention;
pub mod shutdown;
pub mod supervise;
pub mod telemetry;
pub mod text;
pub mod versions;

pub use clock::{Clock, ManualClock, SharedClock, SimulatedClock, SimulatedTime, SystemClock};
pub use error::ServiceError;
pub use tokio_util::sync::CancellationToken;
