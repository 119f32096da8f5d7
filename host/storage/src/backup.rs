//! Backup and restore of the database: a consistent online snapshot, the one-file archive that
//! carries it, and the checks a restore makes before it replaces anything.
//!
//! - [`Database::snapshot_to`] copies the live database with SQLite's `VACUUM INTO`: one read
//!   transaction, so the copy is consistent while the server keeps reading and writing (WAL
//!   readers and writers are not blocked). Returns a [`Snapshot`] (size and SHA-256).
//! - [`check_database_file`] checks a database file before it is trusted: `PRAGMA
//!   integrity_check`, a migration history this build knows, and the event hash chain
//!   ([`Events::verify`](crate::Events::verify)). Returns a [`DatabaseReport`].
//! - [`create_backup`] = snapshot, check, [`BackupManifest`], archive written atomically.
//! - [`restore_backup`] = read the archive (every entry checked, the copy hashed), check the
//!   database, then install it in a data directory that no server is using.
//!
//! Both report their steps as [`BackupStep`]s and fail with a [`BackupError`] that carries a
//! stable [`code`](BackupError::code) (`backup_corrupt`, `backup_mismatch`, ...).
//!
//! # The backup file, format version 1
//!
//! A plain (uncompressed) tar archive of exactly two regular files, in this order:
//!
//! 1. `manifest.json`: [`BackupManifest`]: `format` (`"stockade-backup"`), `format_version`
//!    (1), `created_at` (RFC 3339, UTC), `stockade_version`, `schema_version` (the newest
//!    migration applied), `chain_head` (`{seq, hash}` of the newest event), and `files`:
//!    `[{name: "stockade.db", sha256, bytes}]`.
//! 2. `stockade.db`: the snapshot, a SQLite database in WAL mode.
//!
//! The archive is built from named entries, never by walking the data directory, so nothing
//! else can end up in it: not the master key (it never lives in the database; secrets are stored
//! as AES-256-GCM ciphertext), not the compiled-component cache or its `cache.key` (recompiled on
//! demand), not any other key or file an operator keeps next to the database.
//!
//! A restore accepts exactly that shape: any other entry, an entry name that is absolute or
//! contains `..`, a link, a device, an entry over [`MAX_DATABASE_BYTES`], a hash or size that
//! differs from the manifest, or a database that fails its check is refused before the data
//! directory is touched.

mod archive;
mod check;
mod install;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};

use crate::db::Database;
use crate::error::StorageError;
use crate::events::ChainHead;

pub use check::{DatabaseReport, TableRows, check_database_file};
pub use install::Installed;

/// The version of the backup file format this build writes and reads.
pub const BACKUP_FORMAT_VERSION: u32 = 1;
/// The database's file name, in a data directory and in a backup.
pub const DATABASE_FILE: &str = "stockade.db";
/// The manifest's name in a backup.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The largest database a restore accepts (16 GiB): a bound on what a hostile archive can make
/// a restore write to disk.
pub const MAX_DATABASE_BYTES: u64 = 16 << 30;
/// The value of [`BackupManifest::format`].
const FORMAT_NAME: &str = "stockade-backup";

/// Why a backup or a restore stopped. Nothing was replaced when a restore returns one.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backup file already exists and overwriting was not asked for.
    #[error("{path} already exists")]
    Exists {
        /// The file that exists.
        path: PathBuf,
    },

    /// The backup file is not a well-formed backup: unreadable tar, unexpected or unsafe
    /// entries, bad manifest, or a database that fails its check.
    #[error("the backup is corrupt: {reason}")]
    Corrupt {
        /// What is wrong.
        reason: String,
    },

    /// The backup is well formed but its contents differ from what its manifest says.
    #[error(
        "the backup does not match its manifest: {what}: manifest says {expected}, found {found}"
    )]
    Mismatch {
        /// What was compared (`stockade.db sha256`, `chain head`, ...).
        what: &'static str,
        /// The manifest's value.
        expected: String,
        /// The value found.
        found: String,
    },

    /// The backup (or the database in it) was made by a version this build cannot read.
    #[error("unsupported backup: {reason}")]
    Unsupported {
        /// What is not supported.
        reason: String,
    },

    /// A database file fails [`check_database_file`] (integrity, migrations, event chain).
    #[error("{} fails its check: {reason}", path.display())]
    DatabaseCorrupt {
        /// The database file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },

    /// The data directory already has a database and replacing it was not asked for.
    #[error("a database already exists at {}", path.display())]
    DatabaseExists {
        /// The existing database.
        path: PathBuf,
    },

    /// Another process has the database open: a server is running on this data directory.
    #[error("{} is in use: a server appears to be running on this data directory", path.display())]
    DatabaseInUse {
        /// The database that is in use.
        path: PathBuf,
    },

    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `rename`, ...).
        action: &'static str,
        /// On which file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// Opening or reading the source database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl BackupError {
    /// The stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Exists { .. } => "backup_exists",
            Self::Corrupt { .. } => "backup_corrupt",
            Self::Mismatch { .. } => "backup_mismatch",
            Self::Unsupported { .. } => "backup_unsupported",
            Self::DatabaseCorrupt { .. } => "database_corrupt",
            Self::DatabaseExists { .. } => "database_exists",
            Self::DatabaseInUse { .. } => "server_running",
            Self::Io { .. } => "backup_io",
            Self::Storage(err) => err.code(),
        }
    }

    fn corrupt(reason: impl Into<String>) -> Self {
        Self::Corrupt {
            reason: reason.into(),
        }
    }

    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}

