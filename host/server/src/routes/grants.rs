//! `/v1/projects/{project}/grants/{bundle}/{tool}`: what one tool may touch in one project.
//! Directory paths are relative to the project root and must stay inside it; a grant must be
//! within what the bundle's manifest requests for that tool.

use std::path::{Component, Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stockade_egress::{EgressGrant, EgressPolicy};
use stockade_registry_types::{Access, LimitOverrides, MountPath};
use stockade_runtime::{
    DirGrant, Egress, EgressLimits, ReadableSecrets, SecretInjection, ToolGrants,
};
use stockade_storage::Project;

use crate::app::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::admin_event;

/// One granted directory.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirGrantSpec {
    /// Guest path the tool requests, e.g. `/project`.
    #[schema(value_type = String, example = "/project")]
    pub mount: MountPath,
    /// Directory relative to the project root (`.` for the root itself).
    #[serde(default = "dot")]
    pub path: String,
    /// `read` or `read-write`.
    #[schema(value_type = String, example = "read")]
    pub access: Access,
}

/// One secret a tool may use: injected by the host into requests to `destinations`, and/or
/// read by the plugin itself when `read` is true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretGrantSpec {
    /// The secret's name: the project's secret of that name, else the global one.
    pub name: String,
    /// Egress rules for the requests that may carry it, e.g. `https://api.github.com`. The
    /// plugin writes `{{secret:NAME}}` in a header; the host substitutes the value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<String>,
    /// The plugin may read the value through `stockade:plugin/secrets` (the tool must request
    /// the name in its manifest). Prefer `destinations`, which keep the value out of the plugin.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read: bool,
}

fn dot() -> String {
    ".".into()
}

/// `PUT` body and `GET` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantSpec {
    /// Granted directories.
    #[serde(default)]
    pub dirs: Vec<DirGrantSpec>,
    /// Outbound destinations this tool may reach: rules such as `https://api.github.com`,
    /// `https://*.example.com:443,8443` or `tcp://10.1.2.0/24:5432`. Empty: no network.
    #[serde(default)]
    pub egress: Vec<String>,
    /// Secrets the host may put into this tool's outbound requests: where the plugin writes
    /// `{{secret:NAME}}` in a header, for the listed destinations only (each within `egress`);
    /// the plugin never sees the value. An entry with `"read": true` also lets the plugin read
    /// it (only names the tool's manifest requests).
    #[serde(default)]
    pub secrets: Vec<SecretGrantSpec>,
    /// Limit overrides for this tool in this project.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub limits: LimitOverrides,
}

impl GrantSpec {
    /// The grant as stored (JSON columns) in the database.
    pub(crate) fn from_stored(grant: stockade_storage::Grant) -> Result<Self, ApiError> {
        Ok(Self {
            dirs: serde_json::from_value(grant.dirs).map_err(ApiError::internal)?,
            egress: serde_json::from_value(grant.egress).map_err(ApiError::internal)?,
            secrets: serde_json::from_value(grant.secrets).map_err(ApiError::internal)?,
            limits: serde_json::from_value(grant.limits).map_err(ApiError::internal)?,
        })
    }
}

/// The egress policy of a grant: its rules, and never the server's own listen address.
pub(crate) fn egress_policy(state: &AppState, spec: &GrantSpec) -> Result<EgressPolicy, ApiError> {
    let grant = EgressGrant::parse(&spec.egress)
        .map_err(|err| ApiError::bad_request("invalid_egress", err.to_string()))?;
    Ok(EgressPolicy::new(grant)
        .with_own_addresses(vec![state.local_addr])
        .with_local_ips(state.local_ips.clone()))
}

/// Checks each secret grant: a valid name, destinations that parse and lie within the grant's
/// egress (a secret can only travel where the tool may connect anyway).
fn check_secret_grants(spec: &GrantSpec, egress: &EgressGrant) -> Result<(), ApiError> {
    for (i, secret) in spec.secrets.iter().enumerate() {
        stockade_secrets::validate_name(&secret.name).map_err(|err| {
            ApiError::bad_request("invalid_secret_grant", format!("secrets[{i}]: {err}"))
        })?;
        if spec.secrets[..i].iter().any(|s| s.name == secret.name) {
            return Err(ApiError::bad_request(
                "invalid_secret_grant",
                format!("secrets[{i}] ({}): granted twice", secret.name),
            ));
        }
        if secret.destinations.is_empty() && !secret.read {
            return Err(ApiError::bad_request(
                "invalid_secret_grant",
                format!(
                    "secrets[{i}] ({}): list at least one destination, or set \"read\": true",
                    secret.name
                ),
            ));
        }
        let destinations = EgressGrant::parse(&secret.destinations).map_err(|err| {
            ApiError::bad_request(
                "invalid_secret_grant",
                format!("secrets[{i}] ({}): {err}", secret.name),
            )
        })?;
        destinations.within(egress).map_err(|err| {
            ApiError::bad_request(
                "invalid_secret_grant",
                format!(
                    "secrets[{i}] ({}): destination outside the tool's egress grant: {err}",
                    secret.name
                ),
            )
        })?;
    }
    Ok(())
}

