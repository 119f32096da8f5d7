//! The `stockade` command line: the server (from step 2 on) and the plugin author's tools.
//!
//! [`Cli`] is the argument grammar; [`run`] dispatches to one module per command group under
//! `commands/`. Commands print results to stdout and progress and errors to stderr, and exit
//! with 0 (success), 1 (the tool call failed) or 2 (bad arguments, unusable bundle).

#![forbid(unsafe_code)]

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use commands::plugin::PluginCommand;

/// Stockade: a self-hosted host for AI-agent tools, run as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "stockade", version)]
pub struct Cli {
    /// Data directory: database, compiled-component cache, keys [default: .stockade].
    #[arg(long, global = true, env = "STOCKADE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (binds 127.0.0.1:7878 by default).
    ///
    /// Configuration layers: defaults, then stockade.toml (or --config), then STOCKADE_*
    /// environment variables, then these flags.
    Serve(commands::serve::ServeArgs),
    /// Run and inspect plugins locally under the production runtime and limits.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

/// Runs a parsed command line on a fresh tokio runtime.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => commands::serve::run(cli.data_dir, args).await,
            Command::Plugin(command) => {
                let data_dir = cli.data_dir.unwrap_or_else(|| PathBuf::from(".stockade"));
                commands::plugin::run(&data_dir, command).await
            }
        }
    })
}

/// Logs to stderr, filtered by `STOCKADE_LOG` (default: warnings, plus plugin logs at info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STOCKADE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,plugin=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
