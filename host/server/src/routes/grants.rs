//! `/v1/projects/{project}/grants/{bundle}/{tool}`: what one tool may touch in one project.
//! Directory paths are relative to the project root and must stay inside it; a grant must be
//! within what the bundle's manifest requests for that tool.

use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stockade_registry_types::{Access, LimitOverrides, MountPath};
use stockade_runtime::{DirGrant, ToolGrants};
use stockade_storage::Project;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::admin_event;

/// One granted directory.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirGrantSpec {
    /// Guest path the tool requests, e.g. `/project`.
    #[schema(value_type = String, example = "/project")]
    pub mount: MountPath,
    /// Directory relative to the project root (`.` for the root itself).
    #[serde(default = "dot")]
    pub path: String,
    /// `read` or `read-write`.
    #[schema(value_type = String, example = "read")]
    pub access: Access,
}

fn dot() -> String {
    ".".into()
}

/// `PUT` body and `GET` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Granted directories.
    #[serde(default)]
    pub dirs: Vec<DirGrantSpec>,
    /// Limit overrides for this tool in this project.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub limits: LimitOverrides,
}

impl GrantSpec {
    /// The grant as stored (JSON columns) in the database.
    pub(crate) fn from_stored(grant: stockade_storage::Grant) -> Result<Self, ApiError> {
        Ok(Self {
            dirs: serde_json::from_value(grant.dirs).map_err(ApiError::internal)?,
            limits: serde_json::from_value(grant.limits).map_err(ApiError::internal)?,
        })
    }
}

/// Resolves the stored grant against the project root into runtime grants.
pub(crate) fn resolve(project: &Project, spec: &GrantSpec) -> Result<ToolGrants, ApiError> {
    let root = PathBuf::from(&project.root);
    let mut grants = ToolGrants::none();
    for dir in &spec.dirs {
        let relative = FsPath::new(&dir.path);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(ApiError::bad_request(
                "invalid_grant",
                format!(
                    "grant path {:?} must be relative to the project root, without `..`",
                    dir.path
                ),
            ));
        }
        let grant = DirGrant::new(&root.join(relative), dir.mount.clone(), dir.access)
            .map_err(|err| ApiError::bad_request(err.code(), err.to_string()))?;
        // Symlinks inside the project must not lead a grant outside it.
        if !grant.host().starts_with(&root) {
            return Err(ApiError::bad_request(
                "invalid_grant",
                format!(
                    "grant path {:?} resolves outside the project root",
                    dir.path
                ),
            ));
        }
        grants = grants.with_dir(grant);
    }
    Ok(grants)
}

/// `PUT /v1/projects/{project}/grants/{bundle}/{tool}`.
#[utoipa::path(put, path = "/v1/projects/{project}/grants/{bundle}/{tool}", tag = "grants", params(("project" = String, Path, description = "Project name"), ("bundle" = String, Path), ("tool" = String, Path)), request_body = GrantSpec, responses((status = 200, body = GrantSpec), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Json<GrantSpec>, JsonRejection>,
) -> Result<(StatusCode, Json<GrantSpec>), ApiError> {
    let Path((project, bundle, tool)) = path?;
    let project = caller.project(&state, &project).await?;
    // Operators decide what runs and what it may touch; members call tools.
    caller.require_admin()?;
    let Json(spec) = body?;
    let installed = state.db.bundles().get(&project.id, &bundle).await?;
    let loaded = crate::routes::bundles::load(&state, &project.id, &installed).await?;
    let entry = loaded
        .tools()
        .get(&tool)
        .ok_or_else(|| ApiError::not_found(format!("bundle `{bundle}` has no tool `{tool}`")))?;
    let grants = resolve(&project, &spec)?;
    grants
        .check_within(&tool, &entry.spec, &entry.egress)
        .map_err(|err| ApiError::bad_request(err.code(), err.to_string()))?;
    let dirs = serde_json::to_value(&spec.dirs).map_err(ApiError::internal)?;
    let limits = serde_json::to_value(&spec.limits).map_err(ApiError::internal)?;
    state
        .db
        .grants()
        .put(&project.id, &bundle, &tool, &dirs, &limits)
        .await?;
    state.snapshots.invalidate(&project.name).await;
    state
        .record(admin_event(
            &caller,
            Some(&project.name),
            json!({ "action": "grant_put", "bundle": bundle, "tool": tool, "dirs": dirs, "limits": limits }),
        ))
        .await?;
    Ok((StatusCode::OK, Json(spec)))
}

/// `GET /v1/projects/{project}/grants/{bundle}/{tool}`.
#[utoipa::path(get, path = "/v1/projects/{project}/grants/{bundle}/{tool}", tag = "grants", params(("project" = String, Path, description = "Project name"), ("bundle" = String, Path), ("tool" = String, Path)), responses((status = 200, body = GrantSpec), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<GrantSpec>, ApiError> {
    let Path((project, bundle, tool)) = path?;
    let snapshot = caller.snapshot(&state, &project).await?;
    Ok(Json(snapshot.grant(&bundle, &tool)))
}
