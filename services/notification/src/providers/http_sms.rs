//! An HTTP SMS gateway: the body is a template of the settings (see
//! [`HttpGateway`]), so each gateway's shape is configuration, not code.

use super::{Accepted, Outgoing, Provider, SendError, http_outcome, transport};
use futures::future::BoxFuture;
use minijinja::Environment;
use secrecy::ExposeSecret;
use secrecy::SecretString;

/// An HTTP SMS gateway. Vietnamese brand-name gateways differ in URL, authentication and body, so
/// all three are settings.
#[derive(Debug, Clone)]
pub struct HttpGateway {
    /// MOTCUA_SMS_GATEWAY_URL: where to POST each message.
    pub url: String,
    /// MOTCUA_SMS_GATEWAY_AUTH: a header line sent with every call, e.g. `Authorization: Bearer x`.
    pub auth: Option<(String, SecretString)>,
    /// MOTCUA_SMS_GATEWAY_BODY: the request body, a template with `phone`, `text` and `id`
    /// (the delivery's id, for receipts); JSON by default.
    pub body: String,
    /// MOTCUA_SMS_GATEWAY_CONTENT_TYPE (application/json).
    pub content_type: String,
    /// MOTCUA_SMS_GATEWAY_ID_POINTER: where the gateway's answer (JSON) holds its message id, as a
    /// JSON pointer, e.g. `/messageId` (empty: the id is not read).
    pub id_pointer: String,
}

#[derive(Debug)]
pub struct HttpSms {
    gateway: HttpGateway,
    client: reqwest::Client,
}

/// Checks a body template: it parses and names only `phone`, `text` and `id`.
pub fn check_body(body: &str) -> Result<(), String> {
    let env = Environment::new();
    let t = env.template_from_str(body).map_err(|e| e.to_string())?;
    for name in t.undeclared_variables(false) {
        if !["phone", "text", "id"].contains(&name.as_str()) {
            return Err(format!(
                "unknown placeholder {{{{ {name} }}}}: the body may use phone, text and id"
            ));
        }
    }
    Ok(())
}

impl HttpSms {
    pub fn new(gateway: HttpGateway, client: reqwest::Client) -> Self {
        Self { gateway, client }
    }
}

impl Provider for HttpSms {
    fn name(&self) -> &'static str {
        "http-sms"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFuture<'a, Result<Accepted, SendError>> {
        Box::pin(async move {
            let mut env = Environment::new();
            env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
            let body = env
                .render_str(
                    &self.gateway.body,
                    minijinja::context! { phone => m.to.clone(), text => m.body.clone(), id => m.id.to_string() },
                )
                .map_err(|e| SendError::Permanent(format!("gateway body template: {e}")))?;
            let mut request = self
                .client
                .post(&self.gateway.url)
                .header(reqwest::header::CONTENT_TYPE, &self.gateway.content_type)
                .body(body);
            if let Some((name, value)) = &self.gateway.auth {
                request = request.header(name.as_str(), value.expose_secret());
            }
            let response = request.send().await.map_err(transport)?;
            let status = response.status();
            let text = response.text().await.map_err(transport)?;
            http_outcome(status, &text)?;
            let provider_message_id = if self.gateway.id_pointer.is_empty() {
                None
            } else {
                serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.pointer(&self.gateway.id_pointer).cloned())
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
            };
            Ok(Accepted {
                provider_message_id,
                answer: format!("HTTP {status}"),
                delivered: false,
            })
        })
    }
}
