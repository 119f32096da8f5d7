//! The OCI distribution API: pulls (`/v2/...`, anonymous, approved versions only) and
//! monolithic blob uploads (publish token).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stockade_bundle::{Digest, MANIFEST_MEDIA_TYPE};

use crate::config::{AppState, Role};
use crate::error::ApiError;

/// `GET /v2/`: the API version check every OCI client starts with.
pub async fn base() -> impl IntoResponse {
    (
        [
            ("Docker-Distribution-API-Version", "registry/2.0"),
            ("Content-Type", "application/json"),
        ],
        "{}",
    )
}

fn check_name(name: &str) -> Result<(), ApiError> {
    name.parse::<stockade_registry_types::BundleName>()
        .map(|_| ())
        .map_err(|err| ApiError::new(StatusCode::NOT_FOUND, "NAME_UNKNOWN", err.to_string()))
}

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            format!("{text:?} is not a sha256 digest"),
        )
    })
}

fn header(value: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(value).map_err(ApiError::internal)
}

/// `GET|HEAD /v2/<name>/manifests/<version-or-digest>`.
pub async fn manifest(
    State(state): State<AppState>,
    Path((name, reference)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let unknown = || {
        ApiError::oci_not_found(
            "MANIFEST_UNKNOWN",
            format!("manifest {name}:{reference} is unknown"),
        )
    };
    let digest = state
        .store
        .visible_manifest(&name, &reference)
        .await?
        .ok_or_else(unknown)?;
    let bytes = state
        .store
        .blobs
        .read(&digest, 4 << 20)
        .await?
        .ok_or_else(unknown)?;
    let mut response = Response::new(Body::from(bytes.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
    );
    headers.insert(header::CONTENT_LENGTH, header(&bytes.len().to_string())?);
    headers.insert("Docker-Content-Digest", header(digest.as_str())?);
    Ok(response)
}

/// `GET|HEAD /v2/<name>/blobs/<digest>`: streamed from disk.
pub async fn blob(
    State(state): State<AppState>,
    Path((name, digest)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let digest = parse_digest(&digest)?;
    let unknown = || {
        ApiError::oci_not_found(
            "BLOB_UNKNOWN",
            format!("blob {digest} is unknown in {name}"),
        )
    };
    if !state.store.blob_visible(&name, &digest).await? {
        return Err(unknown());
    }
    let path = state.store.blobs.path(&digest);
    let file = tokio::fs::File::open(&path).await.map_err(|_| unknown())?;
    let len = file.metadata().await?.len();
    let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(file)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, header(&len.to_string())?);
    headers.insert("Docker-Content-Digest", header(digest.as_str())?);
    Ok(response)
}

/// `GET /v2/<name>/tags/list`: approved versions.
pub async fn tags(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    check_name(&name)?;
    let tags: Vec<String> = state
        .store
        .versions(&name)
        .await?
        .into_iter()
        .filter(|v| v.approval.is_some())
        .map(|v| v.version.to_string())
        .collect();
    if tags.is_empty() {
        return Err(ApiError::oci_not_found(
            "NAME_UNKNOWN",
            format!("repository {name} is unknown"),
        ));
    }
    Ok(axum::Json(serde_json::json!({ "name": name, "tags": tags })).into_response())
}

/// Query of an upload request.
#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    digest: Option<String>,
}

/// `POST /v2/<name>/blobs/uploads/`: with `?digest=`, a monolithic upload of the body;
/// without, opens a session to `PUT` into.
pub async fn start_upload(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publisher)?;
    check_name(&name)?;
    if let Some(digest) = query.digest {
        return store_upload(&state, &name, &digest, body).await;
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(ApiError::internal)?;
    let id = hex::encode(id);
    state
        .uploads
        .lock()
        .map_err(ApiError::internal)?
        .insert(id.clone());
    let location = format!("/v2/{name}/blobs/uploads/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [
            (header::LOCATION, location),
            (
                "Docker-Upload-UUID".parse().map_err(ApiError::internal)?,
                id,
            ),
        ],
    )
        .into_response())
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: completes a session with the whole body.
pub async fn finish_upload(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publisher)?;
    check_name(&name)?;
    if !state
        .uploads
        .lock()
        .map_err(ApiError::internal)?
        .remove(&id)
    {
        return Err(ApiError::oci_not_found(
            "BLOB_UPLOAD_UNKNOWN",
            "no such upload",
        ));
    }
    let digest = query.digest.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "DIGEST_INVALID",
            "?digest= is required",
        )
    })?;
    store_upload(&state, &name, &digest, body).await
}

async fn store_upload(
    state: &AppState,
    name: &str,
    digest: &str,
    body: Body,
) -> Result<Response, ApiError> {
    let digest = parse_digest(digest)?;
    state
        .store
        .blobs
        .put_stream(
            body.into_data_stream(),
            &digest,
            state.config.max_blob_bytes,
        )
        .await?;
    tracing::info!(%name, %digest, "blob stored");
    Ok((
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                header(&format!("/v2/{name}/blobs/{digest}"))?,
            ),
            (
                header::HeaderName::from_static("docker-content-digest"),
                header(digest.as_str())?,
            ),
        ],
    )
        .into_response())
}
