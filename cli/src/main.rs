//! The `tonystore` command-line tool: Tony documents, kinded paths, and stores on disk.

mod commands;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tonystore: {message}");
            ExitCode::FAILURE
        }
    }
}
