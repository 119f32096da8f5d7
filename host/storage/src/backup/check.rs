//! Checking a database file before it is trusted: the snapshot a backup is about to carry, or the
//! database a restore is about to install.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use super::BackupError;
use crate::db::{Database, DatabaseOptions};
use crate::events::VerifyReport;

/// The same embedded migrations [`Database::open`] applies (`db.rs` keeps its migrator private
/// to that module); compared here, by version and checksum, with a file's migration history.
static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Lines of `PRAGMA integrity_check` output kept for the error message.
const INTEGRITY_LINES: i64 = 10;

/// What [`check_database_file`] found in a database that passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseReport {
    /// The newest migration applied in the file as it was found.
    pub schema_version: i64,
    /// The newest migration applied after the check opened it: higher than `schema_version`
    /// when the file came from an older build and this one migrated it.
    pub schema_version_now: i64,
    /// Every table and its row count, by name.
    pub tables: Vec<TableRows>,
    /// The walk of the event hash chain ([`Events::verify`](crate::Events::verify)); its
    /// `head` is the newest event.
    pub chain: VerifyReport,
}

/// A table and how many rows it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// The table's name.
    pub name: String,
    /// Its row count.
    pub rows: u64,
}

/// Checks the SQLite database at `path`, in this order, stopping at the first failure:
///
/// 1. `PRAGMA integrity_check` says `ok`;
/// 2. its migration history (`_sqlx_migrations`) holds only migrations this build embeds, each
///    finished and with the same checksum; a newer one is [`BackupError::Unsupported`];
/// 3. it opens like the server opens it ([`Database::open`], which applies any embedded
///    migration it lacks, as a server start would: run this on a copy you are about to use,
///    not on evidence you must keep as is);
/// 4. the event hash chain verifies from its start to its newest row.
///
/// Any other failure is [`BackupError::DatabaseCorrupt`]. On success the file is left closed,
/// checkpointed, without `-wal` or `-shm` beside it.
pub async fn check_database_file(path: &Path) -> Result<DatabaseReport, BackupError> {
    let corrupt = |reason: String| BackupError::DatabaseCorrupt {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(corrupt("no such file".into()));
    }
    let target = path
        .to_str()
        .ok_or_else(|| corrupt("the path is not UTF-8".into()))?;

    let raw = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false);
    let mut conn = SqliteConnection::connect_with(&raw)
        .await
        .map_err(|e| corrupt(format!("cannot open it: {e}")))?;
    let schema_version = first_checks(&mut conn, path).await;
    // Closing a connection that only read cannot lose anything; its error changes nothing.
    let _ = conn.close().await;
    let schema_version = schema_version?;

    let options = DatabaseOptions {
        max_connections: 2,
        ..DatabaseOptions::default()
    };
    let db = Database::open_with(target, options)
        .await
        .map_err(|e| corrupt(format!("cannot open it as the server would: {e}")))?;
    let report = open_checks(&db, schema_version, path).await;
    // Fold the WAL back into the file so the file alone is the database.
    let checkpoint = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(db.pool())
        .await;
    db.close().await;
    let report = report?;
    checkpoint.map_err(|e| corrupt(format!("cannot checkpoint it: {e}")))?;
    Ok(report)
}

/// Steps 1 and 2, on a plain connection that neither migrates nor changes the journal mode.
/// Returns the schema version.
async fn first_checks(conn: &mut SqliteConnection, path: &Path) -> Result<i64, BackupError> {
    let corrupt = |reason: String| BackupError::DatabaseCorrupt {
        path: path.to_path_buf(),
        reason,
    };
    let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "PRAGMA integrity_check({INTEGRITY_LINES})"
    )))
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| corrupt(format!("integrity_check cannot run: {e}")))?;
    if lines != ["ok"] {
        return Err(corrupt(format!("integrity_check: {}", lines.join("; "))));
    }

    let applied: Vec<(i64, bool, Vec<u8>)> =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| {
                corrupt(format!(
                    "no readable migration history, not a Stockade database: {e}"
                ))
            })?;
    let newest_known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    for (version, success, checksum) in &applied {
        if *version > newest_known {
            return Err(BackupError::Unsupported {
                reason: format!(
                    "the database has schema version {version}, newer than this stockade \
                     knows ({newest_known}); use the stockade version that wrote it"
                ),
            });
        }
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            return Err(BackupError::Unsupported {
                reason: format!("the database has migration {version}, unknown to this stockade"),
            });
        };
        if known.checksum.as_ref() != checksum.as_slice() {
            return Err(corrupt(format!(
                "migration {version} differs from the one this stockade embeds"
            )));
        }
        if !success {
            return Err(corrupt(format!("migration {version} did not finish")));
        }
    }
    applied
        .last()
        .map(|(version, _, _)| *version)
        .ok_or_else(|| corrupt("no migration applied, not a Stockade database".into()))
}

/// Step 4 and the counts, on the database opened as the server opens it.
async fn open_checks(
    db: &Database,
    schema_version: i64,
    path: &Path,
) -> Result<DatabaseReport, BackupError> {
    let path: PathBuf = path.to_path_buf();
    let corrupt = |reason: String| BackupError::DatabaseCorrupt {
        path: path.clone(),
        reason,
    };
    let chain = db
        .events()
        .verify()
        .await
        .map_err(|e| corrupt(format!("cannot walk the event chain: {e}")))?;
    if let Some(bad) = &chain.first_bad {
        return Err(corrupt(format!(
            "event chain broken at seq {}: {}",
            bad.seq, bad.problem
        )));
    }
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
         ESCAPE '\\' ORDER BY name",
    )
    .fetch_all(db.pool())
    .await
    .map_err(|e| corrupt(format!("cannot list tables: {e}")))?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        // The name comes from the file being checked: quote it as an identifier.
        let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(db.pool())
            .await
            .map_err(|e| corrupt(format!("cannot count the rows of {name}: {e}")))?;
        tables.push(TableRows {
            name,
            rows: u64::try_from(rows).unwrap_or(0),
        });
    }
    let schema_version_now: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(db.pool())
        .await
        .map_err(|e| corrupt(format!("cannot read the migration history: {e}")))?;
    Ok(DatabaseReport {
        schema_version,
        schema_version_now,
        tables,
        chain,
    })
}
