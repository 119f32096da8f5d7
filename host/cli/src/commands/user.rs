//! `stockade user create`: `/v1/users`.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;

use super::client::{ApiArgs, CliError, Client};
use super::token::Issued;

/// `stockade user ...`
#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// User subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and its first API token (admins).
    ///
    /// The token is printed alone on stdout, once; the details go to stderr, so
    /// `stockade user create alice > alice.token` stores exactly the token. Give the user access
    /// to a project with `stockade project add-member`.
    Create {
        /// `[a-z][a-z0-9-]*`, at most 64 characters.
        name: String,
        /// `member` sees only the projects they belong to; `admin` manages everything.
        #[arg(long, value_enum, default_value_t = Role::Member)]
        role: Role,
    },
}

/// `--role` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Role {
    /// Uses the projects they are a member of.
    Member,
    /// Creates projects and users, sees every project and event.
    Admin,
}

/// Runs a `user` subcommand.
pub fn run(args: UserArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    match args.command {
        UserCommand::Create { name, role } => {
            let role = match role {
                Role::Member => "member",
                Role::Admin => "admin",
            };
            client
                .post("/v1/users", &json!({ "name": name, "role": role }))?
                .show(&client, |issued: Issued| issued.print("created"))
        }
    }
}
