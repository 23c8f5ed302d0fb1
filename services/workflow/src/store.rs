//! Workflow's SQL. Every statement binds its values; the case is one encoded record beside the
//! columns queues select on.

use crate::case;
use chrono::{DateTime, Utc};
use motcua_domain::time::from_ts;
use motcua_platform::ServiceError;
use motcua_proto::common::Actor;
use motcua_proto::events::DossierState;
use motcua_proto::workflow::{AttachmentRef, Case, CaseEvent};
use prost::Message;
use sqlx::{PgConnection, PgExecutor, Row};

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, ServiceError> {
    M::decode(bytes)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored message does not decode: {e}")))
}

fn time(t: &Option<prost_types::Timestamp>, what: &str) -> Result<DateTime<Utc>, ServiceError> {
    from_ts(
        t.as_ref()
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("case without {what}")))?,
        what,
    )
}

/// The columns a case is found by.
struct Columns {
    open: bool,
    role: String,
    department: String,
    assignee: Option<String>,
    step_due: DateTime<Utc>,
    due: DateTime<Utc>,
    updated: DateTime<Utc>,
}

fn columns(c: &Case) -> Result<Columns, ServiceError> {
    let step = case::current(c);
    Ok(Columns {
        open: case::is_open(c),
        role: step.map(|s| s.role.clone()).unwrap_or_default(),
        department: step.map(|s| s.department.clone()).unwrap_or_default(),
        assignee: c.assignee.as_ref().map(|a| a.subject.clone()),
        step_due: time(&c.step_due_at, "step_due_at")?,
        due: time(&c.due_at, "due_at")?,
        updated: time(&c.updated_at, "updated_at")?,
    })
}

/// Stores a new case; false when the dossier already has one (a redelivered `submitted`).
pub async fn insert_case(
    conn: &mut PgConnection,
    c: &Case,
    base: &DossierState,
) -> Result<bool, ServiceError> {
    let k = columns(c)?;
    let done = sqlx::query(
        "INSERT INTO cases (dossier_code, version, status, field, procedure_code, competent_agency, open,
            step_role, step_department, assignee_subject, step_due_at, due_at, record, base, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (dossier_code) DO NOTHING",
    )
    .bind(&c.dossier_code)
    .bind(c.version as i64)
    .bind(c.status as i16)
    .bind(&c.field)
    .bind(&c.procedure_code)
    .bind(&c.competent_agency)
    .bind(k.open)
    .bind(&k.role)
    .bind(&k.department)
    .bind(&k.assignee)
    .bind(k.step_due)
    .bind(k.due)
    .bind(c.encode_to_vec())
    .bind(base.encode_to_vec())
    .bind(k.updated)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The case and intake's state of a dossier, locked until the transaction ends when `lock`.
pub async fn case(
    db: impl PgExecutor<'_>,
    code: &str,
    lock: bool,
) -> Result<Option<(Case, DossierState)>, ServiceError> {
    let sql = if lock {
        "SELECT record, base FROM cases WHERE dossier_code = $1 FOR UPDATE"
    } else {
        "SELECT record, base FROM cases WHERE dossier_code = $1"
    };
    let row = sqlx::query(sql).bind(code).fetch_optional(db).await?;
    row.map(|r| {
        Ok((
            decode(r.get::<&[u8], _>("record"))?,
            decode(r.get::<&[u8], _>("base"))?,
        ))
    })
    .transpose()
}

pub async fn save_case(conn: &mut PgConnection, c: &Case) -> Result<(), ServiceError> {
    let k = columns(c)?;
    sqlx::query(
        "UPDATE cases SET version = $2, status = $3, open = $4, step_role = $5, step_department = $6,
            assignee_subject = $7, step_due_at = $8, due_at = $9, record = $10, updated_at = $11
         WHERE dossier_code = $1",
    )
    .bind(&c.dossier_code)
    .bind(c.version as i64)
    .bind(c.status as i16)
    .bind(k.open)
    .bind(&k.role)
    .bind(&k.department)
    .bind(&k.assignee)
    .bind(k.step_due)
    .bind(k.due)
    .bind(c.encode_to_vec())
    .bind(k.updated)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug)]
pub struct HistoryRow<'a> {
    pub code: &'a str,
    pub version: u64,
    pub kind: &'a str,
    pub actor: &'a Actor,
    pub at: DateTime<Utc>,
    pub note: &'a str,
    pub attachments: &'a [AttachmentRef],
}

pub async fn insert_history(
    conn: &mut PgConnection,
    h: &HistoryRow<'_>,
) -> Result<(), ServiceError> {
    let attachments: Vec<Vec<u8>> = h.attachments.iter().map(Message::encode_to_vec).collect();
    sqlx::query(
        "INSERT INTO history (dossier_code, version, kind, actor_subject, actor_name, actor_agency, at, note, attachments)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(h.code)
    .bind(h.version as i64)
    .bind(h.kind)
    .bind(&h.actor.subject)
    .bind(&h.actor.name)
    .bind(&h.actor.agency)
    .bind(h.at)
    .bind(h.note)
    .bind(&attachments)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn history(db: impl PgExecutor<'_>, code: &str) -> Result<Vec<CaseEvent>, ServiceError> {
    let rows = sqlx::query(
        "SELECT version, kind, actor_subject, actor_name, actor_agency, at, note, attachments
         FROM history WHERE dossier_code = $1 ORDER BY version",
    )
    .bind(code)
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            let attachments: Vec<Vec<u8>> = r.get("attachments");
            Ok(CaseEvent {
                version: r.get::<i64, _>("version") as u64,
                kind: r.get("kind"),
                actor: Some(Actor {
                    subject: r.get("actor_subject"),
                    name: r.get("actor_name"),
                    agency: r.get("actor_agency"),
                }),
                at: Some(motcua_domain::time::ts(r.get("at"))),
                note: r.get("note"),
                attachments: attachments
                    .iter()
                    .map(|b| decode(b))
                    .collect::<Result<_, _>>()?,
            })
        })
        .collect()
}

/// The first answer to an idempotency key, with the hash of the request that got it.
pub async fn answered(
    db: impl PgExecutor<'_>,
    scope: &str,
    key: &str,
) -> Result<Option<(String, Vec<u8>)>, ServiceError> {
    let row =
        sqlx::query("SELECT request_sha, response FROM idempotency WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(db)
            .await?;
    Ok(row.map(|r| (r.get("request_sha"), r.get("response"))))
}

pub async fn remember_answer(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    request_sha: &str,
    response: &[u8],
    at: DateTime<Utc>,
) -> Result<(), ServiceError> {
    sqlx::query(
        "INSERT INTO idempotency (scope, key, request_sha, response, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(scope)
    .bind(key)
    .bind(request_sha)
    .bind(response)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}
