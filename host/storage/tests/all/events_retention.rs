//! Retention keeps what remains verifiable, and refuses to destroy evidence.

use std::time::Duration;

use serde_json::json;
use stockade_storage::NewEvent;

use crate::harness::TestDb;

async fn ts_of(t: &TestDb, seq: i64) -> i64 {
    sqlx::query_scalar("SELECT ts FROM events WHERE seq = $1")
        .bind(seq)
        .fetch_one(t.db.pool())
        .await
        .expect("ts")
}

#[tokio::test]
async fn pruning_old_rows_keeps_the_chain_verifiable() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    t.append_n(&log, 10).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    t.append_n(&log, 10).await;
    let cutoff = ts_of(&t, 11).await;
    assert!(
        cutoff > ts_of(&t, 10).await,
        "the two groups need distinct times"
    );
    let head_before = t.db.events().chain_head().await.expect("head");

    let pruned = t.db.events().prune_before(cutoff).await.expect("prune");
    assert_eq!(pruned.deleted, 10);
    let checkpoint = pruned.checkpoint.expect("checkpoint");
    assert_eq!(checkpoint.seq, 10);

    let report = t.db.events().verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.start, checkpoint);
    assert_eq!(report.rows_checked, 10);
    assert_eq!(t.db.events().chain_head().await.expect("head"), head_before);
    // The same anchor still verifies after pruning.
    assert!(
        t.db.events()
            .verify_against(&head_before)
            .await
            .expect("v")
            .is_ok()
    );

    // Appends continue the chain across the checkpoint.
    assert_eq!(
        log.append(NewEvent::new("admin", "a", None, json!({})))
            .await
            .expect("append"),
        21
    );
    assert!(t.db.events().verify().await.expect("verify").is_ok());

    // Nothing newer than the cutoff: pruning again is a no-op.
    let again = t.db.events().prune_before(cutoff).await.expect("prune");
    assert_eq!(again.deleted, 0);
}

#[tokio::test]
async fn pruning_everything_leaves_a_head_a_restarted_log_continues_from() {
    let t = TestDb::new().await;
    let (log, writer) = t.event_log().await;
    t.append_n(&log, 7).await;
    let head = t.db.events().chain_head().await.expect("head");
    let far_future = ts_of(&t, 7).await + 1_000_000;
    let pruned = t.db.events().prune_before(far_future).await.expect("prune");
    assert_eq!(pruned.deleted, 7);
    assert_eq!(t.db.events().chain_head().await.expect("head"), head);
    writer.shutdown().await.expect("shutdown");
    drop(log);

    let (log, _writer) = t.event_log().await;
    let seq = log
        .append(NewEvent::new("admin", "a", None, json!({})))
        .await
        .expect("append");
    assert_eq!(seq, 8);
    let report = t.db.events().verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.start.seq, 7);
    // The checkpoint itself is append-only.
    let delete = sqlx::query("DELETE FROM chain_checkpoints")
        .execute(t.db.pool())
        .await;
    assert!(delete.is_err(), "checkpoints must not be deletable");
}

#[tokio::test]
async fn pruning_refuses_to_destroy_evidence_of_tampering() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    t.append_n(&log, 5).await;
    sqlx::query("UPDATE events SET payload = '{}' WHERE seq = 2")
        .execute(&t.tamperer().await)
        .await
        .expect("tamper");
    let far_future = ts_of(&t, 5).await + 1_000_000;
    let err =
        t.db.events()
            .prune_before(far_future)
            .await
            .expect_err("refused");
    assert_eq!(err.code(), "chain_broken");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(t.db.pool())
        .await
        .expect("count");
    assert_eq!(count, 5, "nothing may be deleted");
    let bad =
        t.db.events()
            .verify()
            .await
            .expect("verify")
            .first_bad
            .expect("bad");
    assert_eq!(bad.seq, 2);
}
