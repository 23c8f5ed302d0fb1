//! Bearer-JWT authentication and roles (DESIGN.md "Identity").
//!
//! Officers and integrating systems call with `authorization: Bearer <jwt>`. The token names the
//! subject, a display name, the agency and the roles. Development uses a static HS256 key; a
//! production identity provider's keys come from its JWKS (a URL, fetched before the service is
//! ready and refreshed, or a mounted file). Each RPC states the roles it accepts with
//! [`Caller::require`].
//!
//! Real identity providers (Keycloak, the national VNeID-based SSO, Azure AD) publish more than
//! signing keys: a JWKS with an encryption key (`"use": "enc"`, `"alg": "RSA-OAEP"`) or a key type
//! this library cannot read has those keys skipped with a warning, never the whole set refused.
//! Their tokens carry `iss` and `aud`: MOTCUA_JWT_ISSUER and MOTCUA_JWT_AUDIENCE make them required;
//! unset, they are not checked (a token with an `aud` is then accepted whatever it says).

use crate::config::{AuthSettings, KeySource};
use crate::error::ServiceError;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub name: String,
    pub agency: String,
    /// The officer's department (phòng chuyên môn) in the agency, if any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub department: String,
    #[serde(default)]
    pub roles: Vec<Role>,
    /// A province-wide caller's province: the last group of every agency code of the province
    /// (`H56` in `000.00.06.H56`). Honoured only with role `admin` (a province admin) or
    /// `integration` (the provincial portal, which files for any agency of its province), and
    /// only for the province of the token's own agency; see [`Caller::covers`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub province: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// A string or a list, as RFC 7519 allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    pub name: String,
    pub agency: String,
    /// Empty when the token names none.
    pub department: String,
    pub roles: Vec<Role>,
    /// Set for a province admin or the province's portal: the province group (`H56`) whose
    /// agencies the caller covers.
    pub province: Option<String>,
    /// When the token stops being valid (Unix seconds): a session opened with it ends by then.
    pub expires_at: i64,
}

/// The province an agency code belongs to: its last group (`H56` in `000.00.06.H56`), as the
/// national agency-code scheme (QĐ 20/2020/QĐ-TTg) places it.
pub fn province_of(agency: &str) -> &str {
    agency.rsplit('.').next().unwrap_or(agency)
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

    /// Whether the caller's scope covers `agency` (DESIGN.md "Identity"): every officer, leader,
    /// agency admin and integrating system covers their own agency only; a province admin or the
    /// province's portal (claim `province`) every agency of that province. Nobody covers another
    /// province. Every read and write of a
    /// service asks this (or filters its SQL by [`Caller::province_scope`]) before it touches a
    /// dossier, a delivery, a subscription or a report.
    pub fn covers(&self, agency: &str) -> bool {
        agency == self.agency
            || self
                .province
                .as_deref()
                .is_some_and(|p| province_of(agency) == p)
    }

    /// Refuses with PERMISSION_DENIED unless the caller covers `agency`.
    pub fn require_scope(&self, agency: &str) -> Result<(), ServiceError> {
        if self.covers(agency) {
            return Ok(());
        }
        Err(ServiceError::PermissionDenied(format!(
            "cơ quan {} ngoài phạm vi của bạn ({}) (agency outside the caller's scope)",
            crate::text::quote(agency),
            self.agency
        )))
    }

    /// For SQL filters: the province whose agencies the caller covers besides its own, if any
    /// (`agency = $own OR ($province IS NOT NULL AND agency LIKE '%.' || $province)`).
    pub fn province_scope(&self) -> Option<&str> {
        self.province.as_deref()
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
    issuer: Option<String>,
    audience: Option<String>,
    refresh: Arc<tokio::sync::Notify>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// The signature algorithm a JWK is for, or None when it is not a signing key we can use.
fn signing_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    match jwk.common.key_algorithm {
        Some(
            KeyAlgorithm::RSA1_5
            | KeyAlgorithm::RSA_OAEP
            | KeyAlgorithm::RSA_OAEP_256
            | KeyAlgorithm::UNKNOWN_ALGORITHM,
        ) => None,
        Some(a) => Algorithm::from_str(&a.to_string()).ok(),
        None => match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => Some(Algorithm::ES256),
                EllipticCurve::P384 => Some(Algorithm::ES384),
                _ => None,
            },
            AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
            _ => None,
        },
    }
}

