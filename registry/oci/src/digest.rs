//! `sha256:<hex>` content addresses, and hashing while reading or writing.

use std::fmt;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// A content address: `sha256:` followed by 64 lowercase hex digits.
///
/// Parsing refuses every other algorithm and spelling, so a digest that parses can be used
/// as a file name (`blobs/sha256/<hex>`) without further checks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_hash(Sha256::digest(bytes).into())
    }

    fn from_hash(hash: [u8; 32]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(hash)))
    }

    /// The 64 hex digits, without `sha256:`.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The full `sha256:<hex>` string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        let ok = value.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Digest(value))
        } else {
            Err(Error::invalid(
                "digest",
                format!("{value:?} is not sha256:<64 lowercase hex digits>"),
            ))
        }
    }
}

impl std::str::FromStr for Digest {
    type Err = Error;
    fn from_str(value: &str) -> Result<Self, Error> {
        Digest::try_from(value.to_owned())
    }
}

impl From<Digest> for String {
    fn from(value: Digest) -> String {
        value.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Hashes and counts bytes as they pass, refusing to go past a size cap.
#[derive(Debug, Clone)]
pub struct DigestWriter {
    hasher: Sha256,
    len: u64,
}

impl Default for DigestWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl DigestWriter {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self {
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no bytes were seen.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything seen.
    pub fn finish(self) -> Digest {
        Digest::from_hash(self.hasher.finalize().into())
    }
}

/// What [`copy_verified`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Digest of the bytes copied.
    pub digest: Digest,
    /// Number of bytes copied.
    pub len: u64,
}

/// Copies `reader` to `writer`, hashing as it goes, and fails with `blob_too_large` as soon as
/// more than `limit` bytes arrive (so a hostile source cannot fill the disk). `on_chunk` sees
/// each chunk and the running byte count before it is written, and may refuse it (sniffing a
/// layer's first bytes, reporting progress). The caller compares the returned digest.
pub fn copy_verified(
    mut reader: impl Read,
    mut writer: impl Write,
    limit: u64,
    what: &str,
    mut on_chunk: impl FnMut(&[u8], u64) -> Result<(), Error>,
) -> Result<Copied, Error> {
    let mut hasher = DigestWriter::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::Transport(format!("reading {what}: {err}"))),
        };
        if hasher.len() + n as u64 > limit {
            return Err(Error::BlobTooLarge {
                what: what.to_owned(),
                limit,
            });
        }
        hasher.update(&buf[..n]);
        on_chunk(&buf[..n], hasher.len())?;
        writer
            .write_all(&buf[..n])
            .map_err(Error::io(format!("writing {what}")))?;
    }
    let len = hasher.len();
    Ok(Copied {
        digest: hasher.finish(),
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_empty_is_the_known_value() {
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn refuses_other_spellings() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for (name, value) in [
            ("uppercase hex", format!("sha256:{}", hex.to_uppercase())),
            ("other algorithm", format!("sha512:{hex}")),
            ("short", format!("sha256:{}", &hex[..63])),
            ("path", format!("sha256:../../{}", &hex[6..])),
            ("no prefix", hex.to_owned()),
        ] {
            let err = value.parse::<Digest>().err();
            assert_eq!(err.map(|e| e.code()), Some("invalid_digest"), "{name}");
        }
    }

    #[test]
    fn copy_stops_at_the_cap() {
        let data = vec![7u8; 1000];
        let mut out = Vec::new();
        let err = copy_verified(&data[..], &mut out, 999, "blob", |_, _| Ok(())).err();
        assert_eq!(err.map(|e| e.code()), Some("blob_too_large"));
        let copied = copy_verified(&data[..], Vec::new(), 1000, "blob", |_, _| Ok(())).ok();
        assert_eq!(copied.map(|c| c.digest), Some(Digest::of(&data)));
    }
}
