//! The server's agent workspaces: one [`WorkspaceManager`] on the configured Docker daemon,
//! started with the server (which removes what a previous run of this instance left behind),
//! and the per-agent workspaces the `workspace.shell` tool runs in.
//!
//! The instance id that labels every workspace is kept in `<data_dir>/instance-id`, so a
//! restarted server (even after SIGKILL) recognises its own leftovers. Without a reachable
//! daemon the server still starts; workspace requests then answer 503
//! `workspaces_unavailable` with the reason.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use stockade_egress::{EgressGrant, Resolver};
use stockade_workspace::{
    DockerBackend, ImageProfile, Limits, ManagerConfig, RuntimeChoice, WorkspaceError, WorkspaceId,
    WorkspaceManager, WorkspaceSpec,
};

use crate::config::{Mode, WorkspacesConfig};
use crate::error::ApiError;

/// The running workspace service, or why there is none.
#[derive(Debug)]
pub struct Workspaces {
    manager: Result<Arc<WorkspaceManager<DockerBackend>>, String>,
    config: WorkspacesConfig,
    mode: Mode,
    /// The workspace each agent's `workspace.shell` calls run in, by (project id, agent).
    shells: tokio::sync::Mutex<HashMap<(String, String), WorkspaceId>>,
}

/// What the workspaces' egress proxies need to know about the network: how to resolve names,
/// and the server's own addresses, which no grant opens.
#[derive(Clone)]
pub struct Network {
    /// Resolves egress names host-side.
    pub resolver: Arc<dyn Resolver>,
    /// The server's listen addresses.
    pub own_addresses: Vec<std::net::SocketAddr>,
    /// This host's addresses (a wildcard listener is reachable by each).
    pub local_ips: Vec<std::net::IpAddr>,
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("own_addresses", &self.own_addresses)
            .field("local_ips", &self.local_ips)
            .finish_non_exhaustive()
    }
}

/// What a create asks for beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Image profile name; the configured default when `None`.
    pub image: Option<String>,
    /// Memory limit, MiB (at most the configured one).
    pub memory_mib: Option<u64>,
    /// `pids.max` (at most the configured one).
    pub pids: Option<u64>,
    /// Egress destinations (checked by the host-side proxy); `None` or empty: no network.
    pub egress: Option<EgressGrant>,
}

impl Workspaces {
    /// Connects to the daemon and starts the manager (reaping this instance's leftovers).
    /// A failure is kept as the reason workspaces are unavailable, not a startup error.
    pub async fn start(
        config: &WorkspacesConfig,
        data_dir: &Path,
        mode: Mode,
        network: Network,
    ) -> Self {
        let manager = Self::connect(config, data_dir, mode, network).await;
        match &manager {
            Ok(_) => tracing::info!("workspaces ready"),
            Err(reason) => tracing::warn!(%reason, "workspaces unavailable"),
        }
        Self {
            manager,
            config: config.clone(),
            mode,
            shells: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn connect(
        config: &WorkspacesConfig,
        data_dir: &Path,
        mode: Mode,
        network: Network,
    ) -> Result<Arc<WorkspaceManager<DockerBackend>>, String> {
        let runtime = match (config.runtime.as_str(), mode) {
            ("runsc", _) => RuntimeChoice::Gvisor("runsc".to_owned()),
            ("runc-development", Mode::Development) => RuntimeChoice::DevelopmentRunc,
            ("runc-development", Mode::Production) => {
                return Err(
                    "workspaces.runtime = \"runc-development\" runs workspaces without gVisor \
                     and is refused in production mode"
                        .to_owned(),
                );
            }
            (other, _) => {
                return Err(format!(
                    "workspaces.runtime {other:?}: expected \"runsc\" or \"runc-development\""
                ));
            }
        };
        let host = config
            .docker_host
            .clone()
            .unwrap_or_else(stockade_workspace::docker_host);
        let backend = DockerBackend::connect(&host, runtime)
            .await
            .map_err(|err| err.to_string())?;
        let instance = instance_id(data_dir).map_err(|err| format!("instance id: {err}"))?;
        let mut manager = ManagerConfig::new(instance.clone(), state_dir(&instance));
        manager.max_per_project = config.max_per_project;
        manager.idle_timeout = Duration::from_secs(config.idle_timeout_secs.max(1));
        manager.resolver = network.resolver;
        manager.own_addresses = network.own_addresses;
        manager.local_ips = network.local_ips;
        WorkspaceManager::start(backend, manager)
            .await
            .map_err(|err| err.to_string())
    }

    /// The manager, or 503 `workspaces_unavailable`.
    pub fn manager(&self) -> Result<&Arc<WorkspaceManager<DockerBackend>>, ApiError> {
        self.manager.as_ref().map_err(|reason| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "workspaces_unavailable",
                format!(
                    "workspaces are unavailable: {reason} (start a Docker daemon with the runsc \
                     runtime, e.g. bash .ci/dockerd.sh, and set [workspaces] docker_host)"
                ),
            )
        })
    }

    /// Whether workspaces can be created.
    pub fn available(&self) -> bool {
        self.manager.is_ok()
    }

