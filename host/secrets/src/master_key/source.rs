//! Where the master key comes from, strongest first.
//!
//! 1. `master_key_file` from the config: a file only the server's user can read. Group- or
//!    world-readable files are refused (checked on the opened file, so a swap between check and
//!    read does not help). If configured, it is the only source consulted: a missing file is an
//!    error, never a silent fall-through to a weaker source.
//! 2. A systemd credential: `$CREDENTIALS_DIRECTORY/stockade-master-key`, which systemd
//!    decrypts (`LoadCredentialEncrypted=`) or copies (`LoadCredential=`) into a private,
//!    non-swappable directory for the service alone. Used when the directory holds that file.
//! 3. `STOCKADE_MASTER_KEY`: the weakest option, logged as a warning. The environment is
//!    inherited by child processes, readable in `/proc/<pid>/environ` by the same user, and
//!    tends to end up in shell history, unit files and crash reports.
//!
//! None configured → `Ok(None)`, and the store opens sealed with a message naming all three.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::MasterKey;
use crate::error::MasterKeyError;

/// The systemd credential's file name inside `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_NAME: &str = "stockade-master-key";
/// The environment variable holding the key (the weakest source).
pub const ENV_VAR: &str = "STOCKADE_MASTER_KEY";

/// Longest file read: a key is at most 44-64 characters plus whitespace.
const MAX_KEY_FILE_LEN: u64 = 1024;

/// Where a key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// `master_key_file`.
    File(PathBuf),
    /// The systemd credential at this path.
    Credential(PathBuf),
    /// `STOCKADE_MASTER_KEY`.
    Environment,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "master_key_file {}", path.display()),
            Self::Credential(path) => write!(f, "systemd credential {}", path.display()),
            Self::Environment => f.write_str(ENV_VAR),
        }
    }
}

/// A key and where it came from.
#[derive(Debug)]
pub struct LoadedKey {
    /// The key.
    pub key: MasterKey,
    /// Its source, for logs and messages.
    pub origin: KeyOrigin,
}

/// The configured places to look for the master key. `Debug` never shows the environment
/// value.
#[derive(Clone, Default)]
pub struct MasterKeySource {
    file: Option<PathBuf>,
    credentials_directory: Option<PathBuf>,
    env_value: Option<Zeroizing<String>>,
}

impl MasterKeySource {
    /// No source at all (loading yields `None`). Add sources with the `with_*` methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sources of a running server: the configured `master_key_file`, plus
    /// `$CREDENTIALS_DIRECTORY` and `STOCKADE_MASTER_KEY` from the process environment (an
    /// empty variable counts as unset).
    pub fn from_process(master_key_file: Option<PathBuf>) -> Self {
        let mut source = Self::new();
        source.file = master_key_file;
        source.credentials_directory = std::env::var_os("CREDENTIALS_DIRECTORY").map(Into::into);
        // Lossy, not `var`: a non-UTF-8 value must fail to parse, not count as unset.
        source.env_value =
            std::env::var_os(ENV_VAR).map(|v| Zeroizing::new(v.to_string_lossy().into_owned()));
        source
    }

    /// Sets `master_key_file`.
    pub fn with_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Sets the systemd credentials directory.
    pub fn with_credentials_directory(mut self, dir: impl Into<PathBuf>) -> Self {
        self.credentials_directory = Some(dir.into());
        self
    }

    /// Sets the value `STOCKADE_MASTER_KEY` would have.
    pub fn with_env_value(mut self, value: impl Into<String>) -> Self {
        self.env_value = Some(Zeroizing::new(value.into()));
        self
    }

    /// Loads the key from the first configured source: `master_key_file` (only it, if set; must
    /// not be group/world readable), else the systemd credential, else `STOCKADE_MASTER_KEY`
    /// (logged as a warning). `Ok(None)` if no source is configured.
    pub fn load(&self) -> Result<Option<LoadedKey>, MasterKeyError> {
        if let Some(path) = &self.file {
            return load_file(path, KeyOrigin::File(path.clone())).map(Some);
        }
        if let Some(dir) = &self.credentials_directory {
            let path = dir.join(CREDENTIAL_NAME);
            if path.exists() {
                return load_file(&path, KeyOrigin::Credential(path.clone())).map(Some);
            }
        }
        match &self.env_value {
            Some(value) if !value.is_empty() => {
                tracing::warn!(
                    "the master key comes from {ENV_VAR}, the weakest source (inherited by child \
                     processes, visible in /proc); prefer master_key_file or a systemd credential"
                );
                let key = MasterKey::parse(value, ENV_VAR)?;
                Ok(Some(LoadedKey {
                    key,
                    origin: KeyOrigin::Environment,
                }))
            }
            _ => Ok(None),
        }
    }
}

impl fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeySource")
            .field("file", &self.file)
            .field("credentials_directory", &self.credentials_directory)
            .field("env_value", &self.env_value.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn load_file(path: &Path, origin: KeyOrigin) -> Result<LoadedKey, MasterKeyError> {
    let unreadable = |source| MasterKeyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(unreadable)?;
    let mode = file.metadata().map_err(unreadable)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(MasterKeyError::Permissions {
            path: path.to_owned(),
            mode: mode & 0o7777,
        });
    }
    // Allocated once at full size: a growing buffer would leave copies of the key behind in
    // freed memory that the wipe on drop cannot reach.
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_LEN as usize + 1));
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| MasterKeyError::Encoding {
        origin: origin.to_string(),
        reason: "the file is not text".into(),
    })?;
    let key = MasterKey::parse(text, &origin.to_string())?;
    Ok(LoadedKey { key, origin })
}
