//! The deliveries table: each message written before any attempt, and its outcome recorded. Rows
//! are the truth an admin reads. When a delivery is tried is the platform's job queue's business
//! (one queue per channel, the delivery's id as the job's key, its recipient as the payload): a
//! delivery is written with its job, leased by one replica at a time for an attempt, and its job
//! rescheduled or removed with the attempt's outcome, each in one statement through the platform's
//! SQL functions (`motcua_jobs_lease`, `motcua_jobs_reschedule`).

use crate::rules::Channel;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

mod outcomes;
pub use outcomes::{Outcome, SentRecord, record, record_sent_many};

/// The platform job queues of deliveries are `deliveries.<channel>`; SQL that names a queue from a
/// row's channel binds this prefix (migration 0003 wrote it out once, as it was then).
const QUEUE_PREFIX: &str = "deliveries.";

/// The platform job queue a channel's deliveries wait in.
pub fn queue(channel: Channel) -> String {
    format!("{QUEUE_PREFIX}{}", channel.as_str())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientKind {
    Applicant,
    Staff,
    Subscriber,
    /// The sender of an inbound SMS (its reply).
    Sender,
}

impl RecipientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::Applicant => "applicant",
            RecipientKind::Staff => "staff",
            RecipientKind::Subscriber => "subscriber",
            RecipientKind::Sender => "sender",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "applicant" => RecipientKind::Applicant,
            "staff" => RecipientKind::Staff,
            "subscriber" => RecipientKind::Subscriber,
            "sender" => RecipientKind::Sender,
            _ => return None,
        })
    }
}

/// A delivery to write.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub event_id: Uuid,
    pub dossier_code: String,
    /// The agencies whose dossier it is about (receiving, competent): who may see and resend it.
    pub agencies: Vec<String>,
    pub trigger: String,
    pub channel: Channel,
    pub kind: RecipientKind,
    /// Who, without the address: the dossier code (applicant), the staff subject, the
    /// subscription id, the inbound message id (sender).
    pub recipient_ref: String,
    pub recipient_masked: String,
    pub reply_to: Option<String>,
    pub template_version: i32,
    pub subject: String,
    pub body: String,
    pub html_body: String,
    pub sms_parts: i32,
    pub quiet_hours: bool,
    pub not_before: DateTime<Utc>,
}

