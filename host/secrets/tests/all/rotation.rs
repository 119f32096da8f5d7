//! Master key rotation, in process: the protocol, its refusals, interruptions (a panicking
//! progress callback stands in for a crash here; `rotation_crash` uses SIGKILL) and writes by a
//! server still on the old key.

use std::sync::mpsc;

use stockade_secrets::{
    RotationProgress, RotationReport, RotationStage, Scope, SecretValue, Status, rotate,
};
use stockade_storage::{Database, KeyState};

use crate::harness::{KEY_A, KEY_B, KEY_C, TestEnv, check_rows, key};

const SECRETS: [(&str, &str); 6] = [
    ("S0", "zero"),
    ("S1", "one"),
    ("S2", "two"),
    ("S3", "three"),
    ("S4", "four"),
    ("S5", "five"),
];

/// Six secrets under KEY_A: S0..S2 global, S3..S5 in a project.
async fn seeded() -> TestEnv {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    for (i, (name, value)) in SECRETS.iter().enumerate() {
        store
            .set(&scope_of(i), name, SecretValue::from(*value))
            .await
            .expect("set");
    }
    t
}

fn scope_of(i: usize) -> Scope {
    if i < 3 {
        Scope::global()
    } else {
        Scope::project("prj_rot").expect("scope")
    }
}

