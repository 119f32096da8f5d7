//! The `stockade-registry` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use stockade_bundle::{
    Digest, KeyRing, RegistryClient, SecretKey, generate_key_files, list_public_keys, sign_manifest,
};

use crate::config::{Config, DEFAULT_LISTEN, DEFAULT_MAX_BLOB_BYTES, Token};
use crate::store::Store;

/// The Stockade private bundle registry.
#[derive(Debug, Parser)]
#[command(name = "stockade-registry", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the registry over HTTP.
    Serve(ServeArgs),
    /// Approve a published version with an operator key (run against the data directory).
    Approve {
        /// `NAME@VERSION`.
        target: String,
        /// The operator's secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Yank a version: it stays pullable for existing installs, new installs refuse it.
    Yank {
        /// `NAME@VERSION`.
        target: String,
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Add a manifest digest to the signed revocation list.
    Revoke {
        /// `sha256:<hex>` manifest digest.
        digest: String,
        /// The operator's secret key file.
        #[arg(long)]
        key: PathBuf,
        /// Why, shown to operators.
        #[arg(long, default_value = "")]
        reason: String,
        /// Data directory.
        #[arg(long)]
        data: PathBuf,
    },
    /// Pack, sign and publish a bundle directory to a registry.
    Publish {
        /// Bundle directory (with `bundle.toml`).
        dir: PathBuf,
        /// Registry URL, such as `http://127.0.0.1:5050`.
        #[arg(long)]
        registry: String,
        /// The publisher's secret key file.
        #[arg(long)]
        key: PathBuf,
        /// File holding the publish token.
        #[arg(long)]
        token_file: PathBuf,
        /// Also look for components here (such as a cargo `wasm32-wasip2/guest` directory).
        #[arg(long)]
        wasm_dir: Option<PathBuf>,
    },
    /// Copy exactly the approved entries listed in a file from an upstream registry.
    Mirror {
        /// Upstream registry URL.
        #[arg(long)]
        upstream: String,
        /// The entries to copy, in `stockade.lock` format (name, version, digests).
        #[arg(long)]
        approved: PathBuf,
        /// Data directory of this (mirror) registry.
        #[arg(long)]
        data: PathBuf,
    },
    /// Manage ed25519 keys.
    Keys {
        /// Key command.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a key pair: FILE (secret, mode 0600) and FILE.pub.
    Generate {
        /// Secret key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// List the public keys (`*.pub`) in a directory with their key ids.
    List {
        /// Directory.
        dir: PathBuf,
    },
}

/// `serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Data directory (database and blobs).
    #[arg(long)]
    pub data: PathBuf,
    /// Listen address; anything but loopback needs both token files.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// File holding the bearer token for uploads and publishing.
    #[arg(long)]
    pub publish_token_file: Option<PathBuf>,
    /// File holding the bearer token for approvals, yanks and revocation lists.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// Directory of operator public keys (`*.pub`) accepted for approvals and revocation lists.
    #[arg(long)]
    pub operator_keys: Option<PathBuf>,
    /// Directory of publisher public keys; when given, publishes must be signed by one.
    #[arg(long)]
    pub publisher_keys: Option<PathBuf>,
    /// Largest blob accepted, bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BLOB_BYTES)]
    pub max_blob_bytes: u64,
}

impl ServeArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<Config> {
        let keys = |dir: &Option<PathBuf>| -> anyhow::Result<KeyRing> {
            Ok(match dir {
                Some(dir) => KeyRing::from_dir(dir)?,
                None => KeyRing::default(),
            })
        };
        let config = Config {
            data: self.data.clone(),
            listen: self.listen,
            publish_token: self
                .publish_token_file
                .as_deref()
                .map(Token::read)
                .transpose()?,
            admin_token: self
                .admin_token_file
                .as_deref()
                .map(Token::read)
                .transpose()?,
            operator_keys: keys(&self.operator_keys)?,
            publisher_keys: keys(&self.publisher_keys)?,
            max_blob_bytes: self.max_blob_bytes,
        };
        config.check()?;
        Ok(config)
    }
}

fn split_target(target: &str) -> anyhow::Result<(String, String)> {
    let (name, version) = target.split_once('@').context("expected NAME@VERSION")?;
    let version: semver::Version = version
        .parse()
        .with_context(|| format!("version {version:?}"))?;
    Ok((name.to_owned(), version.to_string()))
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = args.config()?;
            crate::serve(config, |addr| {
                println!("stockade-registry listening on http://{addr}")
            })
            .await
        }
        Command::Approve { target, key, data } => {
            let (name, version) = split_target(&target)?;
            let key = SecretKey::read(&key)?;
            let store = Store::open(&data).await?;
            let approval = crate::operator::approve(&store, &name, &version, &key).await?;
            println!(
                "approved {name}@{version} manifest {} capabilities {} by {}",
                approval.approval.manifest_digest,
                approval.approval.capabilities_digest,
                approval.approval.approver
            );
            Ok(())
        }
        Command::Yank { target, data } => {
            let (name, version) = split_target(&target)?;
            Store::open(&data)
                .await?
                .set_yanked(&name, &version, true)
                .await?;
            println!("yanked {name}@{version}");
            Ok(())
        }
        Command::Revoke {
            digest,
            key,
            reason,
            data,
        } => {
            let digest: Digest = digest.parse()?;
            let key = SecretKey::read(&key)?;
            let store = Store::open(&data).await?;
            let list = crate::operator::revoke(&store, digest.clone(), &reason, &key).await?;
            println!(
                "revoked {digest}; revocation list serial {}",
                list.list.serial
            );
            Ok(())
        }
        Command::Publish {
            dir,
            registry,
            key,
            token_file,
            wasm_dir,
        } => {
            tokio::task::spawn_blocking(move || {
                publish(&dir, &registry, &key, &token_file, wasm_dir.as_deref())
            })
            .await?
        }
        Command::Mirror {
            upstream,
            approved,
            data,
        } => {
            let report =
                crate::mirror::run(&upstream, &approved, &data, &mut |line| eprintln!("{line}"))
                    .await?;
            println!("{report}");
            if report.failed() {
                bail!(
                    "mirror failed: {} of {} entries not copied",
                    report.failures(),
                    report.entries.len()
                );
            }
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Generate { out },
        } => {
            let public = generate_key_files(&out)?;
            println!("{} {public}", public.key_id());
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::List { dir },
        } => {
            for (path, key) in list_public_keys(&dir)? {
                println!("{} {} {}", key.key_id(), key, path.display());
            }
            Ok(())
        }
    }
}

fn publish(
    dir: &Path,
    registry: &str,
    key: &Path,
    token_file: &Path,
    wasm_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let packed = stockade_bundle::pack_with_wasm_dir(dir, wasm_dir)?;
    let key = SecretKey::read(key)?;
    let token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading {}", token_file.display()))?;
    let signature = sign_manifest(&key, &packed.manifest_digest);
    let client = RegistryClient::new(registry)?.with_token(token.trim());
    let response = client.publish(&packed, &signature)?;
    println!(
        "{} {}@{} manifest {} capabilities {}",
        if response.created {
            "published"
        } else {
            "already published"
        },
        packed.bundle.bundle.name,
        packed.bundle.bundle.version,
        response.manifest_digest,
        response.capabilities_digest
    );
    Ok(())
}
