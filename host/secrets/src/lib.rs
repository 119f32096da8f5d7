//! Stockade's secrets store: values encrypted at rest under a key derived from a master key that
//! never enters the database, a sealed mode for a missing or wrong key, and a master key
//! rotation that survives being killed at any instant.
//!
//! # The pieces
//!
//! - [`MasterKey`]: 32 random bytes, wiped on drop, never printed. Written as 64 hex digits or
//!   44 base64 characters ([`MasterKey::parse`]); [`MasterKey::generate`] +
//!   [`MasterKey::to_hex`] are what `stockade admin generate-master-key` needs.
//! - [`MasterKeySource`]: where the key comes from, strongest first: `master_key_file` (must not
//!   be group/world readable), the systemd credential `$CREDENTIALS_DIRECTORY/stockade-master-key`,
//!   then `STOCKADE_MASTER_KEY` (the weakest; a warning is logged).
//! - [`DataKey`]: the AES-256-GCM key derived from the master key; seals one row at a time and
//!   makes and checks key-check values (formats below).
//! - [`SecretStore`]: `set` / `get` / `list` / `delete` over [`stockade_storage::Database`],
//!   sealed or unsealed as decided when it is opened ([`Status`]).
//! - [`rotate`]: re-encrypts every secret from the old master key to a new one, crash-safe and
//!   resumable ([`RotationProgress`], [`RotationReport`]).
//! - [`SecretError`] (and [`MasterKeyError`]): every failure with a stable
//!   [`code`](SecretError::code).
//!
//! # Formats
//!
//! - **KDF**: `data key = HKDF-SHA256(ikm = master key, salt = none, info = "stockade secrets
//!   v1")` ([`KDF_INFO`]), 32 bytes. HKDF rather than the reference design's bare SHA-256 for
//!   the purpose label: another use of the master key, or a v2 format, derives an independent
//!   key by changing the label.
//! - **Row**: `nonce` = 12 fresh bytes from the OS RNG per write ([`NONCE_LEN`]);
//!   `ciphertext` = AES-256-GCM output with the 16-byte tag appended ([`TAG_LEN`]); associated
//!   data = `"stockade-secret" 0x00 <scope> 0x00 <name> 0x00 <key version in decimal>`
//!   ([`RowId`]), so a ciphertext moved to another row, scope or version fails to decrypt.
//! - **Key-check value** per key version: `nonce || AES-GCM(data key, "stockade key-check",
//!   AD "stockade key-check v<version>")`; a wrong master key is detected without reading a
//!   secret.
//! - **Master key text**: 64 hex digits (either case) or 44 characters of standard base64 with
//!   padding; surrounding whitespace ignored. Generated keys are printed as hex.
//!
//! The rows live in `secrets` and `secret_keys` (`host/storage/migrations/0004_secrets.sql`,
//! repository `stockade_storage::Secrets`), which store bytes only: all cryptography is here.
//!
//! # For the server
//!
//! ```no_run
//! # use stockade_secrets::SecretError;
//! # async fn example(db: stockade_storage::Database) -> Result<(), SecretError> {
//! use stockade_secrets::{MasterKeySource, Scope, SecretStore, SecretValue};
//!
//! // At startup: never fails on key problems, only on database errors.
//! let source = MasterKeySource::from_process(Some("/etc/stockade/master.key".into()));
//! let store = SecretStore::open_with_source(&db, &source).await?;
//! // `store.status()` is Sealed { reason } or Unsealed { key_version, .. }: log it, serve it.
//!
//! let scope = Scope::project("prj_0123456789abcdef")?;
//! store.set(&scope, "GITHUB_TOKEN", SecretValue::from("ghp_...")).await?;
//! let token = store.get(&scope, "GITHUB_TOKEN").await?; // zeroized on drop
//! assert!(token.expose_str().is_some());
//! let names = store.list(&scope).await?; // names and metadata, never values
//! store.delete(&scope, "GITHUB_TOKEN").await?;
//! # let _ = names; Ok(()) }
//! ```
//!
//! Error codes and suggested HTTP statuses: `sealed` 503 (the message says how to fix it),
//! `key_rotated` 503 (restart with the new key), `secret_not_found` 404, `invalid_input` 400,
//! `secret_corrupt` 500 (names the row; the value is never returned wrong), and the storage
//! codes. Secret names are `[A-Za-z0-9_.-]{1,128}`, values 1 byte to 64 KiB ([`MAX_VALUE_LEN`]).
//!
//! # For `stockade admin rotate-master-key`
//!
//! ```no_run
//! # async fn example(db: stockade_storage::Database, old_text: &str, new_text: &str)
//! # -> Result<(), stockade_secrets::SecretError> {
//! use stockade_secrets::{MasterKey, RotationProgress, rotate};
//!
//! let old = MasterKey::parse(old_text, "the configured master key")?;
//! let new = MasterKey::parse(new_text, "--new-key-file")?;
//! let show = |p: RotationProgress| eprintln!("{:?} {}/{}", p.stage, p.done, p.total);
//! let report = rotate(&db, old, new, show).await?;
//! // If this process dies, run the same command again: it resumes. Then restart the server
//! // with the new key (a store still open with the old key answers `key_rotated`).
//! # let _ = report; Ok(()) }
//! ```
//!
//! Safe to run with the server up or down; with it up, reads of already-moved rows and all
//! writes fail with `key_rotated` until it is restarted with the new key.
//!
//! # Crash safety in one paragraph
//!
//! Every database write is one transaction: staging the new version as `pending`, moving one
//! row (a compare-and-swap that changes its key version, nonce and ciphertext together), and
//! finally activating the new version and retiring the old one (only when no row is left on
//! it). So at any instant each row decrypts under exactly the key its own version names, and
//! the key versions say which step comes next; a rerun reads them and carries on.
//!
//! # PostgreSQL
//!
//! The storage side serialises `put` against `activate` with SQLite's single write lock; a
//! PostgreSQL backend would lock the active `secret_keys` row (`SELECT ... FOR UPDATE`) in both.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod data_key;
mod error;
mod master_key;
mod rotation;
mod scope;
mod store;
mod value;

pub use data_key::{DataKey, EncryptedValue, KDF_INFO, NONCE_LEN, RowId, TAG_LEN};
pub use error::{MasterKeyError, SecretError};
pub use master_key::{
    CREDENTIAL_NAME, ENV_VAR, KeyOrigin, LoadedKey, MASTER_KEY_LEN, MasterKey, MasterKeySource,
};
pub use rotation::{RotationProgress, RotationReport, RotationStage, rotate};
pub use scope::{MAX_NAME_LEN, Scope, validate_name};
pub use stockade_storage::SecretMeta;
pub use store::{NO_KEY_MESSAGE, SecretStore, SetOutcome, Status};
pub use value::{MAX_VALUE_LEN, SecretValue};
