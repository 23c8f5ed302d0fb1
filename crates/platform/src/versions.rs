//! "Apply if newer": each dossier's events carry a version (DESIGN.md §3), events arrive out of
//! order and more than once, and a projection must end with the newest state whatever the order.

use sqlx::PgConnection;

/// Records that `projection` holds `version` of `key` when that is newer than what it held, in the
/// caller's transaction. True: the event is newer, apply it. False: it is older or the same
/// version again, skip it. Concurrent appliers of one key serialise on its row.
pub async fn claim(
    tx: &mut PgConnection,
    projection: &str,
    key: &str,
    version: u64,
) -> sqlx::Result<bool> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    Ok(sqlx::query(
        "INSERT INTO projection_versions (projection, key, version) VALUES ($1, $2, $3)
         ON CONFLICT (projection, key) DO UPDATE SET version = EXCLUDED.version
         WHERE projection_versions.version < EXCLUDED.version",
    )
    .bind(projection)
    .bind(key)
    .bind(version)
    .execute(tx)
    .await?
    .rows_affected()
        == 1)
}

/// The version `projection` holds for `key`, if any.
pub async fn current(
    tx: &mut PgConnection,
    projection: &str,
    key: &str,
) -> sqlx::Result<Option<u64>> {
    let v: Option<i64> = sqlx::query_scalar(
        "SELECT version FROM projection_versions WHERE projection = $1 AND key = $2",
    )
    .bind(projection)
    .bind(key)
    .fetch_optional(tx)
    .await?;
    Ok(v.map(|v| v.max(0) as u64))
}

/// Forgets everything `projection` applied (before rebuilding it from the stream).
pub async fn reset(tx: &mut PgConnection, projection: &str) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM projection_versions WHERE projection = $1")
            .bind(projection)
            .execute(tx)
            .await?
            .rows_affected(),
    )
}
