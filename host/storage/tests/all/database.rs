//! Opening: location, pragmas, migrations.

use stockade_storage::{Database, Role};

use crate::harness::TestDb;

#[tokio::test]
async fn open_creates_the_parent_directory_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a").join("b").join("stockade.db");
    Database::open(path.to_str().expect("utf-8"))
        .await
        .expect("open");
    assert!(path.is_file());
}

#[tokio::test]
async fn open_accepts_a_sqlite_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("url.db");
    let url = format!("sqlite://{}", path.display());
    Database::open(&url).await.expect("open url");
    assert!(path.is_file());
}

#[tokio::test]
async fn connections_use_wal_full_sync_and_foreign_keys() {
    let t = TestDb::new().await;
    let pool = t.db.pool();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .expect("journal_mode");
    assert_eq!(mode, "wal");
    // 2 = FULL: an acknowledged event must survive power loss, not only a process crash.
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .expect("synchronous");
    assert_eq!(sync, 2);
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .expect("foreign_keys");
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_reapply_migrations() {
    let t = TestDb::new().await;
    t.db.users().create("ada", Role::Admin).await.expect("user");
    t.db.close().await;
    let again = Database::open(t.path.to_str().expect("utf-8"))
        .await
        .expect("reopen");
    let users = again.users().list().await.expect("list");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "ada");
}

#[tokio::test]
async fn an_unopenable_location_is_a_storage_io_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let target = file.join("stockade.db");
    let err = Database::open(target.to_str().expect("utf-8"))
        .await
        .expect_err("parent is a file");
    assert_eq!(err.code(), "storage_io");
}
