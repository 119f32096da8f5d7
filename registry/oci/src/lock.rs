//! `stockade.lock`: which exact bundle a project runs, pinned by digest.
//!
//! ```toml
//! version = 1
//!
//! [[bundle]]
//! name = "fs"
//! version = "0.1.0"
//! manifest_digest = "sha256:…"
//! capabilities_digest = "sha256:…"
//! ```
//!
//! No registry host names: the same lock works against a registry or its mirror.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Error;

/// File name of the lock file.
pub const LOCK_FILE: &str = "stockade.lock";

/// One pinned bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// Bundle name.
    pub name: String,
    /// Exact version.
    pub version: semver::Version,
    /// The OCI manifest digest.
    pub manifest_digest: Digest,
    /// The approved capabilities digest.
    pub capabilities_digest: Digest,
}

/// The whole lock file: entries sorted by name, at most one per name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    /// Format version, 1.
    pub version: u32,
    /// The pinned bundles.
    #[serde(default, rename = "bundle")]
    pub bundles: Vec<LockEntry>,
}

impl Default for LockFile {
    fn default() -> Self {
        LockFile {
            version: 1,
            bundles: Vec::new(),
        }
    }
}

impl LockFile {
    /// Parses a lock file; unknown fields, other format versions and duplicate names are errors.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let lock: LockFile =
            toml::from_str(text).map_err(|err| Error::invalid("lock", err.to_string()))?;
        if lock.version != 1 {
            return Err(Error::invalid(
                "lock",
                format!("unsupported lock format version {}", lock.version),
            ));
        }
        let mut names: Vec<&str> = lock.bundles.iter().map(|b| b.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(
                "lock",
                format!("{} is locked twice", pair[0]),
            ));
        }
        Ok(lock)
    }

    /// Reads `path`; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Self, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(err) => Err(Error::io(format!("reading {}", path.display()))(err)),
        }
    }

    /// The TOML text, entries sorted by name.
    pub fn to_toml(&self) -> Result<String, Error> {
        let mut sorted = self.clone();
        sorted.bundles.sort_by(|a, b| a.name.cmp(&b.name));
        toml::to_string(&sorted).map_err(|err| Error::invalid("lock", err.to_string()))
    }

    /// Writes `path` atomically (temp file in the same directory, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = self.to_toml()?;
        crate::install::write_atomic(path, text.as_bytes())
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&LockEntry> {
        self.bundles.iter().find(|b| b.name == name)
    }

    /// Adds or replaces the entry for `entry.name`.
    pub fn upsert(&mut self, entry: LockEntry) {
        self.bundles.retain(|b| b.name != entry.name);
        self.bundles.push(entry);
        self.bundles.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Removes the entry for `name`, returning it.
    pub fn remove(&mut self, name: &str) -> Option<LockEntry> {
        let index = self.bundles.iter().position(|b| b.name == name)?;
        Some(self.bundles.remove(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_sorted_and_refuses_duplicates() {
        let mut lock = LockFile::default();
        for name in ["http", "fs"] {
            lock.upsert(LockEntry {
                name: name.into(),
                version: semver::Version::new(0, 1, 0),
                manifest_digest: Digest::of(name.as_bytes()),
                capabilities_digest: Digest::of(b"caps"),
            });
        }
        let text = lock.to_toml().unwrap_or_default();
        assert!(text.find("\"fs\"") < text.find("\"http\""), "{text}");
        assert!(!text.contains("http://"), "no hosts in a lock: {text}");
        assert_eq!(LockFile::parse(&text).ok(), Some(lock.clone()));
        let twice = format!(
            "{text}\n[[bundle]]\nname = \"fs\"\nversion = \"0.2.0\"\nmanifest_digest = \"{}\"\ncapabilities_digest = \"{}\"\n",
            Digest::of(b"a"),
            Digest::of(b"b")
        );
        assert_eq!(
            LockFile::parse(&twice).err().map(|e| e.code()),
            Some("invalid_lock")
        );
        let bad_digest = text.replacen("sha256:", "md5:", 1);
        assert_eq!(
            LockFile::parse(&bad_digest).err().map(|e| e.code()),
            Some("invalid_lock")
        );
    }
}
