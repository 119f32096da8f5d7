//! `stockade grant set|show`: `/v1/projects/{project}/grants/{bundle}/{tool}`, what one tool may
//! touch in one project.

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use stockade_registry_types::{Access, LimitOverrides, MountPath};

use super::ProjectOpt;
use super::client::{ApiArgs, CliError, Client, segment};

/// `stockade grant ...`
#[derive(Debug, Args)]
pub struct GrantArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: GrantCommand,
}

/// Grant subcommands.
#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// Set (replace) a tool's grant: the project directories it may use, where it may connect,
    /// and its limits.
    ///
    /// A tool starts with nothing granted. The grant must stay within what the bundle's
    /// manifest requests for the tool (a read-only request cannot be granted read-write), and
    /// every path must stay inside the project root. Setting a grant replaces the previous one:
    /// give every --dir the tool should keep.
    ///
    /// Example: stockade grant set -p demo fs write_file --dir src:rw --deadline-ms 2000
    ///
    /// Example: stockade grant set -p demo http fetch --egress https://api.github.com
    Set {
        #[command(flatten)]
        project: ProjectOpt,
        /// The bundle's name, e.g. `fs`.
        bundle: String,
        /// The tool's name within the bundle, e.g. `read_file`.
        tool: String,
        /// A directory to grant: `[MOUNT=]PATH[:ro|:rw]`. MOUNT is the guest path the tool
        /// requests in its manifest (default `/project`); PATH is relative to the project root
        /// (default `.`, the root itself); read-only unless `:rw`. Repeat for several.
        #[arg(long = "dir", value_name = "[MOUNT=]PATH[:ro|:rw]", value_parser = parse_dir)]
        dirs: Vec<DirGrant>,
        /// An outbound destination to allow: `scheme://host[:ports]` with host an exact name,
        /// `*.suffix`, an IP or a CIDR (`http://10.0.0.0/8:8080`), ports a list or range
        /// (`443,8443`, `8000-8100`). Private, loopback and metadata addresses stay refused
        /// unless an IP/CIDR rule names them. Repeat for several; none means no network.
        #[arg(long = "egress", value_name = "RULE")]
        egress: Vec<String>,
        /// Let the host put a stored secret into this tool's request headers where the plugin
        /// writes `{{secret:NAME}}`, only for requests to DEST (egress rules, comma-separated,
        /// each within --egress). The plugin never sees the value. Repeat for several.
        /// Example: --secret github_token=https://api.github.com
        #[arg(long = "secret", value_name = "NAME=DEST[,DEST]", value_parser = parse_secret)]
        secrets: Vec<SecretGrant>,
        /// Let the plugin read a stored secret itself (`stockade:plugin/secrets`). Only names
        /// the tool requests in its manifest; prefer --secret, which keeps the value out of the
        /// plugin. Every read is an event. Repeat for several.
        #[arg(long = "read-secret", value_name = "NAME")]
        read_secrets: Vec<String>,
        /// Memory cap in MiB [default: the manifest's value, else 64].
        #[arg(long, value_name = "MIB")]
        memory_mib: Option<u32>,
        /// Wall-clock deadline per call in milliseconds [default: the manifest's, else 10000].
        #[arg(long, value_name = "MS")]
        deadline_ms: Option<u64>,
        /// Output cap in KiB [default: the manifest's, else 1024].
        #[arg(long, value_name = "KIB")]
        output_kib: Option<u32>,
    },
    /// Show a tool's grant (nothing granted if never set).
    Show {
        #[command(flatten)]
        project: ProjectOpt,
        /// The bundle's name.
        bundle: String,
        /// The tool's name within the bundle.
        tool: String,
    },
}

/// One granted directory, as sent and shown by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirGrant {
    mount: MountPath,
    path: String,
    access: Access,
}

/// A secret the tool's requests may carry, and where to; or one the plugin may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretGrant {
    name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    destinations: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    read: bool,
}

/// Parses `NAME=DEST[,DEST]`.
fn parse_secret(spec: &str) -> Result<SecretGrant, String> {
    let (name, destinations) = spec
        .split_once('=')
        .ok_or("expected NAME=DEST[,DEST], e.g. github_token=https://api.github.com")?;
    let destinations: Vec<String> = destinations
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    if name.is_empty() || destinations.is_empty() {
        return Err("expected NAME=DEST[,DEST] with a name and at least one destination".into());
    }
    Ok(SecretGrant {
        name: name.to_owned(),
        destinations,
        read: false,
    })
}

/// The grant body (`PUT`) and view (`GET`).
#[derive(Debug, Serialize, Deserialize)]
struct GrantSpec {
    #[serde(default)]
    dirs: Vec<DirGrant>,
    #[serde(default)]
    egress: Vec<String>,
    #[serde(default)]
    secrets: Vec<SecretGrant>,
    #[serde(default)]
    limits: LimitOverrides,
}

/// The mount used when `--dir` names none: where the first-party tools expect the project.
const DEFAULT_MOUNT: &str = "/project";

