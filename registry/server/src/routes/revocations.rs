//! `/stockade/v1/revocations`: the operator-signed list of revoked manifest digests.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use stockade_bundle::SignedRevocationList;

use crate::config::{AppState, Role};
use crate::error::ApiError;

/// `GET`: the newest signed list, or `null` when none was ever issued.
pub async fn get(
    State(state): State<AppState>,
) -> Result<Json<Option<SignedRevocationList>>, ApiError> {
    Ok(Json(state.store.revocations().await?))
}

/// `PUT` (admin token): a new list, signed by a configured operator key, with a larger serial.
pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(list): Json<SignedRevocationList>,
) -> Result<StatusCode, ApiError> {
    state.authorize(&headers, Role::Admin)?;
    list.verify(&state.config.operator_keys, None)?;
    state.store.put_revocations(&list).await?;
    tracing::info!(
        serial = list.list.serial,
        revoked = list.list.revoked.len(),
        "revocation list replaced"
    );
    Ok(StatusCode::NO_CONTENT)
}
