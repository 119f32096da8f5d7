//! Appending: batching, durability before ack, failures, shutdown, the sink.

use std::time::Duration;

use serde_json::json;
use stockade_storage::{EventLogConfig, NewEvent};
use tokio::sync::broadcast::error::RecvError;

use crate::harness::TestDb;

fn event(i: usize) -> NewEvent {
    NewEvent::new(
        "tool_call",
        format!("usr_{i}"),
        Some("alpha".into()),
        json!({ "i": i }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_a_gapless_verified_chain_in_few_transactions() {
    let t = TestDb::new().await;
    let (log, writer) = t.event_log().await;
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move { log.append(event(i)).await }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.expect("join").expect("append"));
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=1000).collect::<Vec<i64>>());

    let report = t.db.events().verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.rows_checked, 1000);
    assert_eq!(report.head.seq, 1000);

    let stats = log.stats();
    eprintln!("1000 concurrent appends: {stats:?}");
    assert_eq!(stats.events, 1000);
    assert_eq!(stats.failed_batches, 0);
    assert!(
        stats.transactions <= 100,
        "batching should group concurrent appends, used {} transactions",
        stats.transactions
    );
    writer.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acked_event_is_already_visible_to_another_connection() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    let raw = t.raw().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let log = log.clone();
        let raw = raw.clone();
        tasks.push(tokio::spawn(async move {
            let seq = log.append(event(i)).await.expect("append");
            let found: Option<i64> = sqlx::query_scalar("SELECT seq FROM events WHERE seq = $1")
                .bind(seq)
                .fetch_optional(&raw)
                .await
                .expect("read");
            assert_eq!(found, Some(seq), "acked before commit");
        }));
    }
    for task in tasks {
        task.await.expect("acked event must be committed");
    }
}

#[tokio::test]
async fn a_failed_commit_is_an_error_not_an_ack_and_leaves_no_gap() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    let seq = log.append(event(0)).await.expect("first");
    assert_eq!(seq, 1);

    // Make every insert fail, as a full disk would.
    let raw = t.raw().await;
    sqlx::query(
        "CREATE TRIGGER disk_full BEFORE INSERT ON events \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(&raw)
    .await
    .expect("trigger");
    for i in 1..4 {
        let err = log.append(event(i)).await.expect_err("must not be acked");
        assert_eq!(err.code(), "event_log_write_failed");
    }
    assert!(log.stats().failed_batches >= 1);

    sqlx::query("DROP TRIGGER disk_full")
        .execute(&raw)
        .await
        .expect("drop");
    // The chain continues from what is stored: no gap for the failed events.
    assert_eq!(log.append(event(9)).await.expect("recovered"), 2);
    let report = t.db.events().verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.rows_checked, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_commits_queued_events_then_refuses_new_ones() {
    let t = TestDb::new().await;
    // A long linger keeps the queued events waiting in the writer when shutdown arrives.
    let (log, writer) = t
        .event_log_with(EventLogConfig {
            linger: Duration::from_millis(300),
            ..EventLogConfig::default()
        })
        .await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move { log.append(event(i)).await }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    writer.shutdown().await.expect("shutdown");
    for task in tasks {
        task.await
            .expect("join")
            .expect("queued before shutdown, so committed");
    }
    let err = log.append(event(99)).await.expect_err("after shutdown");
    assert_eq!(err.code(), "event_log_closed");
    let report = t.db.events().verify().await.expect("verify");
    assert_eq!(report.rows_checked, 50);
}

#[tokio::test]
async fn invalid_events_are_refused_before_queueing() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    let big = "x".repeat(stockade_storage::events::MAX_PAYLOAD_BYTES + 1);
    let cases = [
        ("empty kind", NewEvent::new("", "a", None, json!({}))),
        (
            "uppercase kind",
            NewEvent::new("ToolCall", "a", None, json!({})),
        ),
        (
            "kind with space",
            NewEvent::new("tool call", "a", None, json!({})),
        ),
        ("empty actor", NewEvent::new("admin", "", None, json!({}))),
        (
            "empty project",
            NewEvent::new("admin", "a", Some(String::new()), json!({})),
        ),
        (
            "huge payload",
            NewEvent::new("admin", "a", None, json!(big)),
        ),
    ];
    for (case, e) in cases {
        let err = log.append(e).await.expect_err(case);
        assert_eq!(err.code(), "invalid_input", "{case}");
    }
    assert_eq!(log.stats().transactions, 0);
    assert_eq!(t.db.events().chain_head().await.expect("head").seq, 0);
}

#[tokio::test]
async fn subscribers_see_committed_events_and_never_slow_appends() {
    let t = TestDb::new().await;
    let (log, _writer) = t
        .event_log_with(EventLogConfig {
            sink_capacity: 4,
            ..EventLogConfig::default()
        })
        .await;
    let mut live = log.subscribe();
    let mut stalled = log.subscribe();

    let seq = log.append(event(0)).await.expect("append");
    let got = live.recv().await.expect("event");
    assert_eq!(got.seq, seq);
    assert_eq!(got.payload_json().expect("json"), json!({ "i": 0 }));

    // `stalled` never reads; 100 appends must still complete.
    for i in 1..=100 {
        tokio::time::timeout(Duration::from_secs(10), log.append(event(i)))
            .await
            .expect("a stalled subscriber must not block appends")
            .expect("append");
    }
    match stalled.recv().await {
        Err(RecvError::Lagged(missed)) => assert!(missed > 0),
        other => panic!("expected Lagged, got {other:?}"),
    }
}

#[tokio::test]
async fn a_restarted_log_continues_the_chain() {
    let t = TestDb::new().await;
    let (log, writer) = t.event_log().await;
    t.append_n(&log, 5).await;
    writer.shutdown().await.expect("shutdown");
    drop(log);
    let (log, _writer) = t.event_log().await;
    assert_eq!(log.append(event(5)).await.expect("append"), 6);
    let report = t.db.events().verify().await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.rows_checked, 6);
}

#[tokio::test]
async fn events_cannot_be_updated_or_deleted_through_sql() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    t.append_n(&log, 3).await;
    let pool = t.db.pool();
    let update = sqlx::query("UPDATE events SET payload = '{}' WHERE seq = 2")
        .execute(pool)
        .await;
    assert!(update.is_err(), "UPDATE on events must be refused");
    let delete = sqlx::query("DELETE FROM events WHERE seq = 3")
        .execute(pool)
        .await;
    assert!(delete.is_err(), "DELETE on events must be refused");
    assert!(t.db.events().verify().await.expect("verify").is_ok());
}
