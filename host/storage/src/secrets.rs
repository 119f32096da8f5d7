//! Encrypted secret rows and the master key versions they are encrypted under.
//!
//! This module stores bytes and knows no cryptography: `stockade-secrets` encrypts, decrypts and
//! checks keys, and is the only intended caller. What this layer guarantees is the atomicity
//! that the crypto crate's crash-safety argument rests on:
//!
//! - [`Secrets::put`] writes a row only if the key version it was encrypted under is still the
//!   `active` one, checked in the same write transaction, so a server holding a key that a
//!   rotation has just retired cannot leave a row behind on a version nobody will decrypt.
//! - [`Secrets::rewrap`] is a compare-and-swap on (scope, name, key version, nonce): a nonce is
//!   fresh for every write, so it identifies the exact ciphertext that was re-encrypted and a
//!   concurrent `put` is never overwritten with a re-encryption of the older value.
//! - [`Secrets::activate`] flips pending→active and active→retired in one transaction, and only
//!   when no row is left on the old version.
//!
//! Table layout and the rotation protocol: `migrations/0004_secrets.sql`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::{Database, now_millis};
use crate::error::{Result, StorageError};

/// The lifecycle of a master key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// New writes are encrypted under this version. At most one.
    Active,
    /// The new key of a rotation that has not finished. At most one.
    Pending,
    /// Rotated away; no row is encrypted under it any more.
    Retired,
}

impl KeyState {
    /// The spelling stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "active" => Ok(Self::Active),
            "pending" => Ok(Self::Pending),
            "retired" => Ok(Self::Retired),
            other => Err(StorageError::Corrupt {
                what: "secret_keys.state",
                reason: format!("`{other}` is not one of active, pending, retired"),
            }),
        }
    }
}

/// A row of `secret_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKeyRecord {
    /// 1, 2, ...: each rotation adds one.
    pub version: i64,
    /// The key-check value (opaque here).
    pub check_value: Vec<u8>,
    /// Where the version is in its lifecycle.
    pub state: KeyState,
    /// Unix millis.
    pub created_at: i64,
    /// Unix millis of the last state change.
    pub updated_at: i64,
}

impl SecretKeyRecord {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        let state: String = row.try_get("state")?;
        Ok(Self {
            version: row.try_get("version")?,
            check_value: row.try_get("check_value")?,
            state: state.parse()?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A secret as listed: everything but the encrypted value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMeta {
    /// `global` or `project:<project id>`.
    pub scope: String,
    /// The secret's name (in clear).
    pub name: String,
    /// The master key version the value is encrypted under.
    pub key_version: i64,
    /// Unix millis.
    pub created_at: i64,
    /// Unix millis of the last write.
    pub updated_at: i64,
}

impl SecretMeta {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        Ok(Self {
            scope: row.try_get("scope")?,
            name: row.try_get("name")?,
            key_version: row.try_get("key_version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// A whole row of `secrets`. `Debug` shows lengths, not bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// Identity and timestamps.
    pub meta: SecretMeta,
    /// The nonce the value was sealed with.
    pub nonce: Vec<u8>,
    /// Ciphertext with the authentication tag appended.
    pub ciphertext: Vec<u8>,
}

impl SecretRecord {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        Ok(Self {
            meta: SecretMeta::from_row(row)?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("ciphertext")?,
        })
    }
}

impl fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRecord")
            .field("meta", &self.meta)
            .field("nonce_len", &self.nonce.len())
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// What [`Secrets::put`] writes.
#[derive(Debug, Clone, Copy)]
pub struct NewSecret<'a> {
    /// `global` or `project:<project id>`.
    pub scope: &'a str,
    /// The secret's name.
    pub name: &'a str,
    /// The key version `ciphertext` was sealed under; must be the active one.
    pub key_version: i64,
    /// Fresh for this write.
    pub nonce: &'a [u8],
    /// Ciphertext with tag.
    pub ciphertext: &'a [u8],
}

/// The outcome of [`Secrets::put`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// The row was inserted or replaced.
    Stored {
        /// The row as stored.
        meta: SecretMeta,
        /// `true` if a row with this scope and name existed before.
        replaced: bool,
    },
    /// Nothing was written: the row's key version is not the active one (a rotation finished
    /// since the caller loaded its key). `active` is the version that is.
    KeyNotActive {
        /// The active version, if any.
        active: Option<i64>,
    },
}

/// What [`Secrets::rewrap`] replaces: one row, moved from one key version to the next.
#[derive(Debug, Clone, Copy)]
pub struct Rewrap<'a> {
    /// Row identity.
    pub scope: &'a str,
    /// Row identity.
    pub name: &'a str,
    /// The version the row must still be on.
    pub from_version: i64,
    /// The nonce the row must still have (proves it is the ciphertext that was re-encrypted).
    pub from_nonce: &'a [u8],
    /// The new version.
    pub to_version: i64,
    /// The new nonce.
    pub nonce: &'a [u8],
    /// The new ciphertext.
    pub ciphertext: &'a [u8],
}

/// The outcome of [`Secrets::create_first_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstKey {
    /// Version 1 was created as the active version.
    Created(SecretKeyRecord),
    /// Some key version already exists (another process got there first); nothing written.
    KeysExist,
    /// There are secret rows but no key versions (the table was emptied outside Stockade);
    /// nothing written, because adopting a new key would hide that the old one is gone.
    OrphanedSecrets {
        /// How many secret rows there are.
        rows: i64,
    },
}

/// The outcome of [`Secrets::activate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// `to` is now active and `from` retired.
    Activated,
    /// Rows are still on `from` (written after the caller's last pass); nothing changed.
    RowsRemain(i64),
    /// `from` is not active or `to` not pending any more; nothing changed.
    StateChanged,
}

