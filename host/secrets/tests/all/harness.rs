//! A database in a temporary directory, fixed test keys, and an "attacker" connection that
//! bypasses both crates.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Row, SqlitePool};
use stockade_secrets::{
    DataKey, MasterKey, MasterKeySource, RowId, Scope, SecretStore, SecretValue,
};
use stockade_storage::{Database, DatabaseOptions, SecretRecord};
use tempfile::TempDir;

/// Three unrelated master keys, as 64 hex digits.
pub const KEY_A: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0";
pub const KEY_B: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
pub const KEY_C: &str = "5555555555555555555555555555555555555555555555555555555555555555";

pub fn key(hex: &str) -> MasterKey {
    MasterKey::parse(hex, "test").expect("test key")
}

pub fn data_key(hex: &str) -> DataKey {
    DataKey::derive(&key(hex))
}

pub struct TestEnv {
    pub db: Database,
    pub path: PathBuf,
    dir: TempDir,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_options(DatabaseOptions::default()).await
    }

    /// `synchronous=NORMAL`: still crash-safe for a killed process, much faster for bulk tests.
    pub async fn fast() -> Self {
        Self::with_options(DatabaseOptions {
            fsync_commits: false,
            ..DatabaseOptions::default()
        })
        .await
    }

    async fn with_options(options: DatabaseOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data").join("stockade.db");
        let db = Database::open_with(path.to_str().expect("utf-8 path"), options)
            .await
            .expect("open database");
        Self { db, path, dir }
    }

    /// A scratch directory next to the database (key files, credentials).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub async fn store(&self, hex: &str) -> SecretStore {
        SecretStore::open(&self.db, Some(key(hex)))
            .await
            .expect("open store")
    }

    pub async fn store_from(&self, source: &MasterKeySource) -> SecretStore {
        SecretStore::open_with_source(&self.db, source)
            .await
            .expect("open store")
    }

    /// Closes every connection (SQLite checkpoints the WAL into the file) and opens again.
    pub async fn reopen(&mut self) {
        self.db.close().await;
        self.db = Database::open(self.path.to_str().expect("utf-8 path"))
            .await
            .expect("reopen database");
    }

    /// A separate pool on the same file with foreign keys off: what someone with the file does.
    pub async fn raw(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .foreign_keys(false);
        SqlitePool::connect_with(options).await.expect("raw pool")
    }

    /// The stored row, read past the store.
    pub async fn row(&self, scope: &Scope, name: &str) -> SecretRecord {
        self.db
            .secrets()
            .get(scope.as_str(), name)
            .await
            .expect("row")
    }

    /// Every byte of the database: the file, and the WAL and index where fresh commits live.
    pub fn file_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            if let Ok(b) = std::fs::read(PathBuf::from(name)) {
                bytes.extend(b);
            }
        }
        bytes
    }
}

/// Sets `pairs` in `scope`.
pub async fn fill(store: &SecretStore, scope: &Scope, pairs: &[(&str, &str)]) {
    for (name, value) in pairs {
        store
            .set(scope, name, SecretValue::from(*value))
            .await
            .expect("set");
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// (stored scope, name) → value.
pub type Expected = HashMap<(String, String), String>;

/// Checks every row in the database against `expected` and the candidate `(version, key)`s:
/// exactly the expected rows exist, and each opens under exactly one (key, version) pairing —
/// its own version's key with its own version in the associated data — to its expected value.
/// Returns how many rows are on each version.
pub async fn check_rows(
    t: &TestEnv,
    keys: &[(i64, &str)],
    expected: &Expected,
) -> BTreeMap<i64, usize> {
    let keys: Vec<(i64, DataKey)> = keys.iter().map(|(v, hex)| (*v, data_key(hex))).collect();
    let rows = sqlx::query("SELECT scope, name, key_version, nonce, ciphertext FROM secrets")
        .fetch_all(t.db.pool())
        .await
        .expect("rows");
    assert_eq!(rows.len(), expected.len(), "rows lost or added");
    let mut per_version = BTreeMap::new();
    for row in &rows {
        let (scope, name): (String, String) = (row.get("scope"), row.get("name"));
        let version: i64 = row.get("key_version");
        let (nonce, ciphertext): (Vec<u8>, Vec<u8>) = (row.get("nonce"), row.get("ciphertext"));
        let mut opened = Vec::new();
        for (key_version, key) in &keys {
            for (ad_version, _) in &keys {
                let id = RowId {
                    scope: &scope,
                    name: &name,
                    key_version: *ad_version,
                };
                if let Ok(value) = key.decrypt(id, &nonce, &ciphertext) {
                    opened.push((*key_version, *ad_version, value));
                }
            }
        }
        assert_eq!(
            opened.len(),
            1,
            "{scope}/{name} opens under {} pairings",
            opened.len()
        );
        let (key_version, ad_version, value) = &opened[0];
        assert_eq!(
            (*key_version, *ad_version),
            (version, version),
            "{scope}/{name}"
        );
        let want = expected
            .get(&(scope.clone(), name.clone()))
            .expect("unexpected row");
        assert_eq!(value.expose_str(), Some(want.as_str()), "{scope}/{name}");
        *per_version.entry(version).or_insert(0) += 1;
    }
    per_version
}
