//! `ApiError`: an HTTP status and a stable machine code, rendered as an OCI error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use stockade_bundle::{ErrorBody, ErrorItem};

/// One failure of a request: status, stable code, message. Internal errors are logged and
/// answered as `internal` without details.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine code: an OCI code on `/v2` pulls, otherwise a `stockade-bundle` code or one of
    /// `unauthorized`, `not_found`, `bad_request`, `internal`.
    pub code: String,
    /// For people.
    pub message: String,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// 404 with an OCI code such as `MANIFEST_UNKNOWN`.
    pub fn oci_not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 500 `internal`; the cause goes to the log only.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl From<stockade_bundle::Error> for ApiError {
    fn from(err: stockade_bundle::Error) -> Self {
        use stockade_bundle::Error as E;
        let status = match &err {
            E::VersionImmutable { .. } => StatusCode::CONFLICT,
            E::BlobTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            E::UnknownPublisherKey { .. }
            | E::UnknownOperatorKey { .. }
            | E::BadSignature { .. } => StatusCode::FORBIDDEN,
            E::ApprovalMismatch { .. } | E::RevocationRollback { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            E::Io { .. } | E::Transport(_) | E::Registry { .. } | E::DestinationExists(_) => {
                return ApiError::internal(err);
            }
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::internal(format!("database: {err}"))
    }
}

impl From<std::io::Error> for ApiError {
    fn from(err: std::io::Error) -> Self {
        ApiError::internal(format!("i/o: {err}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            errors: vec![ErrorItem {
                code: self.code,
                message: self.message,
            }],
        };
        (self.status, axum::Json(body)).into_response()
    }
}
