//! `stockade serve`: loads the layered configuration and runs the server until Ctrl-C/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use stockade_server::{Config, Mode, Overrides};

/// Arguments of `stockade serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file [default: ./stockade.toml if it exists].
    #[arg(long, env = "STOCKADE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7878].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// `production` (default) or `development`.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// File holding the bearer token that allows writes from non-loopback clients.
    #[arg(long, value_name = "FILE")]
    pub write_token_file: Option<PathBuf>,
    /// Listen on a non-loopback address without a write token (logged as a warning).
    #[arg(long)]
    pub insecure_public_bind: bool,
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Safe defaults enforced.
    Production,
    /// Allows `tools.allow = ["*"]` and local bundle directories.
    Development,
}

/// Runs the server.
pub async fn run(data_dir: Option<PathBuf>, args: ServeArgs) -> ExitCode {
    let flags = Overrides {
        bind: args.bind,
        data_dir,
        mode: args.mode.map(|mode| match mode {
            ModeArg::Production => Mode::Production,
            ModeArg::Development => Mode::Development,
        }),
        write_token_file: args.write_token_file,
        insecure_public_bind: args.insecure_public_bind,
    };
    let config = match Config::load(
        args.config.as_deref(),
        |name| std::env::var(name).ok(),
        &flags,
    ) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let ready = |addr: SocketAddr| eprintln!("stockade listening on http://{addr}");
    match stockade_server::serve(config, ready, stockade_server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
