//! [`SecretStore`]: sealed or unsealed, decided once when it is opened.
//!
//! Opening reads the key versions and checks the master key against the active version's
//! key-check value, then settles into one of two states for the life of the store:
//!
//! | situation at open | state | writes |
//! |---|---|---|
//! | no master key configured | sealed: "no master key: set `master_key_file` ..." | none |
//! | key not loadable (permissions, encoding, unreadable) | sealed, with the loader's fix | none |
//! | no key versions, no secrets, a key | unsealed at version 1 | version 1's check value |
//! | key matches the active version | unsealed at that version | none |
//! | key is the new key of an unfinished rotation | sealed: finish the rotation | none |
//! | key matches a retired version | sealed: configure the current key | none |
//! | key matches nothing | sealed: "does not match ...; nothing was changed" | none |
//! | secrets but no key versions | sealed: the key table was emptied | none |
//!
//! A sealed store answers every operation with [`SecretError::Sealed`] (code `sealed`) carrying
//! that message, and touches the database no further. Nothing is ever re-keyed or overwritten
//! because a key did not match.
//!
//! An unsealed store keeps only the derived [`DataKey`] (the master key is wiped right after
//! derivation). If another process rotates the master key meanwhile, writes are refused (the
//! storage layer accepts a row only under the active version) and reads of moved rows say so,
//! both with `key_rotated`; reopen the store with the new key.

use std::fmt;
use std::sync::Arc;

use stockade_storage::{
    Database, FirstKey, KeyState, NewSecret, PutOutcome, SecretKeyRecord, SecretMeta, SecretRecord,
    StorageError,
};

use crate::data_key::{DataKey, RowId};
use crate::error::SecretError;
use crate::master_key::{KeyOrigin, MasterKey, MasterKeySource};
use crate::scope::{Scope, validate_name};
use crate::value::SecretValue;

/// The sealed-mode message when no source holds a key.
pub const NO_KEY_MESSAGE: &str = "no master key: set `master_key_file` in the config to a file \
    only the server's user can read (chmod 600), or provide the systemd credential \
    `stockade-master-key`, or set STOCKADE_MASTER_KEY (the weakest option); create a key with \
    `stockade admin generate-master-key`, then restart. Nothing was changed";

/// The encrypted secrets of one database, with the key that opens them (or the reason there is
/// none). Cheap to clone; share one per server.
#[derive(Clone)]
pub struct SecretStore {
    db: Database,
    state: Arc<State>,
}

enum State {
    Unsealed {
        key: DataKey,
        version: i64,
        pending: Option<i64>,
    },
    Sealed {
        reason: String,
    },
}

/// What [`SecretStore::status`] reports: no key material, safe to log and serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Secrets can be read and written.
    Unsealed {
        /// The master key version in use.
        key_version: i64,
        /// The new version of a rotation that has started but not finished, if any (rows
        /// already moved to it cannot be read until the store is reopened with the new key).
        rotation_pending: Option<i64>,
    },
    /// Every secret operation fails with `sealed` and this reason.
    Sealed {
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// What [`SecretStore::set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// The row as stored (no value).
    pub secret: SecretMeta,
    /// `true` if a secret of that name existed and was replaced.
    pub replaced: bool,
}

/// What opening decided, before any write.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    Unsealed { version: i64, pending: Option<i64> },
    Initialize,
    Sealed(String),
}

impl SecretStore {
    /// Opens the store with `key` (`None`: no key configured). Key problems never fail this
    /// call; they give a sealed store:
    ///
    /// | situation | result |
    /// |---|---|
    /// | no key | sealed ([`NO_KEY_MESSAGE`]) |
    /// | no key versions and no secrets yet | unsealed; version 1's check value is recorded |
    /// | key matches the active version | unsealed |
    /// | key is the new key of an unfinished rotation | sealed: finish the rotation |
    /// | key is a retired version | sealed: configure the current key |
    /// | key matches nothing | sealed: "does not match key version N ..." |
    ///
    /// Only the first-start row is ever written here. Errors are database (or random number
    /// generator) failures only.
    pub async fn open(db: &Database, key: Option<MasterKey>) -> Result<Self, SecretError> {
        Self::open_keyed(db, key, None).await
    }

