//! `motcua`: one binary for every command. Parsing lives here; each command lives in its module.

mod calendar_cmd;
mod exit;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "motcua",
    version,
    about = "Một cửa điện tử — one-stop shop for administrative procedures"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Working-time calendar: lunar dates, holidays, due dates, classification.
    #[command(subcommand)]
    Calendar(calendar_cmd::CalendarCmd),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => exit::clap_error(e),
    };
    let result = match cli.command {
        Command::Calendar(cmd) => calendar_cmd::run(cmd),
    };
    if let Err(e) = result {
        exit::usage(&e);
    }
}
