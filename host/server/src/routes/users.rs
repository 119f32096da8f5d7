//! `/v1/users`, `/v1/tokens` and project membership: who may use the API.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stockade_storage::{Role, TokenInfo};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::{admin_event, check_name};

/// `POST /v1/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// `[a-z][a-z0-9-]*`.
    pub name: String,
    /// `admin` or `member` (default).
    #[serde(default)]
    pub role: Option<String>,
}

/// A user with a freshly issued token (shown once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedView {
    user: String,
    role: String,
    token_id: String,
    /// The API token. Only its hash is stored: this is the only time it is shown.
    token: String,
}

/// `POST /v1/users` (admins): creates a user and its first token.
#[utoipa::path(post, path = "/v1/users", tag = "users", request_body = CreateUser, responses((status = 201, body = IssuedView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Result<Json<CreateUser>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedView>), ApiError> {
    let Json(body) = body?;
    caller.require_admin()?;
    check_name("user", &body.name)?;
    let role: Role = body.role.as_deref().unwrap_or("member").parse().map_err(
        |err: stockade_storage::StorageError| {
            ApiError::bad_request("invalid_role", err.to_string())
        },
    )?;
    let user = state.db.users().create(&body.name, role).await?;
    let issued = state.db.tokens().create(&user.id, "initial").await?;
    state
        .record(admin_event(&caller, None, json!({ "action": "user_create", "user": user.name, "role": role.as_str(), "token_id": issued.info.id })))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedView {
            user: user.name,
            role: role.as_str().into(),
            token_id: issued.info.id,
            token: issued.plaintext,
        }),
    ))
}

/// `POST /v1/tokens` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// A label to recognise the token by.
    pub label: String,
    /// For admins: issue the token to this user instead of themselves.
    #[serde(default)]
    pub user: Option<String>,
}

/// `POST /v1/tokens`: a new token for the caller (or, for admins, any user).
#[utoipa::path(post, path = "/v1/tokens", tag = "users", request_body = CreateToken, responses((status = 201, body = IssuedView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> Result<(StatusCode, Json<IssuedView>), ApiError> {
    let Json(body) = body?;
    let user = match &body.user {
        Some(name) if name != &caller.user.name => {
            caller.require_admin()?;
            state.db.users().get_by_name(name).await?
        }
        _ => caller.user.clone(),
    };
    if body.label.is_empty() || body.label.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_label",
            "label must be 1 to 100 characters",
        ));
    }
    let issued = state.db.tokens().create(&user.id, &body.label).await?;
    state
        .record(admin_event(&caller, None, json!({ "action": "token_create", "user": user.name, "token_id": issued.info.id, "label": body.label })))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedView {
            user: user.name,
            role: user.role.as_str().into(),
            token_id: issued.info.id,
            token: issued.plaintext,
        }),
    ))
}

/// A token without its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    id: String,
    user_id: String,
    label: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            label: t.label,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// `GET /v1/tokens`: the caller's tokens (admins: all).
#[utoipa::path(get, path = "/v1/tokens", tag = "users", responses((status = 200, body = Vec<TokenView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn list_tokens(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let owner = (!caller.is_admin()).then_some(caller.user.id.as_str());
    let tokens = state.db.tokens().list(owner).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// `DELETE /v1/tokens/{id}`: revokes one of the caller's tokens (admins: any).
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "users", params(("id" = String, Path, description = "Token id")), responses((status = 204), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn revoke_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = path?;
    let owner = (!caller.is_admin()).then_some(caller.user.id.as_str());
    let visible = state
        .db
        .tokens()
        .list(owner)
        .await?
        .into_iter()
        .any(|t| t.id == id);
    if !visible {
        return Err(ApiError::not_found(format!("token `{id}` not found")));
    }
    state.db.tokens().revoke(&id).await?;
    state.snapshots.forget_tokens();
    state
        .record(admin_event(
            &caller,
            None,
            json!({ "action": "token_revoke", "token_id": id }),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/projects/{project}/members` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The user's name.
    pub user: String,
}

/// `POST /v1/projects/{project}/members` (admins).
#[utoipa::path(post, path = "/v1/projects/{project}/members", tag = "projects", params(("project" = String, Path, description = "Project name")), request_body = AddMember, responses((status = 204), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<AddMember>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    let Json(body) = body?;
    caller.require_admin()?;
    let user = state.db.users().get_by_name(&body.user).await?;
    state
        .db
        .projects()
        .add_member(&project.id, &user.id)
        .await?;
    state.snapshots.invalidate(&project.name).await;
    state
        .record(admin_event(
            &caller,
            Some(&project.name),
            json!({ "action": "member_add", "user": user.name }),
        ))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/projects/{project}/members`.
#[utoipa::path(get, path = "/v1/projects/{project}/members", tag = "projects", params(("project" = String, Path, description = "Project name")), responses((status = 200, body = Vec<String>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn list_members(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<String>>, ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    let mut names = Vec::new();
    for id in state.db.projects().members(&project.id).await? {
        names.push(state.db.users().get(&id).await?.name);
    }
    names.sort();
    Ok(Json(names))
}