/// Every seeded secret reads back under `hex` at key version `version`.
async fn assert_all_readable(t: &TestEnv, hex: &str, version: i64) {
    let store = t.store(hex).await;
    assert!(
        matches!(store.status(), Status::Unsealed { key_version, .. } if key_version == version)
    );
    for (i, (name, value)) in SECRETS.iter().enumerate() {
        let back = store.get(&scope_of(i), name).await.expect(name);
        assert_eq!(back.expose_str(), Some(*value), "{name}");
    }
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

/// Runs a rotation that panics (like a crash, as far as the database is concerned) at the
/// `n`-th progress report.
async fn rotate_and_die_at(db: &Database, old: &str, new: &str, n: usize) {
    let (db, old, new) = (db.clone(), key(old), key(new));
    let task = tokio::spawn(async move {
        let mut seen = 0;
        rotate(&db, old, new, |_| {
            seen += 1;
            assert!(seen < n, "simulated crash at report {n}");
        })
        .await
    });
    assert!(task.await.expect_err("must die").is_panic());
}

#[tokio::test]
async fn rotation_moves_every_secret_and_reports_each_step() {
    let t = seeded().await;
    let mut reports: Vec<RotationProgress> = Vec::new();
    let report = rotate(&t.db, key(KEY_A), key(KEY_B), |p| reports.push(p))
        .await
        .expect("rotate");
    assert_eq!(
        report,
        RotationReport {
            from_version: 1,
            to_version: 2,
            total: 6,
            rewrapped: 6,
            resumed: false,
            already_complete: false,
        }
    );
    let stages: Vec<_> = reports.iter().map(|p| (p.stage, p.done, p.total)).collect();
    let mut expected = vec![
        (RotationStage::Planned, 0, 6),
        (RotationStage::Staged, 0, 6),
    ];
    expected.extend((1..=6).map(|d| (RotationStage::Rewrapped, d, 6)));
    expected.push((RotationStage::Activated, 6, 6));
    assert_eq!(stages, expected);

    assert_eq!(
        states(&t.db).await,
        [(1, KeyState::Retired), (2, KeyState::Active)]
    );
    assert_eq!(t.db.secrets().count_at_version(2).await.expect("count"), 6);
    assert_all_readable(&t, KEY_B, 2).await;
    let Status::Sealed { reason } = t.store(KEY_A).await.status() else {
        panic!("the old key must not unseal");
    };
    assert!(
        reason.contains("key version 1, which a rotation replaced"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_second_rotation_goes_to_version_3_and_names_retired_keys() {
    let t = seeded().await;
    rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect("first");
    let report = rotate(&t.db, key(KEY_B), key(KEY_C), |_| {})
        .await
        .expect("second");
    assert_eq!((report.from_version, report.to_version), (2, 3));
    assert_all_readable(&t, KEY_C, 3).await;
    for (hex, version) in [(KEY_A, 1), (KEY_B, 2)] {
        let Status::Sealed { reason } = t.store(hex).await.status() else {
            panic!("version {version} key must not unseal");
        };
        assert!(
            reason.contains(&format!("key version {version}, which a rotation replaced")),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn a_rerun_after_completion_changes_nothing() {
    let mut t = seeded().await;
    rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect("rotate");
    t.db.close().await;
    let before = t.file_bytes();
    t.reopen().await;
    let report = rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect("rerun");
    assert!(report.already_complete, "{report:?}");
    assert_eq!(report.rewrapped, 0);
    t.db.close().await;
    assert!(before == t.file_bytes(), "a finished rotation was redone");
}

#[tokio::test]
async fn refusals() {
    let t = seeded().await;
    let empty = TestEnv::new().await;
    let cases = [
        ("same key", &t, KEY_A, KEY_A, "invalid_input"),
        ("old key wrong", &t, KEY_C, KEY_B, "key_mismatch"),
        (
            "nothing initialised",
            &empty,
            KEY_A,
            KEY_B,
            "secrets_uninitialized",
        ),
    ];
    for (name, env, old, new, code) in cases {
        let err = rotate(&env.db, key(old), key(new), |_| {})
            .await
            .expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err}");
    }
    assert_all_readable(&t, KEY_A, 1).await;
}

#[tokio::test]
async fn an_empty_store_rotates() {
    let t = TestEnv::new().await;
    t.store(KEY_A).await;
    let report = rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect("rotate");
    assert_eq!((report.total, report.to_version), (0, 2));
    assert!(!t.store(KEY_B).await.is_sealed());
}

#[tokio::test]
async fn an_unfinished_rotation_is_resumed_and_seals_the_new_key_until_then() {
    let t = seeded().await;
    rotate_and_die_at(&t.db, KEY_A, KEY_B, 4).await; // after two rows moved
    assert_eq!(
        states(&t.db).await,
        [(1, KeyState::Active), (2, KeyState::Pending)]
    );
    assert_eq!(t.db.secrets().count_at_version(2).await.expect("count"), 2);

    let Status::Sealed { reason } = t.store(KEY_B).await.status() else {
        panic!("the new key must not unseal an unfinished rotation");
    };
    assert!(reason.contains("has not finished"), "{reason}");
    let old = t.store(KEY_A).await;
    assert_eq!(
        old.status(),
        Status::Unsealed {
            key_version: 1,
            rotation_pending: Some(2)
        }
    );
    // S0 moved already: the old key says so instead of failing to decrypt.
    let err = old.get(&scope_of(0), "S0").await.expect_err("moved row");
    assert_eq!(err.code(), "key_rotated", "{err}");
    assert!(err.to_string().contains("under way"), "{err}");
    assert_eq!(
        old.get(&scope_of(5), "S5")
            .await
            .expect("unmoved row")
            .expose_str(),
        Some("five")
    );

    let mut reports = Vec::new();
    let report = rotate(&t.db, key(KEY_A), key(KEY_B), |p| reports.push(p))
        .await
        .expect("resume");
    assert!(report.resumed, "{report:?}");
    assert_eq!((report.rewrapped, report.total), (4, 6));
    assert_eq!((reports[0].done, reports[0].total), (2, 6));
    assert_all_readable(&t, KEY_B, 2).await;
}

#[tokio::test]
async fn another_new_key_may_restart_a_rotation_only_while_no_row_has_moved() {
    let t = seeded().await;
    rotate_and_die_at(&t.db, KEY_A, KEY_B, 2).await; // staged, no row moved
    let report = rotate(&t.db, key(KEY_A), key(KEY_C), |_| {})
        .await
        .expect("restart with another key");
    assert!(report.resumed);
    assert_all_readable(&t, KEY_C, 2).await;
    assert!(t.store(KEY_B).await.is_sealed());

    let t = seeded().await;
    rotate_and_die_at(&t.db, KEY_A, KEY_B, 3).await; // staged, a row moved under KEY_B
    let err = rotate(&t.db, key(KEY_A), key(KEY_C), |_| {})
        .await
        .expect_err("rows are under KEY_B");
    assert_eq!(err.code(), "key_mismatch");
    assert!(err.to_string().contains("rerun with that new key"), "{err}");
    rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect("finish with the first new key");
    assert_all_readable(&t, KEY_B, 2).await;
}

#[tokio::test]
async fn a_store_on_the_old_key_is_refused_after_rotation() {
    let t = seeded().await;
    let old = t.store(KEY_A).await;
    rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect("rotate");
    let errors = [
        old.set(&scope_of(0), "NEW", SecretValue::from("v"))
            .await
            .expect_err("set"),
        old.get(&scope_of(0), "S0").await.expect_err("get"),
    ];
    for err in errors {
        assert_eq!(err.code(), "key_rotated", "{err}");
        assert!(
            err.to_string()
                .contains("restart it with the new master key"),
            "{err}"
        );
    }
    assert_all_readable(&t, KEY_B, 2).await;
}

#[tokio::test]
async fn a_corrupt_row_stops_rotation_and_a_rerun_finishes_once_it_is_deleted() {
    let t = seeded().await;
    let raw = t.raw().await;
    sqlx::query("UPDATE secrets SET ciphertext = ciphertext || x'00' WHERE name = 'S2'")
        .execute(&raw)
        .await
        .expect("tamper");
    let err = rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect_err("corrupt row");
    assert_eq!(err.code(), "secret_corrupt");
    assert!(err.to_string().contains("`S2`"), "{err}");

    let old = t.store(KEY_A).await;
    old.delete(&scope_of(2), "S2").await.expect("delete");
    rotate(&t.db, key(KEY_A), key(KEY_B), |_| {})
        .await
        .expect("rerun");
    let new = t.store(KEY_B).await;
    for (i, (name, value)) in SECRETS.iter().enumerate().filter(|(i, _)| *i != 2) {
        let back = new.get(&scope_of(i), name).await.expect(name);
        assert_eq!(back.expose_str(), Some(*value));
    }
}

/// A server on the old key keeps writing while the rotation is paused after three rows: a new
/// secret, an overwrite of a row not yet moved, and an overwrite of a row already moved (which
/// puts it back on the old version). The rotation must carry all three over, with their new
/// values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_by_an_old_key_server_during_rotation_are_carried_over() {
    let t = seeded().await;
    let server = t.store(KEY_A).await;
    let (paused_tx, paused_rx) = mpsc::channel();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let db = t.db.clone();
    let rotation = tokio::spawn(async move {
        rotate(&db, key(KEY_A), key(KEY_B), move |p| {
            if p.stage == RotationStage::Rewrapped && p.done == 3 {
                paused_tx.send(()).expect("paused");
                resume_rx.recv().expect("resume");
            }
        })
        .await
    });
    tokio::task::spawn_blocking(move || paused_rx.recv())
        .await
        .expect("join")
        .expect("paused");
    let writes = [
        (0, "S0", "zero v2"),
        (5, "S5", "five v2"),
        (0, "LATE", "late"),
    ];
    for (i, name, value) in writes {
        server
            .set(&scope_of(i), name, SecretValue::from(value))
            .await
            .expect(name);
    }
    resume_tx.send(()).expect("resume");
    let report = rotation.await.expect("join").expect("rotate");
    assert_eq!(report.total, 7);

    let new = t.store(KEY_B).await;
    for (i, name, value) in writes {
        let back = new.get(&scope_of(i), name).await.expect(name);
        assert_eq!(back.expose_str(), Some(value), "{name}");
    }
    assert_eq!(t.db.secrets().count_at_version(1).await.expect("count"), 0);
    let err = server
        .set(&scope_of(0), "AFTER", SecretValue::from("v"))
        .await
        .expect_err("after activation");
    assert_eq!(err.code(), "key_rotated");
}

#[tokio::test]
async fn mid_rotation_each_row_opens_under_exactly_the_key_of_its_version() {
    let t = seeded().await;
    rotate_and_die_at(&t.db, KEY_A, KEY_B, 5).await;
    let expected = SECRETS
        .iter()
        .enumerate()
        .map(|(i, (name, value))| {
            (
                (scope_of(i).to_string(), name.to_string()),
                value.to_string(),
            )
        })
        .collect();
    let per_version = check_rows(&t, &[(1, KEY_A), (2, KEY_B)], &expected).await;
    assert_eq!(per_version, [(1, 3), (2, 3)].into());
}
