//! Sealed mode: a missing, wrong or unloadable master key leaves the server running with every
//! secret operation answering `sealed` and a message that says how to fix it, and the database
//! byte-identical.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use stockade_secrets::{
    CREDENTIAL_NAME, KeyOrigin, MasterKeySource, Scope, SecretStore, SecretValue, Status, rotate,
};

use crate::harness::{KEY_A, KEY_B, KEY_C, TestEnv, fill, key};

/// Writes a key file with the given mode and returns its path.
fn key_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

/// A systemd-style credentials directory holding `contents` as the master key.
fn credentials(dir: &Path, contents: &str) -> PathBuf {
    let creds = dir.join("credentials");
    std::fs::create_dir_all(&creds).expect("mkdir");
    key_file(&creds, CREDENTIAL_NAME, contents.as_bytes(), 0o400);
    creds
}

struct Case {
    name: &'static str,
    /// SQL run against the seeded database before the snapshot.
    before: Option<&'static str>,
    source: fn(&Path) -> MasterKeySource,
    /// Part of the sealed reason.
    reason: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "no key anywhere",
        before: None,
        source: |_| MasterKeySource::new(),
        reason: "no master key: set `master_key_file`",
    },
    Case {
        name: "empty STOCKADE_MASTER_KEY counts as unset",
        before: None,
        source: |_| MasterKeySource::new().with_env_value(""),
        reason: "no master key",
    },
    Case {
        name: "wrong key in master_key_file",
        before: None,
        source: |dir| MasterKeySource::new().with_file(key_file(dir, "k", KEY_B.as_bytes(), 0o600)),
        reason: "does not match key version 1",
    },
    Case {
        name: "wrong key as a systemd credential",
        before: None,
        source: |dir| MasterKeySource::new().with_credentials_directory(credentials(dir, KEY_B)),
        reason: "does not match key version 1",
    },
    Case {
        name: "wrong key in STOCKADE_MASTER_KEY",
        before: None,
        source: |_| MasterKeySource::new().with_env_value(KEY_B),
        reason: "does not match key version 1",
    },
    Case {
        name: "right key in a group-readable file",
        before: None,
        source: |dir| MasterKeySource::new().with_file(key_file(dir, "k", KEY_A.as_bytes(), 0o640)),
        reason: "chmod 600",
    },
    Case {
        name: "right key in a world-readable file",
        before: None,
        source: |dir| MasterKeySource::new().with_file(key_file(dir, "k", KEY_A.as_bytes(), 0o604)),
        reason: "chmod 600",
    },
    Case {
        name: "master_key_file missing (no fall-through to the right key in the environment)",
        before: None,
        source: |dir| {
            MasterKeySource::new()
                .with_file(dir.join("absent"))
                .with_env_value(KEY_A)
        },
        reason: "cannot read the master key",
    },
    Case {
        name: "key file that is not a key",
        before: None,
        source: |dir| MasterKeySource::new().with_file(key_file(dir, "k", b"hunter2\n", 0o600)),
        reason: "64 hex digits or 44 base64",
    },
    Case {
        name: "key file of 32 raw bytes",
        before: None,
        source: |dir| MasterKeySource::new().with_file(key_file(dir, "k", &[0xAB; 32], 0o600)),
        reason: "not text",
    },
    Case {
        name: "STOCKADE_MASTER_KEY that is not a key",
        before: None,
        source: |_| MasterKeySource::new().with_env_value("hunter2"),
        reason: "STOCKADE_MASTER_KEY is not 32 bytes",
    },
    Case {
        name: "right key, but the key table was emptied",
        before: Some("DELETE FROM secret_keys"),
        source: |_| MasterKeySource::new().with_env_value(KEY_A),
        reason: "key table is empty",
    },
];

#[tokio::test]
async fn sealed_cases_refuse_everything_and_change_no_byte() {
    for case in CASES {
        let mut t = TestEnv::new().await;
        let scope = Scope::global();
        fill(&t.store(KEY_A).await, &scope, &[("TOKEN", "t0k3n")]).await;
        if let Some(sql) = case.before {
            let raw = t.raw().await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&raw)
                .await
                .expect("before");
            raw.close().await;
        }
        t.reopen().await;
        t.db.close().await;
        let before = t.file_bytes();
        t.reopen().await;

        let store = t.store_from(&(case.source)(t.dir())).await;
        let Status::Sealed { reason } = store.status() else {
            panic!("{}: not sealed", case.name);
        };
        assert!(reason.contains(case.reason), "{}: {reason}", case.name);
        assert!(
            reason.contains("Nothing was changed"),
            "{}: {reason}",
            case.name
        );
        for hex in [KEY_A, KEY_B] {
            assert!(!reason.contains(hex), "{}: key in message", case.name);
        }
        assert_every_operation_is_sealed(&store, &reason, case.name).await;

        t.db.close().await;
        assert!(before == t.file_bytes(), "{}: database changed", case.name);
    }
}

