//! The dashboard's sessions (migrations 0002, 0003): the cookie carries 32 random bytes,
//! reporting's database the caller who signed in — with their scope: a province admin's province
//! — under the bytes' SHA-256.
//!
//! The bearer token a leader signs in with is kept nowhere: it would open every API the token
//! does for as long as it is valid, to whoever copied the cookie. A session opens only this
//! dashboard, ends after [`SESSION`] or when the token would have expired (whichever is first), and
//! signing out ends it on every replica at once.

use chrono::{DateTime, Utc};
use motcua_platform::auth::{Caller, Role};
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::time::Duration;

/// Longest a session lasts (a working day).
pub const SESSION: Duration = Duration::from_secs(8 * 3600);

fn digest(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

/// Opens a session for `caller` at `now`; returns the cookie's value and how long it lasts.
pub async fn open(
    pool: &PgPool,
    caller: &Caller,
    now: DateTime<Utc>,
) -> sqlx::Result<(String, Duration)> {
    let id = hex::encode(rand::rng().random::<[u8; 32]>());
    let token_ends = DateTime::from_timestamp(caller.expires_at, 0).unwrap_or(now);
    let ends = (now + SESSION).min(token_ends);
    let roles: Vec<&str> = caller.roles.iter().map(|r| r.as_str()).collect();
    // Ended sessions are pruned by crate::retention.
    sqlx::query(
        "INSERT INTO dashboard_sessions
           (id_sha256, subject, name, agency, department, roles, created_at, expires_at, province)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(digest(&id))
    .bind(&caller.subject)
    .bind(&caller.name)
    .bind(&caller.agency)
    .bind(&caller.department)
    .bind(&roles)
    .bind(now)
    .bind(ends)
    .bind(caller.province_scope())
    .execute(pool)
    .await?;
    Ok((id, (ends - now).to_std().unwrap_or_default()))
}

/// The caller of the session `id`, if it is open at `now`.
pub async fn find(pool: &PgPool, id: &str, now: DateTime<Utc>) -> sqlx::Result<Option<Caller>> {
    // Not our shape: no query.
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row: Option<Stored> = sqlx::query_as(
        "SELECT subject, name, agency, department, roles, expires_at, province
         FROM dashboard_sessions WHERE id_sha256 = $1 AND expires_at > $2",
    )
    .bind(digest(id))
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Caller {
        subject: r.subject,
        name: r.name,
        agency: r.agency,
        department: r.department,
        roles: r.roles.iter().filter_map(|x| Role::parse(x)).collect(),
        // A province admin's scope, as their token gave it (checked when they signed in).
        province: r.province,
        expires_at: r.expires_at.timestamp(),
    }))
}

/// A session's row.
#[derive(sqlx::FromRow)]
struct Stored {
    subject: String,
    name: String,
    agency: String,
    department: String,
    roles: Vec<String>,
    expires_at: DateTime<Utc>,
    province: Option<String>,
}

/// Ends the session `id` (nothing if there is none).
pub async fn close(pool: &PgPool, id: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE id_sha256 = $1")
        .bind(digest(id))
        .execute(pool)
        .await?;
    Ok(())
}