/// The secrets of one call, with their values read now (project scope first, then global):
/// what the host injects into outbound requests, and what the plugin may read itself.
pub(crate) async fn call_secrets(
    state: &AppState,
    spec: &GrantSpec,
    project_id: &str,
) -> Result<(Vec<SecretInjection>, ReadableSecrets), ApiError> {
    use crate::routes::secrets::secret_error;
    use stockade_secrets::Scope;
    let mut injections = Vec::with_capacity(spec.secrets.len());
    let mut readable = ReadableSecrets::none();
    for secret in &spec.secrets {
        let project_scope = Scope::project(project_id).map_err(secret_error)?;
        let value = match state.secrets.get(&project_scope, &secret.name).await {
            Err(err) if err.code() == "secret_not_found" => state
                .secrets
                .get(&Scope::global(), &secret.name)
                .await
                .map_err(secret_error)?,
            other => other.map_err(secret_error)?,
        };
        let text = value.expose_str().ok_or_else(|| {
            ApiError::bad_request(
                "invalid_secret_grant",
                format!(
                    "secret {} is not UTF-8 text and cannot go into a header or a plugin",
                    secret.name
                ),
            )
        })?;
        if secret.read {
            readable = readable.with(secret.name.clone(), text.to_owned());
        }
        if !secret.destinations.is_empty() {
            let destinations = EgressGrant::parse(&secret.destinations)
                .map_err(|err| ApiError::bad_request("invalid_secret_grant", err.to_string()))?;
            injections.push(SecretInjection::new(
                secret.name.clone(),
                text.to_owned(),
                destinations,
            ));
        }
    }
    Ok((injections, readable))
}

/// The names a grant lets the plugin read, with no values: enough to check the grant against
/// the tool's manifest request.
fn readable_names(spec: &GrantSpec) -> ReadableSecrets {
    spec.secrets
        .iter()
        .filter(|secret| secret.read)
        .fold(ReadableSecrets::none(), |readable, secret| {
            readable.with(secret.name.clone(), String::new())
        })
}

/// What one call of a tool may reach: the grant's policy, the server's caps, the agent's rate.
pub(crate) fn egress(
    state: &AppState,
    spec: &GrantSpec,
    project: &str,
    agent: &str,
) -> Result<Egress, ApiError> {
    let mut egress = Egress::new(egress_policy(state, spec)?, Arc::clone(&state.resolver));
    let caps = &state.config.egress;
    egress.limits = EgressLimits {
        max_requests: caps.requests_per_call,
        max_request_bytes: caps.max_request_kib.saturating_mul(1024),
        max_response_bytes: caps.max_response_kib.saturating_mul(1024),
        ..EgressLimits::default()
    };
    egress.rate = Some(state.agent_rate(project, agent));
    Ok(egress)
}

/// Resolves the stored grant against the project root into runtime grants.
pub(crate) fn resolve(project: &Project, spec: &GrantSpec) -> Result<ToolGrants, ApiError> {
    let root = PathBuf::from(&project.root);
    let mut grants = ToolGrants::none();
    for dir in &spec.dirs {
        let relative = FsPath::new(&dir.path);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(ApiError::bad_request(
                "invalid_grant",
                format!(
                    "grant path {:?} must be relative to the project root, without `..`",
                    dir.path
                ),
            ));
        }
        let grant = DirGrant::new(&root.join(relative), dir.mount.clone(), dir.access)
            .map_err(|err| ApiError::bad_request(err.code(), err.to_string()))?;
        // Symlinks inside the project must not lead a grant outside it.
        if !grant.host().starts_with(&root) {
            return Err(ApiError::bad_request(
                "invalid_grant",
                format!(
                    "grant path {:?} resolves outside the project root",
                    dir.path
                ),
            ));
        }
        grants = grants.with_dir(grant);
    }
    Ok(grants)
}

