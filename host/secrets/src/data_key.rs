//! The key that actually encrypts secrets, and the row format.
//!
//! **Derivation.** `data key = HKDF-SHA256(ikm = master key, salt = none, info = "stockade
//! secrets v1")`, 32 bytes, used as an AES-256-GCM key. The master key is already uniformly
//! random, so HKDF's job is domain separation: the purpose label means the master key is never
//! used directly as a cipher key, and a future use (a MAC key, "v2" of this format) derives an
//! independent key from the same master key by choosing another label. (The reference design's
//! plain SHA-256 of the master key would do the same job with no label.)
//!
//! **A row.** Each write draws a fresh 12-byte nonce from the operating system's random number
//! generator ([`getrandom`]) and stores `nonce` and `ciphertext || 16-byte tag` in their own
//! columns. Random 96-bit nonces stay far from a collision for far more writes than a secrets
//! store sees (the usual bound is 2^32 encryptions per key; rotation also resets the count).
//!
//! **Associated data** binds the row's identity, so a ciphertext is valid in exactly one place:
//!
//! ```text
//! "stockade-secret" 0x00 <scope> 0x00 <name> 0x00 <key version in decimal>
//! ```
//!
//! Scopes and names cannot contain NUL (they are validated), so two different rows never share
//! associated data. Swapping ciphertexts between rows, copying one to another scope or name, or
//! changing a row's key version makes the tag check fail.
//!
//! **Key-check value.** `nonce || AES-GCM(data key, nonce, "stockade key-check", associated
//! data "stockade key-check v<version>")`, stored once per key version. Decrypting it tells
//! whether a master key is the one of that version without reading any secret.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::SecretError;
use crate::master_key::MasterKey;
use crate::value::SecretValue;

/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Authentication tag length in bytes (appended to the ciphertext).
pub const TAG_LEN: usize = 16;
/// The HKDF info label of the data key.
pub const KDF_INFO: &[u8] = b"stockade secrets v1";

const AD_PREFIX: &[u8] = b"stockade-secret";
const CHECK_LABEL: &[u8] = b"stockade key-check";

/// The identity a ciphertext is bound to (its associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowId<'a> {
    /// The scope as stored: `global` or `project:<id>`.
    pub scope: &'a str,
    /// The secret's name.
    pub name: &'a str,
    /// The master key version.
    pub key_version: i64,
}

impl RowId<'_> {
    fn associated_data(&self) -> Vec<u8> {
        let version = self.key_version.to_string();
        let mut ad = Vec::with_capacity(
            AD_PREFIX.len() + self.scope.len() + self.name.len() + version.len() + 3,
        );
        for (i, part) in [
            AD_PREFIX,
            self.scope.as_bytes(),
            self.name.as_bytes(),
            version.as_bytes(),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                ad.push(0);
            }
            ad.extend_from_slice(part);
        }
        ad
    }
}

/// A value sealed for one row.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptedValue {
    /// Fresh for this write.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext with the tag appended.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for EncryptedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedValue")
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// The AES-256-GCM key derived from a master key. Its key schedule is wiped on drop; `Debug`
/// prints nothing secret.
#[derive(Clone)]
pub struct DataKey {
    // Boxed so that moving a `DataKey` moves a pointer: the expanded key schedule stays in one
    // place, the one that is wiped on drop.
    cipher: Box<Aes256Gcm>,
}

