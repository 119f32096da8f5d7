//! `GET /v1/events`: the event log, filtered to what the caller may see.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stockade_storage::events::{EventQuery, ProjectScope};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// Query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this project (by name).
    pub project: Option<String>,
    /// Only this kind (`tool_call`, `auth_failure`, `admin`, ...).
    pub kind: Option<String>,
    /// Paging cursor: events after this sequence number.
    pub after_seq: Option<i64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// One event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    seq: i64,
    ts: i64,
    kind: String,
    actor: String,
    project: Option<String>,
    #[schema(value_type = Object)]
    payload: Value,
    hash: String,
}

/// A page of events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsPage {
    events: Vec<EventView>,
    next_after_seq: Option<i64>,
}

/// `GET /v1/events`: members see their projects' events, admins everything.
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventsQuery), responses((status = 200, body = EventsPage), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
    let Query(query) = query?;
    let scope = if caller.is_admin() {
        ProjectScope::All
    } else {
        let projects = state.db.projects().list_for_user(&caller.user.id).await?;
        ProjectScope::Only(projects.into_iter().map(|p| p.name).collect())
    };
    let page = state
        .db
        .events()
        .query(&EventQuery {
            scope,
            project: query.project,
            kind: query.kind,
            after_seq: query.after_seq,
            since_ts: None,
            limit: query.limit,
        })
        .await?;
    Ok(Json(EventsPage {
        events: page
            .events
            .into_iter()
            .map(|e| EventView {
                payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
                seq: e.seq,
                ts: e.ts,
                kind: e.kind,
                actor: e.actor,
                project: e.project,
                hash: e.hash,
            })
            .collect(),
        next_after_seq: page.next_after_seq,
    }))
}