/// `manifest.json`: what a backup holds and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupManifest {
    /// Always `stockade-backup`: tells this file apart from any other JSON.
    pub format: String,
    /// [`BACKUP_FORMAT_VERSION`] when written by this build.
    pub format_version: u32,
    /// When the snapshot was taken, RFC 3339 in UTC (`2025-01-31T12:00:00Z`).
    pub created_at: String,
    /// The version of the `stockade` that wrote it.
    pub stockade_version: String,
    /// The newest migration applied to the database in it.
    pub schema_version: i64,
    /// The newest event in it: `stockade audit verify --expect-head SEQ:HASH` after a restore
    /// checks that the restored log still ends there.
    pub chain_head: ChainHead,
    /// The files after the manifest: exactly one, `stockade.db`.
    pub files: Vec<BackupEntry>,
}

impl BackupManifest {
    /// The manifest's line for `stockade.db` (a manifest a restore accepted has exactly that
    /// one line).
    pub fn database(&self) -> Option<&BackupEntry> {
        self.files.iter().find(|entry| entry.name == DATABASE_FILE)
    }
}

/// One file in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupEntry {
    /// Its name in the archive.
    pub name: String,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its length.
    pub bytes: u64,
}

/// A database copy written by [`Database::snapshot_to`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Where it was written.
    pub path: PathBuf,
    /// Its length in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
}

/// A step of [`create_backup`] or [`restore_backup`] that is about to start; its `Display` is
/// one line of progress for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupStep<'a> {
    /// Copying the live database with `VACUUM INTO`, then hashing the copy.
    Snapshot(&'a Path),
    /// Checking a database file: integrity, migrations, event chain.
    Check(&'a Path),
    /// Writing the archive.
    Write(&'a Path),
    /// Reading the archive: entries, manifest, hashes.
    Read(&'a Path),
    /// Installing the checked database in the data directory.
    Install(&'a Path),
}

impl std::fmt::Display for BackupStep<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Snapshot(path) => write!(
                f,
                "snapshot: copying {} (VACUUM INTO) and hashing the copy",
                path.display()
            ),
            Self::Check(path) => write!(
                f,
                "check: integrity, migrations and event chain of {}",
                path.display()
            ),
            Self::Write(path) => write!(f, "write: {}", path.display()),
            Self::Read(path) => write!(f, "read: {} (entries, manifest, sha256)", path.display()),
            Self::Install(path) => write!(f, "install: {}", path.display()),
        }
    }
}

/// What [`create_backup`] wrote.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    /// The backup file.
    pub path: PathBuf,
    /// Its length in bytes.
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the whole file, to check a copy kept elsewhere (`sha256sum`).
    pub sha256: String,
    /// The manifest inside it.
    pub manifest: BackupManifest,
    /// The check of the snapshot inside it.
    pub report: DatabaseReport,
}

/// What [`restore_backup`] did.
#[derive(Debug, Clone)]
pub struct RestoreSummary {
    /// The backup's manifest.
    pub manifest: BackupManifest,
    /// The check of the restored database.
    pub report: DatabaseReport,
    /// Where the database went and what was moved out of its way.
    pub installed: Installed,
}

