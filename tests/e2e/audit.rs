//! `stockade audit verify` on a real server's log: it passes on an honest log (also while the
//! server runs), and after each tampering an attacker with the database file could do, it fails
//! naming the row.

use std::path::{Path, PathBuf};
use std::process::Output;

use sqlx::{Connection, Row, SqliteConnection};

use crate::operator::{Operator, project_with_fs};
use crate::server::TestServer;
use crate::{stderr, stdout, stockade};

/// A server's data directory with a busy log: admin actions, tool calls, users, tokens and an
/// auth failure. Returns it after a clean stop, with the project root it used.
fn busy_log() -> (tempfile::TempDir, tempfile::TempDir) {
    let server = TestServer::start(&[]);
    let op = Operator::new(&server, Some(server.admin_token()));
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("a.txt"), "a").unwrap();
    project_with_fs(&op, "busy", root.path());
    for i in 0..5 {
        let input = format!(r#"{{"path":"f{i}.txt","content":"{i}"}}"#);
        op.ok(&[
            "call",
            "-p",
            "busy",
            "--agent",
            "editor",
            "fs.write_file",
            "--input",
            &input,
        ]);
        op.ok(&[
            "call",
            "-p",
            "busy",
            "--agent",
            "editor",
            "fs.read_file",
            "--input",
            r#"{"path":"a.txt"}"#,
        ]);
    }
    op.ok(&["user", "create", "bob"]);
    op.ok(&["token", "create", "--label", "spare", "--user", "bob"]);
    // An auth failure is an event too.
    let anonymous = Operator::new(&server, None);
    assert_eq!(anonymous.run(&["project", "list"]).status.code(), Some(1));

    // Verifying while the server runs: WAL readers see a consistent snapshot.
    let live = verify(server.data.path(), &[]);
    assert!(live.status.success(), "{}{}", stdout(&live), stderr(&live));

    let (status, data) = server.stop_keeping_data();
    assert!(status.success(), "{status:?}");
    (data, root)
}

fn verify(data_dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["audit", "verify"];
    args.extend(extra);
    stockade(data_dir, &args)
}

/// The head `audit verify` printed: `head: SEQ:HASH`.
fn head(out: &Output) -> (i64, String) {
    let text = stdout(out);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("head: "))
        .unwrap_or_else(|| panic!("no head in {text}"));
    let (seq, hash) = line.split_once(':').unwrap();
    (seq.parse().unwrap(), hash.to_owned())
}

/// Raw SQL on a database file, the way someone holding the file would do it: no migrations, no
/// storage crate, and the append-only triggers dropped first.
struct Attacker {
    runtime: tokio::runtime::Runtime,
    conn: SqliteConnection,
}

impl Attacker {
    fn open(db: &Path) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("sqlite://{}", db.display());
        let conn = runtime.block_on(SqliteConnection::connect(&url)).unwrap();
        let mut attacker = Self { runtime, conn };
        attacker.exec("DROP TRIGGER events_no_update");
        attacker.exec("DROP TRIGGER events_no_delete");
        attacker
    }

    fn exec(&mut self, sql: &'static str) {
        self.runtime
            .block_on(sqlx::raw_sql(sql).execute(&mut self.conn))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Replaces row `seq`'s payload and stores the hash that matches it, as a careful attacker
    /// would.
    fn edit_and_rehash(&mut self, seq: i64, payload: &str) {
        let row = self
            .runtime
            .block_on(
                sqlx::query("SELECT ts, kind, actor, project, prev_hash FROM events WHERE seq = ?")
                    .bind(seq)
                    .fetch_one(&mut self.conn),
            )
            .unwrap();
        let project: Option<String> = row.get("project");
        let hash = stockade_storage::events::event_hash(
            seq,
            row.get("ts"),
            row.get("kind"),
            row.get("actor"),
            project.as_deref(),
            payload,
            row.get("prev_hash"),
        );
        self.runtime
            .block_on(
                sqlx::query("UPDATE events SET payload = ?, hash = ? WHERE seq = ?")
                    .bind(payload)
                    .bind(hash)
                    .bind(seq)
                    .execute(&mut self.conn),
            )
            .unwrap();
    }

    fn close(self) {
        let Self { runtime, conn } = self;
        runtime.block_on(conn.close()).unwrap();
    }
}

