//! [`WorkspaceManager`]: the lifecycle around a [`WorkspaceBackend`]: the per-project limit,
//! an egress proxy per workspace, the idle reaper, and orphan reaping on start.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stockade_egress::{EgressPolicy, Resolver, SystemResolver};

use crate::backend::{CreateRequest, WorkspaceBackend};
use crate::proxy::EgressProxy;
use crate::{
    ExecRequest, Execution, WorkspaceError, WorkspaceId, WorkspaceInfo, WorkspaceSpec,
    install_helper,
};

/// How the manager runs. Every field has the default [`ManagerConfig::new`] gives it.
#[derive(Clone)]
pub struct ManagerConfig {
    /// This server's instance id (label `dev.stockade.instance`); stable across restarts, so
    /// a restarted server finds the workspaces its previous run left.
    pub instance: String,
    /// Host directory for the helper binary and the egress sockets. Keep the path short: a
    /// Unix socket path must fit in 108 bytes. No default.
    pub state_dir: PathBuf,
    /// Workspaces one project may have at once. Default 4.
    pub max_per_project: usize,
    /// A workspace with no exec for this long is destroyed. Default 30 minutes.
    pub idle_timeout: Duration,
    /// How often the idle reaper looks. Default 30 s.
    pub reap_interval: Duration,
    /// Resolves egress names host-side. Default [`SystemResolver`].
    pub resolver: Arc<dyn Resolver>,
    /// The server's own listen addresses: never reachable through a workspace's egress proxy,
    /// whatever the grant says (a wildcard listener also under `local_ips`). Default none.
    pub own_addresses: Vec<std::net::SocketAddr>,
    /// This host's addresses, for refusing a wildcard listener by its non-loopback address.
    /// Default none.
    pub local_ips: Vec<std::net::IpAddr>,
}

