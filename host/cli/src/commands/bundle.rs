//! `stockade bundle install|list` (`/v1/projects/{project}/bundles`) and the author workflow
//! `stockade bundle pack|sign|publish`, which works on files and the registry, not the server.

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
    /// Install a bundle into a project from the server's pinned registry.
    ///
    /// NAME@REQ picks the highest approved, non-yanked version matching the semver requirement
    /// (`fs@^0.1`, `fs@=0.1.2`; `fs` alone means the newest). The server verifies the manifest
    /// digest, the publisher signature and the operator approval against the keys in its
    /// config, and every component's digest and size while downloading; then it precompiles
    /// the components and pins the version in the project's stockade.lock. Every later load
    /// re-verifies the files against the lock, and a revoked digest stops loading. Progress is
    /// printed as it happens. Installing grants nothing: use `stockade grant set` for each tool.
    ///
    /// With --dir and --dev instead: a development install from a local, unverified directory
    /// (nothing vouches for who built it; its component digests are recorded and re-checked).
    ///
    /// Example: stockade bundle install fs@^0.1 -p demo
    ///
    /// Example: stockade bundle install -p demo --dir plugins/fs --dev
    Install {
        #[command(flatten)]
        project: ProjectOpt,
        /// The bundle and version requirement, `NAME[@REQ]`.
        #[arg(value_name = "NAME@REQ", conflicts_with = "dir")]
        spec: Option<String>,
        /// Development install: the bundle directory (`bundle.toml` and its components); made
        /// absolute against the current directory. The server must be able to read it there.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Required with --dir: confirms a development install of unverified code.
        #[arg(long)]
        dev: bool,
    },
    /// Pack a bundle directory (or a built plugin source folder) into an OCI image layout.
    ///
    /// The artifact's config is the bundle manifest as canonical JSON, its layers the
    /// uncompressed components; the same inputs always give the same manifest digest. Prints
    /// the manifest digest and the capabilities digest (what the registry operator approves).
    ///
    /// Example: stockade bundle pack plugins/fs --out fs.oci
    Pack {
        /// The bundle directory, holding `bundle.toml`.
        dir: PathBuf,
        /// Where to write the layout [default: `<name>-<version>.oci` in the current
        /// directory].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Sign a packed bundle's manifest digest with a publisher key (ed25519).
    ///
    /// Writes `stockade-signature.json` into the layout. Make a key with `stockade-registry
    /// keys generate --out publisher.key`; hosts trust its public half through
    /// `[registry] publisher_keys`.
    ///
    /// Example: stockade bundle sign fs.oci --key publisher.key
    Sign {
        /// The layout written by `stockade bundle pack`.
        layout: PathBuf,
        /// The publisher's secret key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
    },
    /// Publish a packed, signed bundle to a registry's staging area.
    ///
    /// Uploads every blob, then the manifest with its signature. Publishing the same bytes
    /// again is accepted; different bytes under a published version are refused
    /// (`version_immutable`). Hosts see the version once a registry operator approves it.
    ///
    /// Example: stockade bundle publish fs.oci --registry http://127.0.0.1:5000 --token-file publish.token
    Publish {
        /// The layout written by `stockade bundle pack` and signed by `stockade bundle sign`.
        layout: PathBuf,
        /// The registry's base URL.
        #[arg(long, value_name = "URL")]
        registry: String,
        /// File holding the registry's publish token.
        #[arg(long, value_name = "FILE")]
        token_file: PathBuf,
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
    #[serde(default)]
    manifest_digest: Option<String>,
    #[serde(default)]
    capabilities_digest: Option<String>,
}

/// Runs a `bundle` subcommand.
pub fn run(args: BundleArgs) -> Result<(), CliError> {
    match args.command {
        BundleCommand::Install {
            project,
            spec,
            dir,
            dev,
        } => match (spec, dir) {
            (Some(spec), None) => install_from_registry(&args.api, &project, &spec, dev),
            (None, Some(dir)) => install_dir(&args.api, &project, &dir, dev),
            _ => Err(CliError::Usage(
                "name a bundle from the registry (stockade bundle install fs@^0.1 -p P) or a \
                 local directory for a development install (--dir DIR --dev)"
                    .into(),
            )),
        },
        BundleCommand::Pack { dir, out } => pack(&dir, out),
        BundleCommand::Sign { layout, key } => sign(&layout, &key),
        BundleCommand::Publish {
            layout,
            registry,
            token_file,
        } => publish(&layout, &registry, &token_file),
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

fn install_from_registry(
    api: &ApiArgs,
    project: &ProjectOpt,
    spec: &str,
    dev: bool,
) -> Result<(), CliError> {
    if dev {
        return Err(CliError::Usage(
            "--dev goes with --dir; a registry install is verified, never a development install"
                .into(),
        ));
    }
    let (name, req) = spec.split_once('@').unwrap_or((spec, "*"));
    semver::VersionReq::parse(req).map_err(|err| {
        CliError::Usage(format!(
            "{req:?} is not a semver requirement ({err}); e.g. fs@^0.1 or fs@=0.1.2"
        ))
    })?;
    let client = Client::new(api)?;
    let body = json!({ "name": name, "version": req });
    let quiet = client.json();
    client
        .post_progress(&path(project), &body, |line| {
            if !quiet {
                print_progress(line);
            }
        })?
        .show(&client, |b: BundleView| {
            println!(
                "installed {} {} into {} (verified, pinned in stockade.lock)",
                b.name, b.version, project.project
            );
            if let Some(digest) = &b.manifest_digest {
                println!("manifest {digest}");
            }
            if let Some(digest) = &b.capabilities_digest {
                println!("capabilities {digest}");
            }
            println!("tools: {}", list(&b.tools));
            println!(
                "next: grant each tool what it may touch (stockade grant set), then allow it to \
                 an agent"
            );
        })
}

/// One progress line from the server, on stderr.
fn print_progress(line: &serde_json::Value) {
    let text = |key: &str| line[key].as_str().unwrap_or_default().to_owned();
    match line["progress"].as_str() {
        Some("resolved") => eprintln!("resolved {} {}", text("name"), text("version")),
        Some("download") => {
            let (received, total) = (line["received"].as_u64(), line["total"].as_u64());
            if let (Some(received), Some(total)) = (received, total) {
                eprintln!(
                    "downloading {}: {} / {} KiB (digest checked as it streams)",
                    text("file"),
                    received / 1024,
                    total / 1024
                );
            }
        }
        Some("verified") => eprintln!("verified: digests, signature, approval"),
        Some("compiling") => eprintln!("precompiling {} component(s)", line["components"]),
        Some("compiled") => eprintln!(
            "precompiled in {:.0} ms",
            line["ms"].as_f64().unwrap_or_default()
        ),
        _ => {}
    }
}

fn install_dir(
    api: &ApiArgs,
    project: &ProjectOpt,
    dir: &std::path::Path,
    dev: bool,
) -> Result<(), CliError> {
    // Checked before connecting: a usage error, whatever the server would say.
    if !dev {
        return Err(CliError::Usage(format!(
            "installing from a local directory ({}) is a development install of unverified \
             code: add --dev to confirm, or install a published, approved bundle by name \
             (stockade bundle install NAME@REQ)",
            dir.display()
        )));
    }
    let client = Client::new(api)?;
    let body = json!({ "dir": absolute(dir)?, "dev": true });
    client
        .post(&path(project), &body)?
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
                "next: grant each tool what it may touch (stockade grant set), then allow it to \
                 an agent"
            );
        })
}

