//! `motcua`: one binary for every command. Parsing lives here; each command lives in its module.

mod admin_cmd;
mod calendar_cmd;
mod exit;
mod lookup_cmd;
mod migrate_cmd;
mod reporting_cmd;
mod serve_cmd;
mod token_cmd;

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
    /// Run services in this process: --target all, or a comma list.
    Serve(serve_cmd::ServeCmd),
    /// Make services' databases ready (create, migrate) and exit: before a release serves.
    Migrate(migrate_cmd::MigrateCmd),
    /// Mint a development bearer token.
    Token(token_cmd::TokenCmd),
    /// Events consumers gave up on: list them, replay them.
    #[command(subcommand)]
    Deadletters(admin_cmd::DeadLettersCmd),
    /// Events a service could not publish: list them, put them back in line.
    #[command(subcommand)]
    Outbox(admin_cmd::OutboxCmd),
    /// Lookup's read model: rebuild it from the streams, or check it against them.
    #[command(subcommand)]
    Lookup(lookup_cmd::LookupCmd),
    /// Reporting's fact rows and daily counts: rebuild them from the stream, or check them.
    #[command(subcommand)]
    Reporting(reporting_cmd::ReportingCmd),
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => exit::clap_error(e),
    };
    let result = match cli.command {
        Command::Calendar(cmd) => calendar_cmd::run(cmd),
        Command::Serve(cmd) => serve_cmd::run(cmd),
        Command::Migrate(cmd) => migrate_cmd::run(cmd),
        Command::Token(cmd) => token_cmd::run(cmd),
        Command::Deadletters(cmd) => admin_cmd::deadletters(cmd),
        Command::Outbox(cmd) => admin_cmd::outbox(cmd),
        Command::Lookup(cmd) => lookup_cmd::run(cmd),
        Command::Reporting(cmd) => reporting_cmd::run(cmd),
    };
    if let Err(e) = result {
        exit::usage(&e);
    }
}
