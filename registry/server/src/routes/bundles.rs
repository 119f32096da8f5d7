//! `/stockade/v1/bundles/...`: publishing (publish token), listing (anonymous), approvals and
//! yanks (admin token).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use stockade_bundle::{
    BundleConfig, Capabilities, Digest, LayerSniffer, PublishRequest, PublishResponse,
    SignedApproval, VersionEntry, VersionListing, check_config_matches, parse_manifest,
    verify_manifest_signature,
};

use crate::config::{AppState, Role};
use crate::error::ApiError;
use crate::store::{Inserted, Store, VersionRow};

/// Largest manifest accepted.
const MAX_MANIFEST_BYTES: usize = 1 << 20;

fn parse_path(name: &str, version: &str) -> Result<semver::Version, ApiError> {
    name.parse::<stockade_registry_types::BundleName>()
        .map_err(|err| ApiError::new(StatusCode::NOT_FOUND, "not_found", err.to_string()))?;
    version.parse().map_err(|err| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{version:?}: {err}"),
        )
    })
}

/// What a checked manifest references.
#[derive(Debug)]
pub struct CheckedManifest {
    /// Manifest digest.
    pub manifest_digest: Digest,
    /// Capabilities digest computed from the config.
    pub capabilities_digest: Digest,
    /// Config and layer digests.
    pub blobs: Vec<Digest>,
}

/// Checks a manifest for `name@version` against the blobs in the store: a bundle artifact
/// whose config is a valid bundle config for this name and version, whose layers are stored,
/// of the declared size and plain WebAssembly (`compressed_layer`, `not_wasm`).
pub async fn check_manifest(
    store: &Store,
    name: &str,
    version: &semver::Version,
    bytes: &[u8],
) -> Result<CheckedManifest, ApiError> {
    let manifest = parse_manifest(bytes)?;
    let missing = |digest: &Digest| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BLOB_UNKNOWN",
            format!("blob {digest} was not uploaded"),
        )
    };
    let config_bytes = store
        .blobs
        .read(&manifest.config.digest, 1 << 20)
        .await?
        .ok_or_else(|| missing(&manifest.config.digest))?;
    if config_bytes.len() as u64 != manifest.config.size {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "SIZE_INVALID",
            "config size differs from its descriptor",
        ));
    }
    let (config, bundle) = BundleConfig::parse(&config_bytes)?;
    if config.name != name || &config.version != version {
        return Err(stockade_bundle::Error::Invalid {
            what: "config",
            reason: format!(
                "the config is for {}@{}, not {name}@{version}",
                config.name, config.version
            ),
        }
        .into());
    }
    check_config_matches(&manifest, &config)?;
    let mut blobs = vec![manifest.config.digest.clone()];
    for layer in &manifest.layers {
        let title = layer.title().unwrap_or_default();
        let size = store
            .blobs
            .size(&layer.digest)
            .await
            .ok_or_else(|| missing(&layer.digest))?;
        if size != layer.size {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "SIZE_INVALID",
                format!("layer {title} size differs from its descriptor"),
            ));
        }
        let mut head = vec![0u8; stockade_bundle::SNIFF_LEN];
        let n = read_head(&store.blobs.path(&layer.digest), &mut head).await?;
        let mut sniffer = LayerSniffer::default();
        sniffer.feed(&head[..n], title)?;
        sniffer.finish(title)?;
        blobs.push(layer.digest.clone());
    }
    Ok(CheckedManifest {
        manifest_digest: Digest::of(bytes),
        capabilities_digest: Capabilities::of(&bundle).digest()?,
        blobs,
    })
}

async fn read_head(path: &std::path::Path, buf: &mut [u8]) -> Result<usize, ApiError> {
    use tokio::io::AsyncReadExt as _;
    let mut file = tokio::fs::File::open(path).await?;
    let mut n = 0;
    while n < buf.len() {
        let read = file.read(&mut buf[n..]).await?;
        if read == 0 {
            break;
        }
        n += read;
    }
    Ok(n)
}

