//! `stockade workspace create|list|exec|destroy` (`/v1/projects/{project}/workspaces`) and
//! `stockade workspace image build`, which talks to the Docker daemon directly.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ProjectOpt;
use super::client::{ApiArgs, CliError, Client, segment};
use super::output::Table;

/// `stockade workspace ...`
#[derive(Debug, Args)]
pub struct WorkspaceArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: WorkspaceCommand,
}

/// Workspace subcommands.
#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a workspace: a gVisor container with the project at /workspace (admins).
    ///
    /// Hardened by default (no capabilities, no new privileges, non-root, read-only root,
    /// capped /tmp, memory/CPU/pids limits) and with no network unless --egress rules allow
    /// destinations, reached through a host-side proxy that applies the egress policy.
    ///
    /// Example: stockade workspace create -p demo --egress https://deb.debian.org
    Create {
        #[command(flatten)]
        project: ProjectOpt,
        /// Image profile from the server's [workspaces.images] (default: the configured one).
        #[arg(long)]
        image: Option<String>,
        /// Memory limit in MiB (at most the server's).
        #[arg(long, value_name = "MIB")]
        memory_mib: Option<u64>,
        /// pids.max (at most the server's; gVisor's own threads count too).
        #[arg(long)]
        pids: Option<u64>,
        /// An egress rule the workspace may reach (`https://host`, `http://10.0.0.0/8:8080`).
        /// Repeat for several; none means no network.
        #[arg(long = "egress", value_name = "RULE")]
        egress: Vec<String>,
    },
    /// List a project's workspaces.
    List {
        #[command(flatten)]
        project: ProjectOpt,
    },
    /// Run a command in a workspace, streaming its output; exits with the command's status.
    ///
    /// No shell unless you run one. A command past --timeout-ms is killed (exit 124); one that
    /// exhausts the workspace's memory is reported as `oom_killed` (exit 137).
    ///
    /// Example: stockade workspace exec -p demo ID -- sh -c 'cargo test 2>&1 | tail'
    Exec {
        #[command(flatten)]
        project: ProjectOpt,
        /// The workspace id (from `create` or `list`).
        id: String,
        /// Working directory inside the workspace [default: /workspace].
        #[arg(long)]
        cwd: Option<String>,
        /// An environment variable, `NAME=VALUE`. Repeat for several.
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// A file whose content is the command's stdin.
        #[arg(long, value_name = "FILE")]
        stdin_file: Option<PathBuf>,
        /// Kill the command after this many milliseconds (at most the server's exec timeout).
        #[arg(long, value_name = "MS")]
        timeout_ms: Option<u64>,
        /// The program and its arguments.
        #[arg(last = true, required = true, value_name = "ARGV")]
        argv: Vec<String>,
    },
    /// Destroy a workspace (admins).
    Destroy {
        #[command(flatten)]
        project: ProjectOpt,
        /// The workspace id.
        id: String,
    },
    /// Workspace images, built locally from Debian packages (no image registry).
    #[command(subcommand)]
    Image(ImageCommand),
}

