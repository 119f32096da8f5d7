//! The `stockade` command line: the server, the operator's client for its API, and the plugin
//! author's tools.
//!
//! [`Cli`] is the argument grammar; [`run`] dispatches to one module per command group under
//! `commands/`: `serve`, the operator commands over HTTP (`project`, `user`, `token`, `agent`,
//! `bundle`, `grant`, `tools`, `call`, `events`, sharing `commands/client.rs`), `audit`,
//! `backup` and `restore` (read the database file directly) and `plugin`. Commands print
//! results to stdout and progress and errors to stderr, and exit with 0 (success), 1 (the server
//! refused the request, the tool call failed, the audit found tampering, or a restore refused
//! the backup) or 2 (bad arguments, unusable bundle, server unreachable).

#![forbid(unsafe_code)]

mod commands;

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use commands::plugin::PluginCommand;

/// Stockade: a self-hosted host for AI-agent tools, run as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "stockade", version, after_long_help = WALKTHROUGH)]
pub struct Cli {
    /// Data directory: database, compiled-component cache, keys [default: .stockade].
    #[arg(long, global = true, env = "STOCKADE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Shown after `stockade --help`.
const WALKTHROUGH: &str = "\
Operator commands talk to a running server (--server URL, or STOCKADE_SERVER; default
http://127.0.0.1:7878). They authenticate with an API token read from STOCKADE_TOKEN or
--token-file FILE, never from a command-line value (that would land in shell history and ps).
The bootstrap admin token is printed once, on the server's first start.

Walk-through:
  stockade serve                                   # note the bootstrap admin token
  export STOCKADE_TOKEN=stk_...
  stockade project create demo --root ~/src/demo
  stockade bundle install -p demo --dir plugins/fs --dev
  stockade grant set -p demo fs read_file --dir .
  stockade agent create -p demo reader --allow 'fs.read_file'
  stockade call -p demo --agent reader fs.read_file --input '{\"path\":\"README.md\"}'
  stockade events -p demo
  stockade audit verify";

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (binds 127.0.0.1:7878 by default).
    ///
    /// Configuration layers: defaults, then stockade.toml (or --config), then STOCKADE_*
    /// environment variables, then these flags.
    Serve(commands::serve::ServeArgs),
    /// Projects: a name, a root directory, members (admins create them).
    Project(commands::project::ProjectArgs),
    /// Users and their first token (admins).
    User(commands::user::UserArgs),
    /// API tokens: issue, list, revoke.
    Token(commands::token::TokenArgs),
    /// Agents: who calls tools in a project, and which tools they may call.
    Agent(commands::agent::AgentArgs),
    /// Bundles of tools installed into a project.
    Bundle(commands::bundle::BundleArgs),
    /// Grants: which project directories and limits each tool gets.
    Grant(commands::grant::GrantArgs),
    /// List the tools an agent may call, as that agent would see them.
    Tools(commands::calls::ToolsArgs),
    /// Call a tool as an agent, through the server (allowlist, grants, event log).
    ///
    /// Prints the tool's JSON output on stdout. Example:
    /// stockade call -p demo --agent reader fs.read_file --input '{"path":"README.md"}'
    Call(commands::calls::CallArgs),
    /// Read the event log: tool calls, auth failures, admin actions.
    Events(commands::events::EventsArgs),
    /// Check the event log's hash chain in the database file (works while the server runs).
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Secrets: encrypted values tools use without seeing them (admins).
    Secret(commands::secret::SecretArgs),
    /// The master key: generate one, rotate to a new one (works on the database directly).
    #[command(subcommand)]
    Admin(commands::admin::AdminCommand),
    /// Run and inspect plugins locally under the production runtime and limits.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Write a backup of the database to one file (works while the server runs).
    ///
    /// A consistent snapshot of <data-dir>/stockade.db and a manifest with its SHA-256, in one
    /// tar file. Never the master key or any other file of the data directory.
    Backup(commands::backup::BackupArgs),
    /// Agent workspaces: hardened gVisor containers with the project at /workspace.
    Workspace(commands::workspace::WorkspaceArgs),
    /// Restore a backup into the data directory (stop the server first).
    ///
    /// Checks the whole backup (entries, manifest, SHA-256, integrity, event chain) before it
    /// replaces anything; refuses while a server has the database open.
    Restore(commands::backup::RestoreArgs),
}

/// Runs a parsed command line. Operator commands are blocking HTTP requests; `serve`, `audit`,
/// `backup`, `restore` and `plugin` run on a fresh tokio runtime.
pub fn run(cli: Cli) -> ExitCode {
    let data_dir = cli.data_dir;
    let finish = |result: Result<(), commands::client::CliError>| match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    };
    match cli.command {
        Command::Serve(args) => block_on(commands::serve::run(data_dir, args)),
        Command::Plugin(command) => {
            let data_dir = data_dir.unwrap_or_else(|| PathBuf::from(".stockade"));
            block_on(async move { commands::plugin::run(&data_dir, command).await })
        }
        Command::Audit(command) => {
            let data_dir = data_dir.unwrap_or_else(|| PathBuf::from(".stockade"));
            block_on(async move { commands::audit::run(&data_dir, command).await })
        }
        Command::Backup(args) => {
            let data_dir = data_dir.unwrap_or_else(|| PathBuf::from(".stockade"));
            block_on(async move { commands::backup::backup(&data_dir, args).await })
        }
        Command::Restore(args) => {
            let data_dir = data_dir.unwrap_or_else(|| PathBuf::from(".stockade"));
            block_on(async move { commands::backup::restore(&data_dir, args).await })
        }
        Command::Admin(command) => {
            let data_dir = data_dir.unwrap_or_else(|| PathBuf::from(".stockade"));
            block_on(async move { commands::admin::run(&data_dir, command).await })
        }
        Command::Secret(args) => finish(commands::secret::run(args)),
        Command::Project(args) => finish(commands::project::run(args)),
        Command::User(args) => finish(commands::user::run(args)),
        Command::Token(args) => finish(commands::token::run(args)),
        Command::Agent(args) => finish(commands::agent::run(args)),
        Command::Bundle(args) => finish(commands::bundle::run(args)),
        Command::Grant(args) => finish(commands::grant::run(args)),
        Command::Tools(args) => finish(commands::calls::tools(args)),
        Command::Call(args) => finish(commands::calls::call(args)),
        Command::Events(args) => finish(commands::events::run(args)),
        Command::Workspace(args) => commands::workspace::run(args),
    }
}

fn block_on(future: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            ExitCode::from(2)
        }
    }
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
