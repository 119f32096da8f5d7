//! `/v1/projects/{project}/workspaces`: hardened gVisor containers with the project directory
//! mounted at `/workspace` (see `stockade-workspace` for the hardening). Operators create,
//! exec in and destroy them; members list them; agents reach theirs through the
//! `workspace.shell` tool. Every create, exec and destroy is a `workspace` event (commands and
//! outcomes, never output).
//!
//! An exec answers NDJSON as the command runs: `{"stdout": "..."}` and `{"stderr": "..."}`
//! chunks in the order produced, then `{"exit": {"status", "exit_code", "duration_ms"}}` where
//! `status` is `exited`, `timed_out`, `oom_killed` or `workspace_died`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stockade_egress::EgressGrant;
use stockade_storage::Project;
use stockade_storage::events::NewEvent;
use stockade_workspace::{ExecEvent, ExecRequest, WorkspaceId, WorkspaceInfo};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::workspaces::{CreateOptions, workspace_error};

/// Event kind of workspace lifecycle events.
pub const WORKSPACE_EVENT: &str = "workspace";

/// `POST /v1/projects/{project}/workspaces` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspace {
    /// Image profile (from `[workspaces.images]`); the configured default when absent.
    #[serde(default)]
    pub image: Option<String>,
    /// Memory limit in MiB, at most the configured one.
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// `pids.max`, at most the configured one (gVisor's own threads count too).
    #[serde(default)]
    pub pids: Option<u64>,
    /// Egress rules the workspace may reach through the host-side proxy (`https://host`,
    /// `http://10.0.0.0/8:8080`, ...). Empty: no network at all.
    #[serde(default)]
    pub egress: Vec<String>,
}

/// A workspace as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    id: String,
    owner: String,
    running: bool,
}

fn view(info: &WorkspaceInfo) -> WorkspaceView {
    WorkspaceView {
        id: info.id.0.clone(),
        owner: info.owner.clone(),
        running: info.running,
    }
}

/// `POST /v1/projects/{project}/workspaces/{id}/exec` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecWorkspace {
    /// The program and its arguments; no shell unless you run one (`["sh", "-c", "..."]`).
    pub argv: Vec<String>,
    /// Working directory inside the workspace (default `/workspace`).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Text written to the command's stdin, which is then closed.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Kill the command (and its process group) after this long; at most the configured
    /// `exec_timeout_secs`, which is also the default.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

pub(crate) fn workspace_event(caller_actor: String, project: &Project, payload: Value) -> NewEvent {
    NewEvent::new(
        WORKSPACE_EVENT,
        caller_actor,
        Some(project.name.clone()),
        payload,
    )
}

/// The project's workspaces (of this server instance).
async fn project_workspaces(
    state: &AppState,
    project: &Project,
) -> Result<Vec<WorkspaceInfo>, ApiError> {
    let manager = state.workspaces.manager()?;
    let mut all = manager.list().await.map_err(workspace_error)?;
    all.retain(|info| info.project == project.id);
    Ok(all)
}

/// The workspace `id` if it belongs to `project`; anything else is `workspace_not_found`.
pub(crate) async fn owned(
    state: &AppState,
    project: &Project,
    id: &str,
) -> Result<WorkspaceId, ApiError> {
    project_workspaces(state, project)
        .await?
        .into_iter()
        .find(|info| info.id.0 == id)
        .map(|info| info.id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "workspace_not_found",
                format!("project `{}` has no workspace {id}", project.name),
            )
        })
}

/// `POST /v1/projects/{project}/workspaces`.
#[utoipa::path(post, path = "/v1/projects/{project}/workspaces", tag = "workspaces", params(("project" = String, Path, description = "Project name")), request_body = CreateWorkspace, responses((status = 201, body = WorkspaceView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = "5XX", body = crate::error::ErrorDoc)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<CreateWorkspace>, JsonRejection>,
) -> Result<(StatusCode, Json<WorkspaceView>), ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    caller.require_admin()?;
    let Json(body) = body?;
    let manager = state.workspaces.manager()?;
    let egress = EgressGrant::parse(&body.egress)
        .map_err(|err| ApiError::bad_request("invalid_egress", err.to_string()))?;
    let options = CreateOptions {
        image: body.image.clone(),
        memory_mib: body.memory_mib,
        pids: body.pids,
        egress: Some(egress),
    };
    let owner = caller.actor();
    let spec = state.workspaces.spec(
        &owner,
        &project.id,
        std::path::Path::new(&project.root),
        options,
    )?;
    let started = std::time::Instant::now();
    let result = manager.create(&spec).await;
    let outcome = match &result {
        Ok(id) => json!({ "ok": true, "id": id.0 }),
        Err(err) => json!({ "ok": false, "code": err.code() }),
    };
    state
        .record(workspace_event(
            caller.actor(),
            &project,
            json!({ "action": "create", "image": spec.image.reference, "egress": body.egress,
                    "memory_bytes": spec.limits.memory_bytes, "pids": spec.limits.pids,
                    "duration_ms": started.elapsed().as_secs_f64() * 1e3, "outcome": outcome }),
        ))
        .await?;
    let id = result.map_err(workspace_error)?;
    Ok((
        StatusCode::CREATED,
        Json(WorkspaceView {
            id: id.0,
            owner,
            running: true,
        }),
    ))
}

