//! [`DockerBackend`]: workspaces as hardened Docker containers under gVisor (`runsc`), through
//! the Engine API (bollard). `docker/container.rs` builds the hardened container body,
//! `docker/channel.rs` is a workspace's exec socket, `docker/exec.rs` runs commands through it.

mod channel;
mod container;
mod exec;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptions, RemoveContainerOptions,
};

use self::channel::ExecChannel;
use crate::backend::{CreateRequest, WorkspaceBackend, labels};
use crate::{ExecRequest, Execution, WorkspaceError, WorkspaceId, WorkspaceInfo, orphans};

/// Where tests and tools look for the daemon when `DOCKER_HOST` is unset: the private daemon
/// `.ci/dockerd.sh` starts.
pub const DEFAULT_DOCKER_HOST: &str = "unix:///run/stockade-docker.sock";

/// `DOCKER_HOST`, or [`DEFAULT_DOCKER_HOST`].
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| DEFAULT_DOCKER_HOST.to_owned())
}

/// Which OCI runtime workspaces run under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// gVisor, registered with the daemon under this name (normally `runsc`). If the daemon
    /// has no such runtime, creating a workspace fails with `runtime_unavailable`.
    Gvisor(String),
    /// Development only: plain `runc`, with no gVisor kernel between the workspace and the
    /// host. Every create logs a warning.
    DevelopmentRunc,
}

impl Default for RuntimeChoice {
    fn default() -> Self {
        Self::Gvisor("runsc".to_owned())
    }
}

impl RuntimeChoice {
    fn name(&self) -> &str {
        match self {
            Self::Gvisor(name) => name,
            Self::DevelopmentRunc => "runc",
        }
    }
}

/// Workspaces as Docker containers.
#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
    runtime: RuntimeChoice,
    /// The runtimes the daemon offered when we connected.
    runtimes: Vec<String>,
    /// The exec channel of every workspace this backend created, by container id.
    channels: Arc<Mutex<HashMap<String, Arc<ExecChannel>>>>,
}

impl DockerBackend {
    /// Connects to `host` (`unix:///path` or a path), negotiates the API version and reads the
    /// daemon's runtimes. A missing runtime is reported on create, not here, so a server
    /// without gVisor still starts (with workspaces unavailable).
    pub async fn connect(host: &str, runtime: RuntimeChoice) -> Result<Self, WorkspaceError> {
        let unavailable = |e: BollardError| WorkspaceError::DaemonUnavailable {
            host: host.to_owned(),
            message: e.to_string(),
        };
        let docker = Docker::connect_with_unix(host, 300, bollard::API_DEFAULT_VERSION)
            .map_err(unavailable)?
            .negotiate_version()
            .await
            .map_err(unavailable)?;
        let info = docker.info().await.map_err(unavailable)?;
        let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        runtimes.sort();
        Ok(Self {
            docker,
            runtime,
            runtimes,
            channels: Arc::default(),
        })
    }

    /// The bollard client (image builds, tests).
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    fn runtime_for_create(&self) -> Result<&str, WorkspaceError> {
        let name = self.runtime.name();
        if self.runtime == RuntimeChoice::DevelopmentRunc {
            tracing::warn!(
                "creating a workspace under runc: development override, no gVisor sandbox"
            );
        }
        if !self.runtimes.iter().any(|r| r == name) {
            return Err(WorkspaceError::RuntimeUnavailable {
                runtime: name.to_owned(),
                available: self.runtimes.clone(),
            });
        }
        Ok(name)
    }

    fn channel(&self, id: &str) -> Option<Arc<ExecChannel>> {
        self.lock_channels().get(id).cloned()
    }

