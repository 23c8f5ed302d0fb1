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
