//! Restore's last step: putting a checked database in the place of a data directory's.
//!
//! # Is a server running?
//!
//! A server keeps its connections open, and in WAL mode every open connection holds a shared
//! lock on the database file for as long as it is open. So the existing database is opened with
//! `locking_mode=EXCLUSIVE` and `BEGIN EXCLUSIVE`: that needs the file's exclusive lock, which
//! SQLite cannot get while any other process (a server, a backup, an `audit verify`) has the file
//! open, and the restore is refused with [`BackupError::DatabaseInUse`]. There is no override.
//! The lock is released before the files are renamed, so a server started in that instant
//! would not be noticed: stop the server first, as the procedure says.
//!
//! # Stale sidecars
//!
//! SQLite replays `stockade.db-wal` (or rolls back with `stockade.db-journal`) into whatever
//! file is called `stockade.db`. Left beside a restored database they would write the old
//! database's pages over it. So they never survive an install: the old database's WAL is first
//! checkpointed into it (while the exclusive lock is held), and any sidecar still there is moved
//! aside with the old database (`-wal`, `-journal`) or deleted (`-shm`, a cache rebuilt from the
//! WAL).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteLockingMode};
use sqlx::{ConnectOptions, Connection};

use super::{BackupError, DATABASE_FILE, sidecar, sync_dir};

/// How long to wait for the existing database's exclusive lock before deciding it is in use.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// What [`restore_backup`](super::restore_backup) did to the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The restored database: `<data dir>/stockade.db`.
    pub database: PathBuf,
    /// Files moved out of the way, as `(from, to)`: the previous database kept as
    /// `stockade.db.before-restore-<timestamp>`, and a stale `-wal`/`-journal` moved with it.
    pub kept: Vec<(PathBuf, PathBuf)>,
    /// Stale files deleted (a `-shm`).
    pub removed: Vec<PathBuf>,
    /// Set when the previous database could not be opened to fold its WAL in before it was
    /// kept: why. It was kept as it was.
    pub previous_unreadable: Option<String>,
}

/// Installs `candidate` as `<data_dir>/stockade.db` by rename (same filesystem). An existing
/// database is refused unless `force`, refused if in use, and otherwise checkpointed and kept
/// under `stockade.db.before-restore-<stamp>`.
pub(super) async fn install(
    candidate: &Path,
    data_dir: &Path,
    force: bool,
    stamp: &str,
) -> Result<Installed, BackupError> {
    let target = data_dir.join(DATABASE_FILE);
    let exists = target.symlink_metadata().is_ok();
    if exists && !force {
        return Err(BackupError::DatabaseExists { path: target });
    }
    let previous_unreadable = if exists {
        take_over(&target).await?
    } else {
        None
    };

    let kept_db = data_dir.join(format!("{DATABASE_FILE}.before-restore-{stamp}"));
    let mut moves = Vec::new();
    if exists {
        moves.push((target.clone(), kept_db.clone()));
    }
    for suffix in ["-wal", "-journal"] {
        let stale = sidecar(&target, suffix);
        if stale.symlink_metadata().is_ok() {
            // Named after the kept database, so the pair still opens together.
            moves.push((stale, sidecar(&kept_db, suffix)));
        }
    }
    if let Some((_, taken)) = moves.iter().find(|(_, to)| to.symlink_metadata().is_ok()) {
        return Err(BackupError::Exists {
            path: taken.clone(),
        });
    }

    let mut done: Vec<&(PathBuf, PathBuf)> = Vec::new();
    let undo = |done: &[&(PathBuf, PathBuf)]| {
        // Best effort, newest first: put the previous files back where they were.
        for (from, to) in done.iter().rev() {
            let _ = std::fs::rename(to, from);
        }
    };
    for step in &moves {
        if let Err(source) = std::fs::rename(&step.0, &step.1) {
            undo(&done);
            return Err(BackupError::Io {
                action: "move aside",
                path: step.0.clone(),
                source,
            });
        }
        done.push(step);
    }
    let mut removed = Vec::new();
    let shm = sidecar(&target, "-shm");
    if shm.symlink_metadata().is_ok() {
        if let Err(source) = std::fs::remove_file(&shm) {
            undo(&done);
            return Err(BackupError::Io {
                action: "remove",
                path: shm,
                source,
            });
        }
        removed.push(shm);
    }
    if let Err(source) = std::fs::rename(candidate, &target) {
        undo(&done);
        return Err(BackupError::Io {
            action: "rename into place",
            path: target,
            source,
        });
    }
    sync_dir(data_dir)?;
    Ok(Installed {
        database: target,
        kept: moves,
        removed,
        previous_unreadable,
    })
}

/// Takes the existing database's exclusive lock and checkpoints its WAL into it. Refuses with
/// [`BackupError::DatabaseInUse`] when another process has it open. A file SQLite cannot open
/// at all is not an obstacle (it is kept as it is): returns why.
async fn take_over(db: &Path) -> Result<Option<String>, BackupError> {
    let options = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(false)
        .locking_mode(SqliteLockingMode::Exclusive)
        .busy_timeout(LOCK_WAIT)
        // Waiting out the busy timeout is the expected outcome here, not a slow query to log.
        .disable_statement_logging();
    let in_use = || BackupError::DatabaseInUse {
        path: db.to_path_buf(),
    };
    let mut conn = match SqliteConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(err) if is_busy(&err) => return Err(in_use()),
        Err(err) => return Ok(Some(err.to_string())),
    };
    // The first read under EXCLUSIVE locking mode takes the file's exclusive lock (WAL mode) and
    // `BEGIN EXCLUSIVE` takes it in rollback mode; either fails while another process has it.
    let result = sqlx::raw_sql(
        "BEGIN EXCLUSIVE; SELECT COUNT(*) FROM sqlite_schema; COMMIT; \
         PRAGMA wal_checkpoint(TRUNCATE);",
    )
    .execute(&mut conn)
    .await;
    let closed = conn.close().await;
    match (result, closed) {
        (Err(err), _) if is_busy(&err) => Err(in_use()),
        (Err(err), _) | (Ok(_), Err(err)) => Ok(Some(err.to_string())),
        (Ok(_), Ok(())) => Ok(None),
    }
}

/// `SQLITE_BUSY` or `SQLITE_LOCKED`, with any extended code.
fn is_busy(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}
