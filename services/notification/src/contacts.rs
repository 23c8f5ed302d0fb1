//! Applicants' phone and e-mail: written from `submitted`, read when sending, erased
//! MOTCUA_CONTACT_RETENTION_DAYS after the dossier ends (by the service's clock).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};

/// Where to reach an applicant, as far as is still known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub erased: bool,
    /// `submitted` has been read (the row may exist before, made by an end read out of order).
    pub submitted: bool,
}

/// Records the contacts from `submitted` events, `(code, phone, email)` in stream order (the first
/// one of a dossier wins: a redelivery changes nothing; a row an earlier-read end made is filled
/// in unless already erased), in one statement.
pub async fn record(
    conn: &mut PgConnection,
    given: &[(String, String, String)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let or_null = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    // One row per dossier, the first: ON CONFLICT DO UPDATE may touch a row once per statement.
    let mut seen = std::collections::HashSet::new();
    let (mut codes, mut phones, mut emails) = (Vec::new(), Vec::new(), Vec::new());
    for (code, phone, email) in given {
        if seen.insert(code.as_str()) {
            codes.push(code.as_str());
            phones.push(or_null(phone));
            emails.push(or_null(email));
        }
    }
    if codes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO contacts (dossier_code, phone, email, created_at, submitted)
         SELECT c, p, e, $4, true FROM unnest($1::text[], $2::text[], $3::text[]) AS u(c, p, e)
         ON CONFLICT (dossier_code) DO UPDATE SET phone = EXCLUDED.phone, email = EXCLUDED.email, submitted = true
         WHERE NOT contacts.submitted AND contacts.erased_at IS NULL",
    )
    .bind(&codes)
    .bind(&phones)
    .bind(&emails)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The dossier ended at `at`: its contact goes after the retention time (the first end counts).
pub async fn ended(
    conn: &mut PgConnection,
    code: &str,
    erase_after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    // An end that arrives before `submitted` (several relays) still sets the time: the row is
    // created empty and `record` fills it in, so nothing is kept longer.
    sqlx::query(
        "INSERT INTO contacts (dossier_code, created_at, erase_after) VALUES ($1, $3, $2)
         ON CONFLICT (dossier_code) DO UPDATE SET erase_after = coalesce(contacts.erase_after, EXCLUDED.erase_after)",
    )
    .bind(code)
    .bind(erase_after)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The contact of a dossier; None when `submitted` has not been handled yet.
pub async fn get(conn: &mut PgConnection, code: &str) -> sqlx::Result<Option<Contact>> {
    let row = sqlx::query(
        "SELECT phone, email, erased_at, submitted FROM contacts WHERE dossier_code = $1",
    )
    .bind(code)
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(contact))
}

/// The contacts of `codes` that exist (see [`get`]), in one statement.
pub async fn get_many(
    conn: &mut PgConnection,
    codes: &[&str],
) -> sqlx::Result<std::collections::HashMap<String, Contact>> {
    let rows = sqlx::query(
        "SELECT dossier_code, phone, email, erased_at, submitted FROM contacts
         WHERE dossier_code = ANY($1)",
    )
    .bind(codes)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("dossier_code"), contact(r)))
        .collect())
}

fn contact(r: &sqlx::postgres::PgRow) -> Contact {
    Contact {
        phone: r.get("phone"),
        email: r.get("email"),
        erased: r.get::<Option<DateTime<Utc>>, _>("erased_at").is_some(),
        submitted: r.get("submitted"),
    }
}

/// Erases every contact whose time has come; returns how many.
pub async fn erase_due(pool: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "UPDATE contacts SET phone = NULL, email = NULL, erased_at = $1
         WHERE erased_at IS NULL AND erase_after <= $1",
    )
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    if n > 0 {
        tracing::info!(
            contacts = n,
            "erased applicants' contacts past their retention"
        );
        metrics::counter!("motcua_notification_contacts_erased_total").increment(n);
    }
    Ok(n)
}
