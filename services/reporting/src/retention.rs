//! What reporting keeps, and how long: its registry of tables (README "Operating → What is
//! kept" prints it), pruned every hour of the service's clock by the platform's job
//! ([`motcua_platform::retention`]).
//!
//! The statistics themselves are kept: Biểu 06 may be asked for any past period, and the fact
//! rows hold no personal data (DESIGN.md "Personal data"). What grows with use and is needed only
//! for a while goes.

use motcua_platform::retention::{Kept, Prune, Window};

/// The platform's tables are in [`motcua_platform::retention::PLATFORM`].
pub const TABLES: &[Kept] = &[
    Kept {
        table: "dashboard_sessions",
        kept: "until the session ends (8 hours at most, never past the token's expiry)",
        prune: Some(Prune {
            window: Window::Expiry,
            sql: "DELETE FROM dashboard_sessions WHERE expires_at <= $1",
        }),
    },
    Kept {
        table: "facts",
        kept: "for good: one row per dossier, what every period's Biểu 06 is counted from",
        prune: None,
    },
    Kept {
        table: "daily",
        kept: "for good: a few rows per agency, field and day",
        prune: None,
    },
    Kept {
        table: "steps",
        kept: "for good: one row per dossier version, for officers' figures of any period",
        prune: None,
    },
    Kept {
        table: "agencies",
        kept: "for good: one row per agency the catalog named",
        prune: None,
    },
];
