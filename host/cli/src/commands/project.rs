//! `stockade project create|list|show|add-member|members`: `/v1/projects`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::client::{ApiArgs, CliError, Client, absolute, segment};
use super::output::{Table, timestamp};

/// `stockade project ...`
#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: ProjectCommand,
}

/// Project subcommands.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Create a project (admins). Its root is the directory its tools' grants are relative to.
    ///
    /// Example: stockade project create demo --root ~/src/demo
    Create {
        /// `[a-z][a-z0-9-]*`, at most 64 characters.
        name: String,
        /// An existing directory, not a system path; made absolute against the current
        /// directory. The server must be able to see it at the same path.
        #[arg(long, value_name = "DIR")]
        root: PathBuf,
    },
    /// List the projects you can see (admins: all; members: their own).
    List,
    /// Show one project.
    Show {
        /// The project's name.
        name: String,
    },
    /// Make a user a member of a project (admins). Members may use the project's routes:
    /// agents, bundles, grants, tools, calls and its events.
    AddMember {
        /// The project's name.
        project: String,
        /// The user's name (see `stockade user create`).
        user: String,
    },
    /// List a project's members.
    Members {
        /// The project's name.
        project: String,
    },
}

/// A project as the server shows it.
#[derive(Debug, Deserialize)]
struct ProjectView {
    name: String,
    root: String,
    created_at: i64,
}

/// Runs a `project` subcommand.
pub fn run(args: ProjectArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    match args.command {
        ProjectCommand::Create { name, root } => {
            let body = json!({ "name": name, "root": absolute(&root)? });
            client
                .post("/v1/projects", &body)?
                .show(&client, |p: ProjectView| {
                    println!("created project {} (root {})", p.name, p.root);
                })
        }
        ProjectCommand::List => {
            client
                .get("/v1/projects", &[])?
                .show(&client, |projects: Vec<ProjectView>| {
                    let mut table = Table::new(["NAME", "ROOT", "CREATED"]);
                    for p in projects {
                        table.row([p.name, p.root, timestamp(p.created_at)]);
                    }
                    table.print("no projects");
                })
        }
        ProjectCommand::Show { name } => client
            .get(&format!("/v1/projects/{}", segment(&name)), &[])?
            .show(&client, |p: ProjectView| {
                println!("name:     {}", p.name);
                println!("root:     {}", p.root);
                println!("created:  {}", timestamp(p.created_at));
            }),
        ProjectCommand::AddMember { project, user } => {
            let reply = client.post(
                &format!("/v1/projects/{}/members", segment(&project)),
                &json!({ "user": user }),
            )?;
            reply.done(&client, &format!("{user} is a member of {project}"));
            Ok(())
        }
        ProjectCommand::Members { project } => client
            .get(&format!("/v1/projects/{}/members", segment(&project)), &[])?
            .show(&client, |members: Vec<String>| {
                if members.is_empty() {
                    println!("no members");
                }
                for member in members {
                    println!("{member}");
                }
            }),
    }
}