    fn lock_channels(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ExecChannel>>> {
        self.channels.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn remove(&self, id: &str) -> Result<(), WorkspaceError> {
        // The exec socket goes first: nothing can be started in a workspace being removed.
        let channel = self.lock_channels().remove(id);
        drop(channel);
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        let result = self.docker.remove_container(id, Some(options)).await;
        // Whatever the daemon said, a sandbox or gofer of this container must not survive it.
        orphans::kill_runsc_leftovers(&[id.to_owned()]);
        match result {
            Ok(()) => Ok(()),
            Err(e) if status(&e) == Some(404) => {
                Err(WorkspaceError::NotFound { id: id.to_owned() })
            }
            Err(e) => Err(daemon("remove container", e)),
        }
    }
}

impl WorkspaceBackend for DockerBackend {
    async fn create(&self, request: CreateRequest<'_>) -> Result<WorkspaceId, WorkspaceError> {
        let runtime = self.runtime_for_create()?;
        let image_id = self.check_image(&request.spec.image).await?;
        // The exec socket exists before the container does: the helper dials it at start.
        let mut channel = ExecChannel::bind(&exec_dir(request.helper))?;
        let body = container::hardened(&request, runtime, &image_id, channel.dir())?;
        let created = self
            .docker
            .create_container(None, body)
            .await
            .map_err(|e| daemon("create container", e))?;
        let id = created.id;
        // Trust what the daemon recorded, not what we asked for.
        let inspect = self
            .docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await;
        let actual = match inspect {
            Ok(inspect) => inspect
                .host_config
                .and_then(|h| h.runtime)
                .unwrap_or_default(),
            Err(e) => {
                let _ = self.remove(&id).await;
                return Err(daemon("inspect container", e));
            }
        };
        if actual != runtime {
            let _ = self.remove(&id).await;
            return Err(WorkspaceError::RuntimeMismatch {
                requested: runtime.to_owned(),
                actual,
            });
        }
        if let Err(e) = self.docker.start_container(&id, None).await {
            let _ = self.remove(&id).await;
            return Err(daemon("start container", e));
        }
        channel.watch(&self.docker, &id);
        self.lock_channels().insert(id.clone(), Arc::new(channel));
        Ok(WorkspaceId(id))
    }

    async fn exec(
        &self,
        id: &WorkspaceId,
        request: ExecRequest,
    ) -> Result<Execution, WorkspaceError> {
        exec::start(&self.docker, self.channel(&id.0), id, request).await
    }

    async fn list(&self) -> Result<Vec<WorkspaceInfo>, WorkspaceError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![labels::INSTANCE.to_owned()],
            )])),
            ..Default::default()
        };
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| daemon("list containers", e))?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let label = |name: &str| labels.get(name).cloned().unwrap_or_default();
                Some(WorkspaceInfo {
                    id: WorkspaceId(c.id?),
                    owner: label(labels::OWNER),
                    project: label(labels::PROJECT),
                    instance: label(labels::INSTANCE),
                    boot: label(labels::BOOT),
                    deadline: label(labels::DEADLINE)
                        .parse()
                        .ok()
                        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs)),
                    running: c.state.is_some_and(|s| s.to_string() == "running"),
                })
            })
            .collect())
    }

    async fn destroy(&self, id: &WorkspaceId) -> Result<(), WorkspaceError> {
        self.remove(&id.0).await
    }
}

impl DockerBackend {
    /// The image's id, refusing a missing image or one whose id is not the pinned one.
    async fn check_image(&self, image: &crate::ImageProfile) -> Result<String, WorkspaceError> {
        let inspect = match self.docker.inspect_image(&image.reference).await {
            Ok(inspect) => inspect,
            Err(e) if status(&e) == Some(404) => {
                return Err(WorkspaceError::ImageNotFound {
                    image: image.reference.clone(),
                });
            }
            Err(e) => return Err(daemon("inspect image", e)),
        };
        let actual = inspect.id.unwrap_or_default();
        match &image.pinned_id {
            Some(pinned) if *pinned != actual => Err(WorkspaceError::ImageMismatch {
                image: image.reference.clone(),
                pinned: pinned.clone(),
                actual,
            }),
            _ => Ok(actual),
        }
    }
}

/// A new directory for one workspace's exec socket: `exec/<unique>` next to the helper binary
/// (the manager's state directory; keep it short, a socket path must fit in 108 bytes).
fn exec_dir(helper: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = helper.parent().unwrap_or_else(|| Path::new("/tmp"));
    base.join("exec").join(format!(
        "{:x}-{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The HTTP status of a daemon error response.
pub(crate) fn status(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

pub(crate) fn daemon(operation: &'static str, error: BollardError) -> WorkspaceError {
    WorkspaceError::Daemon {
        operation,
        message: error.to_string(),
    }
}
