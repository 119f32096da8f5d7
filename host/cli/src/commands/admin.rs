//! `stockade admin generate-master-key|rotate-master-key`: the master key that encrypts stored
//! secrets. Both work on files and the database directly, not over the API: the key never
//! crosses the network and rotation works with the server down.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use stockade_secrets::{MasterKey, MasterKeySource, RotationProgress, rotate};
use stockade_storage::Database;

/// `stockade admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Print a new random master key (64 hex digits) on stdout.
    ///
    /// Store it in a file only the server's user can read (chmod 600) and point
    /// `master_key_file` at it, or hand it to systemd as the credential
    /// `stockade-master-key`. Keep a copy off the host: without it, stored secrets cannot be
    /// recovered (backups never contain it).
    ///
    /// Example: stockade admin generate-master-key > /etc/stockade/master-key
    GenerateMasterKey,
    /// Re-encrypt every stored secret under a new master key.
    ///
    /// The current key comes from --master-key-file, else the systemd credential, else
    /// STOCKADE_MASTER_KEY; the new one from --new-key-file. Crash-safe: each secret moves in its
    /// own transaction and the new key becomes active only when all have moved, so if this is
    /// interrupted, run the same command again and it finishes the job. Then restart the server
    /// with the new key (until then it answers `key_rotated` for secrets). Reads
    /// <data-dir>/stockade.db directly.
    ///
    /// Exit status: 0 rotated (or already done), 1 refused (wrong key, conflicting rotation),
    /// 2 bad arguments or unreadable files.
    RotateMasterKey {
        /// The file holding the current master key [default: systemd credential, then
        /// STOCKADE_MASTER_KEY].
        #[arg(long, value_name = "FILE")]
        master_key_file: Option<PathBuf>,
        /// The file holding the new master key (see generate-master-key).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
    },
}

/// Runs an `admin` subcommand.
pub async fn run(data_dir: &Path, command: AdminCommand) -> ExitCode {
    match command {
        AdminCommand::GenerateMasterKey => match MasterKey::generate() {
            Ok(key) => {
                println!("{}", key.to_hex().as_str());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error[{}]: {err}", err.code());
                ExitCode::from(2)
            }
        },
        AdminCommand::RotateMasterKey {
            master_key_file,
            new_key_file,
        } => rotate_master_key(data_dir, master_key_file, &new_key_file).await,
    }
}

async fn rotate_master_key(
    data_dir: &Path,
    master_key_file: Option<PathBuf>,
    new_key_file: &Path,
) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    let old = match MasterKeySource::from_process(master_key_file).load() {
        Ok(Some(loaded)) => loaded.key,
        Ok(None) => {
            return usage(
                "no current master key: pass --master-key-file, or set the systemd credential or \
                 STOCKADE_MASTER_KEY"
                    .into(),
            );
        }
        Err(err) => return usage(err.to_string()),
    };
    let new = match MasterKeySource::new().with_file(new_key_file).load() {
        Ok(Some(loaded)) => loaded.key,
        Ok(None) => return usage(format!("no key in {}", new_key_file.display())),
        Err(err) => return usage(err.to_string()),
    };
    let path = data_dir.join("stockade.db");
    if !path.is_file() {
        return usage(format!(
            "no database at {} (pass the server's --data-dir)",
            path.display()
        ));
    }
    let db = match Database::open(&path.to_string_lossy()).await {
        Ok(db) => db,
        Err(err) => return usage(format!("cannot open {}: {err}", path.display())),
    };
    let progress = |p: RotationProgress| {
        eprintln!(
            "rotate: {:?} key v{} -> v{}: {}/{} secrets",
            p.stage, p.from_version, p.to_version, p.done, p.total
        );
    };
    match rotate(&db, old, new, progress).await {
        Ok(report) => {
            if report.already_complete {
                println!("already rotated to key version {}", report.to_version);
            } else {
                println!(
                    "rotated {} secrets from key version {} to {}{}; restart the server with the new key",
                    report.rewrapped,
                    report.from_version,
                    report.to_version,
                    if report.resumed { " (resumed)" } else { "" }
                );
            }
            record_rotation(&db, report.from_version, report.to_version).await;
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error[{}]: {err}", err.code());
            ExitCode::from(1)
        }
    }
}

/// Puts the rotation in the event log (best effort: the rotation itself is already durable).
async fn record_rotation(db: &Database, from: i64, to: i64) {
    use stockade_storage::events::{EventLog, EventLogConfig, NewEvent, kinds};
    let event = NewEvent::new(
        kinds::ADMIN,
        "cli:admin",
        None,
        serde_json::json!({ "action": "secret_rotate_master_key", "from_key_version": from, "to_key_version": to }),
    );
    match EventLog::start(db, EventLogConfig::default()).await {
        Ok((log, writer)) => {
            if let Err(err) = log.append(event).await {
                eprintln!("warning: the rotation was not recorded in the event log: {err}");
            }
            drop(log);
            let _ = writer.shutdown().await;
        }
        Err(err) => eprintln!("warning: the rotation was not recorded in the event log: {err}"),
    }
}
