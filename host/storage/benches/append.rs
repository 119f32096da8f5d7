//! Event-log append latency and throughput: `cargo bench -p stockade-storage --bench append`.
//!
//! Prints, for fsync on and off: the latency of one append at a time (what a quiet server's
//! tool call waits for), the rate and latency with 16 concurrent appenders (batches form), and
//! beside them the floor: one plain SQLite `INSERT` + `COMMIT` of a row of the same shape (same indexes) on the
//! calling thread, with no chain, no queue and no hand-off.

use std::time::{Duration, Instant};

use stockade_storage::{Database, DatabaseOptions, EventLog, EventLogConfig, NewEvent};

fn event(i: usize) -> NewEvent {
    NewEvent::new(
        "tool_call",
        "agent:bench/bench",
        Some("bench".into()),
        serde_json::json!({"tool": "trivial.noop", "outcome": "ok", "duration_us": 12, "i": i}),
    )
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn main() {
    let n: usize = std::env::var("STOCKADE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{:<34}{:>12}{:>12}{:>12}",
        "event log append", "events/s", "p50 us", "p99 us"
    );
    for fsync in [true, false] {
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = Database::open_with(
                dir.path().join("bench.db").to_str().expect("utf-8"),
                DatabaseOptions {
                    fsync_commits: fsync,
                    ..DatabaseOptions::default()
                },
            )
            .await
            .expect("open");
            let (log, writer) = EventLog::start(&db, EventLogConfig::default())
                .await
                .expect("start");
            let mode = if fsync { "fsync" } else { "no fsync" };

            let mut lat = Vec::with_capacity(n);
            let start = Instant::now();
            for i in 0..n {
                let t = Instant::now();
                log.append(event(i)).await.expect("append");
                lat.push(t.elapsed());
            }
            let rate = n as f64 / start.elapsed().as_secs_f64();
            lat.sort();
            println!(
                "{:<34}{:>12.0}{:>12.0}{:>12.0}",
                format!("1 appender, {mode}"),
                rate,
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );

            let tasks = 16;
            let start = Instant::now();
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let log = log.clone();
                    tokio::spawn(async move {
                        let mut lat = Vec::with_capacity(n / tasks);
                        for i in 0..n / tasks {
                            let s = Instant::now();
                            log.append(event(t * n + i)).await.expect("append");
                            lat.push(s.elapsed());
                        }
                        lat
                    })
                })
                .collect();
            let mut lat = Vec::with_capacity(n);
            for h in handles {
                lat.extend(h.await.expect("task"));
            }
            let rate = lat.len() as f64 / start.elapsed().as_secs_f64();
            lat.sort();
            println!(
                "{:<34}{:>12.0}{:>12.0}{:>12.0}",
                format!("{tasks} appenders, {mode}"),
                rate,
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );
            drop(log);
            writer.shutdown().await.expect("shutdown");

            let (rate, p50, p99) = raw_sqlite(&dir.path().join("raw.db"), fsync, n);
            println!(
                "{:<34}{:>12.0}{:>12.0}{:>12.0}",
                format!("plain SQLite commit, {mode}"),
                rate,
                p50,
                p99
            );
        });
    }
}

/// Sequential one-row transactions straight on a connection: what an append cannot beat.
fn raw_sqlite(path: &std::path::Path, fsync: bool, n: usize) -> (f64, f64, f64) {
    let conn = rusqlite::Connection::open(path).expect("open raw");
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {};
         CREATE TABLE events (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL,
           actor TEXT NOT NULL, project TEXT, payload TEXT NOT NULL, prev_hash TEXT NOT NULL,
           hash TEXT NOT NULL);
         CREATE INDEX events_ts ON events (ts);
         CREATE INDEX events_project_seq ON events (project, seq);
         CREATE INDEX events_kind_seq ON events (kind, seq);",
        if fsync { "FULL" } else { "NORMAL" }
    ))
    .expect("schema");
    let payload = event(0).payload.to_string();
    let hash = "0".repeat(64);
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        conn.execute(
            "INSERT INTO events VALUES (?1, ?2, 'tool_call', 'agent:bench/bench', 'bench', ?3, ?4, ?4)",
            rusqlite::params![i as i64 + 1, 0i64, payload, hash],
        )
        .expect("insert");
        lat.push(t.elapsed());
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    (rate, percentile(&lat, 0.5), percentile(&lat, 0.99))
}
