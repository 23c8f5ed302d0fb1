//! What every motcua service stands on. Where to look:
//!
//! - [`config`]: `MOTCUA_*` settings, exit code 64 on bad configuration.
//! - [`telemetry`]: logs, OpenTelemetry traces, trace context over gRPC and NATS.
//! - [`metrics`]: Prometheus `/metrics`.
//! - [`db`]: the service's database, created and migrated at start.
//! - [`bus`]: JetStream connection, stream and subject names.
//! - [`outbox`]: transactional outbox and its relay.
//! - [`consumer`]: idempotent consumers, redelivery with backoff, dead letters.
//! - [`auth`]: bearer JWT, roles, the development key.
//! - [`error`]: the one mapping from service errors to gRPC status codes.
//! - [`host`]: the frame a service runs in (health, reflection, limits, graceful shutdown).
//! - [`shutdown`]: SIGTERM / SIGINT; [`process`]: what every binary does at start and exit.

pub mod auth;
pub mod bus;
pub mod config;
pub mod consumer;
pub mod db;
pub mod error;
pub mod host;
pub mod metrics;
pub mod outbox;
pub mod process;
pub mod request_errors;
pub mod shutdown;
pub mod telemetry;

pub use error::ServiceError;
pub use tokio_util::sync::CancellationToken;
