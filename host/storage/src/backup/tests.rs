//! Backup and restore through the library: the round trip while events are being appended, and
//! what a restore does to a data directory that is in use or has stale sidecars.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::events::{EventLog, EventLogConfig, NewEvent};
use crate::users::Role;

#[test]
fn utc_timestamps() {
    assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(utc_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(utc_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(utc_rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
    assert_eq!(compact_utc(1_700_000_000), "20231114T221320Z");
}

#[test]
fn codes_are_stable() {
    let cases: [(BackupError, &str); 5] = [
        (BackupError::corrupt("x"), "backup_corrupt"),
        (
            BackupError::Unsupported { reason: "x".into() },
            "backup_unsupported",
        ),
        (
            BackupError::Mismatch {
                what: "x",
                expected: "a".into(),
                found: "b".into(),
            },
            "backup_mismatch",
        ),
        (
            BackupError::DatabaseInUse { path: "x".into() },
            "server_running",
        ),
        (
            BackupError::DatabaseExists { path: "x".into() },
            "database_exists",
        ),
    ];
    for (err, code) in cases {
        assert_eq!(err.code(), code, "{err}");
    }
}

#[test]
fn temporary_names_sit_next_to_the_file() {
    assert_eq!(
        sibling(Path::new("/b/x.tar"), "tmp-7"),
        Path::new("/b/x.tar.tmp-7")
    );
    assert_eq!(
        sibling(Path::new("x.tar"), "tmp-7"),
        Path::new("x.tar.tmp-7")
    );
}

/// A database in `<tmp>/data/stockade.db` with a user and `events` events.
async fn populated(events: usize) -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join(DATABASE_FILE);
    let db = Database::open(path.to_str().unwrap()).await.unwrap();
    db.users().create("alice", Role::Admin).await.unwrap();
    let (log, writer) = EventLog::start(&db, EventLogConfig::default())
        .await
        .unwrap();
    for i in 0..events {
        log.append(NewEvent::new("admin", "usr_a", None, json!({ "i": i })))
            .await
            .unwrap();
    }
    writer.shutdown().await.unwrap();
    (dir, db)
}

/// Every file under `dir`, by relative name, with its contents.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            for (inner, bytes) in contents(&entry.path()) {
                out.insert(format!("{name}/{inner}"), bytes);
            }
        } else {
            out.insert(name, std::fs::read(entry.path()).unwrap());
        }
    }
    out
}

fn quiet() -> impl FnMut(BackupStep<'_>) {
    |_| {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_while_events_are_appended() {
    let (dir, db) = populated(20).await;
    let (log, writer) = EventLog::start(&db, EventLogConfig::default())
        .await
        .unwrap();
    let appender = {
        let log = log.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                log.append(NewEvent::new("admin", "usr_b", None, json!({ "burst": i })))
                    .await
                    .unwrap();
            }
        })
    };
    let file = dir.path().join("b.tar");
    let mut steps = Vec::new();
    let summary = create_backup(&db, &file, false, &mut |step| steps.push(step.to_string()))
        .await
        .unwrap();
    appender.await.unwrap();
    writer.shutdown().await.unwrap();
    drop(log);
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(steps[0].starts_with("snapshot: "), "{steps:?}");
    let head = summary.manifest.chain_head.clone();
    assert!(head.seq >= 20, "{head:?}");
    assert_eq!(
        summary.report.chain.rows_checked,
        u64::try_from(head.seq).unwrap()
    );
    // Only the archive is left next to it: no temporary file.
    let names: Vec<String> = contents(dir.path()).into_keys().collect();
    assert!(
        names.iter().all(|n| n == "b.tar" || n.starts_with("data/")),
        "{names:?}"
    );
    // A second backup to the same file needs `force`.
    let again = create_backup(&db, &file, false, &mut quiet()).await;
    assert_eq!(again.err().map(|e| e.code()), Some("backup_exists"));

    let restored = dir.path().join("fresh");
    let summary = restore_backup(&file, &restored, false, &mut quiet())
        .await
        .unwrap();
    assert_eq!(summary.report.chain.head, head);
    assert!(summary.installed.kept.is_empty());
    let names: Vec<String> = contents(&restored).into_keys().collect();
    assert_eq!(names, [DATABASE_FILE], "nothing but the database is left");
    let db = Database::open(restored.join(DATABASE_FILE).to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(db.events().verify().await.unwrap().head, head);
    assert_eq!(db.users().list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn restore_refuses_a_database_in_use_and_changes_nothing() {
    let (dir, db) = populated(3).await;
    let file = dir.path().join("b.tar");
    create_backup(&db, &file, false, &mut quiet())
        .await
        .unwrap();
    // `db` stays open, as a running server's connections do.
    let data = db.filename().parent().unwrap().to_path_buf();
    let before = contents(&data);
    let err = restore_backup(&file, &data, true, &mut quiet())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "server_running", "{err}");
    assert_eq!(contents(&data), before);
    let err = restore_backup(&file, &data, false, &mut quiet())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "database_exists", "{err}");
    assert_eq!(contents(&data), before);
}

#[tokio::test]
async fn forced_restore_keeps_the_old_database_and_leaves_no_wal() {
    let (dir, db) = populated(3).await;
    let file = dir.path().join("b.tar");
    create_backup(&db, &file, false, &mut quiet())
        .await
        .unwrap();
    let data = db.filename().parent().unwrap().to_path_buf();
    db.close().await;
    // A WAL and shared-memory file left by a crashed server, neither of which belongs to the
    // database being restored.
    std::fs::write(data.join("stockade.db-wal"), b"stale wal").unwrap();
    std::fs::write(data.join("stockade.db-shm"), b"stale shm").unwrap();
    std::fs::write(data.join("stockade.db-journal"), b"stale journal").unwrap();
    let summary = restore_backup(&file, &data, true, &mut quiet())
        .await
        .unwrap();
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(
            !data.join(format!("stockade.db{suffix}")).exists(),
            "{suffix}"
        );
    }
    // The old database is kept; SQLite may already have discarded the garbage sidecars when
    // the restore opened it to checkpoint, and whatever was left went along with it.
    let kept = &summary.installed.kept;
    assert_eq!(kept[0].0, data.join(DATABASE_FILE), "{kept:?}");
    assert!(
        kept[0]
            .1
            .to_string_lossy()
            .contains("stockade.db.before-restore-")
    );
    assert!(kept.iter().all(|(_, to)| to.exists()), "{kept:?}");
    let reopened = Database::open(data.join(DATABASE_FILE).to_str().unwrap())
        .await
        .unwrap();
    let verified = reopened.events().verify().await.unwrap();
    assert!(verified.is_ok());
    assert_eq!(verified.head, summary.manifest.chain_head);
}