/// `PUT /stockade/v1/bundles/<name>/versions/<version>`: stage a version (publish token). The
/// same bytes again answer 200 with `created: false`; different bytes 409 `version_immutable`.
pub async fn publish(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    Json(request): Json<PublishRequest>,
) -> Result<Response, ApiError> {
    state.authorize(&headers, Role::Publisher)?;
    let version = parse_path(&name, &version)?;
    let bytes = BASE64
        .decode(&request.manifest)
        .map_err(|err| ApiError::bad_request(format!("manifest is not base64: {err}")))?;
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(stockade_bundle::Error::BlobTooLarge {
            what: "manifest".into(),
            limit: MAX_MANIFEST_BYTES as u64,
        }
        .into());
    }
    let checked = check_manifest(&state.store, &name, &version, &bytes).await?;
    if !state.config.publisher_keys.is_empty() {
        verify_manifest_signature(
            &state.config.publisher_keys,
            &checked.manifest_digest,
            &request.signature,
        )?;
    }
    state
        .store
        .blobs
        .put_bytes(&checked.manifest_digest, &bytes)?;
    let row = VersionRow {
        name: name.clone(),
        version: version.clone(),
        manifest_digest: checked.manifest_digest.clone(),
        capabilities_digest: checked.capabilities_digest.clone(),
        signature: request.signature,
        approval: None,
        yanked: false,
        published_at: stockade_bundle::now_rfc3339(),
    };
    let inserted = state.store.insert_version(&row, &checked.blobs).await?;
    tracing::info!(%name, %version, digest = %checked.manifest_digest, ?inserted, "published");
    let status = match inserted {
        Inserted::Created => StatusCode::CREATED,
        Inserted::AlreadyThere => StatusCode::OK,
    };
    let body = PublishResponse {
        manifest_digest: checked.manifest_digest,
        capabilities_digest: checked.capabilities_digest,
        created: inserted == Inserted::Created,
    };
    Ok((status, Json(body)).into_response())
}

/// `GET /stockade/v1/bundles/<name>/versions`: approved versions with digests, yank flags,
/// approvals and signatures. Staged versions are not listed.
pub async fn versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<VersionListing>, ApiError> {
    let versions = state
        .store
        .versions(&name)
        .await?
        .into_iter()
        .filter(|v| v.approval.is_some())
        .map(|v| VersionEntry {
            version: v.version,
            manifest_digest: v.manifest_digest,
            capabilities_digest: v.capabilities_digest,
            yanked: v.yanked,
            signature: v.signature,
            approval: v.approval,
        })
        .collect();
    Ok(Json(VersionListing { name, versions }))
}

/// `PUT /stockade/v1/bundles/<name>/versions/<version>/approval` (admin token): an
/// operator-signed [`SignedApproval`] for exactly this version's digests, by a configured
/// operator key.
pub async fn approve(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    Json(approval): Json<SignedApproval>,
) -> Result<StatusCode, ApiError> {
    state.authorize(&headers, Role::Admin)?;
    let version = parse_path(&name, &version)?.to_string();
    let row = state.store.version(&name, &version).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{name}@{version} is not published"),
        )
    })?;
    approval.verify(
        &state.config.operator_keys,
        &name,
        &version,
        &row.manifest_digest,
        &row.capabilities_digest,
    )?;
    state.store.set_approval(&name, &version, &approval).await?;
    tracing::info!(%name, %version, approver = %approval.approval.approver, "approved");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /stockade/v1/bundles/<name>/versions/<version>/yank` (admin token): no new installs.
pub async fn yank(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state.authorize(&headers, Role::Admin)?;
    let version = parse_path(&name, &version)?.to_string();
    state.store.set_yanked(&name, &version, true).await?;
    tracing::info!(%name, %version, "yanked");
    Ok(StatusCode::NO_CONTENT)
}
