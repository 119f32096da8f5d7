//! The pinned mirror: copy exactly the approved entries of a list from an upstream registry,
//! byte for byte, and fail closed.
//!
//! For each `(name, version, manifest_digest, capabilities_digest)` in the list (the
//! `stockade.lock` format), the upstream listing must show that version approved with that
//! manifest digest; the manifest, config and layers are downloaded into `tmp/`, each hashed
//! while streaming and compared with its digest, capped at its declared size; the config must
//! give the pinned capabilities digest. Only then are the blobs renamed into the store and the
//! version recorded, with the upstream's signature, approval and yank flag. An entry that fails
//! any check writes nothing; the run reports every entry and fails if any did.

use std::fmt;
use std::path::Path;

use stockade_bundle::{
    BlobSource as _, BundleConfig, Capabilities, Digest, LayerSniffer, LockEntry, LockFile,
    RegistryClient, VersionEntry, check_config_matches, copy_verified, parse_manifest,
};

use crate::error::ApiError;
use crate::store::{Inserted, Store, VersionRow};

/// What happened to one entry.
#[derive(Debug)]
pub struct EntryOutcome {
    /// The entry.
    pub entry: LockEntry,
    /// `Ok(true)` copied, `Ok(false)` already present with the same digest, `Err((code,
    /// message))` refused.
    pub result: Result<bool, (String, String)>,
}

/// The outcome of a run.
#[derive(Debug, Default)]
pub struct MirrorReport {
    /// One outcome per listed entry, in list order.
    pub entries: Vec<EntryOutcome>,
}

impl MirrorReport {
    /// How many entries failed.
    pub fn failures(&self) -> usize {
        self.entries.iter().filter(|e| e.result.is_err()).count()
    }

    /// Whether any entry failed.
    pub fn failed(&self) -> bool {
        self.failures() > 0
    }
}

impl fmt::Display for MirrorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for outcome in &self.entries {
            let e = &outcome.entry;
            match &outcome.result {
                Ok(true) => writeln!(f, "copied   {}@{} {}", e.name, e.version, e.manifest_digest)?,
                Ok(false) => {
                    writeln!(f, "present  {}@{} {}", e.name, e.version, e.manifest_digest)?
                }
                Err((code, message)) => writeln!(
                    f,
                    "FAILED   {}@{} {}: {code}: {message}",
                    e.name, e.version, e.manifest_digest
                )?,
            }
        }
        write!(
            f,
            "{} entries, {} failed",
            self.entries.len(),
            self.failures()
        )
    }
}

/// An entry fetched and verified into temp files, not yet in the store.
struct Staged {
    manifest_bytes: Vec<u8>,
    blobs: Vec<(Digest, tempfile::TempPath)>,
    upstream: VersionEntry,
}

/// Mirrors every entry of `approved` from `upstream` into the registry data directory `data`.
/// `progress` gets one line per step.
pub async fn run(
    upstream: &str,
    approved: &Path,
    data: &Path,
    progress: &mut (dyn FnMut(String) + Send),
) -> anyhow::Result<MirrorReport> {
    let list = LockFile::read(approved)?;
    if list.bundles.is_empty() {
        anyhow::bail!("{} lists no entries", approved.display());
    }
    let store = Store::open(data).await?;
    let client = RegistryClient::new(upstream)?;
    let mut report = MirrorReport::default();
    let total = list.bundles.len();
    for (index, entry) in list.bundles.into_iter().enumerate() {
        progress(format!(
            "[{}/{total}] {}@{} {}",
            index + 1,
            entry.name,
            entry.version,
            entry.manifest_digest
        ));
        let result = mirror_one(&client, &store, &entry)
            .await
            .map_err(|err| (err.code, err.message));
        match &result {
            Ok(true) => progress(format!("[{}/{total}] copied", index + 1)),
            Ok(false) => progress(format!("[{}/{total}] already present", index + 1)),
            Err((code, message)) => {
                progress(format!("[{}/{total}] FAILED {code}: {message}", index + 1))
            }
        }
        report.entries.push(EntryOutcome { entry, result });
    }
    Ok(report)
}

