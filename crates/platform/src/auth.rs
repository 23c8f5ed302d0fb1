//! Bearer-JWT authentication and roles (DESIGN.md "Identity").
//!
//! Officers and integrating systems call with `authorization: Bearer <jwt>`. The token names the
//! subject, a display name, the agency and the roles. Development uses a static HS256 key; a
//! production identity provider's keys come from a JWKS document (mounted as a file from a secret
//! or config map, re-read on start). Each RPC states the roles it accepts with [`Caller::require`].

use crate::config::AuthSettings;
use crate::error::ServiceError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// One-stop desk officer: receives dossiers, returns results.
    Desk,
    /// Specialist of a department: processes steps.
    Specialist,
    /// Leader: approves, signs, watches queues.
    Leader,
    /// Manages the catalog and templates.
    Admin,
    /// Another government system calling on a citizen's behalf.
    Integration,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "desk" => Some(Role::Desk),
            "specialist" => Some(Role::Specialist),
            "leader" => Some(Role::Leader),
            "admin" => Some(Role::Admin),
            "integration" => Some(Role::Integration),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Desk => "desk",
            Role::Specialist => "specialist",
            Role::Leader => "leader",
            Role::Admin => "admin",
            Role::Integration => "integration",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The claims motcua reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub name: String,
    pub agency: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub name: String,
    pub agency: String,
    pub roles: Vec<Role>,
}

impl Caller {
    /// Refuses with PERMISSION_DENIED unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ServiceError> {
        if self.roles.iter().any(|r| roles.contains(r)) {
            return Ok(());
        }
        let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ServiceError::PermissionDenied(format!(
            "cần vai trò {} (this call needs role {})",
            wanted.join(" hoặc "),
            wanted.join(" or ")
        )))
    }

    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

type Keys = Vec<(Option<String>, DecodingKey, Algorithm)>;

/// Checks tokens. Cheap to clone.
///
/// With a JWKS URL the keys are fetched when the service becomes ready and refreshed every ten
/// minutes; a token whose key id is unknown wakes a refresh (at most one every 30 s), so a key
/// rotated in by the identity provider is picked up without a restart.
#[derive(Clone)]
pub struct Verifier {
    keys: Arc<std::sync::RwLock<Keys>>,
    jwks_url: Option<String>,
    refresh: Arc<tokio::sync::Notify>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks_url", &self.jwks_url)
            .finish()
    }
}

fn keys_from_jwks(set: &JwkSet) -> anyhow::Result<Keys> {
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let alg = match jwk.common.key_algorithm.map(|a| a.to_string()) {
            Some(a) => a.parse::<Algorithm>()?,
            None => Algorithm::RS256,
        };
        keys.push((jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)?, alg));
    }
    Ok(keys)
}

impl Verifier {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let (keys, jwks_url) = match settings {
            AuthSettings::StaticKey { secret } => (
                vec![(
                    None,
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )],
                None,
            ),
            AuthSettings::JwksFile { path } => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("MOTCUA_JWT_JWKS_FILE {}: {e}", path.display()))?;
                let set: JwkSet = serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("MOTCUA_JWT_JWKS_FILE {}: {e}", path.display()))?;
                (keys_from_jwks(&set)?, None)
            }
            AuthSettings::JwksUrl { url } => (Vec::new(), Some(url.clone())),
        };
        Ok(Self {
            keys: Arc::new(std::sync::RwLock::new(keys)),
            jwks_url,
            refresh: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// True when keys come from a JWKS URL (they must be fetched before the service is ready).
    pub fn needs_fetch(&self) -> bool {
        self.jwks_url.is_some()
    }

    /// Fetches the JWKS document and replaces the keys (no-op without a URL).
    pub async fn fetch(&self) -> anyhow::Result<()> {
        let Some(url) = self.jwks_url.clone() else {
            return Ok(());
        };
        let body = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(std::time::Duration::from_secs(10)))
                .build()
                .new_agent();
            Ok(agent.get(&url).call()?.body_mut().read_to_string()?)
        })
        .await??;
        let set: JwkSet =
            serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("JWKS document: {e}"))?;
        let keys = keys_from_jwks(&set)?;
        anyhow::ensure!(!keys.is_empty(), "the JWKS document has no keys");
        tracing::info!(keys = keys.len(), "token keys loaded from JWKS");
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
        Ok(())
    }

    /// Keeps JWKS keys fresh until `stop`: every ten minutes, and soon after an unknown key id.
    pub async fn refresh_loop(self, stop: tokio_util::sync::CancellationToken) {
        if self.jwks_url.is_none() {
            return;
        }
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
                _ = self.refresh.notified() => {}
            }
            if let Err(e) = self.fetch().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "refreshing token keys failed; keeping the old ones"
                );
            }
            // At most one refresh every 30 s, however many unknown key ids arrive.
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            }
        }
    }

    /// Validates `authorization` metadata into a caller. Errors are UNAUTHENTICATED.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Caller, ServiceError> {
        let unauth = |m: &str| ServiceError::Unauthenticated(m.to_owned());
        let header = header.ok_or_else(|| {
            unauth("thiếu mã xác thực: gửi 'authorization: Bearer <token>' (missing bearer token)")
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| unauth("mã xác thực phải có dạng 'Bearer <token>' (authorization must be 'Bearer <token>')"))?;
        let kid = jsonwebtoken::decode_header(token)
            .map_err(|_| unauth("mã xác thực không đọc được (malformed token)"))?
            .kid;
        let mut last = None;
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        if kid.is_some() && !keys.iter().any(|(id, _, _)| id.is_none() || id == &kid) {
            // A key we have not seen: perhaps rotated in at the identity provider.
            self.refresh.notify_one();
        }
        for (key_id, key, alg) in keys.iter() {
            if key_id.is_some() && kid.is_some() && key_id != &kid {
                continue;
            }
            let mut validation = Validation::new(*alg);
            validation.leeway = 30;
            validation.set_required_spec_claims(&["exp", "sub"]);
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    let c = data.claims;
                    if c.agency.trim().is_empty() {
                        return Err(unauth("mã xác thực thiếu cơ quan (token has no agency)"));
                    }
                    return Ok(Caller {
                        subject: c.sub,
                        name: c.name,
                        agency: c.agency,
                        roles: c.roles,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        use jsonwebtoken::errors::ErrorKind;
        Err(match last.as_ref().map(|e| e.kind()) {
            Some(ErrorKind::ExpiredSignature) => unauth("mã xác thực đã hết hạn (token expired)"),
            Some(ErrorKind::InvalidSignature) => {
                unauth("chữ ký mã xác thực không hợp lệ (bad signature)")
            }
            _ => unauth("mã xác thực không hợp lệ (invalid token)"),
        })
    }
}

/// Mints an HS256 token with the given secret (the `motcua token` command and tests).
pub fn mint(secret: &str, claims: &Claims) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// A tonic interceptor that authenticates every call and stores the [`Caller`] in the request's
/// extensions. Health and reflection are mounted outside it.
pub fn interceptor(
    verifier: Verifier,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |mut req: tonic::Request<()>| {
        let header = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        let caller = verifier.verify_header(header)?;
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

/// The caller of a request that went through [`interceptor`].
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, ServiceError> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ServiceError::Unauthenticated("chưa xác thực (not authenticated)".into()))
}
