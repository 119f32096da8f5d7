//! The host side of the pinned private registry: installs that verify everything, the lock file
//! every load is checked against, and the revocation list.
//!
//! Layout under the data directory:
//!
//! ```text
//! bundles/<name>/<manifest digest hex>/   one verified install per digest, shared by projects
//!                                         (bundle.toml, components, OCI manifest and config,
//!                                         signature.json, approval.json)
//! projects/<project id>/stockade.lock     name, version, manifest and capabilities digests
//! registry/revocations.json               the last verified, operator-signed revocation list
//! ```
//!
//! The lock names no host: the same lock installs the same bytes from a mirror. On every load
//! (a bundle not yet in memory) the installed files are re-hashed against the lock, the
//! signature and approval re-verified with the configured keys, and the revocation list
//! consulted; a sync that revokes anything drops every loaded bundle so the next call re-checks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use axum::http::StatusCode;
use stockade_bundle::{
    Digest, FetchLimits, KeyRing, LockEntry, LockFile, Progress, PublicKey, RegistryClient,
    RevocationList, TrustPolicy, VerifiedBundle,
};

use crate::config::RegistryConfig;
use crate::error::ApiError;

/// The revocation list file, relative to the data directory.
const REVOCATIONS: &str = "registry/revocations.json";

/// Registry installs and load-time verification for one server.
#[derive(Debug)]
pub struct RegistryHost {
    url: Option<String>,
    publisher_keys: KeyRing,
    operator_keys: KeyRing,
    limits: FetchLimits,
    data_dir: PathBuf,
    revocations: RwLock<Revocations>,
    /// Serializes lock-file updates (read, change, write).
    lock_files: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Revocations {
    serial: Option<u64>,
    revoked: BTreeSet<Digest>,
}

/// Why the registry settings cannot be used.
pub(crate) fn config_error(what: &str, err: impl std::fmt::Display) -> String {
    format!("registry {what}: {err}")
}

impl RegistryHost {
    /// Reads the configured keys and the last verified revocation list.
    pub fn new(config: &RegistryConfig, data_dir: &Path) -> Result<Self, String> {
        let ring = |what: &str, keys: &[String]| -> Result<KeyRing, String> {
            keys.iter()
                .enumerate()
                .map(|(i, key)| {
                    PublicKey::parse(key).map_err(|err| config_error(&format!("{what}[{i}]"), err))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(KeyRing::new)
        };
        let publisher_keys = ring("publisher_keys", &config.publisher_keys)?;
        let operator_keys = ring("operator_keys", &config.operator_keys)?;
        let limits = FetchLimits {
            max_layer_bytes: config.max_component_mib.saturating_mul(1 << 20),
            ..FetchLimits::default()
        };
        let host = Self {
            url: config.url.clone(),
            publisher_keys,
            operator_keys,
            limits,
            data_dir: data_dir.to_path_buf(),
            revocations: RwLock::new(Revocations::default()),
            lock_files: tokio::sync::Mutex::new(()),
        };
        let path = host.data_dir.join(REVOCATIONS);
        match std::fs::read(&path) {
            Ok(bytes) => {
                // Verified before it was stored; the data directory is trusted like the database.
                let list: RevocationList = serde_json::from_slice(&bytes)
                    .map_err(|err| config_error(&path.display().to_string(), err))?;
                host.apply(list.serial, list.revoked.iter().map(|r| r.digest.clone()));
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(config_error(&path.display().to_string(), err)),
        }
        Ok(host)
    }

    /// Whether a registry URL is configured.
    pub fn configured(&self) -> bool {
        self.url.is_some()
    }

    fn apply(&self, serial: u64, revoked: impl Iterator<Item = Digest>) {
        let mut state = self
            .revocations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        state.serial = Some(serial);
        state.revoked = revoked.collect();
    }

    /// The trust policy for an install or a load: the configured keys and the current
    /// revocations.
    pub fn policy(&self) -> TrustPolicy {
        let state = self
            .revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        TrustPolicy {
            publisher_keys: self.publisher_keys.clone(),
            operator_keys: self.operator_keys.clone(),
            caps: None,
            revoked: state.revoked.clone(),
        }
    }

    /// Whether `digest` is revoked by the last synced list.
    pub fn is_revoked(&self, digest: &Digest) -> bool {
        self.revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .revoked
            .contains(digest)
    }

    fn client(&self) -> Result<RegistryClient, ApiError> {
        let url = self.url.as_deref().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "registry_not_configured",
                "no registry is configured: set [registry] url (and the trusted keys) in \
                 stockade.toml, or install a local directory with \"dev\": true",
            )
        })?;
        Ok(RegistryClient::new(url)
            .map_err(registry_error)?
            .with_limits(self.limits))
    }

