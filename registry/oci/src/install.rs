//! Installing a bundle from a blob source into a directory, and re-verifying it from disk.
//!
//! Installed layout (`dest/`): `bundle.toml` (regenerated from the config blob, `wasm` naming
//! the layer files), one `<title>.wasm` per layer, and the evidence the next load re-checks:
//! `oci-manifest.json` and `oci-config.json` (exact bytes), `signature.json`
//! ([`Signature`]), `approval.json` ([`SignedApproval`]).
//!
//! Everything is written into a hidden staging directory next to `dest`, each file fsynced,
//! and the directory renamed to `dest` only after every check passed: a failed install leaves
//! nothing behind.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use stockade_registry_types::BundleManifest;

use crate::artifact::{
    BundleConfig, OciManifest, SNIFF_LEN, check_config_matches, check_layer_head, parse_manifest,
};
use crate::capabilities::{Capabilities, capabilities_within};
use crate::digest::{Digest, copy_verified};
use crate::error::Error;
use crate::keys::{KeyRing, Signature};
use crate::lock::LockEntry;
use crate::records::{SignedApproval, verify_manifest_signature};

/// The exact OCI manifest bytes in an installed bundle.
pub const MANIFEST_JSON: &str = "oci-manifest.json";
/// The exact config blob bytes.
pub const CONFIG_JSON: &str = "oci-config.json";
/// The publisher [`Signature`].
pub const SIGNATURE_JSON: &str = "signature.json";
/// The operator [`SignedApproval`].
pub const APPROVAL_JSON: &str = "approval.json";

/// Which keys the host trusts and what it will accept.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Keys whose manifest signatures are accepted.
    pub publisher_keys: KeyRing,
    /// Keys whose approvals and revocation lists are accepted.
    pub operator_keys: KeyRing,
    /// If set, the most a bundle may request (such as the capabilities approved for the version
    /// being upgraded): anything beyond is `capabilities_widened`.
    pub caps: Option<Capabilities>,
    /// Revoked manifest digests (from a verified revocation list): `digest_revoked`.
    pub revoked: BTreeSet<Digest>,
}

/// Size caps while fetching. Defaults: manifest and config 1 MiB each, 64 MiB per layer, 32
/// layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// Largest manifest accepted, bytes.
    pub max_manifest_bytes: u64,
    /// Largest config blob, bytes.
    pub max_config_bytes: u64,
    /// Largest layer, bytes.
    pub max_layer_bytes: u64,
    /// Most layers in one bundle.
    pub max_layers: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_manifest_bytes: 1 << 20,
            max_config_bytes: 1 << 20,
            max_layer_bytes: 64 << 20,
            max_layers: 32,
        }
    }
}

/// An install step, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The version was chosen.
    Resolved {
        /// Bundle name.
        name: String,
        /// Version.
        version: String,
    },
    /// Bytes of one layer received so far.
    Blob {
        /// The layer's file name.
        file: String,
        /// Received.
        received: u64,
        /// Expected total.
        total: u64,
    },
    /// Every check passed and the bundle is in place.
    Installed {
        /// Where.
        dir: PathBuf,
    },
}

/// A bundle whose every byte was checked against its pins.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    /// The bundle manifest (as written to `bundle.toml`).
    pub manifest: BundleManifest,
    /// The OCI manifest digest.
    pub manifest_digest: Digest,
    /// The capabilities digest.
    pub capabilities_digest: Digest,
    /// The capabilities.
    pub capabilities: Capabilities,
    /// The operator approval.
    pub approval: SignedApproval,
    /// The publisher signature.
    pub signature: Signature,
    /// The install directory.
    pub dir: PathBuf,
    /// The component files, in layer order.
    pub components: Vec<PathBuf>,
}

impl VerifiedBundle {
    /// The lock entry pinning this bundle.
    pub fn lock_entry(&self) -> LockEntry {
        LockEntry {
            name: self.manifest.bundle.name.as_str().to_owned(),
            version: self.manifest.bundle.version.clone(),
            manifest_digest: self.manifest_digest.clone(),
            capabilities_digest: self.capabilities_digest.clone(),
        }
    }
}

/// Where an install reads manifests and blobs from (a registry over HTTP, in practice).
pub trait BlobSource {
    /// The manifest stored under `digest`, at most `limit` bytes (not yet verified).
    fn manifest(&self, name: &str, digest: &Digest, limit: u64) -> Result<Vec<u8>, Error>;
    /// A reader of the blob stored under `digest` (not yet verified).
    fn blob(&self, name: &str, digest: &Digest) -> Result<Box<dyn Read + '_>, Error>;
}

