//! A database in a temporary directory, plus an "attacker" connection that bypasses the crate.

use std::path::PathBuf;

use serde_json::json;
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use stockade_storage::{Database, EventLog, EventLogConfig, EventWriter, NewEvent};
use tempfile::TempDir;

pub struct TestDb {
    pub db: Database,
    pub path: PathBuf,
    // Held for its Drop: the directory lives as long as the test.
    _dir: TempDir,
}

impl TestDb {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("data").join("stockade.db");
        let db = Database::open(path.to_str().expect("utf-8 path"))
            .await
            .expect("open database");
        Self {
            db,
            path,
            _dir: dir,
        }
    }

    /// Starts an event log with default settings.
    pub async fn event_log(&self) -> (EventLog, EventWriter) {
        self.event_log_with(EventLogConfig::default()).await
    }

    pub async fn event_log_with(&self, config: EventLogConfig) -> (EventLog, EventWriter) {
        EventLog::start(&self.db, config)
            .await
            .expect("start event log")
    }

    /// A separate pool on the same file, outside the crate: what someone with the file does.
    pub async fn raw(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new().filename(&self.path);
        SqlitePool::connect_with(options).await.expect("raw pool")
    }

    /// Like [`TestDb::raw`], with the append-only triggers dropped, as a tamperer would.
    pub async fn tamperer(&self) -> SqlitePool {
        let raw = self.raw().await;
        for trigger in ["events_no_update", "events_no_delete"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP TRIGGER IF EXISTS {trigger}"
            )))
            .execute(&raw)
            .await
            .expect("drop trigger");
        }
        raw
    }

    /// Appends `n` events (sequentially) and returns their seqs.
    pub async fn append_n(&self, log: &EventLog, n: usize) -> Vec<i64> {
        let mut seqs = Vec::with_capacity(n);
        for i in 0..n {
            let project = if i % 2 == 0 {
                Some("alpha".to_owned())
            } else {
                None
            };
            let seq = log
                .append(NewEvent::new(
                    "tool_call",
                    "usr_test",
                    project,
                    json!({ "i": i }),
                ))
                .await
                .expect("append");
            seqs.push(seq);
        }
        seqs
    }

    /// Every byte of the database, including the WAL, where fresh commits live.
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

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
