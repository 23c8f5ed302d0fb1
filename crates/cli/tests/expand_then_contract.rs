//! Migrations keep the previous release working (docs/operations.md "Upgrade"): during a rollout
//! old and new pods share a database, and a rollback starts the previous release on the newer
//! schema. So a migration only adds (tables, nullable columns or ones with a default, indexes,
//! functions); what the previous release reads or writes is removed or changed one release later,
//! in a migration that says so on a line `-- contract: <what the previous release no longer uses>`.
//! Every migration of every service and of the platform is read here.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

/// What breaks the previous release, as written in SQL (upper-cased, whitespace folded).
const BREAKING: &[&str] = &[
    "DROP TABLE",
    "DROP COLUMN",
    "RENAME TO",
    "RENAME COLUMN",
    "SET NOT NULL",
    "SET DATA TYPE",
];

fn breaking(sql: &str) -> Vec<String> {
    let code: String = sql
        .lines()
        .map(|l| l.split("--").next().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let folded = code
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    let mut found: Vec<String> = BREAKING
        .iter()
        .filter(|b| folded.contains(*b))
        .map(|b| (*b).to_owned())
        .collect();
    for statement in folded.split(';') {
        if statement.contains("ALTER COLUMN") && statement.contains(" TYPE ") {
            found.push("ALTER COLUMN … TYPE".into());
        }
        // A new NOT NULL column without a default: the previous release's inserts fail.
        for part in statement.split("ADD COLUMN").skip(1) {
            let column = part.split(',').next().unwrap();
            if column.contains("NOT NULL")
                && !column.contains("DEFAULT")
                && !column.contains("GENERATED")
            {
                found.push(format!("ADD COLUMN{column}"));
            }
        }
    }
    found
}

#[test]
fn every_migration_only_adds_unless_it_says_what_it_contracts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = vec![root.join("crates/platform/migrations")];
    for service in ["intake", "workflow", "lookup", "notification", "reporting"] {
        dirs.push(root.join("services").join(service).join("migrations"));
    }
    let mut read = 0;
    let mut offending = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "sql") {
                continue;
            }
            read += 1;
            let sql = std::fs::read_to_string(&path).unwrap();
            let found = breaking(&sql);
            if !found.is_empty()
                && !sql
                    .lines()
                    .any(|l| l.trim_start().starts_with("-- contract:"))
            {
                offending.push(format!("{}: {found:?}", path.display()));
            }
        }
    }
    assert!(read >= 20, "read only {read} migrations");
    assert!(
        offending.is_empty(),
        "migrations that would break the previous release without a `-- contract:` line:\n{}",
        offending.join("\n")
    );
}

#[test]
fn the_check_sees_what_breaks_and_lets_additions_through() {
    assert_eq!(
        breaking("ALTER TABLE cases DROP COLUMN note;"),
        ["DROP COLUMN"]
    );
    assert_eq!(
        breaking("alter table cases\n  rename column note to notes;"),
        ["RENAME COLUMN"]
    );
    assert_eq!(
        breaking("ALTER TABLE cases ALTER COLUMN v TYPE bigint;"),
        ["ALTER COLUMN … TYPE"]
    );
    assert_eq!(
        breaking("ALTER TABLE cases ADD COLUMN v int NOT NULL;").len(),
        1
    );
    assert!(breaking("ALTER TABLE cases ADD COLUMN v int NOT NULL DEFAULT 0;").is_empty());
    assert!(breaking("ALTER TABLE cases ADD COLUMN v int; -- DROP COLUMN later").is_empty());
    assert!(breaking("CREATE INDEX cases_by_due ON cases (due_at);").is_empty());
}