/// What the registry says about the version being installed.
#[derive(Debug, Clone)]
pub struct Pins<'a> {
    /// Bundle name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// Manifest digest listed for it.
    pub manifest_digest: &'a Digest,
    /// Publisher signature.
    pub signature: &'a Signature,
    /// Operator approval, if any.
    pub approval: Option<&'a SignedApproval>,
}

/// Checks revocation, signature and approval of `pins` before anything is downloaded.
fn check_pins(pins: &Pins<'_>, policy: &TrustPolicy) -> Result<SignedApproval, Error> {
    if policy.revoked.contains(pins.manifest_digest) {
        return Err(Error::DigestRevoked {
            digest: pins.manifest_digest.clone(),
        });
    }
    verify_manifest_signature(&policy.publisher_keys, pins.manifest_digest, pins.signature)?;
    let approval = pins.approval.ok_or_else(|| Error::ApprovalMissing {
        name: pins.name.to_owned(),
        version: pins.version.to_owned(),
    })?;
    approval.verify_signature(&policy.operator_keys)?;
    Ok(approval.clone())
}

/// Checks a manifest + config pair and returns the bundle and its capabilities: the config
/// digest and size, the config's name and version, components = layers, the approval's
/// capabilities digest, and the policy's capability ceiling.
fn check_documents(
    pins: &Pins<'_>,
    manifest: &OciManifest,
    config_bytes: &[u8],
    approval: &SignedApproval,
    policy: &TrustPolicy,
) -> Result<(BundleManifest, Capabilities, Digest), Error> {
    let actual = Digest::of(config_bytes);
    if actual != manifest.config.digest {
        return Err(Error::BlobDigestMismatch {
            expected: manifest.config.digest.clone(),
            actual,
        });
    }
    let (config, bundle) = BundleConfig::parse(config_bytes)?;
    if config.name != pins.name || config.version.to_string() != pins.version {
        return Err(Error::invalid(
            "config",
            format!(
                "the config is for {}@{}, not {}@{}",
                config.name, config.version, pins.name, pins.version
            ),
        ));
    }
    check_config_matches(manifest, &config)?;
    let capabilities = Capabilities::of(&bundle);
    let capabilities_digest = capabilities.digest()?;
    approval.verify(
        &policy.operator_keys,
        pins.name,
        pins.version,
        pins.manifest_digest,
        &capabilities_digest,
    )?;
    if let Some(ceiling) = &policy.caps {
        let widenings = capabilities_within(ceiling, &capabilities);
        if !widenings.is_empty() {
            return Err(Error::CapabilitiesWidened { widenings });
        }
    }
    Ok((bundle, capabilities, capabilities_digest))
}

/// Refuses a layer whose first bytes are not WebAssembly, as they stream in.
#[derive(Debug, Default)]
pub struct LayerSniffer {
    head: Vec<u8>,
    judged: bool,
}

impl LayerSniffer {
    /// Feeds one chunk.
    pub fn feed(&mut self, chunk: &[u8], what: &str) -> Result<(), Error> {
        if self.judged {
            return Ok(());
        }
        let take = chunk.len().min(SNIFF_LEN - self.head.len());
        self.head.extend_from_slice(&chunk[..take]);
        if self.head.len() >= SNIFF_LEN {
            self.judged = true;
            check_layer_head(&self.head, what, false)?;
        }
        Ok(())
    }

    /// Judges a blob shorter than the sniff window once it has ended.
    pub fn finish(&mut self, what: &str) -> Result<(), Error> {
        if self.judged {
            return Ok(());
        }
        self.judged = true;
        check_layer_head(&self.head, what, true)
    }
}

