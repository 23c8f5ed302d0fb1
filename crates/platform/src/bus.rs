//! NATS JetStream: connection, streams, and the names every service agrees on.
//!
//! Streams (DESIGN.md §3): `DOSSIERS` holds `dossier.<field>.<event>`, `CATALOG` holds
//! `catalog.<event>`, `DEADLETTER` holds `deadletter.<consumer>`. All use file storage. A bus prefix
//! (MOTCUA_BUS_PREFIX) namespaces subjects and stream names so that several provinces' stacks, or
//! tests, share one server.
//!
//! Retention (settings `MOTCUA_*_MAX_AGE_DAYS` / `_MAX_BYTES`): DOSSIERS keeps events for a
//! bounded time (400 days by default: a statistics year, the longest procedures, a margin for
//! rebuilding projections, and far above any outage a consumer could be stopped for). CATALOG is
//! kept by size only, so the catalog can always be rebuilt. DEADLETTER keeps its age for an
//! operator to inspect and replay (`motcua deadletters`).
//!
//! **No event is dropped to make room** (`DiscardPolicy::New` on every stream): a full stream
//! refuses new events, which the relay keeps in the outbox and retries (a transient failure; the
//! health details say publishing is behind), while every event already in the stream stays until
//! its age, consumed or not. A lagging consumer therefore loses nothing; the stream filling is an
//! operator's alert (`motcua_stream_used_ratio` above 0.8), raising its `_MAX_BYTES` the remedy.
//! (With `DiscardPolicy::Old`, the default, a full stream silently deleted its oldest events,
//! whether every consumer had them or not.) The retention stays `Limits`, not interest or work
//! queue: read models are rebuilt by replaying the stream from its start.

use crate::config::{NatsAuth, Retention, ServerUrl, Settings};
use anyhow::Context;
use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// How long JetStream remembers message ids to drop duplicates; the relay republishes anything it
/// could not mark as published, so this bounds how long a relay may be down mid-batch before a
/// duplicate reaches the stream (consumers drop those by event id; see [`crate::consumer`]).
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(10 * 60);

pub const DOSSIERS: &str = "DOSSIERS";
pub const CATALOG: &str = "CATALOG";
pub const DEADLETTER: &str = "DEADLETTER";

/// Header names carried with every event.
pub mod headers {
    pub const EVENT_TYPE: &str = "Motcua-Event-Type";
    pub const EVENT_ID: &str = "Motcua-Event-Id";
    pub const DEAD_REASON: &str = "Motcua-Dead-Reason";
    pub const ORIGINAL_SUBJECT: &str = "Motcua-Original-Subject";
    pub const CONSUMER: &str = "Motcua-Consumer";
}

#[derive(Debug, Clone)]
pub struct Bus {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    prefix: String,
}

