//! E-mail over SMTP with lettre: plain text and HTML alternatives, full Vietnamese.

use super::{Accepted, Outgoing, Provider, SendError};
use futures::future::BoxFuture;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

#[derive(Debug)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Smtp {
    /// From lettre's URL form (`smtp://`, `smtps://`, `?tls=required`).
    pub fn new(url: &str, from: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("MOTCUA_SMTP_URL: {e}"))?
            .build();
        let from: Mailbox = from
            .parse()
            .map_err(|e| anyhow::anyhow!("MOTCUA_EMAIL_FROM: {e}"))?;
        Ok(Self { transport, from })
    }
}

impl Provider for Smtp {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFuture<'a, Result<Accepted, SendError>> {
        Box::pin(async move {
            let to: Mailbox =
                m.to.parse()
                    .map_err(|e| SendError::Permanent(format!("address: {e}")))?;
            let email = Message::builder()
                .from(self.from.clone())
                .to(to)
                .subject(m.subject.clone())
                .message_id(Some(format!("<{}@motcua>", m.id)))
                .multipart(MultiPart::alternative_plain_html(
                    m.body.clone(),
                    m.html_body.clone(),
                ))
                .map_err(|e| SendError::Permanent(format!("message: {e}")))?;
            match self.transport.send(email).await {
                Ok(response) => Ok(Accepted {
                    provider_message_id: Some(format!("{}@motcua", m.id)),
                    answer: response.message().collect::<Vec<_>>().join(" "),
                    delivered: false,
                }),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Retry(e.to_string())),
            }
        })
    }
}
