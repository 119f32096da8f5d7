//! `/v1/projects/{project}/bundles`: install a bundle into a project.
//!
//! The normal source is the pinned private registry: `{"name": "fs", "version": "^0.1"}`
//! resolves the highest approved, non-yanked version, verifies the manifest digest, publisher
//! signature, operator approval and every component digest while downloading, precompiles it,
//! and pins it in the project's `stockade.lock` (see [`crate::registry`]). Every later load
//! re-verifies the files against the lock. Sent with `Accept: application/x-ndjson`, the answer
//! streams one progress line per step and ends with `{"result": …}` or `{"error": …}`.
//!
//! A local directory is a development install only, asked for explicitly (`"dev": true`); its
//! components' SHA-256 digests are recorded and re-checked on every load.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use stockade_bundle::{Progress, VerifiedBundle};
use stockade_runtime::Bundle;
use stockade_storage::{InstalledBundle, NewBundle, Project};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::admin_event;

/// `POST /v1/projects/{project}/bundles` body: a registry install (`name`, `version`) or a
/// development install (`dir`, `dev`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallBundle {
    /// Registry install: the bundle's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Registry install: a semver requirement such as `^0.1` or `=1.2.3` (default `*`): the
    /// highest approved, non-yanked version matching it is installed.
    #[serde(default)]
    pub version: Option<String>,
    /// Development install: absolute path of a bundle directory (`bundle.toml` + components,
    /// or a built plugin source folder).
    #[serde(default)]
    pub dir: Option<String>,
    /// Must be `true` with `dir`: local directories are a development install, not a verified
    /// registry install.
    #[serde(default)]
    pub dev: bool,
}

/// An installed bundle as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BundleView {
    name: String,
    version: String,
    component_digests: BTreeMap<String, String>,
    dev_install: bool,
    tools: Vec<String>,
    /// Registry installs: the pinned OCI manifest digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest_digest: Option<String>,
    /// Registry installs: the approved capabilities digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    capabilities_digest: Option<String>,
}

fn view(installed: &InstalledBundle) -> BundleView {
    let tools = stockade_registry_types::BundleManifest::from_toml(&installed.manifest)
        .map(|m| {
            m.tools
                .keys()
                .map(|t| format!("{}.{t}", installed.name))
                .collect()
        })
        .unwrap_or_default();
    BundleView {
        name: installed.name.clone(),
        version: installed.version.clone(),
        component_digests: installed.component_digests.clone(),
        dev_install: installed.dev_install,
        tools,
        manifest_digest: None,
        capabilities_digest: None,
    }
}

/// `POST /v1/projects/{project}/bundles`.
#[utoipa::path(post, path = "/v1/projects/{project}/bundles", tag = "bundles", params(("project" = String, Path, description = "Project name")), request_body = InstallBundle, responses((status = 201, body = BundleView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<InstallBundle>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    // Operators decide what runs and what it may touch; members call tools.
    caller.require_admin()?;
    let Json(body) = body?;
    match (&body.name, &body.dir) {
        (Some(name), None) => {
            let name = name.clone();
            let req = parse_req(body.version.as_deref())?;
            if body.dev {
                return Err(ApiError::bad_request(
                    "invalid_bundle_source",
                    "\"dev\" goes with \"dir\"; a registry install is never a development install",
                ));
            }
            let streaming = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/x-ndjson"));
            if !streaming {
                let view =
                    install_from_registry(&state, &caller, &project, &name, &req, |_| {}).await?;
                return Ok((StatusCode::CREATED, Json(view)).into_response());
            }
            Ok(stream_install(state, caller, project, name, req))
        }
        (None, Some(dir)) => {
            let view = install_dir(&state, &caller, &project, dir, body.dev).await?;
            Ok((StatusCode::CREATED, Json(view)).into_response())
        }
        _ => Err(ApiError::bad_request(
            "invalid_bundle_source",
            "send either {\"name\", \"version\"} (a registry install) or {\"dir\", \"dev\": true} \
             (a development install)",
        )),
    }
}

fn parse_req(version: Option<&str>) -> Result<semver::VersionReq, ApiError> {
    let text = version.unwrap_or("*");
    semver::VersionReq::parse(text).map_err(|err| {
        ApiError::bad_request(
            "invalid_version_req",
            format!("version {text:?} is not a semver requirement: {err}"),
        )
    })
}