    /// The exec timeout cap.
    pub fn exec_timeout(&self) -> Duration {
        Duration::from_secs(self.config.exec_timeout_secs.max(1))
    }

    /// The spec of a new workspace for `project` in `dir`, owned by `owner`.
    pub fn spec(
        &self,
        owner: &str,
        project_id: &str,
        dir: &Path,
        options: CreateOptions,
    ) -> Result<WorkspaceSpec, ApiError> {
        let name = options
            .image
            .unwrap_or_else(|| self.config.default_image.clone());
        let image = self.config.images.get(&name).ok_or_else(|| {
            ApiError::bad_request(
                "unknown_image",
                format!(
                    "no image profile {name:?}; configured: {}",
                    self.config
                        .images
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let mut profile = ImageProfile::new(&image.reference);
        match (&image.id, self.mode) {
            (Some(id), _) => profile = profile.pinned(id),
            (None, Mode::Development) => {
                tracing::warn!(image = %image.reference, "workspace image not pinned (development mode)");
            }
            (None, Mode::Production) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "image_not_pinned",
                    format!(
                        "image profile {name:?} has no pinned id; build it with `stockade \
                         workspace image build` and set [workspaces.images.{name}] id"
                    ),
                ));
            }
        }
        let capped = |asked: Option<u64>, max: u64, what: &str| -> Result<u64, ApiError> {
            match asked {
                Some(v) if v == 0 || v > max => Err(ApiError::bad_request(
                    "invalid_limits",
                    format!("{what} must be between 1 and the configured {max}"),
                )),
                Some(v) => Ok(v),
                None => Ok(max),
            }
        };
        let memory_mib = capped(options.memory_mib, self.config.memory_mib, "memory_mib")?;
        let pids = capped(options.pids, self.config.pids, "pids")?;
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let limits = Limits {
            memory_bytes: as_i64(memory_mib.saturating_mul(1 << 20)),
            nano_cpus: as_i64(self.config.cpu_millis.saturating_mul(1_000_000)),
            pids: as_i64(pids),
            tmp_bytes: self.config.tmp_mib.saturating_mul(1 << 20),
            ..Limits::default()
        };
        let mut spec = WorkspaceSpec::new(owner, project_id, dir, profile);
        spec.limits = limits;
        spec.egress = options.egress.filter(|grant| !grant.is_empty());
        Ok(spec)
    }

    /// Destroys every workspace this server created (graceful shutdown). A killed server's
    /// workspaces are removed by the next start instead.
    pub async fn destroy_all(&self) {
        let Ok(manager) = &self.manager else {
            return;
        };
        match manager.list().await {
            Ok(all) => {
                for info in all {
                    if let Err(err) = manager.destroy(&info.id).await {
                        tracing::warn!(id = %info.id, %err, "cannot remove workspace at shutdown");
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "cannot list workspaces at shutdown"),
        }
    }

    /// The workspace `agent`'s shell calls run in: the existing one if it is still there,
    /// else a new one with `egress`.
    pub async fn shell_workspace(
        &self,
        project_id: &str,
        agent: &str,
        dir: &Path,
        egress: Option<EgressGrant>,
    ) -> Result<(WorkspaceId, bool), ApiError> {
        let manager = self.manager()?;
        let key = (project_id.to_owned(), agent.to_owned());
        let mut shells = self.shells.lock().await;
        if let Some(id) = shells.get(&key) {
            let alive = manager
                .list()
                .await
                .map_err(workspace_error)?
                .iter()
                .any(|info| &info.id == id && info.running);
            if alive {
                return Ok((id.clone(), false));
            }
            shells.remove(&key);
        }
        let options = CreateOptions {
            egress,
            ..CreateOptions::default()
        };
        let spec = self.spec(&format!("agent:{agent}"), project_id, dir, options)?;
        let id = manager.create(&spec).await.map_err(workspace_error)?;
        shells.insert(key, id.clone());
        Ok((id, true))
    }
}

/// The instance id in `<data_dir>/instance-id`, created once.
fn instance_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|err| std::io::Error::other(err.to_string()))?;
    let id = hex::encode(bytes);
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, format!("{id}\n"))?;
    Ok(id)
}

/// Short and per instance: the egress sockets inside must fit a Unix socket path (108 bytes).
fn state_dir(instance: &str) -> PathBuf {
    std::env::temp_dir().join(format!("stockade-ws-{instance}"))
}

/// A workspace failure as an API error with the crate's stable code.
pub(crate) fn workspace_error(err: WorkspaceError) -> ApiError {
    let status = match err.code() {
        "workspace_not_found" => StatusCode::NOT_FOUND,
        "workspace_limit" => StatusCode::TOO_MANY_REQUESTS,
        "invalid_request" | "project_dir_invalid" => StatusCode::BAD_REQUEST,
        "workspace_not_running" | "image_not_found" | "image_mismatch" | "runtime_mismatch" => {
            StatusCode::CONFLICT
        }
        "runtime_unavailable" | "daemon_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        "host_io" => return ApiError::internal(err),
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError::new(status, err.code(), err.to_string())
}
