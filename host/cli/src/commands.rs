//! One module per command group. The operator commands (one per API resource) share
//! [`client`] (server URL, credentials, error decoding) and [`output`] (tables).

pub mod admin;
pub mod agent;
pub mod audit;
pub mod backup;
pub mod bundle;
pub mod calls;
pub mod client;
pub mod events;
pub mod grant;
pub mod output;
pub mod plugin;
pub mod project;
pub mod secret;
pub mod serve;
pub mod token;
pub mod user;
pub mod workspace;

use clap::Args;

/// The project a project-scoped command works in.
#[derive(Debug, Clone, Args)]
pub struct ProjectOpt {
    /// The project's name.
    #[arg(long, short = 'p', env = "STOCKADE_PROJECT", value_name = "PROJECT")]
    pub project: String,
}
