//! `stockade agent create|list`: `/v1/projects/{project}/agents`, the tool allowlists.

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::ProjectOpt;
use super::client::{ApiArgs, CliError, Client, segment};
use super::output::{Table, list};

/// `stockade agent ...`
#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: AgentCommand,
}

/// Agent subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create an agent: a name the calls are made under, with the tools it may call.
    ///
    /// Example: stockade agent create -p demo reviewer --allow 'fs.*' --deny fs.write_file
    Create {
        #[command(flatten)]
        project: ProjectOpt,
        /// `[a-z][a-z0-9-]*`, at most 64 characters.
        name: String,
        /// Tools the agent may call: a glob over `bundle.tool` names (`fs.*`, `fs.read_file`).
        /// Repeat for several. Without any, the agent may call nothing. `*` alone is refused
        /// when the server runs in production mode.
        #[arg(long, value_name = "GLOB")]
        allow: Vec<String>,
        /// Tools the agent may never call, even if an --allow matches (deny wins). Repeat for
        /// several.
        #[arg(long, value_name = "GLOB")]
        deny: Vec<String>,
        /// Refuse every tool whose grant can write, whatever --allow says.
        #[arg(long)]
        read_only: bool,
    },
    /// List a project's agents and their allowlists.
    List {
        #[command(flatten)]
        project: ProjectOpt,
    },
}

/// An agent as the server shows it.
#[derive(Debug, Deserialize)]
struct AgentView {
    name: String,
    allow: Vec<String>,
    deny: Vec<String>,
    read_only: bool,
}

/// Runs an `agent` subcommand.
pub fn run(args: AgentArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    match args.command {
        AgentCommand::Create {
            project,
            name,
            allow,
            deny,
            read_only,
        } => {
            let body = json!({
                "name": name,
                "tools": { "allow": allow, "deny": deny, "read_only": read_only },
            });
            client
                .post(&path(&project), &body)?
                .show(&client, |a: AgentView| {
                    println!(
                        "created agent {} in {}: allow {}; deny {}{}",
                        a.name,
                        project.project,
                        list(&a.allow),
                        list(&a.deny),
                        if a.read_only { "; read-only" } else { "" }
                    );
                })
        }
        AgentCommand::List { project } => {
            client
                .get(&path(&project), &[])?
                .show(&client, |agents: Vec<AgentView>| {
                    let mut table = Table::new(["NAME", "ALLOW", "DENY", "READ-ONLY"]);
                    for a in agents {
                        table.row([
                            a.name,
                            list(&a.allow),
                            list(&a.deny),
                            if a.read_only { "yes" } else { "no" }.into(),
                        ]);
                    }
                    table.print("no agents");
                })
        }
    }
}

fn path(project: &ProjectOpt) -> String {
    format!("/v1/projects/{}/agents", segment(&project.project))
}