    /// Loads the key from `source` and opens the store with it. A key that cannot be loaded
    /// (bad permissions, bad encoding, unreadable file) gives a sealed store whose reason is
    /// the loader's message. What a server calls at startup.
    pub async fn open_with_source(
        db: &Database,
        source: &MasterKeySource,
    ) -> Result<Self, SecretError> {
        match source.load() {
            Ok(Some(loaded)) => Self::open_keyed(db, Some(loaded.key), Some(&loaded.origin)).await,
            Ok(None) => Self::open_keyed(db, None, None).await,
            Err(e) => Ok(Self::sealed(
                db,
                format!("the master key could not be loaded: {e}. Nothing was changed"),
            )),
        }
    }

    /// A store that refuses everything with `reason` (for callers that decide to seal it
    /// themselves).
    pub fn sealed(db: &Database, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        tracing::warn!(%reason, "secrets store is sealed");
        Self {
            db: db.clone(),
            state: Arc::new(State::Sealed { reason }),
        }
    }

    async fn open_keyed(
        db: &Database,
        key: Option<MasterKey>,
        origin: Option<&KeyOrigin>,
    ) -> Result<Self, SecretError> {
        let Some(master) = key else {
            return Ok(Self::sealed(db, NO_KEY_MESSAGE));
        };
        let key = DataKey::derive(&master);
        drop(master);
        let named = |reason: String| match origin {
            Some(origin) => format!("the master key from {origin}: {reason}"),
            None => reason,
        };
        let mut decision = decide(&db.secrets().keys().await?, &key);
        if decision == Decision::Initialize {
            decision = initialize(db, &key).await?;
        }
        Ok(match decision {
            Decision::Unsealed { version, pending } => {
                tracing::info!(key_version = version, ?pending, "secrets store unsealed");
                Self {
                    db: db.clone(),
                    state: Arc::new(State::Unsealed {
                        key,
                        version,
                        pending,
                    }),
                }
            }
            Decision::Sealed(reason) => Self::sealed(db, named(reason)),
            Decision::Initialize => Self::sealed(
                db,
                "the key table changed while opening; restart. Nothing was changed",
            ),
        })
    }

    /// Sealed or not, without key material.
    pub fn status(&self) -> Status {
        match &*self.state {
            State::Unsealed {
                version, pending, ..
            } => Status::Unsealed {
                key_version: *version,
                rotation_pending: *pending,
            },
            State::Sealed { reason } => Status::Sealed {
                reason: reason.clone(),
            },
        }
    }

    /// Whether every operation will fail with `sealed`.
    pub fn is_sealed(&self) -> bool {
        matches!(*self.state, State::Sealed { .. })
    }

    /// Encrypts `value` under a fresh nonce and stores it as `name` in `scope`, replacing any
    /// previous value. `invalid_input` for a bad name or an empty or oversized value.
    pub async fn set(
        &self,
        scope: &Scope,
        name: &str,
        value: SecretValue,
    ) -> Result<SetOutcome, SecretError> {
        let (key, version) = self.key()?;
        validate_name(name)?;
        value.check()?;
        let row = RowId {
            scope: scope.as_str(),
            name,
            key_version: version,
        };
        let sealed = key.encrypt(row, value.expose_bytes())?;
        drop(value);
        let outcome = self
            .db
            .secrets()
            .put(NewSecret {
                scope: row.scope,
                name,
                key_version: version,
                nonce: &sealed.nonce,
                ciphertext: &sealed.ciphertext,
            })
            .await?;
        match outcome {
            PutOutcome::Stored { meta, replaced } => Ok(SetOutcome {
                secret: meta,
                replaced,
            }),
            PutOutcome::KeyNotActive { active } => Err(SecretError::KeyRotated {
                held: version,
                what: match active {
                    Some(active) => format!("version {active} is now the active one"),
                    None => "no version is active".to_owned(),
                },
                finish: "",
            }),
        }
    }

