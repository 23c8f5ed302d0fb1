//! Webhooks signed the Standard Webhooks way ([`crate::webhook_sign`]): `webhook-id` is the
//! delivery's id (the same on every retry, so receivers drop repeats), `webhook-timestamp` the
//! attempt's time, one `v1,` signature per secret in force. Every attempt checks its target again
//! ([`crate::targets`]): the URL as written, its name resolved, and the connection made only to
//! addresses that pass.

use super::{Accepted, Outgoing, Provider, SendError, http_outcome, transport};
use crate::targets::{Guarded, Targets};
use crate::webhook_sign;
use futures::future::BoxFuture;
use motcua_platform::SharedClock;
use std::sync::Arc;

#[derive(Debug)]
pub struct Webhooks {
    client: reqwest::Client,
    clock: SharedClock,
    targets: Arc<Targets>,
}

/// The webhook client follows no redirect (a receiver's 3xx could lead anywhere, the cloud's
/// metadata address included: it fails the attempt as a 4xx does), uses no proxy from the
/// environment, and connects only to the addresses [`Guarded`] lets through.
pub fn client(
    timeout: std::time::Duration,
    targets: Arc<Targets>,
) -> anyhow::Result<reqwest::Client> {
    let _ = motcua_platform::http::client(timeout)?; // installs the process's crypto provider
    Ok(reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(std::time::Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Guarded(targets))
        .build()?)
}

impl Webhooks {
    pub fn new(client: reqwest::Client, clock: SharedClock, targets: Arc<Targets>) -> Self {
        Self {
            client,
            clock,
            targets,
        }
    }
}

impl Provider for Webhooks {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFuture<'a, Result<Accepted, SendError>> {
        Box::pin(async move {
            if m.secrets.is_empty() {
                return Err(SendError::Permanent(
                    "the subscription has no secret in force".into(),
                ));
            }
            // The target as it stands now: the settings or the name's addresses may have changed
            // since the subscription was made. A refused target fails the delivery.
            let url = self
                .targets
                .check_url(&m.to)
                .map_err(|e| SendError::Permanent(format!("refused: {e}")))?;
            self.targets
                .check_resolved(&url)
                .await
                .map_err(|e| SendError::Permanent(format!("refused: {e}")))?;
            // The attempt's time by the service's clock (the system clock in production, which
            // the receiver's replay window is checked against).
            let timestamp = self.clock.now().timestamp();
            let id = m.id.to_string();
            let mut request = self
                .client
                .post(&m.to)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(m.body.clone());
            for (name, value) in webhook_sign::headers(&m.secrets, &id, timestamp, &m.body) {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(transport)?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            // Standard Webhooks: any non-2xx is retried.
            match http_outcome(status, &text) {
                Ok(()) => Ok(Accepted {
                    provider_message_id: None,
                    answer: format!("HTTP {status}"),
                    delivered: true,
                }),
                Err(e) => Err(SendError::Retry(e.to_string())),
            }
        })
    }
}
