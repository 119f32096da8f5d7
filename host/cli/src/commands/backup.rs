//! `stockade backup FILE` and `stockade restore FILE`: one file holding a consistent snapshot of
//! the database and a manifest with its hashes (format and checks:
//! `stockade_storage::create_backup` / `restore_backup`). Like `audit verify`, both work on the
//! database file itself, not over the API.
//!
//! Exit status: 0 done; 1 refused (`backup_corrupt`, `backup_mismatch`, `backup_unsupported`,
//! `database_exists`, `server_running`, `backup_exists`, `database_corrupt`), with nothing
//! replaced; 2 the files could not be read or written.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use stockade_storage::{
    BackupError, BackupStep, BackupSummary, DATABASE_FILE, Database, DatabaseReport,
    RestoreSummary, create_backup, restore_backup,
};

/// What a backup holds and how to restore one; shown by `stockade backup --help` and
/// `stockade restore --help`.
const PROCEDURE: &str = "\
What is in a backup: the database, as one consistent snapshot taken while the server keeps
running (users, API tokens as hashes, projects, bundles, grants, agents, the event log with its
hash chain, and secrets as AES-256-GCM ciphertext), plus manifest.json: format version, schema
version, event chain head, SHA-256 and size of the database. One uncompressed tar file.

What is NOT in it: the master key (it never lives in the database; keep it separately: without
it the restored secrets cannot be decrypted, and a leaked backup does not leak them), the
compiled-component cache and its cache.key (recompiled on demand), and every other file of the
data directory (key files, config, write tokens). The backup is built from the database alone;
it never collects the data directory.

Restore procedure:
  1. stop the server (a restore under a running server is always refused)
  2. stockade restore FILE --data-dir DIR
       checks everything before it touches DIR: archive entries, manifest, SHA-256, SQLite
       integrity_check, migrations, event hash chain. --force replaces an existing database,
       keeping it as stockade.db.before-restore-<timestamp>; a stale -wal/-shm never survives.
  3. start the server on DIR with the same master key
  4. stockade audit verify --data-dir DIR --expect-head SEQ:HASH
       (the chain head that backup and restore print)";

