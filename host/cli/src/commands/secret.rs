//! `stockade secret set|list|delete`: `/v1/secrets` (global) and `/v1/projects/{p}/secrets`.
//! Values go to the server and never come back: `list` shows names and metadata only.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::client::{ApiArgs, CliError, Client, segment};
use super::output::{Table, timestamp};

/// `stockade secret ...`
#[derive(Debug, Args)]
pub struct SecretArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: SecretCommand,
}

/// Where a secret lives: one project, or global (every project's grants may name it).
#[derive(Debug, Clone, Args)]
pub struct ScopeOpt {
    /// The project whose secret this is [default: global].
    #[arg(long, short = 'p', value_name = "PROJECT")]
    pub project: Option<String>,
}

/// Secret subcommands (admins).
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store (or replace) a secret. The value is read from --value-file, or from stdin, never
    /// from the command line (shell history, ps).
    ///
    /// Tools normally never read secrets: a grant names a secret and the destinations it may
    /// be sent to, and the host puts it into the plugin's outbound request headers where the
    /// plugin wrote `{{secret:NAME}}` (`grant set --secret`). A tool that must use a value
    /// itself can be granted a read (`grant set --read-secret`). Values are encrypted under the
    /// master key and scrubbed from every tool output, error and log record.
    ///
    /// Example: stockade secret set -p demo github_token < token.txt
    Set {
        #[command(flatten)]
        scope: ScopeOpt,
        /// `[A-Za-z0-9_.-]{1,128}`.
        name: String,
        /// Read the value from this file (a trailing newline is dropped) instead of stdin.
        #[arg(long, value_name = "FILE")]
        value_file: Option<PathBuf>,
    },
    /// List secrets' names and metadata (never values).
    List {
        #[command(flatten)]
        scope: ScopeOpt,
    },
    /// Delete a secret. Grants naming it stop working.
    Delete {
        #[command(flatten)]
        scope: ScopeOpt,
        /// The secret's name.
        name: String,
    },
}

#[derive(Debug, Deserialize)]
struct SecretView {
    name: String,
    scope: String,
    key_version: i64,
    updated_at: i64,
}

fn base(scope: &ScopeOpt) -> String {
    match &scope.project {
        Some(project) => format!("/v1/projects/{}/secrets", segment(project)),
        None => "/v1/secrets".into(),
    }
}

fn read_value(file: Option<&PathBuf>) -> Result<String, CliError> {
    let mut value = String::new();
    match file {
        Some(path) => {
            value = std::fs::read_to_string(path)
                .map_err(|err| CliError::Usage(format!("cannot read {}: {err}", path.display())))?;
        }
        None => {
            std::io::stdin().read_to_string(&mut value).map_err(|err| {
                CliError::Usage(format!("cannot read the value from stdin: {err}"))
            })?;
        }
    }
    while value.ends_with('\n') || value.ends_with('\r') {
        value.pop();
    }
    if value.is_empty() {
        return Err(CliError::Usage("the secret value is empty".into()));
    }
    Ok(value)
}

/// Runs a `secret` subcommand.
pub fn run(args: SecretArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    match args.command {
        SecretCommand::Set {
            scope,
            name,
            value_file,
        } => {
            let value = read_value(value_file.as_ref())?;
            let path = format!("{}/{}", base(&scope), segment(&name));
            client
                .put(&path, &json!({ "value": value }))?
                .show(&client, |s: SecretView| {
                    println!(
                        "stored {} in {} (key version {})",
                        s.name, s.scope, s.key_version
                    );
                })
        }
        SecretCommand::List { scope } => {
            client
                .get(&base(&scope), &[])?
                .show(&client, |secrets: Vec<SecretView>| {
                    let mut table = Table::new(["NAME", "SCOPE", "KEY", "UPDATED"]);
                    for s in secrets {
                        table.row([
                            s.name,
                            s.scope,
                            s.key_version.to_string(),
                            timestamp(s.updated_at),
                        ]);
                    }
                    table.print("no secrets");
                })
        }
        SecretCommand::Delete { scope, name } => {
            let reply = client.delete(&format!("{}/{}", base(&scope), segment(&name)))?;
            reply.done(&client, &format!("deleted {name}"));
            Ok(())
        }
    }
}
