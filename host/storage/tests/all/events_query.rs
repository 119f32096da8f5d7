//! `GET /v1/events` semantics: visibility, filters, paging.

use serde_json::json;
use stockade_storage::events::MAX_QUERY_LIMIT;
use stockade_storage::{EventQuery, NewEvent, ProjectScope};

use crate::harness::TestDb;

async fn seeded() -> TestDb {
    let t = TestDb::new().await;
    let (log, writer) = t.event_log().await;
    let rows = [
        ("tool_call", Some("alpha")),
        ("tool_call", Some("beta")),
        ("auth_failure", None),
        ("admin", Some("alpha")),
        ("tool_call", Some("alpha")),
        ("admin", None),
    ];
    for (kind, project) in rows {
        log.append(NewEvent::new(
            kind,
            "usr_a",
            project.map(str::to_owned),
            json!({}),
        ))
        .await
        .expect("append");
    }
    writer.shutdown().await.expect("shutdown");
    t
}

fn seqs(page: &stockade_storage::EventPage) -> Vec<i64> {
    page.events.iter().map(|e| e.seq).collect()
}

#[tokio::test]
async fn members_see_only_their_projects_admins_see_all() {
    let t = seeded().await;
    let events = t.db.events();
    let member = EventQuery::new(ProjectScope::Only(vec!["alpha".into()]));
    assert_eq!(seqs(&events.query(&member).await.expect("q")), [1, 4, 5]);

    let admin = EventQuery::new(ProjectScope::All);
    assert_eq!(
        seqs(&events.query(&admin).await.expect("q")),
        [1, 2, 3, 4, 5, 6]
    );

    let nobody = EventQuery::new(ProjectScope::Only(vec![]));
    assert!(events.query(&nobody).await.expect("q").events.is_empty());

    // A project filter never widens the scope.
    let sneaky = EventQuery {
        project: Some("beta".into()),
        ..EventQuery::new(ProjectScope::Only(vec!["alpha".into()]))
    };
    assert!(events.query(&sneaky).await.expect("q").events.is_empty());
}

#[tokio::test]
async fn filters_combine() {
    let t = seeded().await;
    let events = t.db.events();
    let by_kind = EventQuery {
        kind: Some("tool_call".into()),
        ..EventQuery::new(ProjectScope::All)
    };
    assert_eq!(seqs(&events.query(&by_kind).await.expect("q")), [1, 2, 5]);

    let after = EventQuery {
        after_seq: Some(3),
        kind: Some("admin".into()),
        ..EventQuery::new(ProjectScope::All)
    };
    assert_eq!(seqs(&events.query(&after).await.expect("q")), [4, 6]);

    let future = EventQuery {
        since_ts: Some(i64::MAX),
        ..EventQuery::new(ProjectScope::All)
    };
    assert!(events.query(&future).await.expect("q").events.is_empty());
    let past = EventQuery {
        since_ts: Some(0),
        ..EventQuery::new(ProjectScope::All)
    };
    assert_eq!(events.query(&past).await.expect("q").events.len(), 6);
}

#[tokio::test]
async fn paging_by_seq_visits_every_event_once() {
    let t = seeded().await;
    let events = t.db.events();
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let q = EventQuery {
            after_seq: cursor,
            limit: Some(4),
            ..EventQuery::new(ProjectScope::All)
        };
        let page = events.query(&q).await.expect("q");
        assert!(page.events.len() <= 4);
        seen.extend(seqs(&page));
        match page.next_after_seq {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn limits_are_clamped() {
    let t = TestDb::new().await;
    let (log, _writer) = t.event_log().await;
    let mut tasks = Vec::new();
    for i in 0..(MAX_QUERY_LIMIT + 5) {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append(NewEvent::new("egress", "a", None, json!(i)))
                .await
        }));
    }
    for task in tasks {
        task.await.expect("join").expect("append");
    }
    let huge = EventQuery {
        limit: Some(u32::MAX),
        ..EventQuery::new(ProjectScope::All)
    };
    let page = t.db.events().query(&huge).await.expect("q");
    assert_eq!(page.events.len(), MAX_QUERY_LIMIT as usize);
    assert_eq!(page.next_after_seq, Some(i64::from(MAX_QUERY_LIMIT)));
    let zero = EventQuery {
        limit: Some(0),
        ..EventQuery::new(ProjectScope::All)
    };
    assert_eq!(t.db.events().query(&zero).await.expect("q").events.len(), 1);
}