/// Arguments of `stockade backup`.
#[derive(Debug, Args)]
#[command(after_long_help = PROCEDURE)]
pub struct BackupArgs {
    /// The backup file to write, e.g. stockade-2025-01-31.tar. Written to FILE.tmp-<pid>, then
    /// renamed: FILE is complete or absent.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace FILE if it already exists.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `stockade restore`.
#[derive(Debug, Args)]
#[command(after_long_help = PROCEDURE)]
pub struct RestoreArgs {
    /// The backup file written by `stockade backup`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Replace an existing database; it is kept as stockade.db.before-restore-<timestamp>.
    #[arg(long)]
    pub force: bool,
}

/// Runs `stockade backup`.
pub async fn backup(data_dir: &Path, args: BackupArgs) -> ExitCode {
    let path = data_dir.join(DATABASE_FILE);
    // Opening would create an empty database, which backs up trivially: refuse instead.
    if !path.is_file() {
        eprintln!(
            "error: no database at {} (pass the server's --data-dir)",
            path.display()
        );
        return ExitCode::from(2);
    }
    let db = match Database::open(&path.to_string_lossy()).await {
        Ok(db) => db,
        Err(err) => {
            eprintln!("error: cannot open {}: {err}", path.display());
            return ExitCode::from(2);
        }
    };
    let result = create_backup(&db, &args.file, args.force, &mut progress("backup")).await;
    db.close().await;
    match result {
        Ok(summary) => {
            print_backup(&summary);
            ExitCode::SUCCESS
        }
        Err(err) => report(&err),
    }
}

/// Runs `stockade restore`.
pub async fn restore(data_dir: &Path, args: RestoreArgs) -> ExitCode {
    match restore_backup(&args.file, data_dir, args.force, &mut progress("restore")).await {
        Ok(summary) => {
            print_restore(&args.file, &summary);
            ExitCode::SUCCESS
        }
        Err(err) => report(&err),
    }
}

/// Progress goes to stderr, one line per step; results go to stdout.
fn progress(command: &'static str) -> impl FnMut(BackupStep<'_>) {
    move |step| eprintln!("{command}: {step}")
}

fn print_backup(summary: &BackupSummary) {
    let head = &summary.manifest.chain_head;
    println!("backup written: {}", summary.path.display());
    println!(
        "  file:       {} bytes, sha256 {}",
        summary.bytes, summary.sha256
    );
    if let Some(db) = summary.manifest.database() {
        println!("  database:   {} bytes, sha256 {}", db.bytes, db.sha256);
    }
    println!("  checked:    {}", checked(&summary.report));
    println!("  chain head: {}:{}", head.seq, head.hash);
    println!(
        "  not in it:  the master key (keep it separately), the component cache and cache.key, \
         any other file of the data directory"
    );
}

fn print_restore(file: &Path, summary: &RestoreSummary) {
    let manifest = &summary.manifest;
    let installed = &summary.installed;
    let head = &summary.report.chain.head;
    println!(
        "restored {} into {}",
        file.display(),
        installed.database.display()
    );
    println!(
        "  backup:     created {} by stockade {}, format {}",
        manifest.created_at, manifest.stockade_version, manifest.format_version
    );
    if let Some(db) = manifest.database() {
        println!(
            "  database:   {} bytes, sha256 {} (matches the manifest)",
            db.bytes, db.sha256
        );
    }
    println!("  checked:    {}", checked(&summary.report));
    if let Some(reason) = &installed.previous_unreadable {
        println!(
            "  note:       the previous database could not be opened to fold in its WAL \
             ({reason}); kept as it was"
        );
    }
    for (from, to) in &installed.kept {
        println!("  kept:       {} -> {}", from.display(), to.display());
    }
    for removed in &installed.removed {
        println!("  removed:    {}", removed.display());
    }
    println!(
        "next: start the server with the same master key, then run \
         `stockade audit verify --expect-head {}:{}`",
        head.seq, head.hash
    );
}

/// `integrity ok, schema 4, 12 tables, 345 rows, event chain verified (42 events)`.
fn checked(report: &DatabaseReport) -> String {
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    let schema = if report.schema_version_now == report.schema_version {
        format!("schema {}", report.schema_version)
    } else {
        format!(
            "schema {} (migrated to {})",
            report.schema_version, report.schema_version_now
        )
    };
    format!(
        "integrity ok, {schema}, {} tables, {rows} rows, event chain verified ({} events)",
        report.tables.len(),
        report.chain.rows_checked
    )
}

/// Prints `error[code]: message` and a hint to stderr; refusals exit 1, I/O failures 2.
fn report(err: &BackupError) -> ExitCode {
    eprintln!("error[{}]: {err}", err.code());
    let hint = match err {
        BackupError::Exists { .. } => Some("pass --force to replace it, or choose another FILE"),
        BackupError::Corrupt { .. } | BackupError::Mismatch { .. } => {
            Some("the data directory was not changed; use another copy of the backup")
        }
        BackupError::Unsupported { .. } => Some(
            "the data directory was not changed; restore with the stockade version that wrote \
             the backup",
        ),
        BackupError::DatabaseCorrupt { .. } => {
            Some("run `stockade audit verify` on the data directory to see what is wrong")
        }
        BackupError::DatabaseExists { .. } => Some(
            "pass --force to replace it (it is kept as stockade.db.before-restore-<timestamp>)",
        ),
        BackupError::DatabaseInUse { .. } => Some(
            "stop the server (and any backup or audit verify on this data directory), then \
             retry; the data directory was not changed",
        ),
        BackupError::Io { .. } | BackupError::Storage(_) => None,
    };
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
    match err {
        BackupError::Io { .. } | BackupError::Storage(_) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}
