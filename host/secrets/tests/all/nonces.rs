//! Nonces never repeat: 100,000 encryptions through the write path's encryption function
//! (`DataKey::encrypt`, which `SecretStore::set` calls for every write), plus real writes
//! through the store whose nonces are read back from the database.

use std::collections::HashSet;

use sqlx::Row;
use stockade_secrets::{NONCE_LEN, RowId, Scope, SecretValue};

use crate::harness::{KEY_A, TestEnv, data_key};

const ENCRYPTIONS: usize = 100_000;
const STORE_WRITES: usize = 1_000;
const OVERWRITES: usize = 200;

#[tokio::test]
async fn nonces_never_repeat_across_100_000_writes() {
    let mut seen: HashSet<[u8; NONCE_LEN]> = HashSet::with_capacity(ENCRYPTIONS + STORE_WRITES);
    let mut record = |nonce: &[u8], what: &str| {
        let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("12-byte nonce");
        assert!(
            seen.insert(nonce),
            "repeated nonce after {} writes ({what})",
            seen.len()
        );
    };

    // The same key, row and value every time: nothing but the nonce generator varies.
    let key = data_key(KEY_A);
    let row = RowId {
        scope: "global",
        name: "SAME",
        key_version: 1,
    };
    for _ in 0..ENCRYPTIONS {
        let sealed = key.encrypt(row, b"same value").expect("encrypt");
        record(&sealed.nonce, "encrypt");
    }

    let t = TestEnv::fast().await;
    let store = t.store(KEY_A).await;
    let scope = Scope::global();
    for i in 0..STORE_WRITES {
        store
            .set(&scope, &format!("S{i}"), SecretValue::from("same value"))
            .await
            .expect("set");
    }
    let rows = sqlx::query("SELECT nonce FROM secrets")
        .fetch_all(t.db.pool())
        .await
        .expect("nonces");
    assert_eq!(rows.len(), STORE_WRITES);
    for row in &rows {
        record(&row.get::<Vec<u8>, _>("nonce"), "store write");
    }

    // Rewriting one secret with the same value must change its nonce every time.
    for _ in 0..OVERWRITES {
        store
            .set(&scope, "S0", SecretValue::from("same value"))
            .await
            .expect("overwrite");
        record(&t.row(&scope, "S0").await.nonce, "overwrite");
    }
}

#[tokio::test]
async fn the_store_writes_what_the_encryption_function_reads() {
    let t = TestEnv::new().await;
    let store = t.store(KEY_A).await;
    let scope = Scope::project("prj_1").expect("scope");
    store
        .set(&scope, "TOKEN", SecretValue::from("through the store"))
        .await
        .expect("set");
    let row = t.row(&scope, "TOKEN").await;
    let value = data_key(KEY_A)
        .decrypt(
            RowId {
                scope: scope.as_str(),
                name: "TOKEN",
                key_version: 1,
            },
            &row.nonce,
            &row.ciphertext,
        )
        .expect("decrypt");
    assert_eq!(value.expose_str(), Some("through the store"));
}