/// Writes deliveries in the caller's transaction; one per (event, recipient, channel) however
/// often it is called. Each is retried for `retry_for` from when it may first go (after quiet
/// hours, not from when it was written). Returns how many were new; each new one is scheduled in
/// its channel's job queue (which wakes the dispatchers when it is due now).
pub async fn insert(
    conn: &mut PgConnection,
    rows: &[NewDelivery],
    now: DateTime<Utc>,
    retry_for: chrono::Duration,
) -> sqlx::Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    let event_ids: Vec<Uuid> = rows.iter().map(|r| r.event_id).collect();
    let codes: Vec<&str> = rows.iter().map(|r| r.dossier_code.as_str()).collect();
    let triggers: Vec<&str> = rows.iter().map(|r| r.trigger.as_str()).collect();
    let channels: Vec<&str> = rows.iter().map(|r| r.channel.as_str()).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let refs: Vec<&str> = rows.iter().map(|r| r.recipient_ref.as_str()).collect();
    let masked: Vec<&str> = rows.iter().map(|r| r.recipient_masked.as_str()).collect();
    let reply_to: Vec<Option<&str>> = rows.iter().map(|r| r.reply_to.as_deref()).collect();
    let versions: Vec<i32> = rows.iter().map(|r| r.template_version).collect();
    let subjects: Vec<&str> = rows.iter().map(|r| r.subject.as_str()).collect();
    let bodies: Vec<&str> = rows.iter().map(|r| r.body.as_str()).collect();
    let htmls: Vec<&str> = rows.iter().map(|r| r.html_body.as_str()).collect();
    let parts: Vec<i32> = rows.iter().map(|r| r.sms_parts).collect();
    let quiet: Vec<bool> = rows.iter().map(|r| r.quiet_hours).collect();
    let due: Vec<DateTime<Utc>> = rows.iter().map(|r| r.not_before.max(now)).collect();
    // One text per row (agency codes have no comma): unnest cannot take ragged arrays.
    let agencies: Vec<String> = rows.iter().map(|r| r.agencies.join(",")).collect();
    let inserted: i64 = sqlx::query_scalar(
        "WITH ins AS (
            INSERT INTO deliveries (id, event_id, dossier_code, trigger, channel, recipient_kind, recipient_ref,
                 recipient_masked, reply_to, template_version, subject, body, html_body, sms_parts, quiet_hours,
                 next_attempt_at, give_up_at, created_at, agencies)
            SELECT i, e, c, t, ch, k, r, m, rt, v, su, b, h, p, q, d, d + $18::interval, $17,
                   coalesce(string_to_array(nullif(a, ''), ','), '{}')
            FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::int[], $11::text[], $12::text[], $13::text[], $14::int[],
                $15::bool[], $16::timestamptz[], $19::text[]) AS u(i, e, c, t, ch, k, r, m, rt, v, su, b, h, p, q, d, a)
            ON CONFLICT (event_id, recipient_kind, recipient_ref, channel) DO NOTHING
            RETURNING id, channel, next_attempt_at, recipient_ref),
         j AS (
            SELECT motcua_jobs_reschedule($20 || channel, '{}', array_agg(id::text),
                       array_agg(next_attempt_at), array_agg(convert_to(recipient_ref, 'UTF8')), $17)
            FROM ins GROUP BY channel)
         SELECT (SELECT count(*) FROM ins) + 0 * (SELECT count(*) FROM j)",
    )
    .bind(&ids)
    .bind(&event_ids)
    .bind(&codes)
    .bind(&triggers)
    .bind(&channels)
    .bind(&kinds)
    .bind(&refs)
    .bind(&masked)
    .bind(&reply_to)
    .bind(&versions)
    .bind(&subjects)
    .bind(&bodies)
    .bind(&htmls)
    .bind(&parts)
    .bind(&quiet)
    .bind(&due)
    .bind(now)
    .bind(retry_for)
    .bind(&agencies)
    .bind(QUEUE_PREFIX)
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(inserted).unwrap_or(0))
}

/// A delivery taken for an attempt.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub dossier_code: String,
    pub channel: Channel,
    pub kind: RecipientKind,
    pub recipient_ref: String,
    pub reply_to: Option<String>,
    pub subject: String,
    pub body: String,
    pub html_body: String,
    pub quiet_hours: bool,
    /// Attempts including this one.
    pub attempts: i32,
    pub give_up_at: DateTime<Utc>,
}

