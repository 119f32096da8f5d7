//! `stockade bundle install|list`: `/v1/projects/{project}/bundles`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::ProjectOpt;
use super::client::{ApiArgs, CliError, Client, absolute, segment};
use super::output::{Table, list};

/// `stockade bundle ...`
#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: BundleCommand,
}

/// Bundle subcommands.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Install a bundle into a project from a local directory (development install).
    ///
    /// Until the registry exists, a local directory is the only source, and --dev is required
    /// to say you know it is unverified: nothing vouches for who built it. The SHA-256 of
    /// every component is recorded at install and checked again on every load, so a changed
    /// file is refused until it is reinstalled. Installing grants nothing: use `stockade grant
    /// set` for each tool, then allow it to an agent.
    ///
    /// Example: stockade bundle install -p demo --dir plugins/fs --dev
    Install {
        #[command(flatten)]
        project: ProjectOpt,
        /// The bundle directory (`bundle.toml` and its components); made absolute against
        /// the current directory. The server must be able to read it at that path.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Required: confirms a development install from a local, unverified directory.
        #[arg(long)]
        dev: bool,
    },
    /// List a project's bundles with their tools and component digests.
    List {
        #[command(flatten)]
        project: ProjectOpt,
    },
}

/// An installed bundle as the server shows it.
#[derive(Debug, Deserialize)]
struct BundleView {
    name: String,
    version: String,
    component_digests: BTreeMap<String, String>,
    dev_install: bool,
    tools: Vec<String>,
}

/// Runs a `bundle` subcommand.
pub fn run(args: BundleArgs) -> Result<(), CliError> {
    match args.command {
        BundleCommand::Install { project, dir, dev } => {
            // Checked before connecting: a usage error, whatever the server would say.
            if !dev {
                return Err(CliError::Usage(format!(
                    "installing from a local directory ({}) is a development install of \
                     unverified code: add --dev to confirm (verified registry installs come with \
                     the registry)",
                    dir.display()
                )));
            }
            let client = Client::new(&args.api)?;
            let body = json!({ "dir": absolute(&dir)?, "dev": true });
            client
                .post(&path(&project), &body)?
                .show(&client, |b: BundleView| {
                    println!(
                        "installed {} {} into {} (development install)",
                        b.name, b.version, project.project
                    );
                    println!("tools: {}", list(&b.tools));
                    for (component, digest) in &b.component_digests {
                        println!("component {component}: sha256 {digest}");
                    }
                    println!(
                        "next: grant each tool what it may touch (stockade grant set), then \
                         allow it to an agent"
                    );
                })
        }
        BundleCommand::List { project } => {
            let client = Client::new(&args.api)?;
            client
                .get(&path(&project), &[])?
                .show(&client, |bundles: Vec<BundleView>| {
                    let mut table = Table::new(["NAME", "VERSION", "SOURCE", "TOOLS"]);
                    for b in bundles {
                        let source = if b.dev_install { "dev" } else { "registry" };
                        table.row([b.name, b.version, source.into(), list(&b.tools)]);
                    }
                    table.print("no bundles");
                })
        }
    }
}

fn path(project: &ProjectOpt) -> String {
    format!("/v1/projects/{}/bundles", segment(&project.project))
}
