//! Applicants' phones and e-mails (personal data, Nghị định 13/2023): intake holds them, in the
//! dossier's row and receipt, and no event carries them (DESIGN.md "Secrets and personal data in
//! events"); notification asks for them with GetApplicantContacts. Both erase them
//! MOTCUA_CONTACT_RETENTION_DAYS after the dossier ended, by the service's clock: here the row's
//! phone and the receipt's phone and e-mail are blanked and the erasure recorded.

use chrono::{DateTime, Utc};
use motcua_platform::CancellationToken;
use motcua_platform::SharedClock;
use motcua_proto::intake::Receipt;
use prost::Message;
use sqlx::{PgPool, Row};

/// How many dossiers one pass erases at most (each is a small update; the next pass goes on).
const BATCH: i64 = 500;

/// The receipt without its applicant's phone and e-mail.
pub fn without_contacts(mut receipt: Receipt) -> Receipt {
    if let Some(a) = receipt.applicant.as_mut() {
        a.phone.clear();
        a.email.clear();
    }
    receipt
}

/// Erases the contacts of dossiers that ended before `ended_before`; how many.
pub async fn erase_due(
    pool: &PgPool,
    ended_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query(
        "SELECT code, receipt FROM dossiers
         WHERE contacts_erased_at IS NULL AND ended_at < $1
         ORDER BY ended_at LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(ended_before)
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let code: String = row.get("code");
        let receipt = Receipt::decode(row.get::<&[u8], _>("receipt")).unwrap_or_default();
        sqlx::query(
            "UPDATE dossiers SET applicant_phone = '', receipt = $2, contacts_erased_at = $3
             WHERE code = $1",
        )
        .bind(&code)
        .bind(without_contacts(receipt).encode_to_vec())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let n = rows.len() as u64;
    if n > 0 {
        tracing::info!(
            dossiers = n,
            "erased applicants' contacts past their retention"
        );
        metrics::counter!("motcua_intake_contacts_erased_total").increment(n);
    }
    Ok(n)
}

/// Erases due contacts every hour of the service's clock until `stop`.
pub async fn erase_forever(
    pool: PgPool,
    clock: SharedClock,
    retention: chrono::Duration,
    stop: CancellationToken,
) {
    loop {
        let now = clock.now();
        match erase_due(&pool, now - retention, now).await {
            // A full batch: more may be due at once.
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "contact erasure: cannot reach the database; will retry")
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = clock.sleep_until(now + chrono::Duration::hours(1)) => {}
        }
    }
}
