//! What workflow keeps, and how long: its registry of tables (README "Operating → What is kept"),
//! pruned every hour of the service's clock by the platform's job ([`motcua_platform::retention`]).

use motcua_platform::retention::{Kept, Prune, Window};

/// The platform's tables (the deadline timers are its `jobs`) are in
/// [`motcua_platform::retention::PLATFORM`].
pub const TABLES: &[Kept] = &[
    Kept {
        table: "cases",
        kept: "for good: each dossier's case and processing control sheet",
        prune: None,
    },
    Kept {
        table: "history",
        kept: "for good, with its case: every change, who made it and the note",
        prune: None,
    },
    Kept {
        table: "idempotency",
        kept: "MOTCUA_IDEMPOTENCY_RETENTION_DAYS (30): a client retries within minutes, a key older than that is answered as new",
        prune: Some(Prune {
            // A day at least: a client's retry comes within minutes.
            window: Window::Days {
                var: "MOTCUA_IDEMPOTENCY_RETENTION_DAYS",
                default: 30,
                at_least: 1,
            },
            sql: "DELETE FROM idempotency WHERE created_at < $1",
        }),
    },
];
