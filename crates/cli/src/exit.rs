//! How the binary ends on bad input: one line on stderr naming what to fix, exit code 2.

use std::process;

/// Bad arguments: one line, exit 2 (the convention of clap and of most Unix tools).
pub fn usage(message: &str) -> ! {
    eprintln!("motcua: {message}");
    process::exit(2)
}

/// A clap parse error: help and version print as usual; anything else is reduced to its first
/// line ("error: invalid value '-1' for '--days <N>': …") so scripts read one line.
pub fn clap_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => {
            // Everything before the usage block, folded onto one line.
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            usage(message.join(" ").trim_start_matches("error: "))
        }
    }
}
