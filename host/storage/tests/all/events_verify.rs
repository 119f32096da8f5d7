//! `verify` against a table of tamperings, each naming the row it must report.

use serde_json::json;
use sqlx::{Row, SqlitePool};
use stockade_storage::events::{AnchorStatus, Problem, event_hash};
use stockade_storage::{ChainHead, Event};

use crate::harness::TestDb;

/// Events in each tampered chain.
const ROWS: usize = 10;

#[derive(Debug, Clone, Copy)]
enum Tamper {
    Sql(&'static str),
    Swap(i64, i64),
    /// Edit the payload of a row and recompute that row's hash correctly.
    EditAndRehash(i64),
    /// Give a row a different prev_hash and a hash consistent with it.
    ForgePrevAndHash(i64),
    /// Edit a row and recompute the hashes of it and every later row.
    RewriteFrom(i64),
}

/// What `verify()` must say, and optionally what `verify_against(original head)` must say.
struct Case {
    name: &'static str,
    tamper: Tamper,
    /// `None`: verify() passes (only an anchor can tell).
    bad_seq: Option<i64>,
    problem: fn(&Problem) -> bool,
    anchored_bad_seq: i64,
}

fn hash_mismatch(p: &Problem) -> bool {
    matches!(p, Problem::HashMismatch { .. })
}
fn prev_mismatch(p: &Problem) -> bool {
    matches!(p, Problem::PrevHashMismatch { .. })
}
fn gap(p: &Problem) -> bool {
    matches!(p, Problem::SeqGap { .. })
}
fn nothing(_: &Problem) -> bool {
    false
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "edit payload",
            tamper: Tamper::Sql(r#"UPDATE events SET payload = '{"i":999}' WHERE seq = 5"#),
            bad_seq: Some(5),
            problem: hash_mismatch,
            anchored_bad_seq: 5,
        },
        Case {
            name: "edit kind",
            tamper: Tamper::Sql("UPDATE events SET kind = 'admin' WHERE seq = 5"),
            bad_seq: Some(5),
            problem: hash_mismatch,
            anchored_bad_seq: 5,
        },
        Case {
            name: "edit ts",
            tamper: Tamper::Sql("UPDATE events SET ts = ts - 86400000 WHERE seq = 5"),
            bad_seq: Some(5),
            problem: hash_mismatch,
            anchored_bad_seq: 5,
        },
        Case {
            name: "edit actor",
            tamper: Tamper::Sql("UPDATE events SET actor = 'usr_innocent' WHERE seq = 7"),
            bad_seq: Some(7),
            problem: hash_mismatch,
            anchored_bad_seq: 7,
        },
        Case {
            name: "clear project",
            tamper: Tamper::Sql("UPDATE events SET project = NULL WHERE seq = 1"),
            bad_seq: Some(1),
            problem: hash_mismatch,
            anchored_bad_seq: 1,
        },
        Case {
            name: "edit hash only",
            tamper: Tamper::Sql("UPDATE events SET hash = prev_hash WHERE seq = 5"),
            bad_seq: Some(5),
            problem: hash_mismatch,
            anchored_bad_seq: 5,
        },
        Case {
            name: "edit payload and recompute its hash",
            tamper: Tamper::EditAndRehash(5),
            bad_seq: Some(6),
            problem: prev_mismatch,
            anchored_bad_seq: 6,
        },
        Case {
            name: "forge prev_hash and hash of one row",
            tamper: Tamper::ForgePrevAndHash(5),
            bad_seq: Some(5),
            problem: prev_mismatch,
            anchored_bad_seq: 5,
        },
        Case {
            name: "delete a middle row",
            tamper: Tamper::Sql("DELETE FROM events WHERE seq = 5"),
            bad_seq: Some(6),
            problem: gap,
            anchored_bad_seq: 6,
        },
        Case {
            name: "delete the first row",
            tamper: Tamper::Sql("DELETE FROM events WHERE seq = 1"),
            bad_seq: Some(2),
            problem: gap,
            anchored_bad_seq: 2,
        },
        Case {
            name: "swap adjacent rows",
            tamper: Tamper::Swap(4, 5),
            bad_seq: Some(4),
            problem: prev_mismatch,
            anchored_bad_seq: 4,
        },
        Case {
            name: "swap distant rows",
            tamper: Tamper::Swap(3, 8),
            bad_seq: Some(3),
            problem: prev_mismatch,
            anchored_bad_seq: 3,
        },
        Case {
            name: "delete the last row (needs the anchor)",
            tamper: Tamper::Sql("DELETE FROM events WHERE seq = 10"),
            bad_seq: None,
            problem: nothing,
            anchored_bad_seq: 10,
        },
        Case {
            name: "delete every row (needs the anchor)",
            tamper: Tamper::Sql("DELETE FROM events"),
            bad_seq: None,
            problem: nothing,
            anchored_bad_seq: 1,
        },
        Case {
            name: "rewrite the chain from a row (needs the anchor)",
            tamper: Tamper::RewriteFrom(3),
            bad_seq: None,
            problem: nothing,
            anchored_bad_seq: 10,
        },
    ]
}

