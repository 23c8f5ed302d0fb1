//! README says what each service keeps and how long, table by table, as the code's registries
//! say it (`<service>/src/retention.rs`, `crates/platform/src/retention.rs`): one registry in
//! code, and the README kept equal to it.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

use motcua_platform::retention::{Kept, PLATFORM};

fn registries() -> Vec<(&'static str, &'static [Kept])> {
    vec![
        ("every service", PLATFORM),
        ("intake", motcua_intake::retention::TABLES),
        ("workflow", motcua_workflow::retention::TABLES),
        ("lookup", motcua_lookup::retention::TABLES),
        ("notification", motcua_notification::retention::TABLES),
        ("reporting", motcua_reporting::retention::TABLES),
    ]
}

/// The rows README's "What is kept" table must hold, in order.
fn rows() -> Vec<String> {
    registries()
        .into_iter()
        .flat_map(|(service, tables)| {
            tables
                .iter()
                .map(move |k| format!("| {service} | `{}` | {} |", k.table, k.kept))
        })
        .collect()
}

#[test]
fn readme_lists_every_table_as_the_registries_keep_it() {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("| service | table | kept |")
        .expect("README has the table of what is kept");
    let listed: Vec<&str> = readme[start..]
        .lines()
        .skip(2)
        .map(str::trim_start)
        .take_while(|l| l.starts_with('|'))
        .collect();
    let wanted = rows();
    assert_eq!(
        listed,
        wanted,
        "README's \"What is kept\" differs from the registries; it should read:\n{}",
        wanted.join("\n")
    );
}

/// The names in backticks of a table cell, without `.rs` or a trailing `/`.
fn named(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|n| n.trim_end_matches('/').trim_end_matches(".rs").to_owned())
        .collect()
}

/// The rows of the table under `header`, split into trimmed cells.
fn table<'a>(readme: &'a str, header: &str) -> Vec<Vec<&'a str>> {
    let start = readme.find(header).expect(header);
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
        .collect()
}

#[test]
fn readme_anatomy_of_a_service_matches_every_service_folder() {
    let readme = include_str!("../../../README.md");
    let parts: Vec<String> = table(readme, "| part | holds |")
        .iter()
        .map(|row| named(row[0])[0].clone())
        .collect();
    let services = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services");
    let mut folders: Vec<String> = std::fs::read_dir(&services)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    folders.sort();
    let rows = table(readme, "| service | lacks, and why | also holds |");
    let mut described: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    described.sort();
    assert_eq!(
        described, folders,
        "README describes each service folder once"
    );
    for row in rows {
        let (service, lacks, also) = (row[0], named(row[1]), named(row[2]));
        let folder = services.join(service);
        let mut entries: Vec<String> = std::fs::read_dir(folder.join("src"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .map(|n| n.trim_end_matches(".rs").to_owned())
            .collect();
        entries.sort();
        entries.dedup(); // `gsm.rs` and its folder `gsm/` (its tests) are one module
        for part in &parts {
            let has = entries.contains(part);
            let said_lacking = lacks.iter().any(|l| l == part);
            assert!(
                has != said_lacking,
                "{service}: README says it {} `{part}`, the folder {} it",
                if said_lacking { "lacks" } else { "has" },
                if has { "has" } else { "lacks" }
            );
        }
        for entry in &entries {
            assert!(
                parts.contains(entry) || also.contains(entry),
                "{service}/src/{entry} is neither a part of the anatomy nor named in README"
            );
        }
        for named in &also {
            assert!(
                entries.contains(named),
                "README names {service}/src/{named}, which is not there"
            );
        }
        for fixed in [
            "migrations",
            "build.rs",
            "tests",
            "src/main.rs",
            "src/lib.rs",
        ] {
            assert!(folder.join(fixed).exists(), "{service} has no {fixed}");
        }
    }
}

/// The `MOTCUA_*` settings the product's code reads: every literal name in the sources of the
/// services and the crates they run on (not tests, benchmarks or the test kit). A setting named
/// with a service in it (`MOTCUA_<SERVICE>_GRPC_ADDR`) is built with `format!` and is not here.
fn settings_read() -> std::collections::BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs")
                && path.file_name().is_some_and(|n| n != "tests.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap();
                for piece in code.split('"').skip(1).step_by(2) {
                    if piece.len() > "MOTCUA_".len()
                        && piece.starts_with("MOTCUA_")
                        && piece[7..]
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    {
                        out.insert(piece.to_owned());
                    }
                }
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = std::collections::BTreeSet::new();
    for dir in [
        "crates/platform/src",
        "crates/domain/src",
        "crates/calendar/src",
        "crates/text/src",
        "crates/cli/src",
    ] {
        walk(&root.join(dir), &mut out);
    }
    for service in ["intake", "workflow", "lookup", "notification", "reporting"] {
        walk(&root.join("services").join(service).join("src"), &mut out);
    }
    out
}

/// README's configuration table as the names it documents. A cell may shorten names after the
/// first: `MOTCUA_SMS_GATEWAY_URL` / `_AUTH` documents `MOTCUA_SMS_GATEWAY_AUTH` — a suffix after
/// any stem of the row's first name.
fn settings_documented() -> Vec<(String, Vec<String>)> {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("| variable | default | meaning |")
        .expect("README has the configuration table");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let first = row.split('|').nth(1).unwrap();
            let names: Vec<String> = first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            (row.to_owned(), names)
        })
        .collect()
}

/// The names a row's cell stands for, given the names the code reads (for its shortened ones).
fn expand(names: &[String], read: &std::collections::BTreeSet<String>) -> Vec<String> {
    let Some(full) = names
        .iter()
        .find(|n| n.starts_with("MOTCUA_") || n.starts_with("OTEL_"))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names {
        if !name.starts_with('_') {
            out.push(name.clone());
            continue;
        }
        let stems = full.match_indices('_').map(|(i, _)| &full[..i]);
        let found: Vec<String> = stems
            .map(|stem| format!("{stem}{name}"))
            .filter(|candidate| read.contains(candidate))
            .collect();
        assert!(
            !found.is_empty(),
            "README's `{name}` (after `{full}`) names no setting the code reads"
        );
        out.extend(found);
    }
    out
}

#[test]
fn readme_documents_every_setting_the_code_reads_and_no_other() {
    let read = settings_read();
    let rows = settings_documented();
    let mut documented = std::collections::BTreeSet::new();
    for (row, names) in &rows {
        for name in expand(names, &read) {
            if name.contains('<') || name.starts_with("OTEL_") {
                continue; // a pattern (`MOTCUA_<SERVICE>_GRPC_ADDR`), or OpenTelemetry's own
            }
            assert!(
                read.contains(&name),
                "README documents {name}, which the code never reads:\n{row}"
            );
            documented.insert(name);
        }
    }
    let missing: Vec<&String> = read.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "settings the code reads that README's configuration table does not document: {missing:?}"
    );
}