    /// Fetches the registry's revocation list, verifies it (operator key, serial never going
    /// back), stores it and applies it. Returns how many digests are now revoked.
    pub async fn sync_revocations(&self) -> Result<usize, ApiError> {
        let client = self.client()?;
        let operators = self.operator_keys.clone();
        let seen = self
            .revocations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .serial;
        let list = tokio::task::spawn_blocking(move || client.fetch_revocations(&operators, seen))
            .await
            .map_err(ApiError::internal)?
            .map_err(registry_error)?;
        let bytes = serde_json::to_vec_pretty(&list).map_err(ApiError::internal)?;
        let path = self.data_dir.join(REVOCATIONS);
        write_file(&path, &bytes).map_err(ApiError::internal)?;
        self.apply(list.serial, list.revoked.iter().map(|r| r.digest.clone()));
        Ok(list.revoked.len())
    }

    /// Resolves `req` to the highest approved, non-yanked version of `name`, then fetches and
    /// verifies it (or re-verifies an install of the same digest already on disk), reporting
    /// each step through `progress`.
    pub async fn install(
        &self,
        name: &str,
        req: &semver::VersionReq,
        progress: impl FnMut(Progress) + Send + 'static,
    ) -> Result<VerifiedBundle, ApiError> {
        let client = self.client()?;
        let policy = self.policy();
        let bundles = self.data_dir.join("bundles").join(name);
        let (name, req) = (name.to_owned(), req.clone());
        tokio::task::spawn_blocking(move || {
            let mut progress = progress;
            let entry = client.resolve_trusted(&name, &req, &policy)?;
            progress(Progress::Resolved {
                name: name.clone(),
                version: entry.version.to_string(),
            });
            let dest = bundles.join(entry.manifest_digest.hex());
            if dest.is_dir() {
                let lock = LockEntry {
                    name: name.clone(),
                    version: entry.version.clone(),
                    manifest_digest: entry.manifest_digest.clone(),
                    capabilities_digest: entry
                        .approval
                        .as_ref()
                        .map(|a| a.approval.capabilities_digest.clone())
                        .unwrap_or_else(|| entry.manifest_digest.clone()),
                };
                // Already fetched for another project: the same checks, from disk.
                if let Ok(verified) = stockade_bundle::verify_installed(&dest, &lock, &policy) {
                    progress(Progress::Installed { dir: dest });
                    return Ok(verified);
                }
                std::fs::remove_dir_all(&dest).map_err(stockade_bundle::Error::io_context(
                    "removing a stale install",
                ))?;
            }
            client.fetch_verified(&name, &entry.version, &policy, &dest, &mut progress)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(registry_error)
    }

    /// Re-verifies the installed `name` of a project against its lock entry: every file's
    /// digest, the signature, the approval, and the revocation list.
    pub async fn verify(&self, dir: &Path, entry: &LockEntry) -> Result<VerifiedBundle, ApiError> {
        let policy = self.policy();
        let (dir, entry) = (dir.to_path_buf(), entry.clone());
        tokio::task::spawn_blocking(move || {
            stockade_bundle::verify_installed(&dir, &entry, &policy)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(registry_error)
    }

    /// The project's lock file path.
    pub fn lock_path(&self, project_id: &str) -> PathBuf {
        self.data_dir
            .join("projects")
            .join(project_id)
            .join(stockade_bundle::LOCK_FILE)
    }

    /// The project's lock entry for `name`.
    pub fn locked(&self, project_id: &str, name: &str) -> Result<LockEntry, ApiError> {
        let path = self.lock_path(project_id);
        let lock = LockFile::read(&path).map_err(registry_error)?;
        lock.get(name).cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "locked_version_missing",
                format!("{} has no entry for `{name}`; reinstall it", path.display()),
            )
        })
    }

    /// Records `entry` in the project's lock file (written whole, atomically).
    pub async fn lock(&self, project_id: &str, entry: LockEntry) -> Result<(), ApiError> {
        let _guard = self.lock_files.lock().await;
        let path = self.lock_path(project_id);
        let mut lock = match LockFile::read(&path) {
            Ok(lock) => lock,
            Err(_) if !path.exists() => LockFile::default(),
            Err(err) => return Err(registry_error(err)),
        };
        lock.upsert(entry);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(ApiError::internal)?;
        }
        lock.write(&path).map_err(registry_error)
    }
}

/// Writes `bytes` to `path` through a fsynced temporary file and a rename.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// A registry or verification failure as an API error with the library's stable code.
pub(crate) fn registry_error(err: stockade_bundle::Error) -> ApiError {
    let status = match err.code() {
        "registry_unreachable" | "registry_error" => StatusCode::BAD_GATEWAY,
        "no_matching_version" => StatusCode::NOT_FOUND,
        "io_error" => return ApiError::internal(err),
        // Not there, or not readable: reinstalling is the fix, whatever the detail.
        "locked_version_missing" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, err.code(), err.to_string())
}