async fn row(pool: &SqlitePool, seq: i64) -> Event {
    let r = sqlx::query(
        "SELECT seq, ts, kind, actor, project, payload, prev_hash, hash FROM events WHERE seq = $1",
    )
    .bind(seq)
    .fetch_one(pool)
    .await
    .expect("row");
    Event {
        seq: r.get("seq"),
        ts: r.get("ts"),
        kind: r.get("kind"),
        actor: r.get("actor"),
        project: r.get("project"),
        payload: r.get("payload"),
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    }
}

/// Overwrites every column of row `seq` except `seq` with `with`'s.
async fn overwrite(pool: &SqlitePool, seq: i64, with: &Event) {
    sqlx::query(
        "UPDATE events SET ts = $2, kind = $3, actor = $4, project = $5, payload = $6, \
         prev_hash = $7, hash = $8 WHERE seq = $1",
    )
    .bind(seq)
    .bind(with.ts)
    .bind(&with.kind)
    .bind(&with.actor)
    .bind(&with.project)
    .bind(&with.payload)
    .bind(&with.prev_hash)
    .bind(&with.hash)
    .execute(pool)
    .await
    .expect("overwrite");
}

fn rehash(e: &mut Event) {
    e.hash = event_hash(
        e.seq,
        e.ts,
        &e.kind,
        &e.actor,
        e.project.as_deref(),
        &e.payload,
        &e.prev_hash,
    );
}

async fn apply(pool: &SqlitePool, tamper: Tamper) {
    match tamper {
        Tamper::Sql(sql) => {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(pool)
                .await
                .expect("tamper");
        }
        Tamper::Swap(a, b) => {
            let (ra, rb) = (row(pool, a).await, row(pool, b).await);
            overwrite(pool, a, &rb).await;
            overwrite(pool, b, &ra).await;
        }
        Tamper::EditAndRehash(seq) => {
            let mut e = row(pool, seq).await;
            e.payload = json!({ "i": "forged" }).to_string();
            rehash(&mut e);
            overwrite(pool, seq, &e).await;
        }
        Tamper::ForgePrevAndHash(seq) => {
            let mut e = row(pool, seq).await;
            e.prev_hash = "f".repeat(64);
            rehash(&mut e);
            overwrite(pool, seq, &e).await;
        }
        Tamper::RewriteFrom(from) => {
            let mut prev = row(pool, from - 1).await.hash;
            for seq in from..=ROWS as i64 {
                let mut e = row(pool, seq).await;
                if seq == from {
                    e.payload = json!({ "i": "forged" }).to_string();
                }
                e.prev_hash = prev;
                rehash(&mut e);
                prev = e.hash.clone();
                overwrite(pool, seq, &e).await;
            }
        }
    }
}