impl DataKey {
    /// Derives the data key: HKDF-SHA256 of the master key with info [`KDF_INFO`], no salt.
    pub fn derive(master: &MasterKey) -> Self {
        let mut okm = Zeroizing::new([0u8; 32]);
        // Expanding 32 bytes from SHA-256 HKDF cannot fail (the limit is 255 * 32).
        let expanded = Hkdf::<Sha256>::new(None, master.expose()).expand(KDF_INFO, &mut *okm);
        debug_assert!(expanded.is_ok());
        Self {
            cipher: Box::new(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&*okm))),
        }
    }

    /// Seals `value` for `row` under a fresh random nonce.
    pub fn encrypt(&self, row: RowId<'_>, value: &[u8]) -> Result<EncryptedValue, SecretError> {
        let nonce = fresh_nonce()?;
        let mut buffer = Vec::with_capacity(value.len() + TAG_LEN);
        buffer.extend_from_slice(value);
        self.cipher
            .encrypt_in_place(
                Nonce::from_slice(&nonce),
                &row.associated_data(),
                &mut buffer,
            )
            // Only a message over GCM's 64 GiB limit fails; values are capped far below.
            .map_err(|_| SecretError::invalid("value", "too large to encrypt"))?;
        Ok(EncryptedValue {
            nonce,
            ciphertext: buffer,
        })
    }

    /// Opens the value stored for `row`. Any mismatch (altered bytes, wrong row, wrong version,
    /// wrong key, short input) is `secret_corrupt`; no unauthenticated plaintext is returned or
    /// left in memory.
    pub fn decrypt(
        &self,
        row: RowId<'_>,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<SecretValue, SecretError> {
        let corrupt = |reason: &str| SecretError::corrupt(row.scope, row.name, reason);
        if nonce.len() != NONCE_LEN {
            return Err(corrupt(&format!(
                "its nonce is {} bytes, not {NONCE_LEN}",
                nonce.len()
            )));
        }
        if ciphertext.len() < TAG_LEN {
            return Err(corrupt(
                "its ciphertext is shorter than the authentication tag",
            ));
        }
        let mut buffer = Zeroizing::new(ciphertext.to_vec());
        self.cipher
            .decrypt_in_place(
                Nonce::from_slice(nonce),
                &row.associated_data(),
                &mut *buffer,
            )
            .map_err(|_| {
                corrupt(&format!(
                    "authentication failed under key version {} (the ciphertext, nonce, scope, \
                     name or key version of the row was altered)",
                    row.key_version
                ))
            })?;
        Ok(SecretValue::from_zeroizing(buffer))
    }

    /// The key-check value of key version `version`: nonce || AES-GCM of a fixed label with
    /// associated data `stockade key-check v<version>`.
    pub fn check_value(&self, version: i64) -> Result<Vec<u8>, SecretError> {
        let nonce = fresh_nonce()?;
        let mut buffer = CHECK_LABEL.to_vec();
        self.cipher
            .encrypt_in_place(
                Nonce::from_slice(&nonce),
                check_ad(version).as_bytes(),
                &mut buffer,
            )
            .map_err(|_| SecretError::invalid("check value", "cannot encrypt"))?;
        let mut value = nonce.to_vec();
        value.extend_from_slice(&buffer);
        Ok(value)
    }

    /// Whether `check_value` was made by this key for key version `version`.
    pub fn verifies(&self, version: i64, check_value: &[u8]) -> bool {
        if check_value.len() < NONCE_LEN + TAG_LEN {
            return false;
        }
        let (nonce, sealed) = check_value.split_at(NONCE_LEN);
        let mut buffer = sealed.to_vec();
        self.cipher
            .decrypt_in_place(
                Nonce::from_slice(nonce),
                check_ad(version).as_bytes(),
                &mut buffer,
            )
            .is_ok()
            && buffer == CHECK_LABEL
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

fn check_ad(version: i64) -> String {
    format!("stockade key-check v{version}")
}

/// A fresh nonce for every write, from the operating system.
fn fresh_nonce() -> Result<[u8; NONCE_LEN], SecretError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| SecretError::Entropy(e.to_string()))?;
    Ok(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> DataKey {
        DataKey::derive(&MasterKey::parse(&hex::encode([byte; 32]), "test").expect("key"))
    }

    const ROW: RowId<'static> = RowId {
        scope: "global",
        name: "API_TOKEN",
        key_version: 1,
    };

    #[test]
    fn associated_data_is_nul_separated() {
        assert_eq!(
            ROW.associated_data(),
            b"stockade-secret\x00global\x00API_TOKEN\x001".to_vec()
        );
    }

    #[test]
    fn round_trip() {
        let k = key(1);
        let sealed = k.encrypt(ROW, b"hunter2").expect("encrypt");
        assert_eq!(sealed.ciphertext.len(), b"hunter2".len() + TAG_LEN);
        let opened = k
            .decrypt(ROW, &sealed.nonce, &sealed.ciphertext)
            .expect("decrypt");
        assert_eq!(opened.expose_bytes(), b"hunter2");
    }

    /// Known answers computed with an independent implementation (Python `cryptography`:
    /// `HKDF(SHA256, 32, salt=None, info=b"stockade secrets v1")` over 32 bytes of 0x07, then
    /// `AESGCM`). They pin the KDF, the associated data and the check-value format: rows
    /// written today must open after any refactoring.
    #[test]
    fn known_answers_from_an_independent_implementation() {
        let k = key(7);
        let nonce = hex::decode("000102030405060708090a0b").expect("hex");
        let ciphertext =
            hex::decode("7b68fa1874cc5f8df4e17c7121fb54e1cf59bec72e421e").expect("hex");
        let opened = k.decrypt(ROW, &nonce, &ciphertext).expect("decrypt");
        assert_eq!(opened.expose_bytes(), b"hunter2");
        let check = hex::decode(
            "6465666768696a6b6c6d6e6f615f28a5541e764ef77096a8134189ba5db94456fbbde8d478d73db5\
             b35b426111d8",
        )
        .expect("hex");
        assert!(k.verifies(1, &check));
    }

    #[test]
    fn malformed_inputs_are_corrupt_not_panics() {
        let k = key(1);
        let sealed = k.encrypt(ROW, b"value").expect("encrypt");
        let cases: [(&str, &[u8], &[u8]); 4] = [
            ("short nonce", &sealed.nonce[..11], &sealed.ciphertext),
            ("empty nonce", &[], &sealed.ciphertext),
            (
                "ciphertext shorter than a tag",
                &sealed.nonce,
                &sealed.ciphertext[..15],
            ),
            ("empty ciphertext", &sealed.nonce, &[]),
        ];
        for (name, nonce, ciphertext) in cases {
            let err = k.decrypt(ROW, nonce, ciphertext).expect_err(name);
            assert_eq!(err.code(), "secret_corrupt", "{name}");
            assert!(err.to_string().contains("API_TOKEN"), "{name}: {err}");
        }
    }

    #[test]
    fn check_value_identifies_key_and_version() {
        let k = key(1);
        let check = k.check_value(3).expect("check value");
        assert!(k.verifies(3, &check));
        assert!(!k.verifies(2, &check), "bound to its version");
        assert!(!key(2).verifies(3, &check), "another key");
        assert!(!k.verifies(3, &check[..check.len() - 1]), "truncated");
        assert!(!k.verifies(3, &[]), "empty");
    }

    #[test]
    fn debug_prints_nothing_secret() {
        assert_eq!(format!("{:?}", key(1)), "DataKey(<redacted>)");
    }
}