/// Fetches, verifies and installs one version into `dest` (which must not exist).
///
/// Order: revocation, publisher signature, approval signature (before any download); then the
/// manifest against its digest, the config against its descriptor, the approval against name,
/// version and both digests, the capability ceiling; then each layer streamed to a staging file
/// with its size cap, WebAssembly sniffing and digest check. Nothing is left at `dest` unless
/// every check passed.
pub fn install(
    source: &dyn BlobSource,
    pins: &Pins<'_>,
    policy: &TrustPolicy,
    limits: &FetchLimits,
    dest: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<VerifiedBundle, Error> {
    let approval = check_pins(pins, policy)?;
    let manifest_bytes =
        source.manifest(pins.name, pins.manifest_digest, limits.max_manifest_bytes)?;
    let actual = Digest::of(&manifest_bytes);
    if &actual != pins.manifest_digest {
        return Err(Error::ManifestDigestMismatch {
            expected: pins.manifest_digest.clone(),
            actual,
        });
    }
    let manifest = parse_manifest(&manifest_bytes)?;
    if manifest.layers.len() > limits.max_layers {
        return Err(Error::invalid(
            "manifest",
            format!("more than {} layers", limits.max_layers),
        ));
    }
    if manifest.config.size > limits.max_config_bytes {
        return Err(Error::BlobTooLarge {
            what: "config".into(),
            limit: limits.max_config_bytes,
        });
    }
    let mut config_bytes = Vec::new();
    let reader = source.blob(pins.name, &manifest.config.digest)?;
    copy_verified(
        reader,
        &mut config_bytes,
        manifest.config.size,
        "config",
        |_, _| Ok(()),
    )?;
    let (bundle, capabilities, capabilities_digest) =
        check_documents(pins, &manifest, &config_bytes, &approval, policy)?;

    if dest.exists() {
        return Err(Error::DestinationExists(dest.display().to_string()));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(Error::io(format!("creating {}", parent.display())))?;
    let staging = tempfile::Builder::new()
        .prefix(".stockade-install-")
        .tempdir_in(parent)
        .map_err(Error::io(format!(
            "creating a staging directory in {}",
            parent.display()
        )))?;

    let mut components = Vec::new();
    for layer in &manifest.layers {
        let file = layer.title().unwrap_or_default().to_owned();
        if layer.size > limits.max_layer_bytes {
            return Err(Error::BlobTooLarge {
                what: format!("layer {file} ({} bytes)", layer.size),
                limit: limits.max_layer_bytes,
            });
        }
        let path = staging.path().join(&file);
        let mut out = std::fs::File::create(&path)
            .map_err(Error::io(format!("creating {}", path.display())))?;
        let mut sniffer = LayerSniffer::default();
        let reader = source.blob(pins.name, &layer.digest)?;
        let copied = copy_verified(reader, &mut out, layer.size, &file, |chunk, received| {
            sniffer.feed(chunk, &file)?;
            progress(Progress::Blob {
                file: file.clone(),
                received,
                total: layer.size,
            });
            Ok(())
        })?;
        sniffer.finish(&file)?;
        if copied.digest != layer.digest {
            return Err(Error::BlobDigestMismatch {
                expected: layer.digest.clone(),
                actual: copied.digest,
            });
        }
        out.sync_all()
            .map_err(Error::io(format!("syncing {}", path.display())))?;
        components.push(dest.join(&file));
    }
    let bundle_toml =
        toml::to_string(&bundle).map_err(|err| Error::invalid("config", err.to_string()))?;
    let documents: [(&str, Vec<u8>); 5] = [
        (BundleManifest::FILE, bundle_toml.into_bytes()),
        (MANIFEST_JSON, manifest_bytes),
        (CONFIG_JSON, config_bytes),
        (SIGNATURE_JSON, pretty_json(pins.signature)?),
        (APPROVAL_JSON, pretty_json(&approval)?),
    ];
    for (name, bytes) in documents {
        write_synced(&staging.path().join(name), &bytes)?;
    }
    sync_dir(staging.path())?;
    let staged = staging.keep();
    if let Err(err) = std::fs::rename(&staged, dest) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(Error::io(format!(
            "moving the bundle into {}",
            dest.display()
        ))(err));
    }
    sync_dir(parent)?;
    progress(Progress::Installed {
        dir: dest.to_path_buf(),
    });
    Ok(VerifiedBundle {
        manifest: bundle,
        manifest_digest: pins.manifest_digest.clone(),
        capabilities_digest,
        capabilities,
        approval,
        signature: pins.signature.clone(),
        dir: dest.to_path_buf(),
        components,
    })
}

fn pretty_json(value: &impl serde::Serialize) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(value).map_err(|err| Error::invalid("document", err.to_string()))
}

