//! ed25519 keys: generation to files, the one-line text forms, key ids, key rings.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::Error;

/// Prefix of a public key's text form.
pub const PUBLIC_PREFIX: &str = "stockade-ed25519:";
/// Prefix of a secret key file's content.
pub const SECRET_PREFIX: &str = "stockade-ed25519-secret:";

/// An ed25519 public key. Text form: `stockade-ed25519:<base64 of the 32 key bytes>`.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key id: the first 8 bytes of SHA-256 of the 32 key bytes, as 16 hex digits.
    pub fn key_id(&self) -> String {
        Digest::of(self.0.as_bytes()).hex()[..16].to_owned()
    }

    /// Parses the text form (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::invalid("key", reason.to_owned());
        let b64 = text
            .trim()
            .strip_prefix(PUBLIC_PREFIX)
            .ok_or_else(|| bad("a public key starts with stockade-ed25519:"))?;
        let bytes: [u8; 32] = BASE64
            .decode(b64)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("not 32 bytes of base64"))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| bad("not an ed25519 point"))
    }

    /// Reads a public key file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        Self::parse(&text)
    }

    fn verify(
        &self,
        message: &[u8],
        signature: &Signature,
        what: &'static str,
    ) -> Result<(), Error> {
        let bytes: [u8; 64] = BASE64
            .decode(&signature.signature)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(Error::BadSignature { what })?;
        self.0
            .verify(message, &ed25519_dalek::Signature::from_bytes(&bytes))
            .map_err(|_| Error::BadSignature { what })
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", BASE64.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.key_id())
    }
}

/// An ed25519 secret key. File content: `stockade-ed25519-secret:<base64 of the 32-byte seed>`,
/// mode 0600. Never printed by `Debug`.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public().key_id())
    }
}

impl SecretKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|err| Error::invalid("key", format!("no randomness: {err}")))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Parses the file content.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let seed: [u8; 32] = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .and_then(|b64| BASE64.decode(b64).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                Error::invalid(
                    "key",
                    "a secret key file holds stockade-ed25519-secret:<base64 of 32 bytes>",
                )
            })?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// Reads a secret key file.
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        Self::parse(&text)
    }

    /// Writes the key to `path` (created new, mode 0600) and the public key to `path.pub`.
    /// Refuses to overwrite either file.
    pub fn write(&self, path: &Path) -> Result<PathBuf, Error> {
        let public_path = public_path(path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let text = format!("{SECRET_PREFIX}{}\n", BASE64.encode(self.0.to_bytes()));
        let mut file = options
            .open(path)
            .map_err(Error::io(format!("creating {}", path.display())))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(Error::io(format!("writing {}", path.display())))?;
        let mut public = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&public_path)
            .map_err(Error::io(format!("creating {}", public_path.display())))?;
        public
            .write_all(format!("{}\n", self.public()).as_bytes())
            .and_then(|()| public.sync_all())
            .map_err(Error::io(format!("writing {}", public_path.display())))?;
        Ok(public_path)
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        Signature {
            key_id: self.public().key_id(),
            signature: BASE64.encode(self.0.sign(message).to_bytes()),
        }
    }
}

/// Where [`SecretKey::write`] puts the public key: `<path>.pub`.
pub fn public_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Generates a key pair at `out` (secret, 0600) and `out.pub`; returns the public key.
pub fn generate_key_files(out: &Path) -> Result<PublicKey, Error> {
    let key = SecretKey::generate()?;
    key.write(out)?;
    Ok(key.public())
}

/// Every `*.pub` public key file in `dir`, sorted by file name.
pub fn list_public_keys(dir: &Path) -> Result<Vec<(PathBuf, PublicKey)>, Error> {
    let entries =
        std::fs::read_dir(dir).map_err(Error::io(format!("listing {}", dir.display())))?;
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(Error::io(format!("listing {}", dir.display())))?
            .path();
        if path.extension().is_some_and(|e| e == "pub") {
            let key = PublicKey::read(&path)?;
            keys.push((path, key));
        }
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keys)
}

/// A signature and the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// [`PublicKey::key_id`] of the signer.
    pub key_id: String,
    /// The 64-byte ed25519 signature, base64.
    pub signature: String,
}

/// A set of trusted public keys, looked up by key id.
#[derive(Debug, Clone, Default)]
pub struct KeyRing(BTreeMap<String, PublicKey>);

impl KeyRing {
    /// A ring of these keys.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        KeyRing(keys.into_iter().map(|k| (k.key_id(), k)).collect())
    }

    /// Every `*.pub` in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self, Error> {
        Ok(Self::new(
            list_public_keys(dir)?.into_iter().map(|(_, k)| k),
        ))
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Verifies `signature` over `message` with the key it names. `Ok(false)` when the ring
    /// does not hold that key, so the caller picks the right `unknown_*_key` code.
    pub(crate) fn verify(
        &self,
        message: &[u8],
        signature: &Signature,
        what: &'static str,
    ) -> Result<bool, Error> {
        match self.0.get(&signature.key_id) {
            None => Ok(false),
            Some(key) => key.verify(message, signature, what).map(|()| true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_secret_is_private() {
        let dir = tempfile::tempdir().ok();
        let Some(dir) = dir else { panic!("tempdir") };
        let path = dir.path().join("publisher.key");
        let public = generate_key_files(&path).ok();
        let read_back = PublicKey::read(&public_path(&path)).ok();
        assert!(public.is_some() && public == read_back);
        let secret = SecretKey::read(&path).ok().map(|k| k.public());
        assert_eq!(secret, public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o777)
                .ok();
            assert_eq!(mode, Some(0o600));
        }
        assert!(
            generate_key_files(&path).is_err(),
            "overwrote an existing key"
        );
        let listed = list_public_keys(dir.path()).ok().unwrap_or_default();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1.key_id().len(), 16);
        let text = public.map(|p| p.to_string()).unwrap_or_default();
        assert!(text.starts_with(PUBLIC_PREFIX) && !text.contains('\n'));
    }
}
