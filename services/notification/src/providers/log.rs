//! The log provider: records what would be sent, sends nothing (the default, so motcua runs with
//! no outside account). The log line carries the masked address only.

use super::{Accepted, Outgoing, Provider, SendError};
use futures::future::BoxFuture;

#[derive(Debug, Clone, Copy)]
pub struct LogProvider {
    pub channel: &'static str,
}

impl Provider for LogProvider {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFuture<'a, Result<Accepted, SendError>> {
        Box::pin(async move {
            tracing::info!(
                channel = self.channel,
                delivery = %m.id,
                to = %crate::mask::address(&m.to),
                subject = %m.subject,
                body = %m.body,
                "log provider: would send"
            );
            Ok(Accepted {
                provider_message_id: Some(format!("log-{}", m.id)),
                answer: "recorded by the log provider".into(),
                delivered: false,
            })
        })
    }
}
