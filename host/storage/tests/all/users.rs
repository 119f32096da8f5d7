//! Users, tokens and bootstrap.

use stockade_storage::{Role, TOKEN_PREFIX, token_hash};

use crate::harness::{TestDb, contains};

#[tokio::test]
async fn token_plaintext_is_never_stored_only_its_hash() {
    let t = TestDb::new().await;
    let user =
        t.db.users()
            .create("ada", Role::Member)
            .await
            .expect("user");
    let token =
        t.db.tokens()
            .create(&user.id, "laptop")
            .await
            .expect("token");
    let secret = token
        .plaintext
        .rsplit('_')
        .next()
        .expect("secret part")
        .to_owned();
    assert!(token.plaintext.starts_with(TOKEN_PREFIX));
    t.db.close().await;

    let bytes = t.file_bytes();
    // The search can find things: the hash and the public id are there.
    assert!(contains(&bytes, &token_hash(&token.plaintext)));
    assert!(contains(&bytes, &token.info.id));
    assert!(
        !contains(&bytes, &token.plaintext),
        "plaintext token stored"
    );
    assert!(!contains(&bytes, &secret), "token secret stored");
}

#[tokio::test]
async fn authenticate_accepts_only_live_tokens() {
    let t = TestDb::new().await;
    let user =
        t.db.users()
            .create("ada", Role::Member)
            .await
            .expect("user");
    let token = t.db.tokens().create(&user.id, "ci").await.expect("token");
    let tokens = t.db.tokens();

    let found = tokens.authenticate(&token.plaintext).await.expect("auth");
    assert_eq!(found, Some(user.clone()));

    let mut wrong = token.plaintext.clone();
    wrong.pop();
    wrong.push('x');
    let hostile = [
        ("one character changed", wrong.as_str()),
        ("empty", ""),
        ("prefix only", "stk_"),
        ("public part only", &token.info.display_prefix()),
        (
            "no prefix",
            token.plaintext.trim_start_matches(TOKEN_PREFIX),
        ),
        ("the stored hash itself", &token_hash(&token.plaintext)),
    ];
    for (case, presented) in hostile {
        assert_eq!(
            tokens.authenticate(presented).await.expect("auth"),
            None,
            "{case}"
        );
    }
    let long = format!("stk_{}", "a".repeat(10_000));
    assert_eq!(tokens.authenticate(&long).await.expect("auth"), None);

    tokens.revoke(&token.info.id).await.expect("revoke");
    assert_eq!(
        tokens.authenticate(&token.plaintext).await.expect("auth"),
        None
    );
    // Revoking twice is fine; an unknown id is not.
    tokens.revoke(&token.info.id).await.expect("revoke again");
    let err = tokens.revoke("ffffffff").await.expect_err("unknown");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn token_listing_never_contains_secrets() {
    let t = TestDb::new().await;
    let user =
        t.db.users()
            .create("ada", Role::Member)
            .await
            .expect("user");
    let a = t.db.tokens().create(&user.id, "a").await.expect("token");
    let b = t.db.tokens().create(&user.id, "b").await.expect("token");
    t.db.tokens().revoke(&b.info.id).await.expect("revoke");

    let listed = t.db.tokens().list(Some(&user.id)).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().filter(|i| i.revoked_at.is_some()).count(), 1);
    let shown = serde_json::to_string(&listed).expect("json");
    for token in [&a, &b] {
        let secret = token.plaintext.rsplit('_').next().expect("secret");
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(!format!("{a:?}").contains(a.plaintext.rsplit('_').next().expect("secret")));
    assert_eq!(t.db.tokens().list(None).await.expect("list").len(), 2);
    assert!(
        t.db.tokens()
            .list(Some("usr_other"))
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn token_for_a_missing_user_is_not_found() {
    let t = TestDb::new().await;
    let err =
        t.db.tokens()
            .create("usr_nobody", "x")
            .await
            .expect_err("no user");
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn bootstrap_creates_one_admin_once() {
    let t = TestDb::new().await;
    let first =
        t.db.tokens()
            .bootstrap_admin("admin")
            .await
            .expect("bootstrap")
            .expect("first start bootstraps");
    assert_eq!(first.user.role, Role::Admin);
    let authed =
        t.db.tokens()
            .authenticate(&first.token.plaintext)
            .await
            .expect("auth");
    assert_eq!(authed, Some(first.user.clone()));

    let again = t.db.tokens().bootstrap_admin("admin").await.expect("again");
    assert!(again.is_none());
    assert_eq!(t.db.users().list().await.expect("list").len(), 1);
    assert_eq!(t.db.tokens().list(None).await.expect("list").len(), 1);
}

#[tokio::test]
async fn concurrent_bootstraps_create_exactly_one_admin() {
    let t = TestDb::new().await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            db.tokens().bootstrap_admin("admin").await
        }));
    }
    let mut created = 0;
    for task in tasks {
        if task.await.expect("join").expect("bootstrap").is_some() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(t.db.users().list().await.expect("list").len(), 1);
}

#[tokio::test]
async fn bootstrap_does_nothing_when_a_user_exists() {
    let t = TestDb::new().await;
    t.db.users()
        .create("someone", Role::Member)
        .await
        .expect("user");
    assert!(
        t.db.tokens()
            .bootstrap_admin("admin")
            .await
            .expect("b")
            .is_none()
    );
}

#[tokio::test]
async fn user_names_are_unique_and_lookups_say_not_found() {
    let t = TestDb::new().await;
    let users = t.db.users();
    let ada = users.create("ada", Role::Admin).await.expect("user");
    let err = users.create("ada", Role::Member).await.expect_err("dup");
    assert_eq!(err.code(), "conflict");
    assert_eq!(users.get_by_name("ada").await.expect("get"), ada);
    assert_eq!(users.get(&ada.id).await.expect("get"), ada);
    assert_eq!(
        users.get("usr_x").await.expect_err("missing").code(),
        "not_found"
    );
    assert_eq!(
        users
            .create(" ", Role::Member)
            .await
            .expect_err("blank")
            .code(),
        "invalid_input"
    );

    let token = t.db.tokens().create(&ada.id, "t").await.expect("token");
    users.delete(&ada.id).await.expect("delete");
    // Deleting a user takes their tokens with them.
    assert_eq!(
        t.db.tokens()
            .authenticate(&token.plaintext)
            .await
            .expect("auth"),
        None
    );
    assert_eq!(
        users.delete(&ada.id).await.expect_err("gone").code(),
        "not_found"
    );
}
