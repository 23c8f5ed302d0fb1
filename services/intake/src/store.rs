//! Intake's SQL. Every statement binds its values; nothing a caller sends is spliced into SQL.

use chrono::{DateTime, NaiveDate, Utc};
use motcua_domain::time::ts;
use motcua_platform::ServiceError;
use motcua_proto::common::{DossierStatus, Procedure};
use motcua_proto::intake::{Attachment, Dossier, Receipt};
use prost::Message;
use sqlx::{PgConnection, PgExecutor, PgPool, Row};
use uuid::Uuid;

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, ServiceError> {
    M::decode(bytes)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored message does not decode: {e}")))
}

/// Whether a database error is a unique violation of the named constraint.
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") && d.constraint() == Some(constraint))
}

/// Publishes a procedure version: the next version number for its code.
pub async fn insert_procedure(
    conn: &mut PgConnection,
    p: &mut Procedure,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let effective = NaiveDate::parse_from_str(&p.effective_from, "%Y-%m-%d").map_err(|_| {
        ServiceError::InvalidArgument("effective_from phải có dạng YYYY-MM-DD".into())
    })?;
    // Serialise publications of one code so version numbers stay consecutive.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(&p.code)
        .execute(&mut *conn)
        .await?;
    let next: i32 =
        sqlx::query_scalar("SELECT COALESCE(max(version), 0) + 1 FROM procedures WHERE code = $1")
            .bind(&p.code)
            .fetch_one(&mut *conn)
            .await?;
    p.version = next as u32;
    p.published_by = by.to_owned();
    p.published_at = Some(ts(now));
    let result = sqlx::query(
        "INSERT INTO procedures (code, version, effective_from, field, competent_agency, body, published_at, published_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&p.code)
    .bind(next)
    .bind(effective)
    .bind(&p.field)
    .bind(&p.competent_agency)
    .bind(p.encode_to_vec())
    .bind(now)
    .bind(by)
    .execute(&mut *conn)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e, "procedures_code_effective_from_key") => {
            Err(ServiceError::AlreadyExists(format!(
                "thủ tục {} đã có phiên bản hiệu lực từ {} (a version effective from that day exists)",
                p.code, p.effective_from
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether a version with this code and effective date is already published.
pub async fn procedure_exists(
    conn: &mut PgConnection,
    code: &str,
    effective_from: NaiveDate,
) -> Result<bool, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM procedures WHERE code = $1 AND effective_from = $2)",
    )
    .bind(code)
    .bind(effective_from)
    .fetch_one(conn)
    .await?)
}

/// The version of a procedure in force on `day` (the latest effective on or before it).
pub async fn procedure_in_force(
    db: impl PgExecutor<'_>,
    code: &str,
    day: NaiveDate,
) -> Result<Option<Procedure>, ServiceError> {
    let row = sqlx::query(
        "SELECT body FROM procedures WHERE code = $1 AND effective_from <= $2 ORDER BY effective_from DESC LIMIT 1",
    )
    .bind(code)
    .bind(day)
    .fetch_optional(db)
    .await?;
    row.map(|r| decode(r.get::<&[u8], _>("body"))).transpose()
}

pub async fn procedure_version(
    db: impl PgExecutor<'_>,
    code: &str,
    version: u32,
) -> Result<Option<Procedure>, ServiceError> {
    let row = sqlx::query("SELECT body FROM procedures WHERE code = $1 AND version = $2")
        .bind(code)
        .bind(version as i32)
        .fetch_optional(db)
        .await?;
    row.map(|r| decode(r.get::<&[u8], _>("body"))).transpose()
}

/// Versions in force on `day`, one per code, filtered.
pub async fn list_procedures(
    pool: &PgPool,
    field: &str,
    agency: &str,
    day: NaiveDate,
) -> Result<Vec<Procedure>, ServiceError> {
    let rows = sqlx::query(
        "SELECT DISTINCT ON (code) body FROM procedures
         WHERE effective_from <= $1 AND ($2 = '' OR field = $2) AND ($3 = '' OR competent_agency = $3)
         ORDER BY code, effective_from DESC",
    )
    .bind(day)
    .bind(field)
    .bind(agency)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| decode(r.get::<&[u8], _>("body")))
        .collect()
}

/// The next number of the day for an agency. The row stays locked until the caller's transaction
/// ends: concurrent submissions wait in line, and a rollback returns the number.
pub async fn next_sequence(
    conn: &mut PgConnection,
    agency: &str,
    day: NaiveDate,
) -> Result<i32, ServiceError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO dossier_sequences (agency, day, last) VALUES ($1, $2, 1)
         ON CONFLICT (agency, day) DO UPDATE SET last = dossier_sequences.last + 1 RETURNING last",
    )
    .bind(agency)
    .bind(day)
    .fetch_one(conn)
    .await?)
}

