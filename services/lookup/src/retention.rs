//! What lookup keeps, and how long: its registry of tables (README "Operating → What is kept").
//! Both are read models rebuilt from the streams (`motcua lookup rebuild`); a dossier's row holds
//! only what the public may see (masked name, keyed hashes of the secrets).

use motcua_platform::retention::Kept;

/// The platform's tables are in [`motcua_platform::retention::PLATFORM`].
pub const TABLES: &[Kept] = &[
    Kept {
        table: "dossiers",
        kept: "for good: one row per dossier, what a citizen with its code and secret may see",
        prune: None,
    },
    Kept {
        table: "procedures",
        kept: "for good: the public catalog, every published version",
        prune: None,
    },
];
