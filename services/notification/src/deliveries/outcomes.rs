//! What an attempt came to, recorded: alone ([`record`]) or, for sent attempts, many in one
//! statement ([`record_sent_many`]); either way only while the row is still queued under the
//! claim that made the attempt, with the delivery's job moved or removed in the same statement.
//! Each statement locks the jobs first (`motcua_jobs_hold`, platform migration 0007), in the order
//! a claim takes a job and then its delivery, so a record never deadlocks with a claim.

use super::queue;
use crate::rules::Channel;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// What an attempt came to.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent {
        provider: &'static str,
        provider_message_id: Option<String>,
        answer: String,
        delivered: bool,
    },
    /// Try again at this time (the attempt is not counted when `uncounted`: quiet hours).
    Later {
        at: DateTime<Utc>,
        error: Option<String>,
        uncounted: bool,
    },
    Failed {
        provider: Option<&'static str>,
        error: String,
    },
}

/// Records an attempt's outcome, only if the row is still queued under this claim (`attempt`,
/// the attempts count the claim set): a receipt, an admin's resend or — after a lost lease —
/// another claim may have moved it meanwhile, and their word stands. With the record, the
/// delivery's job is moved to the next attempt or removed, in the same statement; a delivery
/// someone else settled meanwhile has its job removed, one an admin queued again keeps the job
/// the resend gave it.
pub async fn record(
    pool: &PgPool,
    id: Uuid,
    channel: Channel,
    attempt: i32,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    // $1 id, $2 attempt, $3 now, $4 queue; the change's own parameters follow. The job is moved
    // to `next` when the change was recorded (`u`), removed when the attempt ended the delivery
    // or the delivery ended meanwhile, and left alone when an admin queued it again meanwhile.
    let job = |change: &str, next: Option<&str>| {
        let (cancel, keys, times, payloads) = match next {
            None => (
                "ARRAY[$1::text]".to_owned(),
                "'{}'".to_owned(),
                "'{}'".to_owned(),
                "'{}'".to_owned(),
            ),
            Some(at) => {
                let moved = |then: &str, otherwise: &str| {
                    format!("CASE WHEN EXISTS (SELECT 1 FROM u) THEN {then} ELSE {otherwise} END")
                };
                (
                    moved("'{}'", "ARRAY[$1::text]"),
                    moved("ARRAY[$1::text]", "'{}'"),
                    moved(&format!("ARRAY[{at}::timestamptz]"), "'{}'"),
                    moved("ARRAY[convert_to(recipient_ref, 'UTF8')]", "'{}'"),
                )
            }
        };
        format!(
            "WITH u AS ({change} WHERE id = $1 AND status = 'queued' AND attempts = $2
                   AND (SELECT motcua_jobs_hold($4, ARRAY[$1::text])) >= 0 RETURNING id)
             SELECT motcua_jobs_reschedule($4, {cancel}, {keys}, {times}, {payloads}, $3)
             FROM deliveries WHERE id = $1 AND (EXISTS (SELECT 1 FROM u) OR status <> 'queued')"
        )
    };
    let q = queue(channel);
    let q = q.as_str();
    match outcome {
        // One rule for a sent attempt, whether recorded alone or with others.
        Outcome::Sent {
            provider,
            provider_message_id,
            answer,
            delivered,
        } => {
            let sent = SentRecord {
                id,
                attempt,
                provider,
                provider_message_id: provider_message_id.clone(),
                answer: answer.clone(),
                delivered: *delivered,
            };
            record_sent_many(pool, channel, &[sent], now).await?;
        }
        Outcome::Later {
            at,
            error,
            uncounted,
        } => {
            let sql = job(
                "UPDATE deliveries SET next_attempt_at = $5, last_error = coalesce($6, last_error),
                     attempts = attempts - CASE WHEN $7 THEN 1 ELSE 0 END",
                Some("$5"),
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(attempt)
                .bind(now)
                .bind(q)
                .bind(at)
                .bind(error)
                .bind(uncounted)
                .execute(pool)
                .await?;
        }
        Outcome::Failed { provider, error } => {
            let sql = job(
                "UPDATE deliveries SET status = 'failed', failed_at = $3, last_error = $5,
                     provider = coalesce($6, provider), reply_to = NULL",
                None,
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .bind(attempt)
                .bind(now)
                .bind(q)
                .bind(error)
                .bind(provider)
                .execute(pool)
                .await?;
        }
    }
    Ok(())
}

/// A sent attempt's outcome, to be recorded with others ([`record_sent_many`]).
#[derive(Debug, Clone)]
pub struct SentRecord {
    pub id: Uuid,
    /// The attempts count its claim set.
    pub attempt: i32,
    pub provider: &'static str,
    pub provider_message_id: Option<String>,
    pub answer: String,
    pub delivered: bool,
}

/// Records several sent attempts of `channel` in one statement, each as [`record`] records one:
/// only a row still queued under its claim is marked sent, and the job of each delivery that was
/// marked, or ended meanwhile, is removed. One statement for a batch, where one per delivery was
/// a second round trip and commit for every message.
pub async fn record_sent_many(
    pool: &PgPool,
    channel: Channel,
    sent: &[SentRecord],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if sent.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = sent.iter().map(|r| r.id).collect();
    let attempts: Vec<i32> = sent.iter().map(|r| r.attempt).collect();
    let providers: Vec<&str> = sent.iter().map(|r| r.provider).collect();
    let message_ids: Vec<Option<String>> = sent
        .iter()
        .map(|r| {
            r.provider_message_id
                .as_ref()
                .map(|p| p.chars().take(128).collect())
        })
        .collect();
    let answers: Vec<&str> = sent.iter().map(|r| r.answer.as_str()).collect();
    let delivered: Vec<bool> = sent.iter().map(|r| r.delivered).collect();
    sqlx::query(
        "WITH v AS (
            SELECT * FROM unnest($1::uuid[], $2::int[], $5::text[], $6::text[], $7::text[], $8::bool[])
                AS v(id, attempt, provider, message_id, answer, delivered)),
         u AS (
            UPDATE deliveries d SET status = CASE WHEN v.delivered THEN 'delivered' ELSE 'sent' END,
                provider = v.provider, provider_message_id = v.message_id, provider_answer = v.answer,
                sent_at = $3, delivered_at = CASE WHEN v.delivered THEN $3 END, last_error = NULL,
                reply_to = NULL
            FROM v WHERE d.id = v.id AND d.status = 'queued' AND d.attempts = v.attempt
              AND (SELECT motcua_jobs_hold($4, $1::uuid[]::text[])) >= 0
            RETURNING d.id)
         SELECT motcua_jobs_reschedule($4,
                ARRAY(SELECT d.id::text FROM deliveries d JOIN v ON d.id = v.id
                      WHERE d.id IN (SELECT id FROM u) OR d.status <> 'queued'),
                '{}', '{}', '{}', $3)",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(now)
    .bind(queue(channel))
    .bind(&providers)
    .bind(&message_ids)
    .bind(&answers)
    .bind(&delivered)
    .execute(pool)
    .await?;
    Ok(())
}