    /// Decrypts one secret. `secret_not_found` if absent; `secret_corrupt` (naming the row) if
    /// its stored bytes do not authenticate; never a wrong plaintext.
    pub async fn get(&self, scope: &Scope, name: &str) -> Result<SecretValue, SecretError> {
        let (key, version) = self.key()?;
        validate_name(name)?;
        let record = self.record(scope, name).await?;
        if record.meta.key_version != version {
            return Err(self.version_mismatch(version, &record).await);
        }
        key.decrypt(
            RowId {
                scope: &record.meta.scope,
                name: &record.meta.name,
                key_version: record.meta.key_version,
            },
            &record.nonce,
            &record.ciphertext,
        )
    }

    /// The secrets of `scope`, by name: names and metadata, never values.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<SecretMeta>, SecretError> {
        self.key()?;
        Ok(self.db.secrets().list(scope.as_str()).await?)
    }

    /// Deletes one secret; `secret_not_found` if absent.
    pub async fn delete(&self, scope: &Scope, name: &str) -> Result<(), SecretError> {
        self.key()?;
        validate_name(name)?;
        self.db
            .secrets()
            .delete(scope.as_str(), name)
            .await
            .map_err(|e| not_found(e, scope, name))
    }

    fn key(&self) -> Result<(&DataKey, i64), SecretError> {
        match &*self.state {
            State::Unsealed { key, version, .. } => Ok((key, *version)),
            State::Sealed { reason } => Err(SecretError::Sealed(reason.clone())),
        }
    }

    async fn record(&self, scope: &Scope, name: &str) -> Result<SecretRecord, SecretError> {
        self.db
            .secrets()
            .get(scope.as_str(), name)
            .await
            .map_err(|e| not_found(e, scope, name))
    }

    /// Explains a row on another key version than the one held: moved by a rotation (then
    /// `key_rotated`), or a version no key has (then the row is corrupt).
    async fn version_mismatch(&self, held: i64, record: &SecretRecord) -> SecretError {
        let keys = match self.db.secrets().keys().await {
            Ok(keys) => keys,
            Err(e) => return e.into(),
        };
        let (scope, name, version) = (
            &record.meta.scope,
            &record.meta.name,
            record.meta.key_version,
        );
        match keys.iter().find(|k| k.version == version).map(|k| k.state) {
            Some(KeyState::Pending) => SecretError::KeyRotated {
                held,
                what: format!(
                    "secret `{name}` was already moved to version {version} by a rotation that \
                     is under way"
                ),
                finish: " once the rotation has finished",
            },
            Some(KeyState::Active) => SecretError::KeyRotated {
                held,
                what: format!("version {version} is now the active one"),
                finish: "",
            },
            _ => SecretError::corrupt(
                scope,
                name,
                format!("its row names key version {version}, which is neither active nor pending"),
            ),
        }
    }
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

fn not_found(e: StorageError, scope: &Scope, name: &str) -> SecretError {
    match e {
        StorageError::NotFound { .. } => SecretError::NotFound {
            scope: scope.as_str().to_owned(),
            name: name.to_owned(),
        },
        other => other.into(),
    }
}

