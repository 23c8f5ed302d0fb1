//! Webhook subscriptions and their secrets. A subscription belongs to a scope — one agency, or a
//! province (made by a province admin) — and receives only the events of that scope's dossiers
//! ([`crate::consume`]); an admin sees, rotates and deletes only the subscriptions their own scope
//! contains (a province's only its province's admin). Targets are checked by [`crate::targets`].

use crate::deliveries::Seen;
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
    pub scope: Scope,
}

/// Whose events a subscription receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Agency(String),
    Province(String),
}

/// `sql` with `{contains}` replaced by the condition "the caller (own agency `$a`, province
/// `$p`, the parameters numbered `a` and `p`) contains the subscription `s`'s scope": an agency it
/// covers, or the province it is the admin of. The text is this module's own, never input.
fn contains(sql: &'static str, a: u8, p: u8) -> sqlx::AssertSqlSafe<String> {
    let condition = format!(
        "((s.agency IS NOT NULL AND motcua_covers(s.agency, ${a}, ${p}))
          OR (s.province IS NOT NULL AND s.province = ${p}))"
    );
    sqlx::AssertSqlSafe(sql.replace("{contains}", &condition))
}

pub async fn create(
    conn: &mut PgConnection,
    url: &str,
    description: &str,
    triggers: &[String],
    scope: &Scope,
    now: DateTime<Utc>,
) -> sqlx::Result<(Subscription, Secret)> {
    let id = Uuid::now_v7();
    let secret = Secret::generate();
    let (agency, province) = match scope {
        Scope::Agency(a) => (Some(a.as_str()), None),
        Scope::Province(p) => (None, Some(p.as_str())),
    };
    sqlx::query(
        "INSERT INTO subscriptions (id, url, description, triggers, created_at, agency, province)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(url)
    .bind(description)
    .bind(triggers)
    .bind(now)
    .bind(agency)
    .bind(province)
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
            scope: scope.clone(),
        },
        secret,
    ))
}

/// A new secret; the ones in force keep signing until `now + overlap`. None when the caller
/// sees no such live subscription.
pub async fn rotate(
    conn: &mut PgConnection,
    id: Uuid,
    seen: Seen<'_>,
    overlap: chrono::Duration,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Secret>> {
    let live: bool = sqlx::query_scalar(contains(
        "SELECT EXISTS (SELECT 1 FROM subscriptions s
         WHERE id = $1 AND deleted_at IS NULL AND {contains} FOR UPDATE)",
        2,
        3,
    ))
    .bind(id)
    .bind(seen.agency)
    .bind(seen.province)
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

/// Deletes a subscription the caller sees; its secrets go at once (its row stays for the
/// deliveries that name it, until the retention prunes it). Whether there was one.
pub async fn delete(
    pool: &PgPool,
    id: Uuid,
    seen: Seen<'_>,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    let gone = sqlx::query(contains(
        "UPDATE subscriptions s SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL AND {contains}",
        3,
        4,
    ))
    .bind(id)
    .bind(now)
    .bind(seen.agency)
    .bind(seen.province)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if gone {
        sqlx::query("DELETE FROM subscription_secrets WHERE subscription_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(gone)
}

/// Live subscriptions the caller sees (only those receiving `agency`'s events, when given), with
/// the number of secrets in force at `now`.
pub async fn list(
    conn: &mut PgConnection,
    seen: Seen<'_>,
    agency: Option<&str>,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<Subscription>> {
    let rows = sqlx::query(contains(
        "SELECT s.id, s.url, s.description, s.triggers, s.created_at, s.agency, s.province,
                (SELECT count(*) FROM subscription_secrets k
                  WHERE k.subscription_id = s.id AND (k.expires_at IS NULL OR k.expires_at > $1)) AS secrets
         FROM subscriptions s
         WHERE s.deleted_at IS NULL AND {contains}
           AND ($4::text IS NULL OR s.agency = $4 OR s.province = $5)
         ORDER BY s.created_at",
        2,
        3,
    ))
    .bind(now)
    .bind(seen.agency)
    .bind(seen.province)
    .bind(agency)
    .bind(agency.map(motcua_platform::auth::province_of))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let scope = match (
                r.get::<Option<String>, _>("agency"),
                r.get::<Option<String>, _>("province"),
            ) {
                (Some(a), _) => Scope::Agency(a),
                (None, Some(p)) => Scope::Province(p),
                (None, None) => return None,
            };
            Some(Subscription {
                id: r.get("id"),
                url: r.get("url"),
                description: r.get("description"),
                triggers: r.get("triggers"),
                secrets: u32::try_from(r.get::<i64, _>("secrets")).unwrap_or(0),
                created_at: r.get("created_at"),
                scope,
            })
        })
        .collect())
}

/// Live subscriptions made before subscriptions had a scope (migration 0002): they name no agency,
/// so they receive nothing and no admin sees them. Nothing says whose they were; the operator is
/// told (a health detail and a warning at start) to have the integrator's admin create them again.
pub async fn unscoped(pool: &PgPool) -> sqlx::Result<Vec<(Uuid, String)>> {
    sqlx::query_as(
        "SELECT id, url FROM subscriptions
         WHERE deleted_at IS NULL AND agency IS NULL AND province IS NULL ORDER BY created_at",
    )
    .fetch_all(pool)
    .await
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
