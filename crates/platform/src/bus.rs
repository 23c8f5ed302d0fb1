//! NATS JetStream: connection, streams, and the names every service agrees on.
//!
//! Streams (DESIGN.md §3): `DOSSIERS` holds `dossier.<field>.<event>`, `CATALOG` holds
//! `catalog.<event>`, `DEADLETTER` holds `deadletter.<consumer>`. All use file storage. A bus prefix
//! (MOTCUA_BUS_PREFIX) namespaces subjects and stream names so that tests share one server.

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// How long JetStream remembers message ids to drop duplicates; the relay republishes anything it
/// could not mark as published, so this bounds how long a relay may be down mid-batch.
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
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name("motcua")
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
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

    /// Creates or updates the three streams.
    pub async fn ensure_streams(&self) -> anyhow::Result<()> {
        for (name, subjects) in [
            (DOSSIERS, "dossier.>"),
            (CATALOG, "catalog.>"),
            (DEADLETTER, "deadletter.>"),
        ] {
            let config = stream::Config {
                name: self.stream_name(name),
                subjects: vec![self.subject(subjects)],
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                ..Default::default()
            };
            self.js
                .create_or_update_stream(config)
                .await
                .with_context(|| format!("creating stream {}", self.stream_name(name)))?;
        }
        Ok(())
    }

    /// True when the connection to NATS is up.
    pub fn is_connected(&self) -> bool {
        matches!(
            self.client.connection_state(),
            async_nats::connection::State::Connected
        )
    }

    /// Deletes this bus's streams (tests).
    pub async fn delete_streams(&self) {
        for name in [DOSSIERS, CATALOG, DEADLETTER] {
            let _ = self.js.delete_stream(self.stream_name(name)).await;
        }
    }
}