#[tokio::test]
async fn verify_names_the_first_bad_row_for_each_tampering() {
    for case in cases() {
        let t = TestDb::new().await;
        let (log, _writer) = t.event_log().await;
        t.append_n(&log, ROWS).await;
        let anchor = t.db.events().chain_head().await.expect("head");
        assert_eq!(anchor.seq, ROWS as i64);
        assert!(t.db.events().verify().await.expect("verify").is_ok());

        let tamperer = t.tamperer().await;
        apply(&tamperer, case.tamper).await;

        let report = t.db.events().verify().await.expect("verify");
        match case.bad_seq {
            Some(seq) => {
                let bad = report
                    .first_bad
                    .as_ref()
                    .unwrap_or_else(|| panic!("{}: not detected", case.name));
                assert_eq!(bad.seq, seq, "{}: {bad:?}", case.name);
                assert!((case.problem)(&bad.problem), "{}: {bad:?}", case.name);
                // Everything before the bad row verified; nothing after it was trusted.
                assert!(report.head.seq < seq, "{}: {report:?}", case.name);
                assert_eq!(report.rows_checked, report.head.seq as u64, "{}", case.name);
            }
            None => assert!(
                report.is_ok(),
                "{}: without an anchor this is undetectable, got {report:?}",
                case.name
            ),
        }

        let anchored = t.db.events().verify_against(&anchor).await.expect("verify");
        let bad = anchored
            .first_bad
            .as_ref()
            .unwrap_or_else(|| panic!("{}: not detected with anchor", case.name));
        assert_eq!(bad.seq, case.anchored_bad_seq, "{}: {bad:?}", case.name);
        assert_ne!(
            anchored.anchor,
            Some(AnchorStatus::Matched),
            "{}",
            case.name
        );
    }
}

#[tokio::test]
async fn truncation_and_rewrites_are_named_against_the_anchor() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    t.append_n(&log, ROWS).await;
    let anchor = t.db.events().chain_head().await.expect("head");
    let tamperer = t.tamperer().await;
    apply(&tamperer, Tamper::Sql("DELETE FROM events WHERE seq >= 9")).await;
    let report = t.db.events().verify_against(&anchor).await.expect("verify");
    let bad = report.first_bad.expect("detected");
    assert_eq!(bad.seq, 9);
    assert_eq!(
        bad.problem,
        Problem::Truncated {
            anchor_seq: 10,
            last_seq: 8
        }
    );
    assert_eq!(report.anchor, Some(AnchorStatus::Failed));

    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    t.append_n(&log, ROWS).await;
    let anchor = t.db.events().chain_head().await.expect("head");
    apply(&t.tamperer().await, Tamper::RewriteFrom(2)).await;
    let report = t.db.events().verify_against(&anchor).await.expect("verify");
    assert!(matches!(
        report.first_bad.expect("detected").problem,
        Problem::AnchorMismatch { .. }
    ));
}

#[tokio::test]
async fn an_intact_chain_matches_an_older_anchor() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    t.append_n(&log, 5).await;
    let old = t.db.events().chain_head().await.expect("head");
    t.append_n(&log, 5).await;
    let report = t.db.events().verify_against(&old).await.expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.anchor, Some(AnchorStatus::Matched));
    assert_eq!(report.rows_checked, 10);

    let empty = TestDb::new().await;
    let report = empty
        .db
        .events()
        .verify_against(&ChainHead::genesis())
        .await
        .expect("verify");
    assert!(report.is_ok());
    assert_eq!(report.anchor, Some(AnchorStatus::Matched));
}

#[tokio::test]
async fn verify_walks_more_rows_than_one_page() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    let mut tasks = Vec::new();
    for i in 0..2500 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append(stockade_storage::NewEvent::new(
                "egress",
                "a",
                None,
                json!(i),
            ))
            .await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("append");
    }
    let tamperer = t.tamperer().await;
    apply(
        &tamperer,
        Tamper::Sql("UPDATE events SET actor = 'b' WHERE seq = 2222"),
    )
    .await;
    let report = t.db.events().verify().await.expect("verify");
    assert_eq!(report.first_bad.expect("detected").seq, 2222);
    assert_eq!(report.rows_checked, 2221);
}
