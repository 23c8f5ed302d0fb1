//! What notification keeps, and how long: its registry of tables (README "Operating → What is
//! kept" prints it; a test fails when a table of its database is missing from it), pruned every
//! hour of the service's clock by the platform's job ([`motcua_platform::retention`]).
//! Applicants' phones and e-mails have their own, shorter clock ([`crate::contacts`]: erased
//! MOTCUA_CONTACT_RETENTION_DAYS after the dossier ends); what is pruned here is what remains.

use motcua_platform::retention::{Kept, Prune, Window};

const DELIVERIES: Window = Window::Days {
    var: "MOTCUA_DELIVERY_RETENTION_DAYS",
    default: 180,
    at_least: 1,
};

/// In the order the job prunes them. The platform's tables are in
/// [`motcua_platform::retention::PLATFORM`].
pub const TABLES: &[Kept] = &[
    Kept {
        table: "deliveries",
        kept: "MOTCUA_DELIVERY_RETENTION_DAYS (180) after it was sent, delivered or failed; queued ones until they end",
        prune: Some(Prune {
            window: DELIVERIES,
            sql: "DELETE FROM deliveries WHERE status <> 'queued'
                    AND coalesce(failed_at, delivered_at, sent_at, created_at) < $1",
        }),
    },
    Kept {
        table: "contacts",
        kept: "phone and e-mail MOTCUA_CONTACT_RETENTION_DAYS (30) after the dossier ends; the emptied row MOTCUA_DELIVERY_RETENTION_DAYS more",
        prune: Some(Prune {
            window: DELIVERIES,
            sql: "DELETE FROM contacts WHERE erased_at < $1",
        }),
    },
    Kept {
        table: "subscriptions",
        kept: "while live; a deleted one MOTCUA_DELIVERY_RETENTION_DAYS (its deliveries name it)",
        prune: Some(Prune {
            window: DELIVERIES,
            sql: "DELETE FROM subscriptions WHERE deleted_at < $1",
        }),
    },
    Kept {
        table: "subscription_secrets",
        kept: "while in force (a rotated one until its overlap ends; a deleted subscription's at once)",
        prune: Some(Prune {
            window: Window::Expiry,
            sql: "DELETE FROM subscription_secrets WHERE expires_at <= $1",
        }),
    },
    Kept {
        table: "inbound_sms",
        kept: "MOTCUA_INBOUND_SMS_RETENTION_DAYS (30) after it came (a repeat is answered once, one sender's replies are counted per hour)",
        prune: Some(Prune {
            window: Window::Days {
                var: "MOTCUA_INBOUND_SMS_RETENTION_DAYS",
                default: 30,
                at_least: 1,
            },
            sql: "DELETE FROM inbound_sms WHERE received_at < $1",
        }),
    },
    Kept {
        table: "templates",
        kept: "for good: every version, which deliveries name (a few rows per admin's change)",
        prune: None,
    },
];
