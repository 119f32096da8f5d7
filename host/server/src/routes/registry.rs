//! `/v1/registry/*`: the registry's revocation list, synced on demand (it is also synced at
//! start, periodically and before every install).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::json;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::admin_event;

/// The revocation list after a sync.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SyncView {
    /// How many manifest digests are revoked.
    revoked: usize,
}

/// `POST /v1/registry/sync`.
#[utoipa::path(post, path = "/v1/registry/sync", tag = "bundles", responses((status = 200, body = SyncView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc), (status = "5XX", body = crate::error::ErrorDoc)))]
pub async fn sync(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<SyncView>, ApiError> {
    caller.require_admin()?;
    let revoked = state.sync_revocations().await?;
    state
        .record(admin_event(
            &caller,
            None,
            json!({ "action": "registry_sync", "revoked": revoked }),
        ))
        .await?;
    Ok(Json(SyncView { revoked }))
}
