//! Webhook subscriptions and their secrets.

use crate::webhook_sign::Secret;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub triggers: Vec<String>,
    pub secrets: u32,
    pub created_at: DateTime<Utc>,
}

/// Checks a receiver's URL: https, or http on loopback (development and tests).
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("url {url:?}: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "url {url:?} must be https (http only on loopback, for development)"
        )),
    }
}

pub async fn create(
    conn: &mut PgConnection,
    url: &str,
    description: &str,
    triggers: &[String],
    now: DateTime<Utc>,
) -> sqlx::Result<(Subscription, Secret)> {
    let id = Uuid::now_v7();
    let secret = Secret::generate();
    sqlx::query(
        "INSERT INTO subscriptions (id, url, description, triggers, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(url)
    .bind(description)
    .bind(triggers)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO subscription_secrets (subscription_id, created_at, secret) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(now)
    .bind(secret.to_whsec())
    .execute(&mut *conn)
    .await?;
    Ok((
        Subscription {
            id,
            url: url.into(),
            description: description.into(),
            triggers: triggers.to_vec(),
            secrets: 1,
            created_at: now,
        },
        secret,
    ))
}

/// A new secret; the ones in force keep signing until `now + overlap`.
pub async fn rotate(
    conn: &mut PgConnection,
    id: Uuid,
    overlap: chrono::Duration,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Secret>> {
    let live: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM subscriptions WHERE id = $1 AND deleted_at IS NULL FOR UPDATE)",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if !live {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE subscription_secrets SET expires_at = least(coalesce(expires_at, $2), $2)
         WHERE subscription_id = $1",
    )
    .bind(id)
    .bind(now + overlap)
    .execute(&mut *conn)
    .await?;
    let secret = Secret::generate();
    sqlx::query(
        "INSERT INTO subscription_secrets (subscription_id, created_at, secret) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(now)
    .bind(secret.to_whsec())
    .execute(&mut *conn)
    .await?;
    Ok(Some(secret))
}

pub async fn delete(pool: &PgPool, id: Uuid, now: DateTime<Utc>) -> sqlx::Result<bool> {
    Ok(
        sqlx::query(
            "UPDATE subscriptions SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
            == 1,
    )
}

/// Live subscriptions, with the number of secrets in force at `now`.
pub async fn list(conn: &mut PgConnection, now: DateTime<Utc>) -> sqlx::Result<Vec<Subscription>> {
    let rows = sqlx::query(
        "SELECT s.id, s.url, s.description, s.triggers, s.created_at,
                (SELECT count(*) FROM subscription_secrets k
                  WHERE k.subscription_id = s.id AND (k.expires_at IS NULL OR k.expires_at > $1)) AS secrets
         FROM subscriptions s WHERE s.deleted_at IS NULL ORDER BY s.created_at",
    )
    .bind(now)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Subscription {
            id: r.get("id"),
            url: r.get("url"),
            description: r.get("description"),
            triggers: r.get("triggers"),
            secrets: u32::try_from(r.get::<i64, _>("secrets")).unwrap_or(0),
            created_at: r.get("created_at"),
        })
        .collect())
}

/// A live subscription's URL and the secrets in force (oldest first), for sending.
pub async fn for_sending(
    pool: &PgPool,
    id: Uuid,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(String, Vec<Secret>)>> {
    let Some(url) = sqlx::query_scalar::<_, String>(
        "SELECT url FROM subscriptions WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let secrets: Vec<String> = sqlx::query_scalar(
        "SELECT secret FROM subscription_secrets
         WHERE subscription_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at, expires_at NULLS LAST",
    )
    .bind(id)
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(Some((
        url,
        secrets
            .iter()
            .filter_map(|s| Secret::parse(s).ok())
            .collect(),
    )))
}
