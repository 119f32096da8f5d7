//! `/v1/projects`: create (admins), list (what the caller may see), get.

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stockade_registry_types::Access;
use stockade_runtime::DirGrant;
use stockade_storage::Project;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::{admin_event, check_name};

/// `POST /v1/projects` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// `[a-z][a-z0-9-]*`.
    pub name: String,
    /// Absolute path of an existing directory that is not a system path.
    pub root: String,
}

/// A project as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    name: String,
    root: String,
    created_at: i64,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        Self {
            name: p.name,
            root: p.root,
            created_at: p.created_at,
        }
    }
}

/// `POST /v1/projects`.
#[utoipa::path(post, path = "/v1/projects", tag = "projects", request_body = CreateProject, responses((status = 201, body = ProjectView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Result<Json<CreateProject>, JsonRejection>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let Json(body) = body?;
    caller.require_admin()?;
    check_name("project", &body.name)?;
    if !FsPath::new(&body.root).is_absolute() {
        return Err(ApiError::bad_request(
            "invalid_root",
            "root must be an absolute path",
        ));
    }
    // The same checks as a directory grant: exists, is a directory, not a system path.
    let root = DirGrant::new(
        FsPath::new(&body.root),
        "/project".parse().map_err(ApiError::internal)?,
        Access::Read,
    )
    .map_err(|err| ApiError::bad_request("invalid_root", err.to_string()))?;
    let root = root.host().to_string_lossy().into_owned();
    let project = state
        .db
        .projects()
        .create(&body.name, &root, Some(&caller.user.id))
        .await?;
    state
        .record(admin_event(
            &caller,
            Some(&project.name),
            json!({ "action": "project_create", "root": root }),
        ))
        .await?;
    Ok((StatusCode::CREATED, Json(project.into())))
}

/// `GET /v1/projects`: admins see all, members their own.
#[utoipa::path(get, path = "/v1/projects", tag = "projects", responses((status = 200, body = Vec<ProjectView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<ProjectView>>, ApiError> {
    let projects = if caller.is_admin() {
        state.db.projects().list().await?
    } else {
        state.db.projects().list_for_user(&caller.user.id).await?
    };
    Ok(Json(projects.into_iter().map(ProjectView::from).collect()))
}

/// `GET /v1/projects/{project}`.
#[utoipa::path(get, path = "/v1/projects/{project}", tag = "projects", params(("project" = String, Path, description = "Project name")), responses((status = 200, body = ProjectView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ProjectView>, ApiError> {
    let Path(name) = path?;
    Ok(Json(caller.project(&state, &name).await?.into()))
}