/// The install as NDJSON: a line per step as it happens, then the result or the error.
fn stream_install(
    state: Arc<AppState>,
    caller: Caller,
    project: Project,
    name: String,
    req: semver::VersionReq,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::spawn(async move {
        let progress_tx = tx.clone();
        let report = move |line: Value| {
            let _ = progress_tx.send(line);
        };
        let result = install_from_registry(&state, &caller, &project, &name, &req, report).await;
        let _ = tx.send(match result {
            Ok(view) => json!({ "result": view }),
            Err(err) => json!({ "error": { "code": err.code(), "message": err.message() } }),
        });
    });
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        let line = rx.recv().await?;
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        Some((Ok::<_, std::convert::Infallible>(bytes), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|err| ApiError::internal(err).into_response())
}

/// One progress line: the registry's steps, then precompiling.
fn progress_line(progress: &Progress) -> Value {
    match progress {
        Progress::Resolved { name, version } => {
            json!({ "progress": "resolved", "name": name, "version": version })
        }
        Progress::Blob {
            file,
            received,
            total,
        } => json!({ "progress": "download", "file": file, "received": received, "total": total }),
        Progress::Installed { dir } => json!({ "progress": "verified", "dir": dir }),
    }
}

/// Installs `name@req` from the registry into `project`: verify, precompile, lock, record.
async fn install_from_registry(
    state: &Arc<AppState>,
    caller: &Caller,
    project: &Project,
    name: &str,
    req: &semver::VersionReq,
    report: impl Fn(Value) + Send + Sync + 'static,
) -> Result<BundleView, ApiError> {
    let report = Arc::new(report);
    // A revocation published since the last sync must stop this install too.
    if let Err(err) = state.registry.sync_revocations().await {
        tracing::warn!(
            code = err.code(),
            message = err.message(),
            "revocation sync failed"
        );
        return Err(err);
    }
    let progress = {
        let report = Arc::clone(&report);
        move |step: Progress| report(progress_line(&step))
    };
    let verified = state.registry.install(name, req, progress).await?;
    report(json!({ "progress": "compiling", "components": verified.components.len() }));
    let started = Instant::now();
    let bundle = Bundle::open(&state.runtime, &verified.dir)
        .await
        .map_err(|err| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_bundle",
                err.to_string(),
            )
        })?;
    report(json!({ "progress": "compiled", "ms": started.elapsed().as_secs_f64() * 1e3 }));
    record_install(state, caller, project, &verified, bundle).await
}

/// Pins a verified bundle in the project's lock, records the install and caches it.
async fn record_install(
    state: &Arc<AppState>,
    caller: &Caller,
    project: &Project,
    verified: &VerifiedBundle,
    bundle: Bundle,
) -> Result<BundleView, ApiError> {
    let entry = verified.lock_entry();
    let manifest_text = toml_text(&verified.manifest)?;
    let new = NewBundle {
        name: entry.name.clone(),
        version: entry.version.to_string(),
        manifest: manifest_text,
        component_digests: digests(&bundle),
        source_dir: verified.dir.to_string_lossy().into_owned(),
        dev_install: false,
    };
    state.registry.lock(&project.id, entry.clone()).await?;
    let installed = state.db.bundles().install(&project.id, &new).await?;
    state.snapshots.invalidate(&project.name).await;
    let approval = &verified.approval.approval;
    state
        .record(admin_event(
            caller,
            Some(&project.name),
            json!({ "action": "bundle_install", "bundle": new.name, "version": new.version,
                    "dev_install": false, "manifest_digest": entry.manifest_digest,
                    "capabilities_digest": entry.capabilities_digest,
                    "publisher_key": verified.signature.key_id, "approved_by": approval.approver,
                    "component_digests": new.component_digests }),
        ))
        .await?;
    let key = (project.id.clone(), new.name.clone(), new.version.clone());
    state.bundles.write().await.insert(key, Arc::new(bundle));
    let mut view = view(&installed);
    view.manifest_digest = Some(entry.manifest_digest.to_string());
    view.capabilities_digest = Some(entry.capabilities_digest.to_string());
    Ok(view)
}

fn toml_text(manifest: &stockade_registry_types::BundleManifest) -> Result<String, ApiError> {
    toml::to_string(manifest).map_err(ApiError::internal)
}

