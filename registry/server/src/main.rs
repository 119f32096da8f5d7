//! `stockade-registry`: parses the command line, starts logging, runs the command.

use clap::Parser as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    stockade_registry::cli::run(stockade_registry::cli::Cli::parse()).await
}