async fn mirror_one(
    client: &RegistryClient,
    store: &Store,
    entry: &LockEntry,
) -> Result<bool, ApiError> {
    let version = entry.version.to_string();
    if let Some(local) = store.version(&entry.name, &version).await? {
        return if local.manifest_digest == entry.manifest_digest {
            Ok(false)
        } else {
            Err(stockade_bundle::Error::VersionImmutable {
                name: entry.name.clone(),
                version,
            }
            .into())
        };
    }
    let (client, pinned, tmp) = (
        client.clone(),
        entry.clone(),
        store.blobs.tmp_dir().to_path_buf(),
    );
    let staged = tokio::task::spawn_blocking(move || fetch(&client, &pinned, &tmp))
        .await
        .map_err(ApiError::internal)??;
    // Every byte is verified: now move it into place.
    store
        .blobs
        .put_bytes(&entry.manifest_digest, &staged.manifest_bytes)?;
    let mut digests = Vec::new();
    for (digest, temp) in staged.blobs {
        store.blobs.commit(temp, &digest)?;
        digests.push(digest);
    }
    let row = VersionRow {
        name: entry.name.clone(),
        version: entry.version.clone(),
        manifest_digest: entry.manifest_digest.clone(),
        capabilities_digest: entry.capabilities_digest.clone(),
        signature: staged.upstream.signature,
        approval: staged.upstream.approval,
        yanked: staged.upstream.yanked,
        published_at: stockade_bundle::now_rfc3339(),
    };
    Ok(store.insert_version(&row, &digests).await? == Inserted::Created)
}

/// Downloads and verifies one entry into temp files under `tmp`.
fn fetch(
    client: &RegistryClient,
    pinned: &LockEntry,
    tmp: &Path,
) -> Result<Staged, stockade_bundle::Error> {
    use stockade_bundle::Error as E;
    let name = pinned.name.as_str();
    let listing = client.versions(name)?;
    let upstream = listing
        .versions
        .into_iter()
        .find(|v| v.version == pinned.version)
        .ok_or_else(|| E::LockedVersionMissing {
            name: name.to_owned(),
            version: pinned.version.to_string(),
            reason: "the upstream does not list it as approved".to_owned(),
        })?;
    if upstream.manifest_digest != pinned.manifest_digest {
        return Err(E::ManifestDigestMismatch {
            expected: pinned.manifest_digest.clone(),
            actual: upstream.manifest_digest,
        });
    }
    let approval = upstream
        .approval
        .as_ref()
        .ok_or_else(|| E::ApprovalMissing {
            name: name.to_owned(),
            version: pinned.version.to_string(),
        })?;
    if approval.approval.manifest_digest != pinned.manifest_digest
        || approval.approval.capabilities_digest != pinned.capabilities_digest
    {
        return Err(E::ApprovalMismatch {
            field: "digests",
            approved: format!(
                "{} {}",
                approval.approval.manifest_digest, approval.approval.capabilities_digest
            ),
            actual: format!("{} {}", pinned.manifest_digest, pinned.capabilities_digest),
        });
    }
    let manifest_bytes = client.manifest(name, &pinned.manifest_digest, 1 << 20)?;
    let actual = Digest::of(&manifest_bytes);
    if actual != pinned.manifest_digest {
        return Err(E::ManifestDigestMismatch {
            expected: pinned.manifest_digest.clone(),
            actual,
        });
    }
    let manifest = parse_manifest(&manifest_bytes)?;
    let mut blobs = Vec::new();
    let mut config_bytes = Vec::new();
    let descriptors =
        std::iter::once((&manifest.config, true)).chain(manifest.layers.iter().map(|l| (l, false)));
    for (descriptor, is_config) in descriptors {
        let what = descriptor
            .title()
            .unwrap_or(descriptor.digest.as_str())
            .to_owned();
        let mut temp =
            tempfile::NamedTempFile::new_in(tmp).map_err(E::io_context("creating a temp file"))?;
        let mut sniffer = LayerSniffer::default();
        let reader = client.blob(name, &descriptor.digest)?;
        let copied = copy_verified(reader, &mut temp, descriptor.size, &what, |chunk, _| {
            if is_config {
                config_bytes.extend_from_slice(chunk);
                Ok(())
            } else {
                sniffer.feed(chunk, &what)
            }
        })?;
        if !is_config {
            sniffer.finish(&what)?;
        }
        if copied.digest != descriptor.digest {
            return Err(E::BlobDigestMismatch {
                expected: descriptor.digest.clone(),
                actual: copied.digest,
            });
        }
        temp.as_file()
            .sync_all()
            .map_err(E::io_context("syncing a temp file"))?;
        blobs.push((descriptor.digest.clone(), temp.into_temp_path()));
    }
    let (config, bundle) = BundleConfig::parse(&config_bytes)?;
    if config.name != name || config.version != pinned.version {
        return Err(E::Invalid {
            what: "config",
            reason: format!("the config is for {}@{}", config.name, config.version),
        });
    }
    check_config_matches(&manifest, &config)?;
    let capabilities_digest = Capabilities::of(&bundle).digest()?;
    if capabilities_digest != pinned.capabilities_digest {
        return Err(E::ApprovalMismatch {
            field: "capabilities digest",
            approved: pinned.capabilities_digest.to_string(),
            actual: capabilities_digest.to_string(),
        });
    }
    Ok(Staged {
        manifest_bytes,
        blobs,
        upstream,
    })
}
