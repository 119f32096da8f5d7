//! `/webhooks/*`: signed by HMAC-SHA256 instead of the write token (the write guard hands these
//! paths over), with a timestamp tolerance and a replay cache.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use stockade_storage::events::NewEvent;

use crate::app::AppState;
use crate::error::ApiError;

/// Largest webhook body.
const MAX_WEBHOOK_BODY: usize = 64 << 10;

/// `POST /webhooks/events`: records a signed external event (kind `webhook`) in the event log.
#[utoipa::path(post, path = "/webhooks/events", tag = "webhooks", request_body(content = serde_json::Value, description = "Any JSON; signed with X-Stockade-Timestamp and X-Stockade-Signature"), responses((status = 202), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(secret) = &state.webhook_secret else {
        return Err(ApiError::not_found(
            "webhooks are disabled: no webhook_secret_file is configured",
        ));
    };
    if body.len() > MAX_WEBHOOK_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "webhook body over 64 KiB",
        ));
    }
    if let Err(err) = state
        .webhooks
        .verify(secret, &headers, &body, SystemTime::now())
    {
        state.metrics.denied(crate::metrics::Denial::Auth);
        let event = NewEvent::new(
            stockade_storage::events::kinds::AUTH_FAILURE,
            "webhook",
            None,
            json!({ "reason": err.code(), "path": "/webhooks/events" }),
        );
        state.record(event).await?;
        let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::UNAUTHORIZED);
        return Err(ApiError::new(status, err.code(), err.to_string()));
    }
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::bad_request("invalid_json", err.to_string()))?;
    state
        .record(NewEvent::new(
            "webhook",
            "webhook",
            None,
            json!({ "body": payload }),
        ))
        .await?;
    Ok(StatusCode::ACCEPTED)
}
