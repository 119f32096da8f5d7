//! `stockade token create|list|revoke`: `/v1/tokens`. Tokens are stored only as hashes, so a
//! new token is shown once, when it is created.

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::client::{ApiArgs, CliError, Client, segment};
use super::output::{Table, timestamp};

/// `stockade token ...`
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: TokenCommand,
}

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a new API token, for yourself or (admins) for another user.
    ///
    /// The token is printed alone on stdout, once; the details go to stderr, so
    /// `stockade token create --label ci > ci.token` stores exactly the token.
    Create {
        /// A label to recognise the token by in `token list` (1 to 100 characters).
        #[arg(long)]
        label: String,
        /// Admins: issue the token to this user instead of yourself.
        #[arg(long)]
        user: Option<String>,
    },
    /// List tokens without their secrets (admins: everyone's; members: their own).
    List,
    /// Revoke a token by id (from `token list`); requests with it are refused from then on.
    Revoke {
        /// The token id, e.g. `tok_3f9c0a...`.
        id: String,
    },
}

/// A freshly issued token (`POST /v1/users` and `POST /v1/tokens`).
#[derive(Debug, Deserialize)]
pub(super) struct Issued {
    user: String,
    role: String,
    token_id: String,
    token: String,
}

impl Issued {
    /// Details to stderr, the secret alone to stdout.
    pub(super) fn print(&self, what: &str) {
        eprintln!(
            "{what} for user {} ({}), token id {}",
            self.user, self.role, self.token_id
        );
        eprintln!("the token below is shown only once: store it now (only its hash is kept)");
        println!("{}", self.token);
    }
}

/// A token without its secret.
#[derive(Debug, Deserialize)]
struct TokenView {
    id: String,
    user_id: String,
    label: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

/// Runs a `token` subcommand.
pub fn run(args: TokenArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    match args.command {
        TokenCommand::Create { label, user } => {
            let mut body = json!({ "label": label });
            if let Some(user) = user {
                body["user"] = json!(user);
            }
            client
                .post("/v1/tokens", &body)?
                .show(&client, |issued: Issued| issued.print("issued a token"))
        }
        TokenCommand::List => {
            client
                .get("/v1/tokens", &[])?
                .show(&client, |tokens: Vec<TokenView>| {
                    let mut table = Table::new(["ID", "USER", "LABEL", "CREATED", "REVOKED"]);
                    for t in tokens {
                        table.row([
                            t.id,
                            t.user_id,
                            t.label,
                            timestamp(t.created_at),
                            t.revoked_at.map_or_else(|| "-".into(), timestamp),
                        ]);
                    }
                    table.print("no tokens");
                })
        }
        TokenCommand::Revoke { id } => {
            let reply = client.delete(&format!("/v1/tokens/{}", segment(&id)))?;
            reply.done(&client, &format!("revoked {id}"));
            Ok(())
        }
    }
}
