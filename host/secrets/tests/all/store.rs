//! The ordinary operations: set, get, list, delete; validation; nothing in plaintext on disk.

use stockade_secrets::{MAX_VALUE_LEN, Scope, SecretValue, Status};

use crate::harness::{KEY_A, TestEnv, contains, fill};

#[tokio::test]
async fn first_open_with_a_key_records_version_1_and_round_trips() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    assert_eq!(
        store.status(),
        Status::Unsealed {
            key_version: 1,
            rotation_pending: None
        }
    );
    let scope = Scope::global();
    let outcome = store
        .set(&scope, "GITHUB_TOKEN", SecretValue::from("ghp_first"))
        .await
        .expect("set");
    assert!(!outcome.replaced);
    assert_eq!(outcome.secret.key_version, 1);
    let value = store.get(&scope, "GITHUB_TOKEN").await.expect("get");
    assert_eq!(value.expose_str(), Some("ghp_first"));

    let outcome = store
        .set(&scope, "GITHUB_TOKEN", SecretValue::from("ghp_second"))
        .await
        .expect("replace");
    assert!(outcome.replaced);
    let value = store.get(&scope, "GITHUB_TOKEN").await.expect("get");
    assert_eq!(value.expose_str(), Some("ghp_second"));
}

#[tokio::test]
async fn reopening_with_the_same_key_reads_what_was_written() {
    let mut t = TestEnv::new().await;
    let scope = Scope::project("prj_0011").expect("scope");
    fill(
        &t.store(KEY_A).await,
        &scope,
        &[("a", "alpha"), ("b", "beta")],
    )
    .await;
    t.reopen().await;
    let store = t.store(KEY_A).await;
    let value = store.get(&scope, "b").await.expect("get");
    assert_eq!(value.expose_str(), Some("beta"));
    let keys = t.db.secrets().keys().await.expect("keys");
    assert_eq!(keys.len(), 1, "reopening must not add key versions");
}

#[tokio::test]
async fn scopes_are_separate() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let (global, one, two) = (
        Scope::global(),
        Scope::project("prj_1").expect("scope"),
        Scope::project("prj_2").expect("scope"),
    );
    fill(&store, &global, &[("TOKEN", "g")]).await;
    fill(&store, &one, &[("TOKEN", "p1"), ("OTHER", "o")]).await;
    let err = store.get(&two, "TOKEN").await.expect_err("absent in prj_2");
    assert_eq!(err.code(), "secret_not_found");
    assert_eq!(
        store.get(&one, "TOKEN").await.expect("get").expose_str(),
        Some("p1")
    );
    assert_eq!(
        store.get(&global, "TOKEN").await.expect("get").expose_str(),
        Some("g")
    );
    let names: Vec<_> = store
        .list(&one)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["OTHER", "TOKEN"]);
}

#[tokio::test]
async fn delete_removes_and_reports_absence() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let scope = Scope::global();
    fill(&store, &scope, &[("gone", "soon")]).await;
    store.delete(&scope, "gone").await.expect("delete");
    for err in [
        store.get(&scope, "gone").await.expect_err("get"),
        store
            .delete(&scope, "gone")
            .await
            .expect_err("delete twice"),
    ] {
        assert_eq!(err.code(), "secret_not_found");
        assert!(err.to_string().contains("`gone`"), "{err}");
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_written() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let scope = Scope::global();
    let cases = [
        ("empty name", "", SecretValue::from("v")),
        ("name with a slash", "a/b", SecretValue::from("v")),
        ("name with NUL", "a\0b", SecretValue::from("v")),
        ("name too long", &*"n".repeat(129), SecretValue::from("v")),
        ("empty value", "ok", SecretValue::from("")),
        (
            "value over 64 KiB",
            "ok",
            SecretValue::new(vec![b'x'; MAX_VALUE_LEN + 1]),
        ),
    ];
    for (case, name, value) in cases {
        let err = store.set(&scope, name, value).await.expect_err(case);
        assert_eq!(err.code(), "invalid_input", "{case}: {err}");
    }
    assert!(store.list(&scope).await.expect("list").is_empty());
    let err = store.get(&scope, "a/b").await.expect_err("get bad name");
    assert_eq!(err.code(), "invalid_input");
}

#[tokio::test]
async fn binary_and_largest_values_round_trip() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let scope = Scope::global();
    let binary: Vec<u8> = (0..=255).collect();
    let largest = vec![0xA5; MAX_VALUE_LEN];
    for (name, value) in [("binary", &binary), ("largest", &largest)] {
        store
            .set(&scope, name, SecretValue::new(value.clone()))
            .await
            .expect("set");
        let back = store.get(&scope, name).await.expect("get");
        assert_eq!(back.expose_bytes(), value.as_slice(), "{name}");
    }
}

#[tokio::test]
async fn no_value_appears_in_plaintext_in_the_database_files() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let values = [
        ("GITHUB_TOKEN", "ghp_PLAINTEXT_CANARY_0123456789"),
        ("db.password", "correct horse battery staple"),
        ("short", "s3cr3t!"),
    ];
    let scope = Scope::project("prj_canary").expect("scope");
    fill(&store, &scope, &values).await;
    // Read them back too: reads must not write anything revealing either.
    for (name, _) in values {
        store.get(&scope, name).await.expect("get");
    }
    let bytes = t.file_bytes();
    assert!(
        contains(&bytes, b"GITHUB_TOKEN"),
        "names are stored in clear"
    );
    for (name, value) in values {
        assert!(!contains(&bytes, value.as_bytes()), "{name} in plaintext");
    }
}

#[tokio::test]
async fn deleting_a_project_deletes_its_secrets() {
    let t = TestEnv::new().await;
    let project =
        t.db.projects()
            .create("alpha", "/srv/alpha", None)
            .await
            .expect("project");
    let store = t.store(KEY_A).await;
    let scope = Scope::project(&project.id).expect("scope");
    fill(&store, &scope, &[("TOKEN", "t")]).await;
    fill(&store, &Scope::global(), &[("TOKEN", "g")]).await;
    t.db.projects().delete(&project.id).await.expect("delete");
    assert!(store.list(&scope).await.expect("list").is_empty());
    assert_eq!(store.list(&Scope::global()).await.expect("list").len(), 1);
}

#[tokio::test]
async fn list_and_debug_never_show_values() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let scope = Scope::global();
    fill(&store, &scope, &[("TOKEN", "value-that-must-not-show")]).await;
    let listed = format!("{:?}", store.list(&scope).await.expect("list"));
    let got = format!("{:?}", store.get(&scope, "TOKEN").await.expect("get"));
    let row = format!("{:?}", t.row(&scope, "TOKEN").await);
    for shown in [listed, got, row, format!("{store:?}")] {
        assert!(!shown.contains("value-that-must-not-show"), "{shown}");
    }
}