/// A fresh copy of the database files in a new data directory.
fn copy_of(data: &Path) -> (tempfile::TempDir, PathBuf) {
    let copy = tempfile::tempdir().unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let from = data.join(format!("stockade.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, copy.path().join(format!("stockade.db{suffix}"))).unwrap();
        }
    }
    let db = copy.path().join("stockade.db");
    (copy, db)
}

/// One tampering and where verification must stop.
struct Tampering {
    name: &'static str,
    tamper: fn(&mut Attacker),
    /// Verify against the head exported before the tampering.
    with_anchor: bool,
    /// The first bad row, given the head before the tampering.
    bad_seq: fn(i64) -> i64,
    problem: &'static str,
}

#[test]
fn verify_passes_on_a_busy_log_and_names_the_first_tampered_row() {
    let (data, _root) = busy_log();
    let out = verify(data.path(), &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("rows checked from genesis"),
        "{}",
        stdout(&out)
    );
    let (head_seq, head_hash) = head(&out);
    assert!(head_seq >= 15, "a busy log, not {head_seq} rows");
    let anchor = format!("{head_seq}:{head_hash}");
    let out = verify(data.path(), &["--expect-head", &anchor]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("expected head: found"),
        "{}",
        stdout(&out)
    );

    let cases = [
        Tampering {
            name: "a row's payload edited",
            tamper: |a| {
                a.exec(r#"UPDATE events SET payload = '{"action":"nothing"}' WHERE seq = 5"#)
            },
            with_anchor: false,
            bad_seq: |_| 5,
            problem: "row was modified",
        },
        Tampering {
            name: "a row's actor edited",
            tamper: |a| a.exec("UPDATE events SET actor = 'someone-else' WHERE seq = 9"),
            with_anchor: false,
            bad_seq: |_| 9,
            problem: "row was modified",
        },
        Tampering {
            name: "a row edited and its hash recomputed",
            tamper: |a| a.edit_and_rehash(7, r#"{"action":"nothing"}"#),
            with_anchor: false,
            bad_seq: |_| 8,
            problem: "does not match the previous row's hash",
        },
        Tampering {
            name: "a row deleted",
            tamper: |a| a.exec("DELETE FROM events WHERE seq = 6"),
            with_anchor: false,
            bad_seq: |_| 7,
            problem: "rows from seq 6 are missing",
        },
        Tampering {
            name: "two rows swapped",
            tamper: |a| {
                a.exec(
                    "CREATE TEMP TABLE saved AS SELECT * FROM events WHERE seq IN (4, 10);
                     UPDATE events SET (ts, kind, actor, project, payload, prev_hash, hash) =
                       (SELECT ts, kind, actor, project, payload, prev_hash, hash FROM saved
                        WHERE saved.seq = 14 - events.seq)
                     WHERE seq IN (4, 10);",
                );
            },
            with_anchor: false,
            bad_seq: |_| 4,
            problem: "does not match the previous row's hash",
        },
        Tampering {
            name: "newest rows deleted, caught by the anchor",
            tamper: |a| {
                a.exec("DELETE FROM events WHERE seq > (SELECT MAX(seq) - 3 FROM events)");
            },
            with_anchor: true,
            bad_seq: |head| head - 2,
            problem: "newest rows were deleted",
        },
    ];
    for case in cases {
        let (copy, db) = copy_of(data.path());
        let mut attacker = Attacker::open(&db);
        (case.tamper)(&mut attacker);
        attacker.close();
        let extra: &[&str] = if case.with_anchor {
            &["--expect-head", &anchor]
        } else {
            &[]
        };
        let out = verify(copy.path(), extra);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {text}", case.name);
        let bad_seq = (case.bad_seq)(head_seq);
        let expected = format!("audit verify: FAILED at seq {bad_seq}: ");
        assert!(
            text.contains(&expected),
            "{}: {expected:?} not in {text}",
            case.name
        );
        assert!(text.contains(case.problem), "{}: {text}", case.name);
        let json = verify(copy.path(), &[&["--json"][..], extra].concat());
        let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
        assert_eq!(report["first_bad"]["seq"], bad_seq, "{}", case.name);
    }
}

#[test]
fn verify_refuses_a_missing_database_instead_of_creating_one() {
    let empty = tempfile::tempdir().unwrap();
    let out = verify(empty.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no database at"), "{}", stderr(&out));
    assert!(!empty.path().join("stockade.db").exists());
}
