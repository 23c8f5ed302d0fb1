//! `motcua-test-leftovers`: what test runs left on the shared PostgreSQL and NATS.
//!
//! - `sweep`: removes what ended test processes left behind (named with a pid that is gone, nobody
//!   connected); never what a running test uses.
//! - `snapshot FILE`: writes the names of the test databases and streams there now.
//! - `check FILE`: fails, naming them, when databases or streams are here that were not in FILE
//!   and that no running test uses: what the run in between left behind.
//!
//! `deploy/test.sh` runs `sweep` and `snapshot` before the tests and `check` after them.

use motcua_testkit::scratch::{InUse, Inventory, leftovers, sweep};
use std::collections::BTreeSet;
use std::process::ExitCode;

fn names(inventory: &Inventory) -> impl Iterator<Item = (&str, InUse)> {
    inventory
        .databases
        .iter()
        .map(|(n, u)| (n.as_str(), *u))
        .chain(inventory.streams.iter().map(|(n, u)| (n.as_str(), *u)))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = async {
        match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["sweep"] => {
                let removed = sweep().await?;
                println!(
                    "test leftovers: removed {} of ended runs{}",
                    removed.len(),
                    if removed.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", removed.join(" "))
                    }
                );
                Ok(true)
            }
            ["snapshot", file] => {
                let now = leftovers().await?;
                let text: String = names(&now).map(|(n, _)| format!("{n}\n")).collect();
                std::fs::write(file, text)?;
                println!(
                    "test leftovers: {} databases and {} streams of tests before the run",
                    now.databases.len(),
                    now.streams.len()
                );
                Ok(true)
            }
            ["check", file] => {
                let before: BTreeSet<String> = std::fs::read_to_string(file)?
                    .lines()
                    .map(str::to_owned)
                    .collect();
                let now = leftovers().await?;
                let left: Vec<&str> = names(&now)
                    .filter(|(n, u)| *u != InUse::Yes && !before.contains(*n))
                    .map(|(n, _)| n)
                    .collect();
                println!(
                    "test leftovers: {} databases and {} streams of tests after the run, {} left behind by it",
                    now.databases.len(),
                    now.streams.len(),
                    left.len()
                );
                if !left.is_empty() {
                    eprintln!(
                        "the run left these behind (a test that does not remove what it made): {}",
                        left.join(" ")
                    );
                }
                Ok(left.is_empty())
            }
            _ => anyhow::bail!("usage: motcua-test-leftovers sweep | snapshot FILE | check FILE"),
        }
    };
    match run.await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("motcua-test-leftovers: {e:#}");
            ExitCode::from(2)
        }
    }
}
