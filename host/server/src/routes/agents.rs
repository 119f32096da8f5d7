//! `/v1/projects/{project}/agents`: agent profiles with tool allowlists.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stockade_policy::AgentProfile;
use stockade_storage::{Agent, AgentSpec};

use crate::app::AppState;
use crate::auth::Caller;
use crate::config::Mode;
use crate::error::ApiError;
use crate::routes::{admin_event, check_name};

/// `POST /v1/projects/{project}/agents` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// `[a-z][a-z0-9-]*`.
    pub name: String,
    /// The agent's tool allowlist.
    #[schema(value_type = Object, example = json!({"allow": ["fs.read_*"], "deny": [], "read_only": false}))]
    pub tools: AgentProfile,
}

/// An agent as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentView {
    name: String,
    allow: Vec<String>,
    deny: Vec<String>,
    read_only: bool,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        Self {
            name: a.name,
            allow: a.allow,
            deny: a.deny,
            read_only: a.read_only,
        }
    }
}

/// The policy crate's mode for the server's mode.
pub(crate) fn policy_mode(mode: Mode) -> stockade_policy::Mode {
    match mode {
        Mode::Production => stockade_policy::Mode::Production,
        Mode::Development => stockade_policy::Mode::Development,
    }
}

/// `POST /v1/projects/{project}/agents`.
#[utoipa::path(post, path = "/v1/projects/{project}/agents", tag = "agents", params(("project" = String, Path, description = "Project name")), request_body = CreateAgent, responses((status = 201, body = AgentView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<CreateAgent>, JsonRejection>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    // Operators decide what runs and what it may touch; members call tools.
    caller.require_admin()?;
    let Json(body) = body?;
    check_name("agent", &body.name)?;
    body.tools
        .validate(policy_mode(state.config.mode))
        .map_err(|err| ApiError::bad_request(err.code(), err.to_string()))?;
    let spec = AgentSpec {
        allow: body.tools.allow.clone(),
        deny: body.tools.deny.clone(),
        read_only: body.tools.read_only,
    };
    let agent = state
        .db
        .agents()
        .create(&project.id, &body.name, &spec)
        .await?;
    state.snapshots.invalidate(&project.name).await;
    state
        .record(admin_event(
            &caller,
            Some(&project.name),
            json!({ "action": "agent_create", "agent": agent.name, "allow": agent.allow, "deny": agent.deny, "read_only": agent.read_only }),
        ))
        .await?;
    Ok((StatusCode::CREATED, Json(agent.into())))
}

/// `GET /v1/projects/{project}/agents`.
#[utoipa::path(get, path = "/v1/projects/{project}/agents", tag = "agents", params(("project" = String, Path, description = "Project name")), responses((status = 200, body = Vec<AgentView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<AgentView>>, ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    let agents = state.db.agents().list(&project.id).await?;
    Ok(Json(agents.into_iter().map(AgentView::from).collect()))
}
