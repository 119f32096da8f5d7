//! `/v1/projects/{project}/bundles`: install a bundle into a project. Until the registry exists,
//! the only source is a local bundle directory, and it must be asked for explicitly
//! (`"dev": true`); every component's SHA-256 is recorded and re-checked on every load.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stockade_runtime::Bundle;
use stockade_storage::{InstalledBundle, NewBundle};

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::admin_event;

/// `POST /v1/projects/{project}/bundles` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallBundle {
    /// Absolute path of a bundle directory (`bundle.toml` + components, or a built plugin
    /// source folder).
    pub dir: String,
    /// Must be `true`: local directories are a development install, not a verified registry
    /// install.
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
    }
}

/// `POST /v1/projects/{project}/bundles`.
#[utoipa::path(post, path = "/v1/projects/{project}/bundles", tag = "bundles", params(("project" = String, Path, description = "Project name")), request_body = InstallBundle, responses((status = 201, body = BundleView), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn install(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<InstallBundle>, JsonRejection>,
) -> Result<(StatusCode, Json<BundleView>), ApiError> {
    let Path(project) = path?;
    let project = caller.project(&state, &project).await?;
    // Operators decide what runs and what it may touch; members call tools.
    caller.require_admin()?;
    let Json(body) = body?;
    if !body.dev {
        return Err(ApiError::bad_request(
            "dev_flag_required",
            "installing from a local directory is a development install: send \"dev\": true \
             (registry installs come with the registry)",
        ));
    }
    let dir = PathBuf::from(&body.dir);
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
    let installed = state.db.bundles().install(&project.id, &new).await?;
    state.snapshots.invalidate(&project.name).await;
    state
        .record(admin_event(
            &caller,
            Some(&project.name),
            json!({ "action": "bundle_install", "bundle": new.name, "version": new.version,
                    "dev_install": true, "source_dir": new.source_dir, "component_digests": new.component_digests }),
        ))
        .await?;
    let key = (project.id.clone(), new.name.clone(), new.version.clone());
    state.bundles.write().await.insert(key, Arc::new(bundle));
    Ok((StatusCode::CREATED, Json(view(&installed))))
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