/// The `secrets` and `secret_keys` repository. Obtain it with [`Database::secrets`].
#[derive(Debug, Clone, Copy)]
pub struct Secrets<'a> {
    db: &'a Database,
}

impl Database {
    /// The encrypted secrets repository (used by `stockade-secrets`).
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets { db: self }
    }
}

impl Secrets<'_> {
    /// Every key version, oldest first.
    pub async fn keys(&self) -> Result<Vec<SecretKeyRecord>> {
        sqlx::query(
            "SELECT version, check_value, state, created_at, updated_at FROM secret_keys \
             ORDER BY version",
        )
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(SecretKeyRecord::from_row)
        .collect()
    }

    /// On first use: creates version 1 as the active version, but only if there are no key
    /// versions and no secret rows (checked in the same transaction).
    pub async fn create_first_key(&self, check_value: &[u8]) -> Result<FirstKey> {
        let mut tx = self.db.begin_write().await?;
        let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secret_keys")
            .fetch_one(&mut *tx)
            .await?;
        if keys > 0 {
            return Ok(FirstKey::KeysExist);
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets")
            .fetch_one(&mut *tx)
            .await?;
        if rows > 0 {
            return Ok(FirstKey::OrphanedSecrets { rows });
        }
        let record = insert_key(&mut tx, 1, check_value, KeyState::Active).await?;
        tx.commit().await?;
        Ok(FirstKey::Created(record))
    }

    /// Starts a rotation: inserts `active_version + 1` as the pending version. Returns `false`
    /// and writes nothing unless `active_version` is active and no version is pending.
    pub async fn stage_key(&self, active_version: i64, check_value: &[u8]) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let (active, pending) = current_versions(&mut tx).await?;
        if active != Some(active_version) || pending.is_some() {
            return Ok(false);
        }
        insert_key(&mut tx, active_version + 1, check_value, KeyState::Pending).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces the check value of the pending `version`, only while no row is encrypted under
    /// it (an interrupted rotation whose new key was lost can then be restarted with another).
    /// Returns `false` and writes nothing otherwise.
    pub async fn replace_pending_key(&self, version: i64, check_value: &[u8]) -> Result<bool> {
        let mut tx = self.db.begin_write().await?;
        let rows = count_at(&mut tx, version).await?;
        if rows > 0 {
            return Ok(false);
        }
        let done = sqlx::query(
            "UPDATE secret_keys SET check_value = $2, updated_at = $3 \
             WHERE version = $1 AND state = 'pending'",
        )
        .bind(version)
        .bind(check_value)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Ends a rotation: `to` (pending) becomes active and `from` (active) retired, in one
    /// transaction, and only if no row is left on `from`.
    pub async fn activate(&self, from: i64, to: i64) -> Result<Activation> {
        let mut tx = self.db.begin_write().await?;
        if current_versions(&mut tx).await? != (Some(from), Some(to)) {
            return Ok(Activation::StateChanged);
        }
        let remaining = count_at(&mut tx, from).await?;
        if remaining > 0 {
            return Ok(Activation::RowsRemain(remaining));
        }
        let now = now_millis();
        // Retire first: the partial unique index allows one active row at a time.
        for (version, state) in [(from, KeyState::Retired), (to, KeyState::Active)] {
            sqlx::query("UPDATE secret_keys SET state = $2, updated_at = $3 WHERE version = $1")
                .bind(version)
                .bind(state.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Activation::Activated)
    }

    /// Inserts or replaces a secret row, if its key version is the active one (see
    /// [`PutOutcome`]).
    pub async fn put(&self, row: NewSecret<'_>) -> Result<PutOutcome> {
        let mut tx = self.db.begin_write().await?;
        let (active, _) = current_versions(&mut tx).await?;
        if active != Some(row.key_version) {
            return Ok(PutOutcome::KeyNotActive { active });
        }
        let replaced = sqlx::query("SELECT 1 FROM secrets WHERE scope = $1 AND name = $2")
            .bind(row.scope)
            .bind(row.name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        let now = now_millis();
        let created_at: i64 = sqlx::query_scalar(
            "INSERT INTO secrets (scope, name, key_version, nonce, ciphertext, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
             ON CONFLICT (scope, name) DO UPDATE \
             SET key_version = excluded.key_version, nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, updated_at = excluded.updated_at \
             RETURNING created_at",
        )
        .bind(row.scope)
        .bind(row.name)
        .bind(row.key_version)
        .bind(row.nonce)
        .bind(row.ciphertext)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StorageError::from_write(e, "secret", row.name, None))?;
        tx.commit().await?;
        Ok(PutOutcome::Stored {
            meta: SecretMeta {
                scope: row.scope.to_owned(),
                name: row.name.to_owned(),
                key_version: row.key_version,
                created_at,
                updated_at: now,
            },
            replaced,
        })
    }

    /// One row, or `not_found`.
    pub async fn get(&self, scope: &str, name: &str) -> Result<SecretRecord> {
        sqlx::query(
            "SELECT scope, name, key_version, nonce, ciphertext, created_at, updated_at \
             FROM secrets WHERE scope = $1 AND name = $2",
        )
        .bind(scope)
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| SecretRecord::from_row(&row))
        .transpose()?
        .ok_or_else(|| StorageError::not_found("secret", name))
    }

    /// The secrets of one scope (never their values), by name.
    pub async fn list(&self, scope: &str) -> Result<Vec<SecretMeta>> {
        sqlx::query(
            "SELECT scope, name, key_version, created_at, updated_at FROM secrets \
             WHERE scope = $1 ORDER BY name",
        )
        .bind(scope)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(SecretMeta::from_row)
        .collect()
    }

    /// Deletes one secret; `not_found` if there was none.
    pub async fn delete(&self, scope: &str, name: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM secrets WHERE scope = $1 AND name = $2")
            .bind(scope)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("secret", name));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` rows still on `version`, by scope and name: one batch of a rotation.
    pub async fn batch_at_version(&self, version: i64, limit: i64) -> Result<Vec<SecretRecord>> {
        sqlx::query(
            "SELECT scope, name, key_version, nonce, ciphertext, created_at, updated_at \
             FROM secrets WHERE key_version = $1 ORDER BY scope, name LIMIT $2",
        )
        .bind(version)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(SecretRecord::from_row)
        .collect()
    }

    /// How many rows are encrypted under `version`.
    pub async fn count_at_version(&self, version: i64) -> Result<i64> {
        let mut conn = self.db.pool().acquire().await?;
        count_at(&mut conn, version).await
    }

    /// Moves one row to a new key version if it is still exactly the ciphertext that was
    /// re-encrypted (see [`Rewrap`]); one statement, so its own transaction. Returns `false`
    /// (nothing written) if the row changed or is gone.
    pub async fn rewrap(&self, row: Rewrap<'_>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE secrets SET key_version = $5, nonce = $6, ciphertext = $7 \
             WHERE scope = $1 AND name = $2 AND key_version = $3 AND nonce = $4",
        )
        .bind(row.scope)
        .bind(row.name)
        .bind(row.from_version)
        .bind(row.from_nonce)
        .bind(row.to_version)
        .bind(row.nonce)
        .bind(row.ciphertext)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// The active and the pending version, if any.
async fn current_versions(conn: &mut sqlx::SqliteConnection) -> Result<(Option<i64>, Option<i64>)> {
    let rows =
        sqlx::query("SELECT version, state FROM secret_keys WHERE state IN ('active', 'pending')")
            .fetch_all(&mut *conn)
            .await?;
    let (mut active, mut pending) = (None, None);
    for row in &rows {
        let version: i64 = row.try_get("version")?;
        let state: String = row.try_get("state")?;
        match state.parse()? {
            KeyState::Active => active = Some(version),
            KeyState::Pending => pending = Some(version),
            KeyState::Retired => {}
        }
    }
    Ok((active, pending))
}

async fn count_at(conn: &mut sqlx::SqliteConnection, version: i64) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key_version = $1")
            .bind(version)
            .fetch_one(&mut *conn)
            .await?,
    )
}

async fn insert_key(
    conn: &mut sqlx::SqliteConnection,
    version: i64,
    check_value: &[u8],
    state: KeyState,
) -> Result<SecretKeyRecord> {
    let now = now_millis();
    sqlx::query(
        "INSERT INTO secret_keys (version, check_value, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(version)
    .bind(check_value)
    .bind(state.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| StorageError::from_write(e, "secret key version", &version.to_string(), None))?;
    Ok(SecretKeyRecord {
        version,
        check_value: check_value.to_vec(),
        state,
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let db = Database::open(path.to_str().expect("utf-8"))
            .await
            .expect("open");
        (db, dir)
    }

    fn row<'a>(name: &'a str, key_version: i64, nonce: &'a [u8]) -> NewSecret<'a> {
        NewSecret {
            scope: "global",
            name,
            key_version,
            nonce,
            ciphertext: b"sealed",
        }
    }

    async fn states(db: &Database) -> Vec<(i64, KeyState)> {
        let keys = db.secrets().keys().await.expect("keys");
        keys.into_iter().map(|k| (k.version, k.state)).collect()
    }

    #[tokio::test]
    async fn the_first_key_is_created_once_and_never_over_orphaned_rows() {
        let (db, _dir) = db().await;
        let s = db.secrets();
        assert!(matches!(
            s.create_first_key(b"check").await.expect("first"),
            FirstKey::Created(SecretKeyRecord { version: 1, .. })
        ));
        assert_eq!(
            s.create_first_key(b"other").await.expect("second"),
            FirstKey::KeysExist
        );
        s.put(row("a", 1, b"n1")).await.expect("put");
        sqlx::query("DELETE FROM secret_keys")
            .execute(db.pool())
            .await
            .expect_err("the foreign key protects the version of a stored row");

        // Someone with the file and foreign keys off empties the key table.
        let raw = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.filename())
                .foreign_keys(false),
        )
        .await
        .expect("raw");
        sqlx::query("DELETE FROM secret_keys")
            .execute(&raw)
            .await
            .expect("delete keys");
        assert_eq!(
            s.create_first_key(b"adopt").await.expect("orphans"),
            FirstKey::OrphanedSecrets { rows: 1 }
        );
        assert!(s.keys().await.expect("keys").is_empty());
    }

    #[tokio::test]
    async fn put_accepts_only_the_active_version() {
        let (db, _dir) = db().await;
        let s = db.secrets();
        assert_eq!(
            s.put(row("a", 1, b"n1")).await.expect("no key yet"),
            PutOutcome::KeyNotActive { active: None }
        );
        s.create_first_key(b"check").await.expect("first");
        let PutOutcome::Stored { replaced, .. } = s.put(row("a", 1, b"n1")).await.expect("put")
        else {
            panic!("not stored");
        };
        assert!(!replaced);
        assert!(matches!(
            s.put(row("a", 1, b"n2")).await.expect("again"),
            PutOutcome::Stored { replaced: true, .. }
        ));
        assert!(s.stage_key(1, b"check 2").await.expect("stage"));
        assert!(
            matches!(
                s.put(row("b", 1, b"n3")).await.expect("during rotation"),
                PutOutcome::Stored { .. }
            ),
            "the active version still takes writes while a rotation runs"
        );
        assert_eq!(
            s.put(row("c", 2, b"n4")).await.expect("pending"),
            PutOutcome::KeyNotActive { active: Some(1) }
        );
    }

    #[tokio::test]
    async fn rewrap_is_a_compare_and_swap_on_version_and_nonce() {
        let (db, _dir) = db().await;
        let s = db.secrets();
        s.create_first_key(b"check").await.expect("first");
        s.put(row("a", 1, b"n1")).await.expect("put");
        s.stage_key(1, b"check 2").await.expect("stage");
        let rewrap = |from_nonce| Rewrap {
            scope: "global",
            name: "a",
            from_version: 1,
            from_nonce,
            to_version: 2,
            nonce: b"n2",
            ciphertext: b"resealed",
        };
        assert!(!s.rewrap(rewrap(b"stale")).await.expect("stale nonce"));
        assert!(s.rewrap(rewrap(b"n1")).await.expect("swap"));
        assert!(!s.rewrap(rewrap(b"n1")).await.expect("already moved"));
        let moved = s.get("global", "a").await.expect("get");
        assert_eq!(
            (moved.meta.key_version, moved.ciphertext.as_slice()),
            (2, &b"resealed"[..])
        );
    }

    #[tokio::test]
    async fn staging_and_activation_follow_the_protocol() {
        let (db, _dir) = db().await;
        let s = db.secrets();
        s.create_first_key(b"check").await.expect("first");
        assert!(!s.stage_key(2, b"x").await.expect("not active"));
        assert!(s.stage_key(1, b"check 2").await.expect("stage"));
        assert!(!s.stage_key(1, b"x").await.expect("already pending"));
        s.put(row("a", 1, b"n1")).await.expect("put");
        assert_eq!(
            s.activate(1, 2).await.expect("rows left"),
            Activation::RowsRemain(1)
        );
        assert_eq!(
            states(&db).await,
            [(1, KeyState::Active), (2, KeyState::Pending)]
        );
        s.delete("global", "a").await.expect("delete");
        assert_eq!(
            s.activate(1, 3).await.expect("wrong"),
            Activation::StateChanged
        );
        assert_eq!(s.activate(1, 2).await.expect("go"), Activation::Activated);
        assert_eq!(
            states(&db).await,
            [(1, KeyState::Retired), (2, KeyState::Active)]
        );
        assert_eq!(
            s.activate(1, 2).await.expect("twice"),
            Activation::StateChanged
        );
    }

    #[tokio::test]
    async fn a_pending_key_is_replaced_only_while_no_row_uses_it() {
        let (db, _dir) = db().await;
        let s = db.secrets();
        s.create_first_key(b"check").await.expect("first");
        s.put(row("a", 1, b"n1")).await.expect("put");
        s.stage_key(1, b"check 2").await.expect("stage");
        assert!(s.replace_pending_key(2, b"other").await.expect("unused"));
        assert!(!s.replace_pending_key(1, b"x").await.expect("not pending"));
        s.rewrap(Rewrap {
            scope: "global",
            name: "a",
            from_version: 1,
            from_nonce: b"n1",
            to_version: 2,
            nonce: b"n2",
            ciphertext: b"c",
        })
        .await
        .expect("rewrap");
        assert!(!s.replace_pending_key(2, b"third").await.expect("in use"));
        let keys = s.keys().await.expect("keys");
        assert_eq!(keys[1].check_value, b"other");
    }
}