/// The open-time decision table ([`SecretStore::open`]), from the key versions alone.
fn decide(keys: &[SecretKeyRecord], key: &DataKey) -> Decision {
    if keys.is_empty() {
        return Decision::Initialize;
    }
    let find = |state| keys.iter().find(|k| k.state == state);
    let matches = |k: &&SecretKeyRecord| key.verifies(k.version, &k.check_value);
    let pending = find(KeyState::Pending);
    let Some(active) = find(KeyState::Active) else {
        return Decision::Sealed(
            "the key table has no active version (it was edited outside Stockade); restore the \
             database from a backup. Nothing was changed"
                .to_owned(),
        );
    };
    if matches(&active) {
        return Decision::Unsealed {
            version: active.version,
            pending: pending.map(|p| p.version),
        };
    }
    if let Some(pending) = pending.filter(matches) {
        return Decision::Sealed(format!(
            "this is the new key (version {}) of a master key rotation that has not finished: \
             rerun `stockade admin rotate-master-key` with the old key (version {}) and this \
             key to finish it, then restart with this key. Nothing was changed",
            pending.version, active.version
        ));
    }
    if let Some(retired) = keys
        .iter()
        .filter(|k| k.state == KeyState::Retired)
        .find(matches)
    {
        return Decision::Sealed(format!(
            "this is key version {}, which a rotation replaced; configure the current master \
             key (version {}). Nothing was changed",
            retired.version, active.version
        ));
    }
    Decision::Sealed(format!(
        "the master key does not match key version {}, the key that encrypts the stored \
         secrets: configure that key (a wrong key is never used to re-key or overwrite \
         anything). Nothing was changed",
        active.version
    ))
}

/// First start: records version 1's check value, unless another process got there first or
/// secrets exist without any key version.
async fn initialize(db: &Database, key: &DataKey) -> Result<Decision, SecretError> {
    let check_value = key.check_value(1)?;
    match db.secrets().create_first_key(&check_value).await? {
        FirstKey::Created(record) => {
            tracing::info!("secrets store initialised: master key version 1 recorded");
            Ok(Decision::Unsealed {
                version: record.version,
                pending: None,
            })
        }
        FirstKey::KeysExist => Ok(decide(&db.secrets().keys().await?, key)),
        FirstKey::OrphanedSecrets { rows } => Ok(Decision::Sealed(format!(
            "{rows} secrets are stored but the key table is empty (it was edited outside \
             Stockade), so the master key cannot be checked; restore the database from a \
             backup. Nothing was changed"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> DataKey {
        DataKey::derive(&MasterKey::parse(&hex::encode([byte; 32]), "test").expect("key"))
    }

    fn record(key: &DataKey, version: i64, state: KeyState) -> SecretKeyRecord {
        SecretKeyRecord {
            version,
            check_value: key.check_value(version).expect("check value"),
            state,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn sealed_saying(decision: Decision, needle: &str) -> bool {
        matches!(decision, Decision::Sealed(reason) if reason.contains(needle))
    }

    #[test]
    fn open_decisions() {
        let (a, b, c) = (key(1), key(2), key(3));
        let rotating = [
            record(&a, 1, KeyState::Active),
            record(&b, 2, KeyState::Pending),
        ];
        let rotated = [
            record(&a, 1, KeyState::Retired),
            record(&b, 2, KeyState::Active),
        ];
        assert_eq!(decide(&[], &a), Decision::Initialize);
        assert_eq!(
            decide(&[record(&a, 1, KeyState::Active)], &a),
            Decision::Unsealed {
                version: 1,
                pending: None
            }
        );
        assert_eq!(
            decide(&rotating, &a),
            Decision::Unsealed {
                version: 1,
                pending: Some(2)
            }
        );
        assert!(sealed_saying(decide(&rotating, &b), "has not finished"));
        assert!(sealed_saying(
            decide(&rotating, &c),
            "does not match key version 1"
        ));
        assert_eq!(
            decide(&rotated, &b),
            Decision::Unsealed {
                version: 2,
                pending: None
            }
        );
        assert!(sealed_saying(decide(&rotated, &a), "a rotation replaced"));
        assert!(sealed_saying(
            decide(&rotated, &c),
            "does not match key version 2"
        ));
        assert!(sealed_saying(
            decide(&[record(&a, 1, KeyState::Retired)], &a),
            "no active version"
        ));
    }

    #[test]
    fn a_check_value_copied_to_another_version_does_not_verify() {
        let a = key(1);
        let mut moved = record(&a, 1, KeyState::Active);
        moved.version = 2;
        assert!(sealed_saying(decide(&[moved], &a), "does not match"));
    }
}
