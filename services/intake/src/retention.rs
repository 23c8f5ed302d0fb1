//! What intake keeps, and how long: its registry of tables (README "Operating → What is kept"),
//! pruned every hour of the service's clock by the platform's job ([`motcua_platform::retention`]).
//!
//! A received dossier is an administrative record: it, what was done to it at the desk and its
//! files are kept (the archive's rules, not this service, say when such records go). What grows
//! only as bookkeeping goes.

use motcua_platform::retention::{Kept, Prune, Window};

/// The platform's tables are in [`motcua_platform::retention::PLATFORM`].
pub const TABLES: &[Kept] = &[
    Kept {
        table: "dossiers",
        kept: "for good: the record of each dossier received (with its receipt and the idempotency key it was submitted under); the applicant's phone and e-mail erased MOTCUA_CONTACT_RETENTION_DAYS (30) after it ended (contacts.rs)",
        prune: None,
    },
    Kept {
        table: "dossier_actions",
        kept: "for good, with its dossier: who did what at the desk",
        prune: None,
    },
    Kept {
        table: "attachments",
        kept: "for good, with its dossier: the files' metadata",
        prune: None,
    },
    Kept {
        table: "procedures",
        kept: "for good: every published version (a dossier keeps the version in force when received)",
        prune: None,
    },
    Kept {
        table: "agencies",
        kept: "for good: one row per agency that may receive",
        prune: None,
    },
    Kept {
        table: "dossier_sequences",
        kept: "a row per agency and day; MOTCUA_SEQUENCES_RETENTION_DAYS (10, at least 8) after the day (a code's day is the day it was received, which an integration may date up to 7 days back; older days' counters are never needed again)",
        prune: Some(Prune {
            window: Window::Days {
                var: "MOTCUA_SEQUENCES_RETENTION_DAYS",
                default: 10,
                at_least: 8,
            },
            sql: "DELETE FROM dossier_sequences WHERE day < ($1 AT TIME ZONE 'Asia/Ho_Chi_Minh')::date",
        }),
    },
];
