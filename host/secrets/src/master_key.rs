//! The master key: 32 random bytes that never touch the database.
//!
//! Written down (in a file, a systemd credential or the environment) as either **64 hex
//! digits** (either case) or **44 characters of standard base64** with its `=` padding; surrounding
//! whitespace, such as the newline `echo` adds, is ignored. The two spellings cannot be confused
//! (they differ in length), so both are accepted: `openssl rand -hex 32`,
//! `openssl rand -base64 32` and [`MasterKey::generate`] (which writes hex) all produce usable
//! keys. Where the key is loaded from is [`MasterKeySource`]'s job.
//!
//! The bytes live on the heap in one place, are wiped when the key is dropped, and are never
//! printed: `Debug` shows `MasterKey(<redacted>)` and no error message echoes the text it failed
//! to parse.

mod source;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::MasterKeyError;

pub use source::{CREDENTIAL_NAME, ENV_VAR, KeyOrigin, LoadedKey, MasterKeySource};

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

const HEX_LEN: usize = MASTER_KEY_LEN * 2;
const BASE64_LEN: usize = MASTER_KEY_LEN.div_ceil(3) * 4;

/// A 256-bit master key. Wiped from memory on drop; `Debug` prints nothing secret; not `Clone`,
/// so there is one copy to wipe.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    // Boxed so moving the key around moves a pointer, not the bytes (each move of an array
    // would leave a stale copy behind that drop cannot reach).
    bytes: Box<[u8; MASTER_KEY_LEN]>,
}

impl MasterKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut key = Self::zeroed();
        getrandom::fill(key.bytes.as_mut_slice())
            .map_err(|e| MasterKeyError::Entropy(e.to_string()))?;
        Ok(key)
    }

    /// Parses 64 hex digits or 44 standard base64 characters (whitespace around is ignored).
    /// `origin` names where the text came from, for the error message; the text itself is
    /// never echoed.
    pub fn parse(text: &str, origin: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let bad = |reason: String| MasterKeyError::Encoding {
            origin: origin.to_owned(),
            reason,
        };
        let mut key = Self::zeroed();
        match text.len() {
            HEX_LEN => hex::decode_to_slice(text, key.bytes.as_mut_slice())
                .map_err(|_| bad("64 characters but not all hex digits".into()))?,
            BASE64_LEN => {
                let decoded = Zeroizing::new(
                    BASE64
                        .decode(text)
                        .map_err(|_| bad("44 characters but not valid base64".into()))?,
                );
                if decoded.len() != MASTER_KEY_LEN {
                    return Err(bad(format!("base64 of {} bytes", decoded.len())));
                }
                key.bytes.copy_from_slice(&decoded);
            }
            0 => return Err(bad("it is empty".into())),
            n => return Err(bad(format!("{n} characters"))),
        }
        Ok(key)
    }

    /// The key as 64 lowercase hex digits, to show once (e.g. by
    /// `stockade admin generate-master-key`). The string is wiped when dropped.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_slice()))
    }

    /// Constant-time equality (rotation refuses to rotate a key to itself).
    pub fn same_as(&self, other: &MasterKey) -> bool {
        self.bytes.as_slice().ct_eq(other.bytes.as_slice()).into()
    }

    pub(crate) fn expose(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    fn zeroed() -> Self {
        Self {
            bytes: Box::new([0; MASTER_KEY_LEN]),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn hex_and_base64_spell_the_same_key() {
        let from_hex = MasterKey::parse(HEX, "test").expect("hex");
        let from_b64 = MasterKey::parse(B64, "test").expect("base64");
        let upper = MasterKey::parse(&HEX.to_uppercase(), "test").expect("upper hex");
        assert!(from_hex.same_as(&from_b64));
        assert!(from_hex.same_as(&upper));
        assert_eq!(from_hex.to_hex().as_str(), HEX);
    }

    #[test]
    fn surrounding_whitespace_is_ignored() {
        let key = MasterKey::parse(&format!("  {HEX}\n"), "test").expect("parse");
        assert_eq!(key.to_hex().as_str(), HEX);
    }

    #[test]
    fn bad_spellings_are_refused_without_echoing_them() {
        let cases = [
            ("empty", String::new()),
            ("too short", HEX[..62].to_owned()),
            ("too long", format!("{HEX}00")),
            ("hex with a non-hex digit", format!("{}zz", &HEX[..62])),
            ("base64 of 33 bytes", format!("{}AAAA", &B64[..40])),
            ("base64 with a bad character", format!("{}!=", &B64[..42])),
            ("raw 32 bytes", "k".repeat(32)),
        ];
        for (name, text) in cases {
            let err = MasterKey::parse(&text, "the test").expect_err(name);
            assert_eq!(err.code(), "master_key_encoding", "{name}");
            let shown = err.to_string();
            assert!(shown.contains("the test"), "{name}: {shown}");
            if !text.is_empty() {
                assert!(!shown.contains(&text), "{name} echoed: {shown}");
            }
        }
    }

    #[test]
    fn generated_keys_differ_and_round_trip() {
        let a = MasterKey::generate().expect("generate");
        let b = MasterKey::generate().expect("generate");
        assert!(!a.same_as(&b));
        let again = MasterKey::parse(&a.to_hex(), "test").expect("parse");
        assert!(a.same_as(&again));
    }

    #[test]
    fn debug_prints_nothing_secret() {
        let key = MasterKey::parse(HEX, "test").expect("parse");
        let shown = format!("{key:?}");
        assert_eq!(shown, "MasterKey(<redacted>)");
    }
}