impl Database {
    /// Writes a consistent copy of the database to `path`, which must not exist, and returns its
    /// size and SHA-256.
    ///
    /// `VACUUM INTO` runs in one read transaction on a pooled connection: the copy is the
    /// database as of one instant, while the server goes on reading and writing (in WAL mode
    /// neither is blocked). The copy is then switched to WAL mode, the mode the server keeps it
    /// in, before it is hashed, so that opening it again only to read it (as
    /// [`check_database_file`] does before it is archived) leaves its bytes as hashed. On
    /// failure nothing is left at `path`.
    pub async fn snapshot_to(&self, path: &Path) -> Result<Snapshot, BackupError> {
        if path.symlink_metadata().is_ok() {
            return Err(BackupError::Exists {
                path: path.to_path_buf(),
            });
        }
        // Absolute, so SQLite never reads it as a `file:` URI or relative to anything else.
        let path = std::path::absolute(path).map_err(BackupError::io("resolve", path))?;
        let result = self.snapshot_into(&path).await;
        if result.is_err() {
            drop(RemoveOnDrop::database(&path));
        }
        result
    }

    async fn snapshot_into(&self, path: &Path) -> Result<Snapshot, BackupError> {
        let target = path.to_str().ok_or_else(|| {
            StorageError::invalid("path", format!("{} is not UTF-8", path.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(self.pool())
            .await
            .map_err(StorageError::from)?;
        let wal = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal);
        let conn = SqliteConnection::connect_with(&wal)
            .await
            .map_err(StorageError::from)?;
        conn.close().await.map_err(StorageError::from)?;
        sync_file(path)?;
        let (bytes, sha256) = hash_file(path)?;
        Ok(Snapshot {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }
}

/// Writes a backup of `db` to `dest`: snapshot, check, manifest, archive.
///
/// The archive is written to `<dest>.tmp-<pid>`, flushed to disk and renamed over `dest`, so
/// `dest` is either the complete backup or absent (or, with `force`, the file it replaced);
/// the temporary files are removed on every path out. Without `force` an existing `dest` is
/// refused with [`BackupError::Exists`].
pub async fn create_backup(
    db: &Database,
    dest: &Path,
    force: bool,
    progress: &mut dyn FnMut(BackupStep<'_>),
) -> Result<BackupSummary, BackupError> {
    if !force && dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists {
            path: dest.to_path_buf(),
        });
    }
    let snapshot_path = sibling(dest, &format!("tmp-{}.db", std::process::id()));
    let _cleanup = RemoveOnDrop::database(&snapshot_path);
    let created_at = utc_rfc3339(unix_seconds());

    progress(BackupStep::Snapshot(&db.filename()));
    let snapshot = db.snapshot_to(&snapshot_path).await?;

    progress(BackupStep::Check(&snapshot.path));
    let report = check_database_file(&snapshot.path).await?;

    let manifest = BackupManifest {
        format: FORMAT_NAME.to_owned(),
        format_version: BACKUP_FORMAT_VERSION,
        created_at,
        stockade_version: env!("CARGO_PKG_VERSION").to_owned(),
        schema_version: report.schema_version,
        chain_head: report.chain.head.clone(),
        files: vec![BackupEntry {
            name: DATABASE_FILE.to_owned(),
            sha256: snapshot.sha256.clone(),
            bytes: snapshot.bytes,
        }],
    };
    progress(BackupStep::Write(dest));
    let (bytes, sha256) = archive::write(&snapshot.path, &manifest, dest, force)?;
    Ok(BackupSummary {
        path: dest.to_path_buf(),
        bytes,
        sha256,
        manifest,
        report,
    })
}

/// Restores the backup `archive` into `data_dir` (created if missing).
///
/// Everything is checked before anything is replaced: the archive is read into a temporary
/// directory inside `data_dir` (entries, manifest, size caps, SHA-256), the database in it passes
/// [`check_database_file`] and matches the manifest's schema version and chain head. Only then
/// is the existing database looked at: if another process has it open (a running server) the
/// restore is refused with [`BackupError::DatabaseInUse`]; without `force` an existing database
/// is refused with [`BackupError::DatabaseExists`]; with `force` it is kept as
/// `stockade.db.before-restore-<timestamp>`. See [`Installed`] for the last step.
pub async fn restore_backup(
    archive: &Path,
    data_dir: &Path,
    force: bool,
    progress: &mut dyn FnMut(BackupStep<'_>),
) -> Result<RestoreSummary, BackupError> {
    let target = data_dir.join(DATABASE_FILE);
    // Cheap refusals first, before reading a possibly large file.
    let archive_meta = std::fs::metadata(archive).map_err(BackupError::io("open", archive))?;
    if !archive_meta.is_file() {
        return Err(BackupError::Io {
            action: "read",
            path: archive.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    if !force && target.symlink_metadata().is_ok() {
        return Err(BackupError::DatabaseExists { path: target });
    }

    let created_dir = !data_dir.exists();
    std::fs::create_dir_all(data_dir).map_err(BackupError::io("create", data_dir))?;
    let result = restore_into(archive, data_dir, force, progress).await;
    if result.is_err() && created_dir {
        // Leave no empty directory behind a refused restore; a non-empty one is not ours to
        // remove, so the error is ignored.
        let _ = std::fs::remove_dir(data_dir);
    }
    result
}

async fn restore_into(
    archive: &Path,
    data_dir: &Path,
    force: bool,
    progress: &mut dyn FnMut(BackupStep<'_>),
) -> Result<RestoreSummary, BackupError> {
    // Inside the data directory, so installing is a rename within one filesystem.
    let work = data_dir.join(format!(".restore-{}", std::process::id()));
    let _cleanup = RemoveOnDrop::dir(&work);
    if work.exists() {
        // Left by an earlier restore that was killed and happened to have this pid.
        std::fs::remove_dir_all(&work).map_err(BackupError::io("remove", &work))?;
    }
    std::fs::create_dir(&work).map_err(BackupError::io("create", &work))?;

    progress(BackupStep::Read(archive));
    let manifest = archive::extract(archive, &work)?;
    let candidate = work.join(DATABASE_FILE);

    progress(BackupStep::Check(&candidate));
    let report = match check_database_file(&candidate).await {
        Ok(report) => report,
        Err(BackupError::DatabaseCorrupt { reason, .. }) => {
            return Err(BackupError::corrupt(format!(
                "the database in it fails its check: {reason}"
            )));
        }
        Err(err) => return Err(err),
    };
    if report.schema_version != manifest.schema_version {
        return Err(BackupError::Mismatch {
            what: "schema version",
            expected: manifest.schema_version.to_string(),
            found: report.schema_version.to_string(),
        });
    }
    if report.chain.head != manifest.chain_head {
        return Err(BackupError::Mismatch {
            what: "event chain head",
            expected: format!("{}:{}", manifest.chain_head.seq, manifest.chain_head.hash),
            found: format!("{}:{}", report.chain.head.seq, report.chain.head.hash),
        });
    }

    let target = data_dir.join(DATABASE_FILE);
    progress(BackupStep::Install(&target));
    let stamp = compact_utc(unix_seconds());
    let installed = install::install(&candidate, data_dir, force, &stamp).await?;
    Ok(RestoreSummary {
        manifest,
        report,
        installed,
    })
}

/// `<dir>/<file name>.<suffix>`: a temporary file next to `path`, on the same filesystem.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// `stockade.db` + `-wal`: the files SQLite keeps beside a database.
fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a temporary file (with its SQLite sidecars) or directory when dropped, whatever the
/// way out of the function that made it.
struct RemoveOnDrop {
    files: Vec<PathBuf>,
    dir: Option<PathBuf>,
}

impl RemoveOnDrop {
    /// A temporary database and the `-wal`, `-shm` and `-journal` files SQLite may leave next to
    /// it.
    fn database(path: &Path) -> Self {
        let files = ["", "-wal", "-shm", "-journal"]
            .iter()
            .map(|suffix| sidecar(path, suffix))
            .collect();
        Self { files, dir: None }
    }

    fn file(path: &Path) -> Self {
        Self {
            files: vec![path.to_path_buf()],
            dir: None,
        }
    }

    fn dir(path: &Path) -> Self {
        Self {
            files: Vec::new(),
            dir: Some(path.to_path_buf()),
        }
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Best effort: the files may never have been created, or been renamed into place.
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Flushes a file's contents to stable storage.
fn sync_file(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(BackupError::io("sync", path))
}

/// Flushes a directory, so a rename into it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|file| file.sync_all())
        .map_err(BackupError::io("sync", dir))
}

/// Length and lowercase hex SHA-256 of a file.
fn hash_file(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = File::open(path).map_err(BackupError::io("open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(BackupError::io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `(year, month, day, hour, minute, second)` in UTC; days to civil date after Howard Hinnant's
/// `civil_from_days`.
fn utc_parts(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2025-01-31T12:00:00Z`.
fn utc_rfc3339(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20250131T120000Z`: for file names.
fn compact_utc(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(secs);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests;