/// `GET /v1/projects/{project}/workspaces`.
#[utoipa::path(get, path = "/v1/projects/{project}/workspaces", tag = "workspaces", params(("project" = String, Path, description = "Project name")), responses((status = 200, body = Vec<WorkspaceView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = "5XX", body = crate::error::ErrorDoc)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<WorkspaceView>>, ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    // Without a daemon there are no workspaces to show.
    if !state.workspaces.available() {
        return Ok(Json(Vec::new()));
    }
    let all = project_workspaces(&state, &project).await?;
    Ok(Json(all.iter().map(view).collect()))
}

/// `DELETE /v1/projects/{project}/workspaces/{id}`.
#[utoipa::path(delete, path = "/v1/projects/{project}/workspaces/{id}", tag = "workspaces", params(("project" = String, Path, description = "Project name"), ("id" = String, Path)), responses((status = 204), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = "5XX", body = crate::error::ErrorDoc)))]
pub async fn destroy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((project, id)) = path?;
    let project = caller.project(&state, &project).await?;
    caller.require_admin()?;
    let id = owned(&state, &project, &id).await?;
    state
        .workspaces
        .manager()?
        .destroy(&id)
        .await
        .map_err(workspace_error)?;
    state
        .record(workspace_event(
            caller.actor(),
            &project,
            json!({ "action": "destroy", "id": id.0 }),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/projects/{project}/workspaces/{id}/exec`: NDJSON as the command runs.
#[utoipa::path(post, path = "/v1/projects/{project}/workspaces/{id}/exec", tag = "workspaces", params(("project" = String, Path, description = "Project name"), ("id" = String, Path)), request_body = ExecWorkspace, responses((status = 200, description = "NDJSON: stdout/stderr chunks, then exit", content_type = "application/x-ndjson"), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = "5XX", body = crate::error::ErrorDoc)))]
pub async fn exec(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<ExecWorkspace>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path((project, id)) = path?;
    let project = caller.project(&state, &project).await?;
    caller.require_admin()?;
    let Json(body) = body?;
    let id = owned(&state, &project, &id).await?;
    let request = exec_request(
        &state,
        body.argv,
        body.cwd,
        body.env,
        body.stdin,
        body.timeout_ms,
    )?;
    let argv = request.argv.clone();
    let mut execution = state
        .workspaces
        .manager()?
        .exec(&id, request)
        .await
        .map_err(workspace_error)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let actor = caller.actor();
    tokio::spawn(async move {
        let line = |value: Value| {
            let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
            bytes.push(b'\n');
            bytes
        };
        let (mut out_bytes, mut err_bytes) = (0usize, 0usize);
        let mut exit = json!({ "status": "workspace_died", "exit_code": null });
        while let Some(event) = execution.events.recv().await {
            let value = match event {
                ExecEvent::Stdout(bytes) => {
                    out_bytes += bytes.len();
                    json!({ "stdout": String::from_utf8_lossy(&bytes) })
                }
                ExecEvent::Stderr(bytes) => {
                    err_bytes += bytes.len();
                    json!({ "stderr": String::from_utf8_lossy(&bytes) })
                }
                ExecEvent::Finished(outcome) => {
                    exit = json!({ "status": outcome.status.code(), "exit_code": outcome.exit_code,
                                   "duration_ms": outcome.duration.as_secs_f64() * 1e3 });
                    break;
                }
            };
            // A client that went away does not stop the command (its timeout does).
            let _ = tx.send(line(value)).await;
        }
        let recorded = state
            .record(workspace_event(
                actor,
                &project,
                json!({ "action": "exec", "id": id.0, "argv": argv, "exit": exit,
                        "stdout_bytes": out_bytes, "stderr_bytes": err_bytes }),
            ))
            .await;
        if let Err(err) = recorded {
            tracing::error!(code = err.code(), "workspace exec event not recorded");
        }
        let _ = tx.send(line(json!({ "exit": exit }))).await;
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let line = rx.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(line), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(lines))
        .map_err(ApiError::internal)
}

/// An exec request within the server's caps.
pub(crate) fn exec_request(
    state: &AppState,
    argv: Vec<String>,
    cwd: Option<String>,
    env: std::collections::BTreeMap<String, String>,
    stdin: Option<String>,
    timeout_ms: Option<u64>,
) -> Result<ExecRequest, ApiError> {
    if argv.is_empty() || argv[0].is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "argv must name a program",
        ));
    }
    let cap = state.workspaces.exec_timeout();
    let timeout = match timeout_ms {
        Some(0) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "timeout_ms must be positive",
            ));
        }
        Some(ms) => Duration::from_millis(ms).min(cap),
        None => cap,
    };
    let mut request = ExecRequest::new(argv).timeout(timeout);
    request.cwd = cwd;
    request.env = env.into_iter().collect();
    if let Some(stdin) = stdin {
        request = request.stdin(stdin.into_bytes());
    }
    Ok(request)
}
