//! The token a service calls another with. A token pasted into a setting expires, and every call
//! after that is refused until someone notices; so a service can instead get its own from the
//! identity provider with the OAuth 2.0 client-credentials grant (RFC 6749 §4.4; Keycloak's
//! service accounts): MOTCUA_OAUTH_TOKEN_URL, MOTCUA_OAUTH_CLIENT_ID, MOTCUA_OAUTH_CLIENT_SECRET
//! and optionally MOTCUA_OAUTH_SCOPE. The token is kept until four fifths of its life have passed,
//! then fetched again; a provider that does not answer leaves the call without a token (refused,
//! and retried by the caller), never a process that stops.

use crate::config::{ConfigError, Vars};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Where a service's outgoing token comes from.
#[derive(Clone)]
pub enum TokenSource {
    /// A token given as it is (a setting; a developer's minted one).
    Fixed(SecretString),
    /// Fetched from the identity provider and renewed before it expires.
    ClientCredentials(Arc<ClientCredentials>),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(_) => f.write_str("TokenSource::Fixed(***)"),
            Self::ClientCredentials(c) => write!(f, "TokenSource::{c:?}"),
        }
    }
}

impl TokenSource {
    /// The token to send now, if one can be had.
    pub async fn token(&self) -> Option<SecretString> {
        match self {
            Self::Fixed(t) => Some(t.clone()),
            Self::ClientCredentials(c) => c.token().await,
        }
    }

    /// `authorization: Bearer …` on a gRPC request, when there is a token.
    pub async fn authorize<T>(&self, request: &mut tonic::Request<T>) {
        if let Some(t) = self.token().await
            && let Ok(v) = format!("Bearer {}", t.expose_secret()).parse()
        {
            request.metadata_mut().insert("authorization", v);
        }
    }
}

/// The client-credentials grant of one client at one provider, with the token it last got.
pub struct ClientCredentials {
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    scope: Option<String>,
    http: reqwest::Client,
    /// The token last got, when to renew it, and when it expires.
    held: Mutex<Option<(SecretString, Instant, Instant)>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// The grant the settings describe, if MOTCUA_OAUTH_TOKEN_URL is set.
    pub fn from_vars(v: &Vars) -> Result<Option<Self>, ConfigError> {
        let Some(url) = v.raw("MOTCUA_OAUTH_TOKEN_URL") else {
            return Ok(None);
        };
        let loopback = url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
        if !url.starts_with("https://") && !loopback {
            return Err(ConfigError::new(
                "MOTCUA_OAUTH_TOKEN_URL",
                format!(
                    "{url} must be https:// (http only on loopback): it carries the client secret"
                ),
            ));
        }
        let client_id = v.raw("MOTCUA_OAUTH_CLIENT_ID").ok_or_else(|| {
            ConfigError::new(
                "MOTCUA_OAUTH_CLIENT_ID",
                "is required with MOTCUA_OAUTH_TOKEN_URL",
            )
        })?;
        let client_secret = v.secret("MOTCUA_OAUTH_CLIENT_SECRET").ok_or_else(|| {
            ConfigError::new(
                "MOTCUA_OAUTH_CLIENT_SECRET",
                "is required with MOTCUA_OAUTH_TOKEN_URL",
            )
        })?;
        let http = crate::client::client(Duration::from_secs(10))
            .map_err(|e| ConfigError::new("MOTCUA_OAUTH_TOKEN_URL", e.to_string()))?;
        Ok(Some(Self {
            token_url: url.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            scope: v.raw("MOTCUA_OAUTH_SCOPE").map(str::to_owned),
            http,
            held: Mutex::new(None),
        }))
    }

    /// The token held while it is fresh, else a new one from the provider.
    pub async fn token(&self) -> Option<SecretString> {
        let mut held = self.held.lock().await;
        if let Some((token, renew_at, _)) = held.as_ref()
            && Instant::now() < *renew_at
        {
            return Some(token.clone());
        }
        match self.fetch().await {
            Ok((token, lifetime)) => {
                let now = Instant::now();
                *held = Some((token.clone(), now + lifetime.mul_f64(0.8), now + lifetime));
                Some(token)
            }
            Err(e) => {
                metrics::counter!("motcua_oauth_token_failures_total").increment(1);
                tracing::warn!(url = %self.token_url, error = %e, "cannot get a token from the identity provider; calls go without one until it answers");
                // A token not yet expired is still worth sending.
                held.as_ref()
                    .filter(|(_, _, expires_at)| Instant::now() < *expires_at)
                    .map(|(t, _, _)| t.clone())
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<(SecretString, Duration)> {
        #[derive(serde::Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: Option<u64>,
        }
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(&self.token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form)?)
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "the provider answered {status}");
        let answer: Answer = serde_json::from_slice(&response.bytes().await?)?;
        // Without expires_in, a minute; never less than two seconds between fetches, whatever a
        // provider says.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60).max(2));
        Ok((SecretString::from(answer.access_token), lifetime))
    }
}