/// Re-verifies an installed bundle against its lock entry; the host calls this on every load.
///
/// Re-hashes `oci-manifest.json` (`manifest_digest_mismatch`), the config and every component
/// file (`blob_digest_mismatch`), checks that `bundle.toml` is the one the config produces
/// (`installed_file_changed`), the revocation set (`digest_revoked`), the publisher signature
/// and the approval against the lock's pins, and the policy's capability ceiling. A missing
/// file is `locked_version_missing`.
pub fn verify_installed(
    dir: &Path,
    lock: &LockEntry,
    policy: &TrustPolicy,
) -> Result<VerifiedBundle, Error> {
    let limits = FetchLimits::default();
    let missing = |reason: String| Error::LockedVersionMissing {
        name: lock.name.clone(),
        version: lock.version.to_string(),
        reason,
    };
    let read = |name: &str, limit: u64| -> Result<Vec<u8>, Error> {
        let path = dir.join(name);
        let file = std::fs::File::open(&path)
            .map_err(|err| missing(format!("{}: {err}", path.display())))?;
        let mut bytes = Vec::new();
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        if bytes.len() as u64 > limit {
            return Err(Error::BlobTooLarge {
                what: path.display().to_string(),
                limit,
            });
        }
        Ok(bytes)
    };
    let manifest_bytes = read(MANIFEST_JSON, limits.max_manifest_bytes)?;
    let actual = Digest::of(&manifest_bytes);
    if actual != lock.manifest_digest {
        return Err(Error::ManifestDigestMismatch {
            expected: lock.manifest_digest.clone(),
            actual,
        });
    }
    let signature: Signature = serde_json::from_slice(&read(SIGNATURE_JSON, 64 << 10)?)
        .map_err(|err| Error::invalid("signature", err.to_string()))?;
    let approval: SignedApproval = serde_json::from_slice(&read(APPROVAL_JSON, 64 << 10)?)
        .map_err(|err| Error::invalid("approval", err.to_string()))?;
    let version = lock.version.to_string();
    let pins = Pins {
        name: &lock.name,
        version: &version,
        manifest_digest: &lock.manifest_digest,
        signature: &signature,
        approval: Some(&approval),
    };
    let approval = check_pins(&pins, policy)?;
    let manifest = parse_manifest(&manifest_bytes)?;
    let config_bytes = read(CONFIG_JSON, limits.max_config_bytes)?;
    let (bundle, capabilities, capabilities_digest) =
        check_documents(&pins, &manifest, &config_bytes, &approval, policy)?;
    if capabilities_digest != lock.capabilities_digest {
        return Err(Error::ApprovalMismatch {
            field: "capabilities digest",
            approved: lock.capabilities_digest.to_string(),
            actual: capabilities_digest.to_string(),
        });
    }
    let on_disk = String::from_utf8(read(BundleManifest::FILE, 1 << 20)?).ok();
    let parsed = on_disk.as_deref().map(BundleManifest::from_toml);
    if !matches!(parsed, Some(Ok(ref m)) if *m == bundle) {
        return Err(Error::InstalledFileChanged(BundleManifest::FILE.to_owned()));
    }
    let mut components = Vec::new();
    for layer in &manifest.layers {
        let file = layer.title().unwrap_or_default();
        let path = dir.join(file);
        let reader = std::fs::File::open(&path)
            .map_err(|err| missing(format!("{}: {err}", path.display())))?;
        let copied = copy_verified(reader, std::io::sink(), layer.size, file, |_, _| Ok(()))?;
        if copied.digest != layer.digest {
            return Err(Error::BlobDigestMismatch {
                expected: layer.digest.clone(),
                actual: copied.digest,
            });
        }
        components.push(path);
    }
    Ok(VerifiedBundle {
        manifest: bundle,
        manifest_digest: lock.manifest_digest.clone(),
        capabilities_digest,
        capabilities,
        approval,
        signature,
        dir: dir.to_path_buf(),
        components,
    })
}

/// Writes a new file and fsyncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut file =
        std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(Error::io(format!("writing {}", path.display())))
}

/// Fsyncs a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(format!("syncing {}", dir.display())))
}

/// Replaces `path` atomically: a temp file in the same directory, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(parent).map_err(Error::io(format!(
        "creating a temp file in {}",
        parent.display()
    )))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(Error::io(format!("writing {}", path.display())))?;
    temp.persist(path)
        .map_err(|err| Error::io(format!("renaming onto {}", path.display()))(err.error))?;
    sync_dir(parent)
}
