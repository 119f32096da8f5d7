//! Authentication: `Authorization: Bearer <api token>` → the calling user. Failures are
//! events, and a non-member asking about a project gets exactly the answer for a project that
//! does not exist.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde_json::json;
use stockade_storage::events::{NewEvent, kinds};
use stockade_storage::{Project, Role, User};

use crate::app::AppState;
use crate::error::ApiError;
use crate::snapshot::ProjectSnapshot;

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
}

impl Caller {
    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// The event actor string.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.name)
    }

    /// Refuses non-admins.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_required",
                "this operation needs an admin token",
            ))
        }
    }

    /// The project named `name`, if it exists and the caller is a member (or an admin);
    /// otherwise `404 not_found`, the same answer either way.
    pub async fn project(&self, state: &AppState, name: &str) -> Result<Project, ApiError> {
        Ok(self.snapshot(state, name).await?.project.clone())
    }

    /// Like [`Caller::project`], with the project's cached members, agents, bundles and grants.
    pub async fn snapshot(
        &self,
        state: &AppState,
        name: &str,
    ) -> Result<Arc<ProjectSnapshot>, ApiError> {
        let missing = || ApiError::not_found(format!("project `{name}` not found"));
        let snapshot = state
            .snapshots
            .project(&state.db, name)
            .await?
            .ok_or_else(missing)?;
        if self.is_admin() || snapshot.members.contains(&self.user.id) {
            Ok(snapshot)
        } else {
            Err(missing())
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let user = match presented {
            Some(token) => {
                let hash = stockade_storage::token_hash(token);
                match state.snapshots.token(&hash) {
                    Some(user) => Some(user),
                    None => {
                        let user = state.db.tokens().authenticate(token).await?;
                        if let Some(user) = &user {
                            state.snapshots.remember_token(hash, user.clone());
                        }
                        user
                    }
                }
            }
            None => None,
        };
        if let Some(user) = user {
            return Ok(Self { user });
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_string())
            .unwrap_or_default();
        let reason = if presented.is_some() {
            "invalid_token"
        } else {
            "missing_token"
        };
        let event = NewEvent::new(
            kinds::AUTH_FAILURE,
            format!("peer:{peer}"),
            None,
            json!({ "reason": reason, "method": parts.method.as_str(), "path": parts.uri.path() }),
        );
        state.metrics.denied(crate::metrics::Denial::Auth);
        state.record(event).await?;
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <api token>` (the bootstrap admin token is printed on first start)",
        ))
    }
}
