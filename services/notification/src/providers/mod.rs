//! Providers behind one interface: each takes one message to one address and says what became of
//! it. A provider never retries by itself: the dispatcher ([`crate::dispatch`]) owns retries,
//! timeouts and rate limits, so a provider that hangs or fails costs only its own deliveries.

pub mod http_sms;
pub mod log;
pub mod smtp;
pub mod webhook;

use crate::webhook_sign::Secret;
use futures::future::BoxFuture;
use uuid::Uuid;

/// One message to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The delivery's id: webhooks' `webhook-id`, gateways' reference for receipts.
    pub id: Uuid,
    /// Phone, e-mail address or webhook URL.
    pub to: String,
    pub subject: String,
    pub body: String,
    pub html_body: String,
    /// Webhooks: the secrets in force (one signature each).
    pub secrets: Vec<Secret>,
}

/// The provider took the message.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    pub provider_message_id: Option<String>,
    /// A short note of the answer (status, gateway's words), kept on the delivery.
    pub answer: String,
    /// The provider says it arrived (a webhook receiver's 2xx), not only that it was taken.
    pub delivered: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Worth another try later (timeouts, 5xx, 429, connection refused).
    #[error("{0}")]
    Retry(String),
    /// Will fail again the same way (a refused address, a 4xx): failed now.
    #[error("{0}")]
    Permanent(String),
}

pub trait Provider: Send + Sync + std::fmt::Debug + 'static {
    /// Its name on deliveries, e.g. "log", "http-sms", "smtp", "webhook".
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, message: &'a Outgoing) -> BoxFuture<'a, Result<Accepted, SendError>>;
}

/// Classifies an HTTP answer the way gateways and webhook receivers mean it.
pub fn http_outcome(status: reqwest::StatusCode, text: &str) -> Result<(), SendError> {
    let short: String = text.chars().take(200).collect();
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        Err(SendError::Retry(format!("HTTP {status}: {short}")))
    } else {
        Err(SendError::Permanent(format!("HTTP {status}: {short}")))
    }
}

/// A transport error: always worth another try (the timeout is the dispatcher's).
pub fn transport(e: reqwest::Error) -> SendError {
    // Without the URL: a webhook URL may carry a token in its query.
    SendError::Retry(format!("{}", e.without_url()))
}