/// The signing keys of a JWKS document; other keys are skipped with a warning.
pub fn keys_from_jwks(document: &str) -> anyhow::Result<Keys> {
    let doc: serde_json::Value =
        serde_json::from_str(document).map_err(|e| anyhow::anyhow!("JWKS is not JSON: {e}"))?;
    let list = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| anyhow::anyhow!("JWKS has no \"keys\" list"))?;
    let mut keys = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let kid = raw.get("kid").and_then(|k| k.as_str()).unwrap_or("?");
        let jwk: Jwk = match serde_json::from_value(raw.clone()) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::warn!(key = i, kid, error = %e, "JWKS: skipping a key this service cannot read");
                continue;
            }
        };
        let Some(alg) = signing_algorithm(&jwk) else {
            tracing::info!(kid, "JWKS: skipping a key that is not for signatures");
            continue;
        };
        match DecodingKey::from_jwk(&jwk) {
            Ok(key) => keys.push((jwk.common.key_id.clone(), key, alg)),
            Err(e) => {
                tracing::warn!(kid, error = %e, "JWKS: skipping a key that does not load")
            }
        }
    }
    anyhow::ensure!(
        !keys.is_empty(),
        "the JWKS has no signing key this service can use"
    );
    Ok(keys)
}

impl Verifier {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let (keys, jwks_url) = match &settings.keys {
            KeySource::StaticKey { secret } => (
                vec![(
                    None,
                    DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                    Algorithm::HS256,
                )],
                None,
            ),
            KeySource::JwksFile { path } => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("MOTCUA_JWT_JWKS_FILE {}: {e}", path.display()))?;
                let keys = keys_from_jwks(&text)
                    .map_err(|e| anyhow::anyhow!("MOTCUA_JWT_JWKS_FILE {}: {e}", path.display()))?;
                (keys, None)
            }
            KeySource::JwksUrl { url } => (Vec::new(), Some(url.clone())),
        };
        Ok(Self {
            keys: Arc::new(std::sync::RwLock::new(keys)),
            jwks_url,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            refresh: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// True when keys come from a JWKS URL (they must be fetched before the service is ready).
    pub fn needs_fetch(&self) -> bool {
        self.jwks_url.is_some()
    }

    /// Fetches the JWKS document and replaces the keys (no-op without a URL).
    pub async fn fetch(&self) -> anyhow::Result<()> {
        let Some(url) = self.jwks_url.as_deref() else {
            return Ok(());
        };
        let body = crate::client::client(std::time::Duration::from_secs(10))?
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        let keys = keys_from_jwks(&body)?;
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

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = 30;
        let mut required = vec!["exp", "sub"];
        match &self.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.push("aud");
            }
            // No audience configured: an `aud` in the token is not ours to judge.
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        v
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
            match jsonwebtoken::decode::<Claims>(token, key, &self.validation(*alg)) {
                Ok(data) => {
                    let c = data.claims;
                    if c.agency.trim().is_empty() {
                        return Err(unauth("mã xác thực thiếu cơ quan (token has no agency)"));
                    }
                    let province = province_claim(&c)?;
                    return Ok(Caller {
                        subject: c.sub,
                        name: c.name,
                        agency: c.agency,
                        department: c.department,
                        roles: c.roles,
                        province,
                        expires_at: c.exp,
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
            Some(ErrorKind::InvalidIssuer) => {
                unauth("mã xác thực do nơi khác cấp (token issuer is not the configured one)")
            }
            Some(ErrorKind::InvalidAudience) => unauth(
                "mã xác thực không dành cho dịch vụ này (token audience is not this service)",
            ),
            Some(ErrorKind::MissingRequiredClaim(claim)) => ServiceError::Unauthenticated(format!(
                "mã xác thực thiếu trường {claim} (token lacks the {claim} claim)"
            )),
            _ => unauth("mã xác thực không hợp lệ (invalid token)"),
        })
    }
}

/// The province a token's `province` claim grants: only to an admin or an integrating system, and
/// only the province of the token's own agency; anything else is a token to refuse, not a scope
/// to shrink silently.
fn province_claim(c: &Claims) -> Result<Option<String>, ServiceError> {
    let claim = c.province.trim();
    if claim.is_empty() {
        return Ok(None);
    }
    if !c.roles.contains(&Role::Admin) && !c.roles.contains(&Role::Integration) {
        return Err(ServiceError::Unauthenticated(
            "trường province chỉ dành cho quản trị cấp tỉnh hoặc hệ thống liên thông (the province claim needs role admin or integration)"
                .into(),
        ));
    }
    // An admin's province is its own agency's. An integrating system's may be another: the
    // national portal (an agency of its own, e.g. 000.00.00.G22) is given one province's scope
    // by that province's identity provider.
    if claim != province_of(&c.agency) && !c.roles.contains(&Role::Integration) {
        return Err(ServiceError::Unauthenticated(format!(
            "trường province {} không phải tỉnh của cơ quan {} (the province claim must name the token agency's province)",
            crate::text::quote(claim),
            c.agency
        )));
    }
    Ok(Some(claim.to_owned()))
}

/// Mints an HS256 token with the given secret (the `motcua token` command and tests).
pub fn mint(secret: &str, claims: &Claims) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// The caller of a request that went through the host's authenticating interceptor.
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, ServiceError> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ServiceError::Unauthenticated("chưa xác thực (not authenticated)".into()))
}

pub mod outgoing;

#[cfg(test)]
mod tests;