/// Takes up to `limit` due deliveries of `channel` (none for `skip_recipients`, which have their
/// share in flight) and leases them until `lease_until`, in one statement: another replica skips
/// them, and if this one dies they come due again when the lease ends. A delivery is taken only
/// if it is queued and due by its own row too, so a pod of the previous release (which claimed
/// rows by `next_attempt_at`) and this one never both send it. A leased job whose delivery is not
/// taken is settled ([`settle`]).
pub async fn claim(
    pool: &PgPool,
    channel: Channel,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
    skip_recipients: &[String],
) -> sqlx::Result<Vec<Claimed>> {
    let skip: Vec<&[u8]> = skip_recipients.iter().map(|r| r.as_bytes()).collect();
    let rows = sqlx::query(
        "WITH l AS (SELECT key FROM motcua_jobs_lease($1, $2, $3, $4, $5)),
         u AS (
            UPDATE deliveries d SET next_attempt_at = $3, attempts = d.attempts + 1
            FROM l WHERE d.id = l.key::uuid AND d.status = 'queued' AND d.next_attempt_at <= $2
            RETURNING d.id, d.dossier_code, d.recipient_kind, d.recipient_ref, d.reply_to, d.subject,
                      d.body, d.html_body, d.quiet_hours, d.attempts, d.give_up_at)
         SELECT l.key AS job_key, u.* FROM l LEFT JOIN u ON u.id = l.key::uuid",
    )
    .bind(queue(channel))
    .bind(now)
    .bind(lease_until)
    .bind(i32::try_from(limit).unwrap_or(i32::MAX))
    .bind(&skip)
    .fetch_all(pool)
    .await?;
    let mut unmatched = Vec::new();
    let mut claimed = Vec::new();
    for r in &rows {
        let Some(id) = r.get::<Option<Uuid>, _>("id") else {
            unmatched.push(r.get::<String, _>("job_key"));
            continue;
        };
        let Some(kind) = RecipientKind::parse(r.get("recipient_kind")) else {
            continue;
        };
        claimed.push(Claimed {
            id,
            dossier_code: r.get("dossier_code"),
            channel,
            kind,
            recipient_ref: r.get("recipient_ref"),
            reply_to: r.get("reply_to"),
            subject: r.get("subject"),
            body: r.get("body"),
            html_body: r.get("html_body"),
            quiet_hours: r.get("quiet_hours"),
            attempts: r.get("attempts"),
            give_up_at: r.get("give_up_at"),
        });
    }
    if !unmatched.is_empty() {
        // What was claimed stands whatever happens here: a job left leased comes back when its
        // lease ends, and the sweep (`adopt`) gives a job to a queued delivery that lost one.
        if let Err(e) = settle(pool, channel, &unmatched, now).await {
            tracing::warn!(channel = channel.as_str(), error = %e, "cannot settle leased jobs; their leases will end");
        }
    }
    Ok(claimed)
}

/// Settles leased jobs whose delivery the claim did not take, judged on a fresh look at the rows
/// (the lease, a function, sees jobs committed after the claim's own snapshot was taken, with
/// deliveries that snapshot does not show yet): a queued delivery's job goes back to the row's
/// time; the job of a delivery that ended, or is gone, is removed.
async fn settle(
    pool: &PgPool,
    channel: Channel,
    keys: &[String],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    let ids: Vec<Uuid> = keys
        .iter()
        .filter_map(|k| Uuid::parse_str(k).ok())
        .collect();
    let queued: Vec<(Uuid, DateTime<Utc>, String)> = sqlx::query_as(
        "SELECT id, next_attempt_at, recipient_ref FROM deliveries
         WHERE id = ANY($1) AND status = 'queued'",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let later: Vec<(String, DateTime<Utc>, Vec<u8>)> = queued
        .into_iter()
        .map(|(id, at, recipient)| (id.to_string(), at, recipient.into_bytes()))
        .collect();
    let ended: Vec<String> = keys
        .iter()
        .filter(|k| !later.iter().any(|l| &l.0 == *k))
        .cloned()
        .collect();
    let mut conn = pool.acquire().await?;
    motcua_platform::jobs::reschedule(&mut conn, &queue(channel), &later, &ended, now).await
}

/// Gives a job to every queued delivery of `channel` that has none (written by a pod of the
/// previous release during a rolling update, or whose job a race with an admin's resend
/// removed), at its own time; leaves the others alone. Returns how many it gave one.
pub async fn adopt(pool: &PgPool, channel: Channel, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let added: Option<i32> = sqlx::query_scalar(
        "SELECT motcua_jobs_ensure($1, array_agg(id::text), array_agg(next_attempt_at),
                    array_agg(convert_to(recipient_ref, 'UTF8')), $3)
         FROM deliveries WHERE status = 'queued' AND channel = $2 HAVING count(*) > 0",
    )
    .bind(queue(channel))
    .bind(channel.as_str())
    .bind(now)
    .fetch_optional(pool)
    .await?;
    Ok(added.map_or(0, |n| u64::try_from(n).unwrap_or(0)))
}

