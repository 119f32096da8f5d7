//! The `stockade` binary: parses arguments, starts logging, runs the command.

#![forbid(unsafe_code)]

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = stockade_cli::Cli::parse();
    stockade_cli::init_tracing();
    stockade_cli::run(cli)
}