/// A registry-side failure of an author command, with its stable code.
fn bundle_error(err: stockade_bundle::Error) -> CliError {
    CliError::Api {
        code: err.code().to_owned(),
        message: err.to_string(),
        hint: None,
    }
}

fn pack(dir: &std::path::Path, out: Option<PathBuf>) -> Result<(), CliError> {
    let packed = stockade_bundle::pack(dir).map_err(bundle_error)?;
    let info = &packed.bundle.bundle;
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{}-{}.oci", info.name, info.version)));
    stockade_bundle::write_layout(&packed, &out).map_err(bundle_error)?;
    println!(
        "packed {} {} into {}",
        info.name,
        info.version,
        out.display()
    );
    println!("manifest {}", packed.manifest_digest);
    println!("capabilities {}", packed.capabilities_digest);
    for (layer, bytes) in &packed.layers {
        println!(
            "component {} {} ({} KiB)",
            layer.title().unwrap_or("?"),
            layer.digest,
            bytes.len() / 1024
        );
    }
    println!(
        "next: stockade bundle sign {} --key publisher.key",
        out.display()
    );
    Ok(())
}

fn sign(layout: &std::path::Path, key: &std::path::Path) -> Result<(), CliError> {
    let packed = stockade_bundle::read_layout(layout).map_err(bundle_error)?;
    let key = stockade_bundle::SecretKey::read(key).map_err(bundle_error)?;
    let signature = stockade_bundle::sign_manifest(&key, &packed.manifest_digest);
    stockade_bundle::write_layout_signature(layout, &signature).map_err(bundle_error)?;
    let info = &packed.bundle.bundle;
    println!(
        "signed {} {} ({}) with key {}",
        info.name, info.version, packed.manifest_digest, signature.key_id
    );
    println!(
        "next: stockade bundle publish {} --registry URL --token-file FILE",
        layout.display()
    );
    Ok(())
}

fn publish(
    layout: &std::path::Path,
    registry: &str,
    token_file: &std::path::Path,
) -> Result<(), CliError> {
    let packed = stockade_bundle::read_layout(layout).map_err(bundle_error)?;
    let signature = stockade_bundle::read_layout_signature(layout).map_err(bundle_error)?;
    let token = std::fs::read_to_string(token_file)
        .map_err(|err| CliError::Usage(format!("cannot read {}: {err}", token_file.display())))?;
    let client = stockade_bundle::RegistryClient::new(registry)
        .map_err(bundle_error)?
        .with_token(token.trim());
    let info = &packed.bundle.bundle;
    let name = info.name.as_str();
    let blobs = packed.blobs();
    for (i, (digest, bytes)) in blobs.iter().enumerate() {
        eprintln!(
            "uploading blob {}/{} {digest} ({} KiB)",
            i + 1,
            blobs.len(),
            bytes.len() / 1024
        );
        client
            .upload_blob(name, digest, bytes)
            .map_err(bundle_error)?;
    }
    client
        .publish_manifest(&packed, &signature)
        .map_err(bundle_error)?;
    println!(
        "published {} {} ({}) to {registry}: staged until a registry operator approves it",
        info.name, info.version, packed.manifest_digest
    );
    println!(
        "operator: stockade-registry approve {}@{} --key operator.key --data DIR",
        info.name, info.version
    );
    Ok(())
}

fn path(project: &ProjectOpt) -> String {
    format!("/v1/projects/{}/bundles", segment(&project.project))
}
