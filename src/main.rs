#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    inlet::cli::run(inlet::cli::Cli::parse())
}