/// Parses `[MOUNT=]PATH[:ro|:rw]`.
fn parse_dir(spec: &str) -> Result<DirGrant, String> {
    let (rest, access) = if let Some(rest) = spec.strip_suffix(":rw") {
        (rest, Access::ReadWrite)
    } else if let Some(rest) = spec.strip_suffix(":ro") {
        (rest, Access::Read)
    } else {
        (spec, Access::Read)
    };
    let (mount, path) = match rest.split_once('=') {
        Some((mount, path)) if mount.starts_with('/') => (mount, path),
        _ => (DEFAULT_MOUNT, rest),
    };
    let mount = mount.parse::<MountPath>().map_err(|e| e.to_string())?;
    let path = if path.is_empty() { "." } else { path };
    if path.starts_with('/') {
        return Err(format!(
            "PATH {path:?} must be relative to the project root (write `.` for the root)"
        ));
    }
    Ok(DirGrant {
        mount,
        path: path.to_owned(),
        access,
    })
}

/// Runs a `grant` subcommand.
pub fn run(args: GrantArgs) -> Result<(), CliError> {
    let client = Client::new(&args.api)?;
    match args.command {
        GrantCommand::Set {
            project,
            bundle,
            tool,
            dirs,
            egress,
            mut secrets,
            read_secrets,
            memory_mib,
            deadline_ms,
            output_kib,
        } => {
            for name in read_secrets {
                match secrets.iter_mut().find(|s| s.name == name) {
                    Some(secret) => secret.read = true,
                    None => secrets.push(SecretGrant {
                        name,
                        destinations: Vec::new(),
                        read: true,
                    }),
                }
            }
            let spec = GrantSpec {
                dirs,
                egress,
                secrets,
                limits: LimitOverrides {
                    memory_mib,
                    deadline_ms,
                    output_kib,
                },
            };
            let body = serde_json::to_value(&spec)
                .map_err(|err| CliError::Usage(format!("cannot encode the grant: {err}")))?;
            client
                .put(&path(&project, &bundle, &tool), &body)?
                .show(&client, |spec: GrantSpec| {
                    println!("granted {bundle}.{tool} in {}:", project.project);
                    print_spec(&spec);
                })
        }
        GrantCommand::Show {
            project,
            bundle,
            tool,
        } => client
            .get(&path(&project, &bundle, &tool), &[])?
            .show(&client, |spec: GrantSpec| print_spec(&spec)),
    }
}

fn print_spec(spec: &GrantSpec) {
    if spec.dirs.is_empty() {
        println!("  no directories");
    }
    for dir in &spec.dirs {
        let access = match dir.access {
            Access::Read => "read-only",
            Access::ReadWrite => "read-write",
        };
        println!("  {} = <project>/{} ({access})", dir.mount, dir.path);
    }
    if spec.egress.is_empty() {
        println!("  no network");
    }
    for rule in &spec.egress {
        println!("  egress {rule}");
    }
    for secret in &spec.secrets {
        if !secret.destinations.is_empty() {
            println!(
                "  secret {} -> {}",
                secret.name,
                secret.destinations.join(", ")
            );
        }
        if secret.read {
            println!("  secret {} readable by the plugin", secret.name);
        }
    }
    let limits = &spec.limits;
    let limit = |value: Option<String>| value.unwrap_or_else(|| "default".into());
    println!(
        "  limits: memory {}, deadline {}, output {}",
        limit(limits.memory_mib.map(|v| format!("{v} MiB"))),
        limit(limits.deadline_ms.map(|v| format!("{v} ms"))),
        limit(limits.output_kib.map(|v| format!("{v} KiB"))),
    );
}

fn path(project: &ProjectOpt, bundle: &str, tool: &str) -> String {
    format!(
        "/v1/projects/{}/grants/{}/{}",
        segment(&project.project),
        segment(bundle),
        segment(tool)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(mount: &str, path: &str, access: Access) -> Option<DirGrant> {
        Some(DirGrant {
            mount: mount.parse().ok()?,
            path: path.into(),
            access,
        })
    }

    #[test]
    fn dir_specs() {
        for (name, spec, expected) in [
            (
                "root, read-only by default",
                ".",
                grant("/project", ".", Access::Read),
            ),
            (
                "empty path is the root",
                ":rw",
                grant("/project", ".", Access::ReadWrite),
            ),
            (
                "subdir rw",
                "src:rw",
                grant("/project", "src", Access::ReadWrite),
            ),
            (
                "explicit ro",
                "docs:ro",
                grant("/project", "docs", Access::Read),
            ),
            (
                "named mount",
                "/data=out:rw",
                grant("/data", "out", Access::ReadWrite),
            ),
            (
                "named mount, root",
                "/data=",
                grant("/data", ".", Access::Read),
            ),
            (
                "= in a path is not a mount",
                "a=b",
                grant("/project", "a=b", Access::Read),
            ),
            ("absolute path", "/etc", None),
            ("mount with ..", "/a/../b=x", None),
            ("mount is /", "/=x", None),
        ] {
            assert_eq!(parse_dir(spec).ok(), expected, "{name}: {spec}");
        }
    }
}
