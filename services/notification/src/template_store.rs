//! Published templates in the database. A template belongs to an agency: a version an agency's
//! admin publishes words that agency's messages only (DESIGN.md "Identity": no write crosses
//! agencies). The version in use for an agency is its newest own, else the newest default
//! (agency '': versions published before templates belonged to agencies), else the built-in text.
//! Versions are numbered per agency.

use crate::rules::Channel;
use crate::templates::{LANGUAGE, Template};
use crate::triggers::Trigger;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

fn from_row(row: &sqlx::postgres::PgRow) -> Option<Template> {
    Some(Template {
        trigger: Trigger::parse(row.get::<&str, _>("trigger"))?,
        channel: Channel::parse(row.get::<&str, _>("channel"))?,
        language: row.get("language"),
        version: row.get("version"),
        subject: row.get("subject"),
        body: row.get("body"),
        html_body: row.get("html_body"),
        published_at: row.get("published_at"),
        published_by: row.get("published_by"),
        agency: row.get("agency"),
    })
}

/// The template in use for a trigger and channel (Vietnamese) of `agency`'s messages; None when
/// there is none at all.
pub async fn in_use(
    conn: &mut PgConnection,
    trigger: Trigger,
    channel: Channel,
    agency: &str,
) -> sqlx::Result<Option<Template>> {
    let row = sqlx::query(
        "SELECT * FROM templates
         WHERE trigger = $1 AND channel = $2 AND language = $3 AND agency IN ($4, '')
         ORDER BY agency = $4 DESC, version DESC LIMIT 1",
    )
    .bind(trigger.as_str())
    .bind(channel.as_str())
    .bind(LANGUAGE)
    .bind(agency)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row
        .as_ref()
        .and_then(from_row)
        .or_else(|| Template::builtin(trigger, channel)))
}

/// Every template in use for `agency` (its own, a default, or built in), or every version of one
/// trigger's templates that `agency`'s messages may use (its own and the defaults).
pub async fn list(
    conn: &mut PgConnection,
    trigger: Option<Trigger>,
    agency: &str,
) -> sqlx::Result<Vec<Template>> {
    let rows = match trigger {
        Some(t) => {
            sqlx::query(
                "SELECT * FROM templates WHERE trigger = $1 AND agency IN ($2, '')
                 ORDER BY channel, language, agency, version",
            )
            .bind(t.as_str())
            .bind(agency)
            .fetch_all(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT DISTINCT ON (trigger, channel, language) * FROM templates
                 WHERE agency IN ($1, '')
                 ORDER BY trigger, channel, language, agency = $1 DESC, version DESC",
            )
            .bind(agency)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut out: Vec<Template> = rows.iter().filter_map(from_row).collect();
    for t in crate::triggers::ALL {
        if trigger.is_some_and(|only| only != t) {
            continue;
        }
        for c in [Channel::Sms, Channel::Email] {
            let published = out
                .iter()
                .any(|p| p.trigger == t && p.channel == c && p.language == LANGUAGE);
            if !published && let Some(b) = Template::builtin(t, c) {
                out.push(b);
            }
        }
    }
    out.sort_by(|a, b| {
        (
            a.trigger.as_str(),
            a.channel.as_str(),
            &a.language,
            &a.agency,
            a.version,
        )
            .cmp(&(
                b.trigger.as_str(),
                b.channel.as_str(),
                &b.language,
                &b.agency,
                b.version,
            ))
    });
    Ok(out)
}

/// What a publisher writes.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    pub trigger: Trigger,
    pub channel: Channel,
    pub language: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub html_body: &'a str,
    pub agency: &'a str,
}

/// Publishes a new version of `agency`'s template after [`crate::templates::check`]; returns it.
pub async fn publish(
    conn: &mut PgConnection,
    d: &Draft<'_>,
    by: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Template> {
    // Two admins publishing at once: the primary key refuses the second's version number, and
    // the caller retries; versions stay dense and ordered.
    let version: i32 = sqlx::query_scalar(
        "INSERT INTO templates (agency, trigger, channel, language, version, subject, body, html_body, published_at, published_by)
         SELECT $9, $1, $2, $3, coalesce(max(version), 0) + 1, $4, $5, $6, $7, $8
           FROM templates WHERE trigger = $1 AND channel = $2 AND language = $3 AND agency = $9
         RETURNING version",
    )
    .bind(d.trigger.as_str())
    .bind(d.channel.as_str())
    .bind(d.language)
    .bind(d.subject)
    .bind(d.body)
    .bind(d.html_body)
    .bind(now)
    .bind(by)
    .bind(d.agency)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Template {
        trigger: d.trigger,
        channel: d.channel,
        language: d.language.into(),
        version,
        subject: d.subject.into(),
        body: d.body.into(),
        html_body: d.html_body.into(),
        published_at: Some(now),
        published_by: by.into(),
        agency: d.agency.into(),
    })
}
