//! Reading events for `GET /v1/events`: filtered, ascending by `seq`, paged by `seq`.

use serde::Serialize;
use sqlx::{QueryBuilder, Sqlite};

use super::{Event, Events, event_columns};
use crate::error::Result;

/// Page size when the caller gives none.
pub const DEFAULT_QUERY_LIMIT: u32 = 100;
/// Largest page; bigger requests are clamped to it.
pub const MAX_QUERY_LIMIT: u32 = 1000;

/// Which projects' events the caller may see. Decided by the server from the caller's role and
/// memberships; this layer only applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// Every event, including those without a project (admins).
    All,
    /// Only events of these projects; events without a project are excluded (members).
    Only(Vec<String>),
}

/// Filters for [`Events::query`]. All given filters must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// Visibility; required so no caller forgets it.
    pub scope: ProjectScope,
    /// Narrow to one project (intersected with `scope`).
    pub project: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only events after this seq (the paging cursor).
    pub after_seq: Option<i64>,
    /// Only events at or after this unix-millis time.
    pub since_ts: Option<i64>,
    /// Page size: default [`DEFAULT_QUERY_LIMIT`], clamped to 1..=[`MAX_QUERY_LIMIT`].
    pub limit: Option<u32>,
}

impl EventQuery {
    /// A query with only the visibility set.
    pub fn new(scope: ProjectScope) -> Self {
        Self {
            scope,
            project: None,
            kind: None,
            after_seq: None,
            since_ts: None,
            limit: None,
        }
    }
}

/// One page of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventPage {
    /// Ascending by `seq`.
    pub events: Vec<Event>,
    /// Pass as `after_seq` to get the next page; `None` when this page was the last.
    pub next_after_seq: Option<i64>,
}

impl Events<'_> {
    /// The events matching `query`, ascending by `seq`.
    pub async fn query(&self, query: &EventQuery) -> Result<EventPage> {
        let limit = query
            .limit
            .unwrap_or(DEFAULT_QUERY_LIMIT)
            .clamp(1, MAX_QUERY_LIMIT);
        let mut sql =
            QueryBuilder::<Sqlite>::new(concat!("SELECT ", event_columns!(), " FROM events"));
        let mut clause = " WHERE ";
        let mut and = |sql: &mut QueryBuilder<Sqlite>| {
            sql.push(clause);
            clause = " AND ";
        };
        if let ProjectScope::Only(projects) = &query.scope {
            if projects.is_empty() {
                return Ok(EventPage {
                    events: Vec::new(),
                    next_after_seq: None,
                });
            }
            and(&mut sql);
            sql.push("project IN (");
            let mut list = sql.separated(", ");
            for project in projects {
                list.push_bind(project.clone());
            }
            sql.push(")");
        }
        if let Some(project) = &query.project {
            and(&mut sql);
            sql.push("project = ").push_bind(project.clone());
        }
        if let Some(kind) = &query.kind {
            and(&mut sql);
            sql.push("kind = ").push_bind(kind.clone());
        }
        if let Some(after) = query.after_seq {
            and(&mut sql);
            sql.push("seq > ").push_bind(after);
        }
        if let Some(since) = query.since_ts {
            and(&mut sql);
            sql.push("ts >= ").push_bind(since);
        }
        // One extra row tells whether another page exists without a COUNT.
        sql.push(" ORDER BY seq LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = sql.build().fetch_all(self.db.pool()).await?;
        let mut events = rows
            .iter()
            .map(Event::from_row)
            .collect::<Result<Vec<_>>>()?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_after_seq = if more {
            events.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(EventPage {
            events,
            next_after_seq,
        })
    }
}
