//! A call is answered only after its event is durable: SIGKILL the server during a burst of
//! calls, then read the database it left behind.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stockade_storage::Database;
use stockade_storage::events::{EventQuery, MAX_QUERY_LIMIT, ProjectScope};

use crate::api::Fixture;
use crate::server::try_request;

const THREADS: usize = 4;
/// Answered calls to wait for before the kill, so the burst is well under way.
const ANSWERED_BEFORE_KILL: usize = 200;

#[test]
fn sigkill_during_a_burst_loses_no_event_for_an_answered_call() {
    let mut fx = Fixture::new();
    for i in 0..THREADS {
        std::fs::write(fx.a.path(&format!("t{i}.txt")), format!("thread {i}")).unwrap();
    }
    let addr = fx.server.addr;
    let auth = format!("Bearer {}", fx.server.admin_token());
    let answered: Arc<Mutex<Vec<i64>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));

    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (auth, answered, count) = (auth.clone(), answered.clone(), count.clone());
            std::thread::spawn(move || {
                let body = json!({ "agent": "reader", "tool": "fs.read_file",
                                   "input": { "path": format!("t{i}.txt") } })
                .to_string();
                // Calls until the server is gone: a refused connection or a cut-off answer.
                loop {
                    let Ok(response) = try_request(
                        addr,
                        "POST",
                        "/v1/projects/a/tool-calls",
                        &[("Authorization", &auth)],
                        Some(&body),
                    ) else {
                        return;
                    };
                    // Only a complete 200 with its seq counts as answered.
                    match (
                        response.status,
                        serde_json::from_str::<Value>(&response.body),
                    ) {
                        (200, Ok(value)) => {
                            assert_eq!(value["output"]["content"], format!("thread {i}"));
                            let seq = value["event_seq"].as_i64().unwrap();
                            answered.lock().unwrap().push(seq);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        (0 | 200, _) => return,
                        (status, _) => panic!("unexpected answer {status}: {}", response.body),
                    }
                }
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(120);
    while count.load(Ordering::SeqCst) < ANSWERED_BEFORE_KILL {
        assert!(Instant::now() < deadline, "the burst is too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = fx.server.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = fx.server.child.wait().unwrap();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(
        status.signal(),
        Some(9),
        "the server was killed, not stopped"
    );
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= ANSWERED_BEFORE_KILL);

    // Reopen the database the killed server left behind.
    let db_path = fx.server.data.path().join("stockade.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (stored, report) = runtime.block_on(async {
        let db = Database::open(db_path.to_str().unwrap()).await.unwrap();
        let mut stored = BTreeMap::new();
        let mut query = EventQuery::new(ProjectScope::All);
        query.limit = Some(MAX_QUERY_LIMIT);
        loop {
            let page = db.events().query(&query).await.unwrap();
            for event in page.events {
                stored.insert(event.seq, event);
            }
            match page.next_after_seq {
                Some(next) => query.after_seq = Some(next),
                None => break,
            }
        }
        let report = db.events().verify().await.unwrap();
        db.close().await;
        (stored, report)
    });

    let mut missing = Vec::new();
    for seq in &answered {
        match stored.get(seq) {
            Some(event) => {
                assert_eq!(event.kind, "tool_call", "seq {seq}: {event:?}");
                assert_eq!(event.actor, "agent:a/reader", "seq {seq}");
                let payload: Value = serde_json::from_str(&event.payload).unwrap();
                assert_eq!(payload["tool"], "fs.read_file", "seq {seq}");
                assert_eq!(payload["outcome"]["ok"], true, "seq {seq}");
            }
            None => missing.push(*seq),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} answered calls have no event after SIGKILL: {missing:?}",
        missing.len(),
        answered.len()
    );
    let mut seqs = answered.clone();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), answered.len(), "two answers share a seq");
    assert!(report.is_ok(), "the chain does not verify: {report:?}");
    assert_eq!(report.head.seq, *stored.keys().last().unwrap());
}
