//! Workflow's SQL. Every statement binds its values; the case is one encoded record beside the
//! columns queues select on.

use crate::rules;
use chrono::{DateTime, Utc};
use motcua_domain::time::from_ts;
use motcua_platform::ServiceError;
use motcua_proto::common::Actor;
use motcua_proto::events::DossierState;
use motcua_proto::workflow::{AttachmentRef, Case, CaseEvent};
use prost::Message;
use sqlx::{PgConnection, PgExecutor, Row};

/// The job queue of the deadline timers (the timers module runs them); the timers' rows
/// are written here with the change that moves them.
pub const QUEUE: &str = "workflow-deadlines";

/// How a change moves a case's timers: the jobs to set (key, when, the due time they watch) and
/// the jobs to remove (the timers module works them out).
#[derive(Debug, Default)]
pub struct Moves {
    pub schedule: Vec<(String, DateTime<Utc>, Vec<u8>)>,
    pub cancel: Vec<String>,
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, ServiceError> {
    M::decode(bytes)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored message does not decode: {e}")))
}

fn time(t: &Option<prost_types::Timestamp>, what: &str) -> Result<DateTime<Utc>, ServiceError> {
    Ok(from_ts(
        t.as_ref()
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("case without {what}")))?,
        what,
    )?)
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
    let step = rules::current(c);
    Ok(Columns {
        open: rules::is_open(c),
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

/// How a read of a case locks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    No,
    /// Until the transaction ends, waiting for a change in progress.
    Wait,
    /// The same, but failing at once (SQLSTATE 55P03) when a change holds it: for a deadline
    /// timer, which already holds its job row while a change locks the case first and the job
    /// rows after: waiting would be a deadlock, and the timer is retried instead.
    NoWait,
}

/// The case and intake's state of a dossier, locked as `lock` says.
pub async fn case(
    db: impl PgExecutor<'_>,
    code: &str,
    lock: Lock,
) -> Result<Option<(Case, DossierState)>, ServiceError> {
    let sql = match lock {
        Lock::No => "SELECT record, base FROM cases WHERE dossier_code = $1",
        Lock::Wait => "SELECT record, base FROM cases WHERE dossier_code = $1 FOR UPDATE",
        Lock::NoWait => "SELECT record, base FROM cases WHERE dossier_code = $1 FOR UPDATE NOWAIT",
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

#[derive(Debug)]
pub struct HistoryRow<'a> {
    pub code: &'a str,
    pub version: u64,
    pub kind: &'a str,
    pub actor: &'a Actor,
    pub at: DateTime<Utc>,
    /// What the service writes of the change.
    pub summary: &'a str,
    /// The officer's note, verbatim.
    pub note: &'a str,
    pub attachments: &'a [AttachmentRef],
}

pub async fn insert_history(
    conn: &mut PgConnection,
    h: &HistoryRow<'_>,
) -> Result<(), ServiceError> {
    let attachments: Vec<Vec<u8>> = h.attachments.iter().map(Message::encode_to_vec).collect();
    sqlx::query(
        "INSERT INTO history (dossier_code, version, kind, actor_subject, actor_name, actor_agency, at, note, attachments, summary)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
    .bind(h.summary)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn history(db: impl PgExecutor<'_>, code: &str) -> Result<Vec<CaseEvent>, ServiceError> {
    let rows = sqlx::query(
        "SELECT version, kind, actor_subject, actor_name, actor_agency, at, note, attachments, summary
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
                summary: r.get("summary"),
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

/// Everything one change writes, in one statement.
#[derive(Debug)]
pub struct Write<'a> {
    /// The case after the change; written only if the stored one is still at `expected_version`.
    pub case: &'a Case,
    pub expected_version: u64,
    pub history: HistoryRow<'a>,
    pub event: &'a motcua_platform::outbox::OutboxEvent,
    pub timers: Moves,
    /// (scope, key, request hash): the answer to remember for a retry.
    pub answer: Option<(&'a str, &'a str, &'a str)>,
}

/// Writes a change as one statement: the case (if it is still at the version the change was
/// made on), its history line, its event in the outbox and its timers (through the platform's
/// `motcua_outbox_append` and `motcua_jobs_reschedule`, which the main query joins so that they
/// run exactly when the case was written) and the idempotent answer.
/// Atomic on its own, and optimistic: false when the case moved on meanwhile, and then nothing
/// at all was written. One round trip, where a transaction of separate statements took seven.
pub async fn write(db: impl PgExecutor<'_>, w: &Write<'_>) -> Result<bool, ServiceError> {
    let c = w.case;
    let k = columns(c)?;
    let attachments: Vec<Vec<u8>> = w
        .history
        .attachments
        .iter()
        .map(Message::encode_to_vec)
        .collect();
    let record = c.encode_to_vec();
    let keys: Vec<&str> = w.timers.schedule.iter().map(|j| j.0.as_str()).collect();
    let times: Vec<DateTime<Utc>> = w.timers.schedule.iter().map(|j| j.1).collect();
    let payloads: Vec<&[u8]> = w.timers.schedule.iter().map(|j| j.2.as_slice()).collect();
    let (scope, key, sha) = w.answer.unzip3();
    let written: i64 = sqlx::query_scalar(
        "WITH upd AS (
            UPDATE cases SET version = $2, status = $3, open = $4, step_role = $5, step_department = $6,
                assignee_subject = $7, step_due_at = $8, due_at = $9, record = $10, updated_at = $11
            WHERE dossier_code = $1 AND version = $12
            RETURNING dossier_code),
         h AS (
            INSERT INTO history (dossier_code, version, kind, actor_subject, actor_name, actor_agency, at, note, attachments, summary)
            SELECT $1, $2, $13, $14, $15, $16, $11, $17, $18, $32 FROM upd),
         o AS (
            SELECT motcua_outbox_append($19, $20, $21, $22, $23) FROM upd),
         j AS (
            SELECT motcua_jobs_reschedule($24, $25, $26::text[], $27::timestamptz[], $28::bytea[], $11)
            FROM upd),
         a AS (
            INSERT INTO idempotency (scope, key, request_sha, response, created_at)
            SELECT $29, $30, $31, $10, $11 FROM upd WHERE $29::text IS NOT NULL)
         SELECT count(*) FROM upd, o, j",
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
    .bind(&record)
    .bind(k.updated)
    .bind(w.expected_version as i64)
    .bind(w.history.kind)
    .bind(&w.history.actor.subject)
    .bind(&w.history.actor.name)
    .bind(&w.history.actor.agency)
    .bind(w.history.note)
    .bind(&attachments)
    .bind(w.event.id)
    .bind(&w.event.subject)
    .bind(&w.event.event_type)
    .bind(&w.event.payload)
    .bind(motcua_platform::outbox::trace_headers())
    .bind(QUEUE)
    .bind(&w.timers.cancel)
    .bind(&keys)
    .bind(&times)
    .bind(&payloads)
    .bind(scope)
    .bind(key)
    .bind(sha)
    .bind(w.history.summary)
    .fetch_one(db)
    .await?;
    Ok(written == 1)
}

trait Unzip3<'a> {
    fn unzip3(self) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>);
}

impl<'a> Unzip3<'a> for Option<(&'a str, &'a str, &'a str)> {
    fn unzip3(self) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}