/// The earliest time a queued delivery of `channel` comes due.
pub async fn next_due(pool: &PgPool, channel: Channel) -> sqlx::Result<Option<DateTime<Utc>>> {
    motcua_platform::jobs::next_due(pool, &queue(channel)).await
}

/// A gateway's delivery receipt: by our delivery id (the `id` the gateway got) or its own
/// message id. Returns whether a delivery matched.
pub async fn receipt(
    pool: &PgPool,
    reference: &str,
    delivered: bool,
    error: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let id = Uuid::parse_str(reference).ok();
    // By our id, any status (a receipt may overtake the attempt's own record); by the gateway's
    // id, only rows it took. "delivered" is final: a later "failed" does not undo it.
    let done = sqlx::query(
        "UPDATE deliveries SET
             status = CASE WHEN $3 THEN 'delivered' WHEN status = 'delivered' THEN status ELSE 'failed' END,
             delivered_at = CASE WHEN $3 THEN $5 ELSE delivered_at END,
             failed_at = CASE WHEN $3 OR status = 'delivered' THEN failed_at ELSE $5 END,
             last_error = CASE WHEN $3 OR status = 'delivered' THEN last_error ELSE $4 END
         WHERE channel = 'sms'
           AND (id = $1 OR (provider = 'http-sms' AND provider_message_id = $2))",
    )
    .bind(id)
    .bind(reference)
    .bind(delivered)
    .bind(error)
    .bind(now)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done > 0)
}

/// Whose deliveries a caller sees: those about a dossier of an agency it covers
/// (`motcua_covers`, the platform's Caller::covers in SQL).
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub agency: &'a str,
    pub province: Option<&'a str>,
}

impl<'a> Seen<'a> {
    pub fn by(caller: &'a motcua_platform::auth::Caller) -> Self {
        Seen {
            agency: &caller.agency,
            province: caller.province_scope(),
        }
    }
}

/// A dossier's deliveries the caller sees, newest first, after a page's last (created_at, id).
pub async fn of_dossier(
    pool: &PgPool,
    code: &str,
    seen: Seen<'_>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<sqlx::postgres::PgRow>> {
    let (at, id) = after.unzip();
    sqlx::query(
        "SELECT * FROM deliveries WHERE dossier_code = $1
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
           AND EXISTS (SELECT 1 FROM unnest(agencies) a WHERE motcua_covers(a, $5, $6))
         ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(code)
    .bind(at)
    .bind(id)
    .bind(limit)
    .bind(seen.agency)
    .bind(seen.province)
    .fetch_all(pool)
    .await
}

/// Queues a delivery again now (admin's resend), with a fresh retry window, and schedules its
/// job. Only a delivery that is done (sent, delivered or failed): a queued one is already on its
/// way. None when there is no such delivery the caller sees, or it is queued.
pub async fn resend(
    pool: &PgPool,
    id: Uuid,
    seen: Seen<'_>,
    now: DateTime<Utc>,
    retry_for: chrono::Duration,
) -> sqlx::Result<Option<sqlx::postgres::PgRow>> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "UPDATE deliveries SET status = 'queued', next_attempt_at = $2, give_up_at = $2::timestamptz + $3::interval,
             failed_at = NULL, attempts = 0
         WHERE id = $1 AND status <> 'queued'
           AND EXISTS (SELECT 1 FROM unnest(agencies) a WHERE motcua_covers(a, $4, $5))
         RETURNING *",
    )
    .bind(id)
    .bind(now)
    .bind(retry_for)
    .bind(seen.agency)
    .bind(seen.province)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(r) = &row {
        let channel = Channel::parse(r.get("channel")).unwrap_or(Channel::Sms);
        let recipient: String = r.get("recipient_ref");
        motcua_platform::jobs::schedule(
            &mut tx,
            &queue(channel),
            &id.to_string(),
            now,
            recipient.as_bytes(),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(row)
}