async fn assert_every_operation_is_sealed(store: &SecretStore, reason: &str, case: &str) {
    let scope = Scope::global();
    let errors = [
        store
            .set(&scope, "NEW", SecretValue::from("v"))
            .await
            .expect_err("set"),
        store
            .set(&scope, "TOKEN", SecretValue::from("v"))
            .await
            .expect_err("overwrite"),
        store.get(&scope, "TOKEN").await.expect_err("get"),
        store.list(&scope).await.expect_err("list"),
        store.delete(&scope, "TOKEN").await.expect_err("delete"),
    ];
    for err in errors {
        assert_eq!(err.code(), "sealed", "{case}: {err}");
        assert!(err.to_string().contains(reason), "{case}: {err}");
    }
}

#[tokio::test]
async fn a_wrong_old_key_cannot_rotate_and_changes_no_byte() {
    let mut t = TestEnv::new().await;
    fill(&t.store(KEY_A).await, &Scope::global(), &[("TOKEN", "t")]).await;
    t.db.close().await;
    let before = t.file_bytes();
    t.reopen().await;
    for (case, old, new) in [
        ("old key wrong", KEY_B, KEY_C),
        ("old key wrong, new key already active", KEY_B, KEY_A),
    ] {
        let err = rotate(&t.db, key(old), key(new), |_| {})
            .await
            .expect_err(case);
        assert_eq!(err.code(), "key_mismatch", "{case}");
        assert!(
            err.to_string().contains("nothing was changed"),
            "{case}: {err}"
        );
    }
    t.db.close().await;
    assert!(before == t.file_bytes(), "database changed");
}

/// The control for the byte comparisons above: one write is enough to change the bytes.
#[tokio::test]
async fn the_byte_comparison_sees_a_single_write() {
    let mut t = TestEnv::new().await;
    fill(&t.store(KEY_A).await, &Scope::global(), &[("TOKEN", "t")]).await;
    t.db.close().await;
    let before = t.file_bytes();
    t.reopen().await;
    fill(&t.store(KEY_A).await, &Scope::global(), &[("OTHER", "o")]).await;
    t.db.close().await;
    assert!(before != t.file_bytes());
}

#[tokio::test]
async fn no_key_on_a_fresh_database_is_sealed_and_creates_no_key_version() {
    let t = TestEnv::new().await;
    let store = t.store_from(&MasterKeySource::new()).await;
    assert!(store.is_sealed());
    assert!(t.db.secrets().keys().await.expect("keys").is_empty());
    // The first start with a key is the one that records version 1.
    let store = t.store(KEY_A).await;
    assert!(!store.is_sealed());
    assert_eq!(t.db.secrets().keys().await.expect("keys").len(), 1);
}

#[test]
fn sources_are_consulted_strongest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = key_file(dir.path(), "k", KEY_A.as_bytes(), 0o600);
    let creds = credentials(dir.path(), KEY_A);
    let empty_creds = dir.path().join("empty");
    std::fs::create_dir_all(&empty_creds).expect("mkdir");
    let cases = [
        (
            "file beats credential and environment",
            MasterKeySource::new()
                .with_file(&file)
                .with_credentials_directory(&creds)
                .with_env_value(KEY_B),
            KeyOrigin::File(file.clone()),
        ),
        (
            "credential beats environment",
            MasterKeySource::new()
                .with_credentials_directory(&creds)
                .with_env_value(KEY_B),
            KeyOrigin::Credential(creds.join(CREDENTIAL_NAME)),
        ),
        (
            "a credentials directory without the credential falls through to the environment",
            MasterKeySource::new()
                .with_credentials_directory(&empty_creds)
                .with_env_value(KEY_A),
            KeyOrigin::Environment,
        ),
    ];
    for (name, source, origin) in cases {
        let loaded = source.load().expect(name).expect(name);
        assert_eq!(loaded.origin, origin, "{name}");
        assert!(loaded.key.same_as(&key(KEY_A)), "{name}");
    }
}

#[test]
fn a_base64_key_file_loads_the_same_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `openssl rand -base64 32` style, with its trailing newline.
    let b64 = "oaKjpKWmp6ipqqusra6vsLGys7S1tre4ubq7vL2+v8A=\n";
    let file = key_file(dir.path(), "k", b64.as_bytes(), 0o400);
    let loaded = MasterKeySource::new()
        .with_file(file)
        .load()
        .expect("load")
        .expect("some");
    assert!(loaded.key.same_as(&key(KEY_A)));
}

#[test]
fn source_debug_hides_the_environment_value() {
    let shown = format!("{:?}", MasterKeySource::new().with_env_value(KEY_A));
    assert!(!shown.contains(KEY_A), "{shown}");
}
