//! Rotation killed with SIGKILL: afterwards every secret is readable (each row under exactly the
//! key its version names), a rerun completes, and nothing is lost.
//!
//! The rotation runs in a child process: this test binary re-executed to run only [`child`].
//! The child prints a line after each progress report (each one follows a committed step).
//! In *paused* mode it then waits for a line on stdin, so the parent kills it at an exact,
//! known point; in *free-running* mode it does not wait, so the kill lands wherever the child
//! happens to be (mid-transaction included).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use stockade_secrets::{RotationStage, Scope, SecretValue, Status, rotate};
use stockade_storage::{Database, KeyState};

use crate::harness::{Expected, KEY_A, KEY_B, TestEnv, check_rows, key};

const CHILD_DB: &str = "STOCKADE_TEST_ROTATION_DB";
const CHILD_PAUSE: &str = "STOCKADE_TEST_ROTATION_PAUSE";
const MARK: &str = "ROTATION-REPORT ";
const DONE: &str = "ROTATION-DONE";
/// 17 rows: Planned, Staged, 17 x Rewrapped, Activated = 20 kill points.
const ROWS: usize = 17;
const KILL_POINTS: usize = ROWS + 3;
const REPORT_TIMEOUT: Duration = Duration::from_secs(120);

/// The child process: one rotation from KEY_A to KEY_B on the database the parent names.
/// Does nothing when run without that variable (for example by `cargo test -- --ignored`).
#[tokio::test]
#[ignore = "helper process for the SIGKILL tests, which run it themselves"]
async fn child() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let pause = std::env::var_os(CHILD_PAUSE).is_some();
    let db = Database::open(&path).await.expect("child: open database");
    let stdin = std::io::stdin();
    rotate(&db, key(KEY_A), key(KEY_B), |p| {
        let mut out = std::io::stdout().lock();
        // Leading newline: libtest may have printed "test child ... " without one.
        writeln!(out, "\n{MARK}{:?} {} {}", p.stage, p.done, p.total).expect("child: stdout");
        out.flush().expect("child: flush");
        if pause {
            let mut line = String::new();
            stdin.lock().read_line(&mut line).expect("child: stdin");
        }
    })
    .await
    .expect("child: rotate");
    println!("\n{DONE}");
}

/// A running child and the lines it reports.
struct Rotation {
    child: Child,
    stdin: Option<ChildStdin>,
    reports: Receiver<Option<String>>,
}