impl std::fmt::Debug for ManagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerConfig")
            .field("instance", &self.instance)
            .field("state_dir", &self.state_dir)
            .field("max_per_project", &self.max_per_project)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl ManagerConfig {
    /// The defaults, for `instance` with state in `state_dir`.
    pub fn new(instance: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            instance: instance.into(),
            state_dir: state_dir.into(),
            max_per_project: 4,
            idle_timeout: Duration::from_secs(30 * 60),
            reap_interval: Duration::from_secs(30),
            resolver: Arc::new(SystemResolver::new()),
            own_addresses: Vec::new(),
            local_ips: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    project: String,
    last_used: Instant,
    /// Kept alive as long as the workspace: dropping it closes the way out.
    _proxy: Option<EgressProxy>,
}

/// Creates, runs and destroys workspaces on one backend.
#[derive(Debug)]
pub struct WorkspaceManager<B> {
    backend: B,
    config: ManagerConfig,
    boot: String,
    helper: PathBuf,
    live: Mutex<HashMap<WorkspaceId, Entry>>,
    /// Projects with a create in flight, counted against the limit.
    pending: Mutex<HashMap<String, usize>>,
}

impl<B: WorkspaceBackend> WorkspaceManager<B> {
    /// Installs the helper, removes what a previous run of this instance left
    /// ([`reap_orphans`](Self::reap_orphans)), and starts the idle reaper.
    pub async fn start(backend: B, config: ManagerConfig) -> Result<Arc<Self>, WorkspaceError> {
        let helper = install_helper(&config.state_dir)?;
        let boot = boot_id();
        let manager = Arc::new(Self {
            backend,
            config,
            boot,
            helper,
            live: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
        });
        let removed = manager.reap_orphans().await?;
        if !removed.is_empty() {
            tracing::warn!(
                count = removed.len(),
                "removed workspaces a previous run left behind"
            );
        }
        let weak = Arc::downgrade(&manager);
        tokio::spawn(idle_reaper(weak, manager.config.reap_interval));
        Ok(manager)
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// This process's boot id (label `dev.stockade.boot`).
    pub fn boot(&self) -> &str {
        &self.boot
    }

    /// Removes every workspace of this instance that another boot created (a previous run that
    /// crashed or was killed), and the runsc processes they left. Returns the removed ids.
    pub async fn reap_orphans(&self) -> Result<Vec<WorkspaceId>, WorkspaceError> {
        let mut removed = Vec::new();
        for info in self.backend.list().await? {
            if info.instance == self.config.instance && info.boot != self.boot {
                match self.backend.destroy(&info.id).await {
                    Ok(()) | Err(WorkspaceError::NotFound { .. }) => removed.push(info.id),
                    Err(e) => tracing::warn!(id = %info.id, error = %e, "cannot remove orphan"),
                }
            }
        }
        Ok(removed)
    }

    /// Creates and starts a workspace, within the project's limit, with an egress proxy when
    /// the spec grants egress.
    pub async fn create(&self, spec: &WorkspaceSpec) -> Result<WorkspaceId, WorkspaceError> {
        let _slot = self.reserve(&spec.project)?;
        let proxy = match &spec.egress {
            Some(grant) => Some(EgressProxy::start(
                &self.config.state_dir.join("egress").join(unique()),
                format!("{}/{}", spec.project, spec.owner),
                Arc::new(
                    EgressPolicy::new(grant.clone())
                        .with_own_addresses(self.config.own_addresses.clone())
                        .with_local_ips(self.config.local_ips.clone()),
                ),
                self.config.resolver.clone(),
            )?),
            None => None,
        };
        let request = CreateRequest {
            spec,
            instance: &self.config.instance,
            boot: &self.boot,
            helper: &self.helper,
            egress_dir: proxy.as_ref().map(EgressProxy::dir),
        };
        let id = self.backend.create(request).await?;
        self.lock_live().insert(
            id.clone(),
            Entry {
                project: spec.project.clone(),
                last_used: Instant::now(),
                _proxy: proxy,
            },
        );
        Ok(id)
    }

    /// Runs a command in a workspace this manager created.
    pub async fn exec(
        &self,
        id: &WorkspaceId,
        request: ExecRequest,
    ) -> Result<Execution, WorkspaceError> {
        {
            let mut live = self.lock_live();
            let entry = live
                .get_mut(id)
                .ok_or_else(|| WorkspaceError::NotFound { id: id.0.clone() })?;
            // Counted from the start of the exec, plus its timeout: a long command is not idle.
            entry.last_used = Instant::now() + request.timeout;
        }
        self.backend.exec(id, request).await
    }

    /// This manager's workspaces, as the backend sees them.
    pub async fn list(&self) -> Result<Vec<WorkspaceInfo>, WorkspaceError> {
        let mut all = self.backend.list().await?;
        all.retain(|info| info.instance == self.config.instance && info.boot == self.boot);
        Ok(all)
    }

    /// Destroys a workspace this manager created.
    pub async fn destroy(&self, id: &WorkspaceId) -> Result<(), WorkspaceError> {
        let entry = self.lock_live().remove(id);
        if entry.is_none() {
            return Err(WorkspaceError::NotFound { id: id.0.clone() });
        }
        let result = self.backend.destroy(id).await;
        drop(entry);
        match result {
            Err(WorkspaceError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// Destroys every workspace idle for longer than the idle timeout; returns their ids.
    pub async fn reap_idle(&self) -> Vec<WorkspaceId> {
        let now = Instant::now();
        let idle: Vec<WorkspaceId> = self
            .lock_live()
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_used) >= self.config.idle_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &idle {
            if let Err(e) = self.destroy(id).await {
                tracing::warn!(%id, error = %e, "cannot remove idle workspace");
            }
        }
        idle
    }

    fn reserve(&self, project: &str) -> Result<PendingSlot<'_, B>, WorkspaceError> {
        let live = self
            .lock_live()
            .values()
            .filter(|e| e.project == project)
            .count();
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let in_flight = pending.entry(project.to_owned()).or_default();
        if live + *in_flight >= self.config.max_per_project {
            return Err(WorkspaceError::ConcurrencyLimit {
                project: project.to_owned(),
                limit: self.config.max_per_project,
            });
        }
        *in_flight += 1;
        Ok(PendingSlot {
            manager: self,
            project: project.to_owned(),
        })
    }

    fn lock_live(&self) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, Entry>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A create in flight: counted against its project's limit until dropped.
struct PendingSlot<'a, B> {
    manager: &'a WorkspaceManager<B>,
    project: String,
}

impl<B> Drop for PendingSlot<'_, B> {
    fn drop(&mut self) {
        let mut pending = self
            .manager
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = pending.get_mut(&self.project) {
            *n = n.saturating_sub(1);
        }
    }
}

async fn idle_reaper<B: WorkspaceBackend>(manager: Weak<WorkspaceManager<B>>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(manager) = manager.upgrade() else {
            return;
        };
        manager.reap_idle().await;
    }
}

/// A per-process id: time and pid, unique enough to tell two runs of one instance apart.
fn boot_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

/// A short unique directory name for a proxy socket.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}{:x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
