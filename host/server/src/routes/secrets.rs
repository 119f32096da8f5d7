//! `/v1/secrets` (global) and `/v1/projects/{project}/secrets` (per project): set, list, delete.
//! Values go in and never come out: the API lists names and metadata only; tools get a value
//! only through host-side injection into a granted request (`grants.rs`, `secrets` field).
//!
//! Every set and delete is an admin event naming the scope and the secret, never the value.
//! With no or the wrong master key the store is sealed: these routes answer 503 `sealed` with
//! the fix in the message, and nothing is written.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stockade_policy::MIN_SECRET_LEN;
use stockade_secrets::{Scope, SecretError, SecretMeta, SecretValue};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::admin_event;

/// `PUT` body.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    /// The value (UTF-8 text, 8 bytes to 64 KiB). Never returned by any route.
    pub value: String,
}

impl std::fmt::Debug for SetSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SetSecret { value: <redacted> }")
    }
}

/// A secret's name and metadata.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    name: String,
    scope: String,
    key_version: i64,
    created_at: i64,
    updated_at: i64,
}

impl SecretView {
    fn new(meta: SecretMeta, scope: &str) -> Self {
        Self {
            name: meta.name,
            scope: scope.to_owned(),
            key_version: meta.key_version,
            created_at: meta.created_at,
            updated_at: meta.updated_at,
        }
    }
}

/// The HTTP form of a store error.
pub(crate) fn secret_error(err: SecretError) -> ApiError {
    let status = match err.code() {
        "sealed" | "key_rotated" => StatusCode::SERVICE_UNAVAILABLE,
        "secret_not_found" => StatusCode::NOT_FOUND,
        "invalid_input" => StatusCode::BAD_REQUEST,
        _ => return ApiError::internal(err),
    };
    ApiError::new(status, err.code(), err.to_string())
}

/// The scope a request names: global, or a project the caller may see (admins only write).
async fn scope(
    state: &AppState,
    caller: &Caller,
    project: Option<&str>,
) -> Result<(Scope, Option<String>), ApiError> {
    match project {
        None => Ok((Scope::global(), None)),
        Some(name) => {
            let project = caller.project(state, name).await?;
            let scope = Scope::project(&project.id).map_err(secret_error)?;
            Ok((scope, Some(project.name)))
        }
    }
}

async fn set(
    state: &AppState,
    caller: &Caller,
    project: Option<&str>,
    name: &str,
    body: SetSecret,
) -> Result<(StatusCode, Json<SecretView>), ApiError> {
    let (scope, project) = scope(state, caller, project).await?;
    caller.require_admin()?;
    if body.value.trim().len() < MIN_SECRET_LEN {
        // Shorter values would redact ordinary words from every tool output.
        return Err(ApiError::bad_request(
            "secret_too_short",
            format!("a secret value must be at least {MIN_SECRET_LEN} bytes"),
        ));
    }
    let outcome = state
        .secrets
        .set(&scope, name, SecretValue::from(body.value))
        .await
        .map_err(secret_error)?;
    state.refresh_redactor().await;
    state
        .record(admin_event(
            caller,
            project.as_deref(),
            json!({ "action": "secret_set", "scope": scope.as_str(), "name": name,
                    "replaced": outcome.replaced, "key_version": outcome.secret.key_version }),
        ))
        .await?;
    let status = if outcome.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(SecretView::new(outcome.secret, scope.as_str())),
    ))
}

async fn list(
    state: &AppState,
    caller: &Caller,
    project: Option<&str>,
) -> Result<Json<Vec<SecretView>>, ApiError> {
    let (scope, _) = scope(state, caller, project).await?;
    caller.require_admin()?;
    let metas = state.secrets.list(&scope).await.map_err(secret_error)?;
    Ok(Json(
        metas
            .into_iter()
            .map(|m| SecretView::new(m, scope.as_str()))
            .collect(),
    ))
}

async fn delete(
    state: &AppState,
    caller: &Caller,
    project: Option<&str>,
    name: &str,
) -> Result<StatusCode, ApiError> {
    let (scope, project) = scope(state, caller, project).await?;
    caller.require_admin()?;
    state
        .secrets
        .delete(&scope, name)
        .await
        .map_err(secret_error)?;
    state.refresh_redactor().await;
    state
        .record(admin_event(
            caller,
            project.as_deref(),
            json!({ "action": "secret_delete", "scope": scope.as_str(), "name": name }),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v1/secrets/{name}`: sets a global secret (admins).
#[utoipa::path(put, path = "/v1/secrets/{name}", tag = "secrets", params(("name" = String, Path, description = "`[A-Za-z0-9_.-]{1,128}`")), request_body = SetSecret, responses((status = 201, body = SecretView), (status = 200, body = SecretView, description = "Replaced"), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = 503, description = "`sealed`: no or wrong master key", body = crate::error::ErrorDoc)))]
pub async fn set_global(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<SetSecret>, JsonRejection>,
) -> Result<(StatusCode, Json<SecretView>), ApiError> {
    let Path(name) = path?;
    let Json(body) = body?;
    set(&state, &caller, None, &name, body).await
}

/// `GET /v1/secrets`: global secrets' names and metadata (admins).
#[utoipa::path(get, path = "/v1/secrets", tag = "secrets", responses((status = 200, body = Vec<SecretView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = 503, description = "`sealed`", body = crate::error::ErrorDoc)))]
pub async fn list_global(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<SecretView>>, ApiError> {
    list(&state, &caller, None).await
}

/// `DELETE /v1/secrets/{name}` (admins).
#[utoipa::path(delete, path = "/v1/secrets/{name}", tag = "secrets", params(("name" = String, Path)), responses((status = 204), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = 503, description = "`sealed`", body = crate::error::ErrorDoc)))]
pub async fn delete_global(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(name) = path?;
    delete(&state, &caller, None, &name).await
}

/// `PUT /v1/projects/{project}/secrets/{name}`: sets a project secret (admins).
#[utoipa::path(put, path = "/v1/projects/{project}/secrets/{name}", tag = "secrets", params(("project" = String, Path, description = "Project name"), ("name" = String, Path)), request_body = SetSecret, responses((status = 201, body = SecretView), (status = 200, body = SecretView, description = "Replaced"), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = 503, description = "`sealed`", body = crate::error::ErrorDoc)))]
pub async fn set_project(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Json<SetSecret>, JsonRejection>,
) -> Result<(StatusCode, Json<SecretView>), ApiError> {
    let Path((project, name)) = path?;
    let Json(body) = body?;
    set(&state, &caller, Some(&project), &name, body).await
}

/// `GET /v1/projects/{project}/secrets` (admins).
#[utoipa::path(get, path = "/v1/projects/{project}/secrets", tag = "secrets", params(("project" = String, Path, description = "Project name")), responses((status = 200, body = Vec<SecretView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = 503, description = "`sealed`", body = crate::error::ErrorDoc)))]
pub async fn list_project(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<SecretView>>, ApiError> {
    let Path(project) = path?;
    list(&state, &caller, Some(&project)).await
}

/// `DELETE /v1/projects/{project}/secrets/{name}` (admins).
#[utoipa::path(delete, path = "/v1/projects/{project}/secrets/{name}", tag = "secrets", params(("project" = String, Path, description = "Project name"), ("name" = String, Path)), responses((status = 204), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = 503, description = "`sealed`", body = crate::error::ErrorDoc)))]
pub async fn delete_project(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path((project, name)) = path?;
    delete(&state, &caller, Some(&project), &name).await
}