impl Rotation {
    fn start(db: &Path, pause: bool) -> Self {
        let mut command = Command::new(std::env::current_exe().expect("test binary"));
        command
            .args([
                "rotation_crash::child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DB, db)
            .env_remove(CHILD_PAUSE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if pause {
            command.env(CHILD_PAUSE, "1");
        }
        let mut child = command.spawn().expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(report) = line.split_once(MARK).map(|(_, r)| r.to_owned()) {
                    let _ = tx.send(Some(report));
                } else if line.contains(DONE) {
                    let _ = tx.send(None);
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            reports,
        }
    }

    /// The next report, or `None` once the rotation finished.
    fn next(&self) -> Option<String> {
        self.reports
            .recv_timeout(REPORT_TIMEOUT)
            .expect("the child stopped reporting")
    }

    /// Lets a paused child continue.
    fn resume(&mut self) {
        let stdin = self.stdin.as_mut().expect("paused child");
        stdin.write_all(b"go\n").expect("resume child");
        stdin.flush().expect("resume child");
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait");
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }

    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "child failed: {status:?}");
    }
}

/// Runs a paused child and kills it at report `at` (0-based); if it finishes first, lets it.
/// Returns the reports seen up to and including the kill point.
fn kill_at(db: &Path, at: usize) -> Vec<String> {
    let mut rotation = Rotation::start(db, true);
    let mut seen = Vec::new();
    loop {
        let Some(report) = rotation.next() else {
            rotation.finish();
            return seen;
        };
        seen.push(report);
        if seen.len() == at + 1 {
            rotation.kill();
            return seen;
        }
        rotation.resume();
    }
}

/// `n` secrets of assorted lengths in two scopes under KEY_A; the database is closed after.
async fn seed(n: usize) -> (TestEnv, Expected) {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let mut expected = Expected::new();
    for i in 0..n {
        let scope = if i % 3 == 0 {
            Scope::global()
        } else {
            Scope::project("prj_crash").expect("scope")
        };
        let (name, value) = (
            format!("SECRET_{i:03}"),
            format!("value {i} {}", "x".repeat(i)),
        );
        store
            .set(&scope, &name, SecretValue::from(value.as_str()))
            .await
            .expect("set");
        expected.insert((scope.to_string(), name), value);
    }
    t.db.close().await;
    (t, expected)
}

async fn states(db: &Database) -> Vec<(i64, KeyState)> {
    db.secrets()
        .keys()
        .await
        .expect("keys")
        .into_iter()
        .map(|k| (k.version, k.state))
        .collect()
}

/// What must hold after a kill at any instant; returns whether the rotation is complete.
async fn assert_consistent(t: &TestEnv, expected: &Expected, context: &str) -> bool {
    let per_version = check_rows(t, &[(1, KEY_A), (2, KEY_B)], expected).await;
    let states = states(&t.db).await;
    let complete = states == [(1, KeyState::Retired), (2, KeyState::Active)];
    if complete {
        assert!(
            per_version.keys().all(|v| *v == 2),
            "{context}: {per_version:?}"
        );
    } else {
        assert_eq!(states[0], (1, KeyState::Active), "{context}: {states:?}");
        if per_version.contains_key(&2) {
            assert_eq!(states.get(1), Some(&(2, KeyState::Pending)), "{context}");
        }
    }
    // The store that a server would open agrees: the old key works until the rotation is
    // complete, the new key from then on.
    let (working, sealed) = if complete {
        (KEY_B, KEY_A)
    } else {
        (KEY_A, KEY_B)
    };
    assert!(!t.store(working).await.is_sealed(), "{context}");
    assert!(t.store(sealed).await.is_sealed(), "{context}");
    complete
}

/// Finishes the rotation in process and checks the end state: every value as it was, all on
/// version 2, readable through a store opened with the new key.
async fn finish_and_check(t: &TestEnv, expected: &Expected, context: &str) {
    let report = rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .unwrap_or_else(|e| panic!("{context}: rerun failed: {e}"));
    assert_eq!(report.total, expected.len() as u64, "{context}");
    assert_eq!(
        check_rows(t, &[(1, KEY_A), (2, KEY_B)], expected).await,
        [(2, expected.len())].into(),
        "{context}"
    );
    assert_eq!(
        states(&t.db).await,
        [(1, KeyState::Retired), (2, KeyState::Active)],
        "{context}"
    );
    let store = t.store(KEY_B).await;
    assert!(matches!(
        store.status(),
        Status::Unsealed { key_version: 2, .. }
    ));
    for ((scope, name), value) in expected {
        let scope = Scope::parse(scope).expect("scope");
        let back = store.get(&scope, name).await.expect(context);
        assert_eq!(back.expose_str(), Some(value.as_str()), "{context}: {name}");
    }
}

#[tokio::test]
async fn rotation_killed_at_each_of_20_points_loses_nothing_and_a_rerun_completes() {
    for at in 0..KILL_POINTS {
        let (mut t, expected) = seed(ROWS).await;
        let seen = kill_at(&t.path, at);
        assert_eq!(seen.len(), at + 1, "point {at}: {seen:?}");
        let stage = seen[at].split(' ').next().unwrap_or_default().to_owned();
        t.reopen().await;
        let context = format!("killed at point {at} ({})", seen[at]);

        // Exactly where the kill landed: the committed steps before it, nothing after.
        let moved = at.saturating_sub(1).min(ROWS);
        let per_version = check_rows(&t, &[(1, KEY_A), (2, KEY_B)], &expected).await;
        let want_states = match at {
            0 => vec![(1, KeyState::Active)],
            a if a == KILL_POINTS - 1 => vec![(1, KeyState::Retired), (2, KeyState::Active)],
            _ => vec![(1, KeyState::Active), (2, KeyState::Pending)],
        };
        assert_eq!(states(&t.db).await, want_states, "{context}");
        assert_eq!(
            per_version.get(&2).copied().unwrap_or(0),
            moved,
            "{context}"
        );
        assert_eq!(
            stage,
            format!(
                "{:?}",
                match at {
                    0 => RotationStage::Planned,
                    1 => RotationStage::Staged,
                    a if a == KILL_POINTS - 1 => RotationStage::Activated,
                    _ => RotationStage::Rewrapped,
                }
            ),
            "{context}"
        );
        assert_consistent(&t, &expected, &context).await;

        // Every other point: the rerun is killed too, after its third report.
        if at % 2 == 1 {
            t.db.close().await;
            kill_at(&t.path, 2);
            t.reopen().await;
            assert_consistent(&t, &expected, &format!("{context}, rerun killed")).await;
        }
        finish_and_check(&t, &expected, &context).await;
    }
}

#[tokio::test]
async fn rotation_killed_at_arbitrary_instants_loses_nothing() {
    let (mut t, expected) = seed(120).await;
    // Reports to read before the kill; the child keeps running meanwhile, so each kill lands
    // at an arbitrary instant some way past that report.
    for (round, after) in [1, 2, 9, 3, 25, 1, 40, 6].into_iter().enumerate() {
        let rotation = Rotation::start(&t.path, false);
        let mut finished = false;
        for _ in 0..after {
            if rotation.next().is_none() {
                finished = true;
                break;
            }
        }
        if finished {
            rotation.finish();
        } else {
            rotation.kill();
        }
        t.reopen().await;
        let context = format!("round {round}, killed after {after} reports");
        let complete = assert_consistent(&t, &expected, &context).await;
        t.db.close().await;
        if complete {
            break;
        }
    }
    t.reopen().await;
    finish_and_check(&t, &expected, "after the kills").await;
}