/// A dossier stored earlier under the same idempotency key: its receipt and request hash.
pub async fn find_idempotent(
    pool: &PgPool,
    caller: &str,
    key: &str,
) -> Result<Option<(Dossier, String)>, ServiceError> {
    let row = sqlx::query(
        "SELECT receipt, status, rejection_reasons, updated_at, request_sha256 FROM dossiers
         WHERE idempotency_caller = $1 AND idempotency_key = $2",
    )
    .bind(caller)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.map(|r| {
        Ok((
            dossier_from_row(&r)?,
            r.get::<Option<String>, _>("request_sha256")
                .unwrap_or_default(),
        ))
    })
    .transpose()
}

#[derive(Debug)]
pub struct NewDossier<'a> {
    pub stored_at: DateTime<Utc>,
    pub note: &'a str,
    pub receipt: &'a Receipt,
    pub procedure: &'a Procedure,
    pub status: DossierStatus,
    pub received_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub rejection_reasons: &'a [String],
    pub idempotency_caller: &'a str,
    pub idempotency_key: &'a str,
    pub request_sha256: &'a str,
    pub created_by: &'a str,
}

pub async fn insert_dossier(
    conn: &mut PgConnection,
    d: &NewDossier<'_>,
) -> Result<(), sqlx::Error> {
    let applicant = d.receipt.applicant.clone().unwrap_or_default();
    sqlx::query(
        "INSERT INTO dossiers (code, receiving_agency, competent_agency, field, procedure_code, procedure_version,
            channel, status, received_at, due_at, applicant_name, applicant_id_number, applicant_phone, receipt,
            rejection_reasons, idempotency_caller, idempotency_key, request_sha256, created_by, note, updated_at,
            applicant_name_folded, ended_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
    )
    .bind(&d.receipt.dossier_code)
    .bind(&d.receipt.receiving_agency)
    .bind(&d.receipt.competent_agency)
    .bind(&d.procedure.field)
    .bind(&d.procedure.code)
    .bind(d.procedure.version as i32)
    .bind(d.receipt.channel as i16)
    .bind(d.status as i16)
    .bind(d.received_at)
    .bind(d.due_at)
    .bind(&applicant.name)
    .bind(&applicant.id_number)
    .bind(&applicant.phone)
    .bind(d.receipt.encode_to_vec())
    .bind(d.rejection_reasons)
    .bind(Some(d.idempotency_caller).filter(|s| !s.is_empty()))
    .bind(Some(d.idempotency_key).filter(|s| !s.is_empty()))
    .bind(d.request_sha256)
    .bind(d.created_by)
    .bind(d.note)
    .bind(d.stored_at)
    .bind(motcua_domain::text::fold(&applicant.name))
    // Refused at the desk: it ended as it was received (its contacts' clock starts now).
    .bind((d.status == DossierStatus::RejectedAtIntake).then_some(d.stored_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records who did what; returns false when the same action with the same idempotency key was
/// already recorded (a retry).
pub async fn record_action(
    conn: &mut PgConnection,
    code: &str,
    action: &str,
    caller: &motcua_platform::auth::Caller,
    detail: serde_json::Value,
    idempotency_key: &str,
    at: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    let done = sqlx::query(
        "INSERT INTO dossier_actions (dossier_code, action, actor_subject, actor_name, actor_agency, detail, idempotency_key, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dossier_code, action, idempotency_key) DO NOTHING",
    )
    .bind(code)
    .bind(action)
    .bind(&caller.subject)
    .bind(&caller.name)
    .bind(&caller.agency)
    .bind(sqlx::types::Json(detail))
    .bind(Some(idempotency_key).filter(|s| !s.is_empty()))
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

fn dossier_from_row(r: &sqlx::postgres::PgRow) -> Result<Dossier, ServiceError> {
    let updated: DateTime<Utc> = r.get("updated_at");
    Ok(Dossier {
        receipt: Some(decode(r.get::<&[u8], _>("receipt"))?),
        status: r.get::<i16, _>("status") as i32,
        rejection_reasons: r.get("rejection_reasons"),
        updated_at: Some(ts(updated)),
    })
}

/// A dossier, locked for update when `lock` (in a transaction).
pub async fn get_dossier(
    conn: &mut PgConnection,
    code: &str,
    lock: bool,
) -> Result<Option<(Dossier, String, String)>, ServiceError> {
    let sql = if lock {
        "SELECT receipt, status, rejection_reasons, updated_at, receiving_agency, competent_agency FROM dossiers WHERE code = $1 FOR UPDATE"
    } else {
        "SELECT receipt, status, rejection_reasons, updated_at, receiving_agency, competent_agency FROM dossiers WHERE code = $1"
    };
    let row = sqlx::query(sql).bind(code).fetch_optional(conn).await?;
    row.map(|r| {
        Ok((
            dossier_from_row(&r)?,
            r.get("receiving_agency"),
            r.get("competent_agency"),
        ))
    })
    .transpose()
}

/// Whether a dossier's applicant contacts have been erased (see [`crate::contacts`]).
pub async fn contacts_erased(db: impl PgExecutor<'_>, code: &str) -> Result<bool, ServiceError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT contacts_erased_at IS NOT NULL FROM dossiers WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(db)
    .await?
    .unwrap_or(false))
}

pub async fn set_status(
    conn: &mut PgConnection,
    code: &str,
    status: DossierStatus,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query("UPDATE dossiers SET status = $2, updated_at = $3 WHERE code = $1")
        .bind(code)
        .bind(status as i16)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug)]
pub struct ListFilter {
    /// Only dossiers received by or routed to this agency, or to any agency of `province` (the
    /// caller's scope).
    pub agency: String,
    pub province: Option<String>,
    /// Only this applicant's dossiers.
    pub applicant: Option<crate::applicant::Search>,
    /// Only dossiers not ended (`ended_at` unset).
    pub open_only: bool,
    pub receiving_agency: String,
    pub field: String,
    pub status: i16,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub after: Option<(DateTime<Utc>, String)>,
    pub limit: i64,
}

/// A page of dossiers in (received_at, code) order.
pub async fn list_dossiers(pool: &PgPool, f: &ListFilter) -> Result<Vec<Dossier>, ServiceError> {
    let (after_at, after_code) = f
        .after
        .clone()
        .map_or((None, String::new()), |(t, c)| (Some(t), c));
    let rows = sqlx::query(
        "SELECT receipt, status, rejection_reasons, updated_at FROM dossiers
         WHERE (receiving_agency = $1 OR competent_agency = $1
                OR ($10::text IS NOT NULL
                    AND (receiving_agency LIKE '%.' || $10 OR competent_agency LIKE '%.' || $10)))
           AND ($11::text IS NULL OR applicant_phone = $11)
           AND ($12::text IS NULL OR strpos(applicant_name_folded, $12) > 0)
           AND (NOT $13 OR ended_at IS NULL)
           AND ($2 = '' OR receiving_agency = $2)
           AND ($3 = '' OR field = $3)
           AND ($4 = 0 OR status = $4)
           AND ($5::timestamptz IS NULL OR received_at >= $5)
           AND ($6::timestamptz IS NULL OR received_at < $6)
           AND ($7::timestamptz IS NULL OR (received_at, code) > ($7, $8))
         ORDER BY received_at, code LIMIT $9",
    )
    .bind(&f.agency)
    .bind(&f.receiving_agency)
    .bind(&f.field)
    .bind(f.status)
    .bind(f.from)
    .bind(f.to)
    .bind(after_at)
    .bind(after_code)
    .bind(f.limit)
    .bind(&f.province)
    .bind(match &f.applicant {
        Some(crate::applicant::Search::Phone(p)) => Some(p.as_str()),
        _ => None,
    })
    .bind(match &f.applicant {
        Some(crate::applicant::Search::Name(n)) => Some(n.as_str()),
        _ => None,
    })
    .bind(f.open_only)
    .fetch_all(pool)
    .await?;
    rows.iter().map(dossier_from_row).collect()
}

pub async fn insert_attachment(
    pool: &PgPool,
    a: &Attachment,
    storage_key: &str,
    agency: &str,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO attachments (id, file_name, media_type, size_bytes, sha256, storage_key, agency, uploaded_by, uploaded_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::parse_str(&a.id).map_err(|e| ServiceError::Internal(e.into()))?)
    .bind(&a.file_name)
    .bind(&a.media_type)
    .bind(a.size_bytes as i64)
    .bind(&a.sha256)
    .bind(storage_key)
    .bind(agency)
    .bind(by)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Which of these attachment ids exist.
pub async fn existing_attachments(pool: &PgPool, ids: &[Uuid]) -> Result<Vec<Uuid>, ServiceError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM attachments WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?,
    )
}

/// Records an agency of the catalog file (its name and hours may change between starts).
pub async fn upsert_agency(
    pool: &PgPool,
    a: &crate::catalog::FileAgency,
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO agencies (code, name, working_hours, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (code) DO UPDATE SET name = $2, working_hours = $3, updated_at = $4",
    )
    .bind(&a.code)
    .bind(&a.name)
    .bind(&a.working_hours)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether an agency is known: listed in the catalog file, or competent for a procedure.
pub async fn agency_known(db: impl PgExecutor<'_>, code: &str) -> Result<bool, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM agencies WHERE code = $1)
             OR EXISTS (SELECT 1 FROM procedures WHERE competent_agency = $1)",
    )
    .bind(code)
    .fetch_one(db)
    .await?)
}
