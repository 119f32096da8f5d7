//! Installed bundles, grants and agents.

use std::collections::BTreeMap;

use serde_json::json;
use stockade_storage::{AgentSpec, GrantDocs, NewBundle, Project};

use crate::harness::TestDb;

fn bundle(name: &str, version: &str) -> NewBundle {
    NewBundle {
        name: name.to_owned(),
        version: version.to_owned(),
        manifest: format!("name = \"{name}\"\nversion = \"{version}\"\n"),
        component_digests: BTreeMap::from([("fs.wasm".to_owned(), "ab".repeat(32))]),
        source_dir: "/src/fs".to_owned(),
        dev_install: true,
    }
}

async fn project(t: &TestDb, name: &str) -> Project {
    t.db.projects()
        .create(name, "/srv", None)
        .await
        .expect("project")
}

#[tokio::test]
async fn bundles_are_unique_per_project() {
    let t = TestDb::new().await;
    let a = project(&t, "a").await;
    let b = project(&t, "b").await;
    let bundles = t.db.bundles();
    let installed = bundles
        .install(&a.id, &bundle("fs", "1.0.0"))
        .await
        .expect("install");
    assert!(installed.dev_install);
    let err = bundles
        .install(&a.id, &bundle("fs", "1.1.0"))
        .await
        .expect_err("dup");
    assert_eq!(err.code(), "conflict");
    bundles
        .install(&b.id, &bundle("fs", "1.0.0"))
        .await
        .expect("other project");

    assert_eq!(bundles.get(&a.id, "fs").await.expect("get"), installed);
    let upgraded = bundles
        .upgrade(&a.id, &bundle("fs", "1.1.0"))
        .await
        .expect("up");
    assert_eq!(
        bundles.get(&a.id, "fs").await.expect("get").version,
        "1.1.0"
    );
    assert_eq!(upgraded.version, "1.1.0");
    let err = bundles
        .upgrade(&a.id, &bundle("git", "1.0.0"))
        .await
        .expect_err("x");
    assert_eq!(err.code(), "not_found");
    let err = bundles
        .install("prj_missing", &bundle("fs", "1.0.0"))
        .await
        .expect_err("x");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn bundle_digests_must_be_sha256_hex() {
    let t = TestDb::new().await;
    let a = project(&t, "a").await;
    let cases = [
        ("uppercase", "AB".repeat(32)),
        ("short", "ab".repeat(31)),
        ("not hex", "zz".repeat(32)),
    ];
    for (case, digest) in cases {
        let mut b = bundle("fs", "1.0.0");
        b.component_digests = BTreeMap::from([("fs.wasm".to_owned(), digest)]);
        let err = t.db.bundles().install(&a.id, &b).await.expect_err(case);
        assert_eq!(err.code(), "invalid_input", "{case}");
    }
    let mut none = bundle("fs", "1.0.0");
    none.component_digests.clear();
    let err =
        t.db.bundles()
            .install(&a.id, &none)
            .await
            .expect_err("empty");
    assert_eq!(err.code(), "invalid_input");
    assert!(t.db.bundles().list(&a.id).await.expect("list").is_empty());
}

#[tokio::test]
async fn grants_are_replaced_whole_and_go_with_their_bundle() {
    let t = TestDb::new().await;
    let a = project(&t, "a").await;
    t.db.bundles()
        .install(&a.id, &bundle("fs", "1.0.0"))
        .await
        .expect("install");
    let grants = t.db.grants();
    let dirs = json!([{ "mount": "/work", "host_path": "/srv/a", "access": "read" }]);
    let first = grants
        .put(
            &a.id,
            "fs",
            "read_file",
            GrantDocs {
                dirs: &dirs,
                egress: &json!([]),
                secrets: &json!([]),
                limits: &json!(null),
            },
        )
        .await
        .expect("grant");
    let dirs2 = json!([{ "mount": "/work", "host_path": "/srv/a", "access": "write" }]);
    let second = grants
        .put(
            &a.id,
            "fs",
            "read_file",
            GrantDocs {
                dirs: &dirs2,
                egress: &json!(["https://api.example.com"]),
                secrets: &json!([]),
                limits: &json!({ "memory_mb": 64 }),
            },
        )
        .await
        .expect("regrant");
    assert_eq!(second.created_at, first.created_at);
    let stored = grants.get(&a.id, "fs", "read_file").await.expect("get");
    assert_eq!(stored.dirs, dirs2);
    assert_eq!(stored.egress, json!(["https://api.example.com"]));
    assert_eq!(stored.limits, json!({ "memory_mb": 64 }));
    assert_eq!(grants.list(&a.id).await.expect("list").len(), 1);

    let err = grants
        .put(
            &a.id,
            "git",
            "push",
            GrantDocs {
                dirs: &json!([]),
                egress: &json!([]),
                secrets: &json!([]),
                limits: &json!(null),
            },
        )
        .await
        .expect_err("bundle not installed");
    assert_eq!(err.code(), "not_found");
    let err = grants
        .put(
            &a.id,
            "fs",
            "read_file",
            GrantDocs {
                dirs: &json!({}),
                egress: &json!([]),
                secrets: &json!([]),
                limits: &json!(null),
            },
        )
        .await
        .expect_err("dirs not an array");
    assert_eq!(err.code(), "invalid_input");
    let err = grants
        .put(
            &a.id,
            "fs",
            "read_file",
            GrantDocs {
                dirs: &json!([]),
                egress: &json!("x"),
                secrets: &json!([]),
                limits: &json!(null),
            },
        )
        .await
        .expect_err("egress not an array");
    assert_eq!(err.code(), "invalid_input");
    let err = grants
        .put(
            &a.id,
            "fs",
            "read_file",
            GrantDocs {
                dirs: &json!([]),
                egress: &json!([]),
                secrets: &json!({}),
                limits: &json!(null),
            },
        )
        .await
        .expect_err("secrets not an array");
    assert_eq!(err.code(), "invalid_input");

    t.db.bundles().remove(&a.id, "fs").await.expect("uninstall");
    assert!(grants.list(&a.id).await.expect("list").is_empty());
    let err = grants
        .get(&a.id, "fs", "read_file")
        .await
        .expect_err("gone");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn agents_are_unique_per_project_and_updatable() {
    let t = TestDb::new().await;
    let a = project(&t, "a").await;
    let b = project(&t, "b").await;
    let agents = t.db.agents();
    let spec = AgentSpec {
        allow: vec!["fs.read_*".into()],
        deny: vec!["fs.write_*".into()],
        read_only: true,
    };
    let created = agents.create(&a.id, "bot", &spec).await.expect("create");
    let err = agents.create(&a.id, "bot", &spec).await.expect_err("dup");
    assert_eq!(err.code(), "conflict");
    agents
        .create(&b.id, "bot", &spec)
        .await
        .expect("same name elsewhere");
    assert_eq!(agents.get(&a.id, "bot").await.expect("get"), created);

    let wider = AgentSpec {
        allow: vec!["fs.*".into()],
        deny: vec![],
        read_only: false,
    };
    let updated = agents.update(&a.id, "bot", &wider).await.expect("update");
    assert_eq!(updated.created_at, created.created_at);
    let stored = agents.get(&a.id, "bot").await.expect("get");
    assert_eq!(stored.allow, ["fs.*"]);
    assert!(!stored.read_only);
    assert_eq!(
        agents
            .update(&a.id, "nobody", &wider)
            .await
            .expect_err("x")
            .code(),
        "not_found"
    );

    agents.delete(&a.id, "bot").await.expect("delete");
    assert_eq!(
        agents.get(&a.id, "bot").await.expect_err("gone").code(),
        "not_found"
    );
    assert_eq!(agents.list(&b.id).await.expect("list").len(), 1);
}