/// `stockade workspace image ...`
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Build a workspace image into the local Docker daemon and print its id to pin.
    ///
    /// `debian` (default): Debian bookworm with bash, coreutils, git and ca-certificates, by
    /// debootstrap (needs the debootstrap package and a Debian mirror; minutes). `busybox`: a
    /// tiny image from busybox-static, for tests. Put the printed id into
    /// [workspaces.images.NAME] id.
    Build {
        /// `debian` or `busybox`.
        #[arg(long, default_value = "debian")]
        recipe: String,
        /// The tag [default: stockade/workspace:bookworm, or stockade/workspace-test:busybox].
        #[arg(long)]
        tag: Option<String>,
        /// The Docker daemon's socket [default: DOCKER_HOST, else the private daemon's].
        #[arg(long, value_name = "HOST")]
        docker_host: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct WorkspaceView {
    id: String,
    owner: String,
    running: bool,
}

fn path(project: &ProjectOpt) -> String {
    format!("/v1/projects/{}/workspaces", segment(&project.project))
}

/// Runs a `workspace` subcommand; `exec` exits with the command's status.
pub fn run(args: WorkspaceArgs) -> ExitCode {
    let result = match args.command {
        WorkspaceCommand::Exec {
            project,
            id,
            cwd,
            env,
            stdin_file,
            timeout_ms,
            argv,
        } => {
            return match exec(
                &args.api, &project, &id, cwd, env, stdin_file, timeout_ms, argv,
            ) {
                Ok(code) => code,
                Err(err) => err.report(),
            };
        }
        WorkspaceCommand::Image(ImageCommand::Build {
            recipe,
            tag,
            docker_host,
        }) => build_image(&recipe, tag, docker_host),
        other => manage(&args.api, other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}

fn manage(api: &ApiArgs, command: WorkspaceCommand) -> Result<(), CliError> {
    let client = Client::new(api)?;
    match command {
        WorkspaceCommand::Create {
            project,
            image,
            memory_mib,
            pids,
            egress,
        } => {
            let body =
                json!({ "image": image, "memory_mib": memory_mib, "pids": pids, "egress": egress });
            client
                .post(&path(&project), &body)?
                .show(&client, |w: WorkspaceView| {
                    println!("created workspace {} in {}", w.id, project.project);
                    println!(
                        "next: stockade workspace exec -p {} {} -- sh -c '...'",
                        project.project, w.id
                    );
                })
        }
        WorkspaceCommand::List { project } => {
            client
                .get(&path(&project), &[])?
                .show(&client, |all: Vec<WorkspaceView>| {
                    let mut table = Table::new(["ID", "OWNER", "STATE"]);
                    for w in all {
                        let state = if w.running { "running" } else { "stopped" };
                        table.row([w.id, w.owner, state.into()]);
                    }
                    table.print("no workspaces");
                })
        }
        WorkspaceCommand::Destroy { project, id } => {
            client
                .delete(&format!("{}/{}", path(&project), segment(&id)))?
                .done(&client, &format!("destroyed workspace {id}"));
            Ok(())
        }
        WorkspaceCommand::Exec { .. } | WorkspaceCommand::Image(_) => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
fn exec(
    api: &ApiArgs,
    project: &ProjectOpt,
    id: &str,
    cwd: Option<String>,
    env: Vec<String>,
    stdin_file: Option<PathBuf>,
    timeout_ms: Option<u64>,
    argv: Vec<String>,
) -> Result<ExitCode, CliError> {
    let mut vars = serde_json::Map::new();
    for pair in env {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--env {pair:?}: expected NAME=VALUE")))?;
        vars.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    let stdin = match stdin_file {
        Some(file) => Some(
            std::fs::read_to_string(&file)
                .map_err(|err| CliError::Usage(format!("cannot read {}: {err}", file.display())))?,
        ),
        None => None,
    };
    let client = Client::new(api)?;
    let body =
        json!({ "argv": argv, "cwd": cwd, "env": vars, "stdin": stdin, "timeout_ms": timeout_ms });
    let mut exit: Option<Value> = None;
    client.post_lines(
        &format!("{}/{}/exec", path(project), segment(id)),
        &body,
        |line| {
            if let Some(text) = line["stdout"].as_str() {
                let _ = std::io::stdout().write_all(text.as_bytes());
                let _ = std::io::stdout().flush();
            } else if let Some(text) = line["stderr"].as_str() {
                let _ = std::io::stderr().write_all(text.as_bytes());
            } else if let Some(done) = line.get("exit") {
                exit = Some(done.clone());
            }
        },
    )?;
    let Some(exit) = exit else {
        return Err(CliError::Unexpected(
            "the server ended the exec without an exit status".into(),
        ));
    };
    let status = exit["status"].as_str().unwrap_or("workspace_died");
    Ok(match status {
        "exited" => {
            let code = exit["exit_code"].as_i64().unwrap_or(1);
            ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1))
        }
        "timed_out" => {
            eprintln!("stockade: the command timed out and was killed (timed_out)");
            ExitCode::from(124)
        }
        "oom_killed" => {
            eprintln!("stockade: the workspace ran out of memory (oom_killed); it is gone");
            ExitCode::from(137)
        }
        other => {
            eprintln!("stockade: the workspace stopped while the command ran ({other})");
            ExitCode::from(125)
        }
    })
}

fn build_image(
    recipe: &str,
    tag: Option<String>,
    docker_host: Option<String>,
) -> Result<(), CliError> {
    use stockade_workspace::{DEFAULT_IMAGE, ImageRecipe, TEST_IMAGE};
    let (recipe, default_tag) = match recipe {
        "debian" => (ImageRecipe::Debian, DEFAULT_IMAGE),
        "busybox" => (ImageRecipe::Busybox, TEST_IMAGE),
        other => {
            return Err(CliError::Usage(format!(
                "--recipe {other:?}: expected `debian` or `busybox`"
            )));
        }
    };
    let tag = tag.unwrap_or_else(|| default_tag.to_owned());
    let host = docker_host.unwrap_or_else(stockade_workspace::docker_host);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::Unexpected(format!("cannot start the async runtime: {err}")))?;
    let built = runtime.block_on(async {
        let backend = stockade_workspace::DockerBackend::connect(
            &host,
            stockade_workspace::RuntimeChoice::default(),
        )
        .await?;
        eprintln!("building {tag} ({recipe:?}); this can take minutes");
        stockade_workspace::build_image(backend.docker(), recipe, &tag).await
    });
    let built = built.map_err(|err| CliError::Api {
        code: err.code().to_owned(),
        message: err.to_string(),
        hint: None,
    })?;
    println!("built {} {}", built.reference, built.id);
    println!("pin it in stockade.toml:");
    println!("[workspaces.images.default]");
    println!("reference = \"{}\"", built.reference);
    println!("id = \"{}\"", built.id);
    Ok(())
}
