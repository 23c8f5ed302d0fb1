//! Rows written before a migration that SQL alone cannot bring up to date, brought up to date in
//! Rust at start, in small batches (one short transaction each, no lock held across batches).
//!
//! - Migration 0003 gave every older dossier `lower(applicant_name)` as its folded name, which
//!   keeps the marks ("nguyễn văn an"): officers searching "nguyen van" would not find them. The
//!   names are folded here as [`motcua_domain::text::fold`] folds new ones.

use sqlx::PgPool;

const BATCH: i64 = 500;

/// Folds the names of dossiers written before the fold existed; returns how many changed. Visits
/// each candidate once (keyset by code), so a name the fold leaves as it was ends the loop.
pub async fn fold_old_names(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let mut after = String::new();
    let mut changed = 0;
    loop {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT code, applicant_name FROM dossiers
             WHERE code > $1 AND applicant_name_folded = lower(applicant_name)
               AND applicant_name ~ '[^[:ascii:]]'
             ORDER BY code LIMIT $2",
        )
        .bind(&after)
        .bind(BATCH)
        .fetch_all(pool)
        .await?;
        let Some((last, _)) = rows.last() else {
            return Ok(changed);
        };
        after = last.clone();
        let (codes, folded): (Vec<String>, Vec<String>) = rows
            .iter()
            .map(|(code, name)| (code.clone(), motcua_domain::text::fold(name)))
            .unzip();
        changed += sqlx::query(
            "UPDATE dossiers d SET applicant_name_folded = f.folded
             FROM unnest($1::text[], $2::text[]) AS f(code, folded)
             WHERE d.code = f.code AND d.applicant_name_folded <> f.folded",
        )
        .bind(&codes)
        .bind(&folded)
        .execute(pool)
        .await?
        .rows_affected();
    }
}