impl Bus {
    pub async fn connect(url: &ServerUrl, prefix: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, prefix, &NatsAuth::default()).await
    }

    /// The bus as the settings describe it: URL, prefix, credentials and CA.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Self::connect_with(
            &settings.nats_url,
            &settings.bus_prefix,
            &settings.nats_auth,
        )
        .await
    }

    pub async fn connect_with(
        url: &ServerUrl,
        prefix: &str,
        auth: &NatsAuth,
    ) -> anyhow::Result<Self> {
        crate::client::install_crypto();
        let mut options = async_nats::ConnectOptions::new();
        if let Some(path) = &auth.credentials_file {
            options = options
                .credentials_file(path)
                .await
                .with_context(|| format!("MOTCUA_NATS_CREDENTIALS_FILE {}", path.display()))?;
        }
        if let Some(path) = &auth.nkey_file {
            let seed = std::fs::read_to_string(path)
                .with_context(|| format!("MOTCUA_NATS_NKEY_FILE {}", path.display()))?;
            options = options.nkey(seed.trim().to_owned());
        }
        if let Some(path) = &auth.ca_file {
            options = options
                .add_root_certificates(path.clone())
                .require_tls(true);
        }
        let client = options
            .name("motcua")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(url.expose())
            .await
            .with_context(|| {
                format!("connecting to NATS at {url} (is it running? `deploy/up.sh` starts it)")
            })?;
        let js = jetstream::new(client.clone());
        Ok(Self {
            client,
            js,
            prefix: prefix.to_owned(),
        })
    }

    /// The full subject for a subject named without prefix.
    pub fn subject(&self, subject: &str) -> String {
        format!("{}{subject}", self.prefix)
    }

    /// The subject with this bus's prefix removed.
    pub fn strip<'a>(&self, subject: &'a str) -> &'a str {
        subject
            .strip_prefix(self.prefix.as_str())
            .unwrap_or(subject)
    }

    /// A stream's name under this bus's prefix.
    pub fn stream_name(&self, stream: &str) -> String {
        let p: String = self
            .prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("{p}{stream}")
    }

    /// The three streams' configurations under the given retention.
    pub fn stream_configs(&self, retention: &Retention) -> Vec<stream::Config> {
        let config =
            |name: &str, subjects: &str, max_age: Duration, max_bytes: i64| stream::Config {
                name: self.stream_name(name),
                subjects: vec![self.subject(subjects)],
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                max_age,
                max_bytes,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            };
        vec![
            config(
                DOSSIERS,
                "dossier.>",
                retention.dossier_events_max_age,
                retention.dossier_events_max_bytes,
            ),
            // Zero age: kept until the size bound.
            config(
                CATALOG,
                "catalog.>",
                Duration::ZERO,
                retention.catalog_events_max_bytes,
            ),
            config(
                DEADLETTER,
                "deadletter.>",
                retention.dead_letters_max_age,
                retention.dead_letters_max_bytes,
            ),
        ]
    }

    /// Creates or updates the three streams (a changed retention applies at the next start), each
    /// with the replicas [`replicas`] decides.
    pub async fn ensure_streams(&self, retention: &Retention) -> anyhow::Result<()> {
        for mut config in self.stream_configs(retention) {
            let name = config.name.clone();
            // Only a stream that is not there is new: any other answer is an error, not a reason
            // to take its replicas for one.
            let existing = match self.js.get_stream(&name).await {
                Ok(mut stream) => Some(stream.info().await?.config.num_replicas),
                Err(e) if not_found(&e) => None,
                Err(e) => {
                    return Err(e).with_context(|| format!("reading stream {name}"));
                }
            };
            config.num_replicas = replicas(retention.stream_replicas, existing);
            self.js
                .create_or_update_stream(config)
                .await
                .with_context(|| format!("creating or updating stream {name}"))?;
        }
        Ok(())
    }

    /// The stream (unprefixed name) that holds a subject named without prefix.
    pub fn stream_of(&self, subject: &str) -> Option<&'static str> {
        [
            ("dossier.", DOSSIERS),
            ("catalog.", CATALOG),
            ("deadletter.", DEADLETTER),
        ]
        .into_iter()
        .find(|(space, _)| subject.starts_with(space))
        .map(|(_, stream)| stream)
    }

    /// Whether a full subject falls in one of the three streams' subject spaces.
    pub fn in_our_streams(&self, subject: &str) -> bool {
        subject.starts_with(self.prefix.as_str()) && self.stream_of(self.strip(subject)).is_some()
    }

    /// The largest message the server accepts (payload and headers).
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// True when the connection to NATS is up.
    pub fn is_connected(&self) -> bool {
        matches!(
            self.client.connection_state(),
            async_nats::connection::State::Connected
        )
    }

    /// Deletes this bus's streams and the simulated clock's buckets (tests, the simulator).
    pub async fn delete_streams(&self) {
        for name in [DOSSIERS, CATALOG, DEADLETTER] {
            let _ = self.js.delete_stream(self.stream_name(name)).await;
        }
        crate::clock::simulated::delete_buckets(self).await;
    }
}

fn not_found(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(j)
            if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// A stream's replicas: the setting's (one when unset), never fewer than the stream has — a
/// service never lowers them (an operator's R3 survives the next start of a pod set to one);
/// lowering is the operator's act (`nats stream edit`).
pub fn replicas(setting: Option<usize>, existing: Option<usize>) -> usize {
    setting.unwrap_or(1).max(existing.unwrap_or(1)).max(1)
}

#[cfg(test)]
mod tests;