/// A development install from a local directory.
async fn install_dir(
    state: &Arc<AppState>,
    caller: &Caller,
    project: &Project,
    dir: &str,
    dev: bool,
) -> Result<BundleView, ApiError> {
    if !dev {
        return Err(ApiError::bad_request(
            "dev_flag_required",
            "installing from a local directory is a development install: send \"dev\": true \
             (or install from the registry with {\"name\", \"version\"})",
        ));
    }
    let dir = PathBuf::from(dir);
    if !dir.is_absolute() {
        return Err(ApiError::bad_request(
            "invalid_bundle",
            "dir must be an absolute path",
        ));
    }
    let bundle = Bundle::open(&state.runtime, &dir)
        .await
        .map_err(|err| ApiError::bad_request("invalid_bundle", err.to_string()))?;
    let manifest_text =
        std::fs::read_to_string(dir.join(stockade_registry_types::BundleManifest::FILE))
            .map_err(|err| ApiError::bad_request("invalid_bundle", err.to_string()))?;
    let new = NewBundle {
        name: bundle.manifest().bundle.name.to_string(),
        version: bundle.manifest().bundle.version.to_string(),
        manifest: manifest_text,
        component_digests: digests(&bundle),
        source_dir: dir.to_string_lossy().into_owned(),
        dev_install: true,
    };
    tracing::warn!(bundle = %new.name, dir = %new.source_dir, "development install from a local directory: no signature or approval checked");
    let installed = state.db.bundles().install(&project.id, &new).await?;
    state.snapshots.invalidate(&project.name).await;
    state
        .record(admin_event(
            caller,
            Some(&project.name),
            json!({ "action": "bundle_install", "bundle": new.name, "version": new.version,
                    "dev_install": true, "source_dir": new.source_dir, "component_digests": new.component_digests }),
        ))
        .await?;
    let key = (project.id.clone(), new.name.clone(), new.version.clone());
    state.bundles.write().await.insert(key, Arc::new(bundle));
    Ok(view(&installed))
}

/// `GET /v1/projects/{project}/bundles`.
#[utoipa::path(get, path = "/v1/projects/{project}/bundles", tag = "bundles", params(("project" = String, Path, description = "Project name")), responses((status = 200, body = Vec<BundleView>), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<BundleView>>, ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    let bundles = state.db.bundles().list(&project.id).await?;
    Ok(Json(bundles.iter().map(view).collect()))
}

/// Component id → SHA-256 (hex) of what was loaded.
fn digests(bundle: &Bundle) -> BTreeMap<String, String> {
    bundle
        .tools()
        .values()
        .map(|tool| {
            (
                tool.spec.component.to_string(),
                tool.component().sha256_hex(),
            )
        })
        .collect()
}

/// The loaded bundle for an installed one: from the cache, or opened from its directory with
/// every component's digest checked against what was recorded at install.
pub(crate) async fn load(
    state: &AppState,
    project_id: &str,
    installed: &InstalledBundle,
) -> Result<Arc<Bundle>, ApiError> {
    let key = (
        project_id.to_owned(),
        installed.name.clone(),
        installed.version.clone(),
    );
    if let Some(bundle) = state.bundles.read().await.get(&key) {
        return Ok(bundle.clone());
    }
    if !installed.dev_install {
        // The files must still be exactly what the lock pins, still signed, approved and not
        // revoked.
        let entry = state.registry.locked(project_id, &installed.name)?;
        if entry.version.to_string() != installed.version {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "locked_version_missing",
                format!(
                    "stockade.lock pins {}@{}, the project has {}; reinstall it",
                    entry.name, entry.version, installed.version
                ),
            ));
        }
        state
            .registry
            .verify(FsPath::new(&installed.source_dir), &entry)
            .await?;
    }
    let bundle = Bundle::open(&state.runtime, FsPath::new(&installed.source_dir))
        .await
        .map_err(|err| {
            ApiError::new(StatusCode::CONFLICT, "bundle_unavailable", err.to_string())
        })?;
    if digests(&bundle) != installed.component_digests {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "bundle_digest_mismatch",
            format!(
                "the components of `{}` changed since they were installed; reinstall it",
                installed.name
            ),
        ));
    }
    let bundle = Arc::new(bundle);
    state.bundles.write().await.insert(key, bundle.clone());
    Ok(bundle)
}
