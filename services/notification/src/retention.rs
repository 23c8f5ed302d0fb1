//! What notification keeps, and how long: one registry of its tables (README "Notification"
//! prints it; a test fails when a table is missing from it), and the job that prunes what is kept
//! no longer, every hour of the service's clock. Applicants' phones and e-mails have their own,
//! shorter clock ([`crate::contacts`]: erased MOTCUA_CONTACT_RETENTION_DAYS after the dossier
//! ends); what is pruned here is what remains after.

use crate::settings::NotificationSettings;
use chrono::{DateTime, Utc};
use motcua_platform::SharedClock;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// How long a pruned table's rows are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// MOTCUA_DELIVERY_RETENTION_DAYS.
    Deliveries,
    /// MOTCUA_INBOUND_SMS_RETENTION_DAYS.
    InboundSms,
    /// Until it stops being in force.
    Expiry,
}

/// A table of notification and how long its rows stay.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    pub table: &'static str,
    pub kept: &'static str,
    /// Deletes the rows past their time (`$1`: now minus the window); None for tables kept for
    /// good or kept by the platform.
    pub prune: Option<(Window, &'static str)>,
}

/// In the order the job prunes them.
pub const TABLES: &[Kept] = &[
    Kept {
        table: "deliveries",
        kept: "MOTCUA_DELIVERY_RETENTION_DAYS (180) after it was sent, delivered or failed; queued ones until they end",
        prune: Some((
            Window::Deliveries,
            "DELETE FROM deliveries WHERE status <> 'queued'
               AND coalesce(failed_at, delivered_at, sent_at, created_at) < $1",
        )),
    },
    Kept {
        table: "contacts",
        kept: "phone and e-mail MOTCUA_CONTACT_RETENTION_DAYS (30) after the dossier ends; the emptied row MOTCUA_DELIVERY_RETENTION_DAYS more",
        prune: Some((
            Window::Deliveries,
            "DELETE FROM contacts WHERE erased_at < $1",
        )),
    },
    Kept {
        table: "subscriptions",
        kept: "while live; a deleted one MOTCUA_DELIVERY_RETENTION_DAYS (its deliveries name it)",
        prune: Some((
            Window::Deliveries,
            "DELETE FROM subscriptions WHERE deleted_at < $1",
        )),
    },
    Kept {
        table: "subscription_secrets",
        kept: "while in force (a rotated one until its overlap ends; a deleted subscription's at once)",
        prune: Some((
            Window::Expiry,
            "DELETE FROM subscription_secrets WHERE expires_at <= $1",
        )),
    },
    Kept {
        table: "inbound_sms",
        kept: "MOTCUA_INBOUND_SMS_RETENTION_DAYS (30) after it came (a repeat is answered once, one sender's replies are counted per hour)",
        prune: Some((
            Window::InboundSms,
            "DELETE FROM inbound_sms WHERE received_at < $1",
        )),
    },
    Kept {
        table: "templates",
        kept: "for good: every version, which deliveries name (a few rows per admin's change)",
        prune: None,
    },
    // The platform's tables in every service's database: their retention is the platform's.
    Kept {
        table: "processed_events",
        kept: "MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS (pruned by the platform's consumer)",
        prune: None,
    },
    Kept {
        table: "outbox",
        kept: "published rows MOTCUA_PUBLISHED_OUTBOX_RETENTION_DAYS (notification publishes nothing)",
        prune: None,
    },
    Kept {
        table: "consumer_failures",
        kept: "the platform's (a row per failing event, until it succeeds or is dead-lettered)",
        prune: None,
    },
    Kept {
        table: "projection_versions",
        kept: "the platform's (unused by notification)",
        prune: None,
    },
    Kept {
        table: "jobs",
        kept: "the platform's (unused by notification)",
        prune: None,
    },
];

/// The windows, from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub deliveries: chrono::Duration,
    pub inbound_sms: chrono::Duration,
}

impl From<&NotificationSettings> for Retention {
    fn from(s: &NotificationSettings) -> Self {
        Retention {
            deliveries: s.delivery_retention,
            inbound_sms: s.inbound_retention,
        }
    }
}

/// How often the job looks, by the service's clock.
const EVERY: chrono::Duration = chrono::Duration::hours(1);

/// Deletes every row past its time, table by table in the registry's order; how many.
pub async fn prune(pool: &PgPool, kept: Retention, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut gone = 0;
    for k in TABLES {
        let Some((window, sql)) = k.prune else {
            continue;
        };
        let before = match window {
            Window::Deliveries => now - kept.deliveries,
            Window::InboundSms => now - kept.inbound_sms,
            Window::Expiry => now,
        };
        let n = sqlx::query(sql)
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected();
        if n > 0 {
            tracing::info!(
                table = k.table,
                rows = n,
                "pruned rows past their retention"
            );
            metrics::counter!("motcua_notification_pruned_rows_total", "table" => k.table)
                .increment(n);
        }
        gone += n;
    }
    Ok(gone)
}

/// Prunes every hour of the clock until `stop`.
pub async fn prune_forever(
    pool: PgPool,
    clock: SharedClock,
    kept: Retention,
    stop: CancellationToken,
) {
    loop {
        let now = clock.now();
        if let Err(e) = prune(&pool, kept, now).await {
            tracing::warn!(error = %e, "pruning: cannot reach the database; will retry");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = clock.sleep_until(now + EVERY) => {}
        }
    }
}
