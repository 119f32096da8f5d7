//! Opening the database: connection settings, migrations, and the write-transaction helper.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use crate::error::{Result, StorageError};

/// The migrations under `host/storage/migrations/`, compiled into the binary so a server never
/// runs against a schema it does not know.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a connection waits for SQLite's single write lock before giving up with `database`.
/// Generous because the event writer holds the lock for the length of one fsync per batch.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Tunables for [`Database::open_with`]; [`Database::open`] uses the defaults.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Pooled connections (default 8). SQLite serialises writers anyway; extra connections serve
    /// concurrent readers (WAL lets readers proceed during a write).
    pub max_connections: u32,
    /// Flush every commit to stable storage (`synchronous=FULL`, the default). `false` uses
    /// `synchronous=NORMAL`: commits still survive a killed process, but the newest ones can be
    /// lost on power loss or an OS crash.
    pub fsync_commits: bool,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            fsync_commits: true,
        }
    }
}

/// A handle to Stockade's database: cheap to clone, shared by every repository and the event log.
///
/// Repositories are reached through accessors ([`Database::users`], [`Database::projects`], ...)
/// that borrow the pool; they hold no state of their own.
#[derive(Debug, Clone)]
pub struct Database {
    pool: SqlitePool,
    options: DatabaseOptions,
}

impl Database {
    /// Opens (creating if needed) the SQLite database at `target` and applies the embedded
    /// migrations.
    ///
    /// `target` is either a filesystem path (`.stockade/stockade.db`; the parent directory is
    /// created) or a `sqlite:` URL. Choosing the path is the caller's job (config: data dir).
    /// `sqlite::memory:` is not supported: every pooled connection would get its own empty
    /// database; tests use a file in a temporary directory.
    pub async fn open(target: &str) -> Result<Self> {
        Self::open_with(target, DatabaseOptions::default()).await
    }

    /// [`Database::open`] with explicit [`DatabaseOptions`].
    pub async fn open_with(target: &str, options: DatabaseOptions) -> Result<Self> {
        let connect = if target.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(target)?
        } else {
            let path = PathBuf::from(target);
            create_parent_dir(&path)?;
            SqliteConnectOptions::new().filename(&path)
        };
        let connect = connect
            .create_if_missing(true)
            // WAL: readers never block the writer and vice versa, which the batched event
            // writer relies on to keep `GET /v1/events` and tool calls independent.
            .journal_mode(SqliteJournalMode::Wal)
            // FULL by default, not NORMAL: in WAL mode NORMAL survives a process crash but can lose the
            // last commits on power loss or an OS crash. An event is acknowledged (and the tool
            // call answered) only after commit, so that commit must be on stable storage. The
            // fsync this costs is paid once per batch, not per event.
            .synchronous(if options.fsync_commits {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .connect_with(connect)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool, options })
    }

    /// The underlying pool, for callers that need a query this crate does not offer (tests,
    /// diagnostics). Writes to `events` through it are refused by the append-only triggers.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The options this database was opened with.
    pub fn options(&self) -> &DatabaseOptions {
        &self.options
    }

    /// The database file (the event log writer opens its own connection to it).
    pub fn filename(&self) -> PathBuf {
        self.pool.connect_options().get_filename().to_path_buf()
    }

    /// Closes every connection; later operations fail with `database`. Used on shutdown after
    /// the event log has been flushed.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that takes the write lock up front.
    ///
    /// A plain (deferred) `BEGIN` that reads and then writes can fail with `SQLITE_BUSY` without
    /// waiting if another writer committed in between; `BEGIN IMMEDIATE` makes it wait on the
    /// busy timeout instead. A PostgreSQL backend would use a plain `BEGIN` here.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

fn create_parent_dir(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            std::fs::create_dir_all(parent).map_err(|source| StorageError::Io {
                path: parent.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Unix time in milliseconds, the representation of every timestamp column.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `len` random bytes as lowercase hex; ids and token secrets are made of these.
pub(crate) fn random_hex(len: usize) -> Result<String> {
    let mut buf = vec![0u8; len];
    getrandom::fill(&mut buf).map_err(|e| StorageError::Entropy(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// A fresh explicit id such as `prj_3f9c0a...`: generated here rather than by the database so
/// inserts need no backend-specific `AUTOINCREMENT`/`SERIAL` or `last_insert_rowid()`.
pub(crate) fn new_id(prefix: &str) -> Result<String> {
    Ok(format!("{prefix}_{}", random_hex(8)?))
}