/// `PUT /v1/projects/{project}/grants/{bundle}/{tool}`.
#[utoipa::path(put, path = "/v1/projects/{project}/grants/{bundle}/{tool}", tag = "grants", params(("project" = String, Path, description = "Project name"), ("bundle" = String, Path), ("tool" = String, Path)), request_body = GrantSpec, responses((status = 200, body = GrantSpec), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn put(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
    body: Result<Json<GrantSpec>, JsonRejection>,
) -> Result<(StatusCode, Json<GrantSpec>), ApiError> {
    let Path((project, bundle, tool)) = path?;
    let project = caller.project(&state, &project).await?;
    // Operators decide what runs and what it may touch; members call tools.
    caller.require_admin()?;
    let Json(spec) = body?;
    if is_shell(&bundle, &tool) {
        crate::routes::shell::check_grant(&spec)?;
        let egress = serde_json::to_value(&spec.egress).map_err(ApiError::internal)?;
        state
            .db
            .workspace_egress()
            .put(&project.id, &egress)
            .await?;
        state
            .record(admin_event(
                &caller,
                Some(&project.name),
                json!({ "action": "grant_put", "bundle": bundle, "tool": tool, "egress": egress }),
            ))
            .await?;
        return Ok((StatusCode::OK, Json(spec)));
    }
    let installed = state.db.bundles().get(&project.id, &bundle).await?;
    let loaded = crate::routes::bundles::load(&state, &project.id, &installed).await?;
    let entry = loaded
        .tools()
        .get(&tool)
        .ok_or_else(|| ApiError::not_found(format!("bundle `{bundle}` has no tool `{tool}`")))?;
    let policy = egress_policy(&state, &spec)?;
    check_secret_grants(&spec, policy.grant())?;
    let grants = resolve(&project, &spec)?
        .with_egress(Egress::new(policy, Arc::clone(&state.resolver)))
        .with_secrets(readable_names(&spec));
    grants
        .check_within(&tool, &entry.spec, &entry.egress)
        .map_err(|err| ApiError::bad_request(err.code(), err.to_string()))?;
    store(&state, &caller, &project, &bundle, &tool, spec).await
}

/// Stores a checked grant, drops the project's cached view and records the change.
async fn store(
    state: &AppState,
    caller: &Caller,
    project: &Project,
    bundle: &str,
    tool: &str,
    spec: GrantSpec,
) -> Result<(StatusCode, Json<GrantSpec>), ApiError> {
    let dirs = serde_json::to_value(&spec.dirs).map_err(ApiError::internal)?;
    let egress = serde_json::to_value(&spec.egress).map_err(ApiError::internal)?;
    let secrets = serde_json::to_value(&spec.secrets).map_err(ApiError::internal)?;
    let limits = serde_json::to_value(&spec.limits).map_err(ApiError::internal)?;
    state
        .db
        .grants()
        .put(
            &project.id,
            bundle,
            tool,
            stockade_storage::GrantDocs {
                dirs: &dirs,
                egress: &egress,
                secrets: &secrets,
                limits: &limits,
            },
        )
        .await?;
    state.snapshots.invalidate(&project.name).await;
    state
        .record(admin_event(
            caller,
            Some(&project.name),
            json!({ "action": "grant_put", "bundle": bundle, "tool": tool, "dirs": dirs, "egress": egress, "secrets": secrets, "limits": limits }),
        ))
        .await?;
    Ok((StatusCode::OK, Json(spec)))
}

/// `GET /v1/projects/{project}/grants/{bundle}/{tool}`.
#[utoipa::path(get, path = "/v1/projects/{project}/grants/{bundle}/{tool}", tag = "grants", params(("project" = String, Path, description = "Project name"), ("bundle" = String, Path), ("tool" = String, Path)), responses((status = 200, body = GrantSpec), (status = "4XX", description = "Error with a stable `code`", body = crate::error::ErrorDoc)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<GrantSpec>, ApiError> {
    let Path((project, bundle, tool)) = path?;
    let snapshot = caller.snapshot(&state, &project).await?;
    if is_shell(&bundle, &tool) {
        return Ok(Json(shell_grant(&state, &snapshot.project.id).await?));
    }
    Ok(Json(snapshot.grant(&bundle, &tool)))
}

/// Whether `bundle`/`tool` names the built-in `workspace.shell` tool, whose grant (egress rules
/// only) is the project's workspace egress.
fn is_shell(bundle: &str, tool: &str) -> bool {
    bundle == crate::routes::shell::SHELL_BUNDLE && tool == crate::routes::shell::SHELL_NAME
}

/// The grant of `workspace.shell` in a project: its egress rules.
pub(crate) async fn shell_grant(state: &AppState, project_id: &str) -> Result<GrantSpec, ApiError> {
    let egress = state.db.workspace_egress().get(project_id).await?;
    Ok(GrantSpec {
        egress: serde_json::from_value(egress).map_err(ApiError::internal)?,
        ..GrantSpec::default()
    })
}
