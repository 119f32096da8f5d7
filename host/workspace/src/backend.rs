//! [`WorkspaceBackend`]: what a place that runs workspaces must do. Docker (`DockerBackend`)
//! now; Kubernetes with a gVisor RuntimeClass later. Nothing here names Docker.

use std::future::Future;
use std::path::Path;

use crate::{ExecRequest, Execution, WorkspaceError, WorkspaceId, WorkspaceInfo, WorkspaceSpec};

/// Labels every workspace carries; [`WorkspaceInfo`] is read back from them.
pub mod labels {
    /// The owner (agent or user id).
    pub const OWNER: &str = "dev.stockade.owner";
    /// The project id.
    pub const PROJECT: &str = "dev.stockade.project";
    /// Unix seconds after which the workspace may be removed.
    pub const DEADLINE: &str = "dev.stockade.deadline";
    /// The server instance that created it (stable across restarts of that server).
    pub const INSTANCE: &str = "dev.stockade.instance";
    /// The server process (one per start) that created it: another boot's workspaces of the
    /// same instance are orphans.
    pub const BOOT: &str = "dev.stockade.boot";
}

/// Everything a backend needs to create one workspace.
#[derive(Debug, Clone, Copy)]
pub struct CreateRequest<'a> {
    /// What to create.
    pub spec: &'a WorkspaceSpec,
    /// Label [`labels::INSTANCE`].
    pub instance: &'a str,
    /// Label [`labels::BOOT`].
    pub boot: &'a str,
    /// Host path of the static helper, mounted read-only at
    /// [`HELPER_IN_CONTAINER`](crate::HELPER_IN_CONTAINER); it runs as PID 1.
    pub helper: &'a Path,
    /// Host directory holding the egress proxy's `egress.sock`, mounted read-only at
    /// [`EGRESS_DIR_IN_CONTAINER`](crate::EGRESS_DIR_IN_CONTAINER); `None` without egress.
    pub egress_dir: Option<&'a Path>,
}

/// A place that runs hardened workspaces. Every workspace it creates is already started, runs
/// the helper as PID 1, and carries the [`labels`].
pub trait WorkspaceBackend: Send + Sync + 'static {
    /// Creates and starts a workspace, or fails without leaving one behind.
    fn create(
        &self,
        request: CreateRequest<'_>,
    ) -> impl Future<Output = Result<WorkspaceId, WorkspaceError>> + Send;

    /// Starts a command; its output streams through the returned [`Execution`].
    fn exec(
        &self,
        id: &WorkspaceId,
        request: ExecRequest,
    ) -> impl Future<Output = Result<Execution, WorkspaceError>> + Send;

    /// Every workspace carrying Stockade's labels, of any instance.
    fn list(&self) -> impl Future<Output = Result<Vec<WorkspaceInfo>, WorkspaceError>> + Send;

    /// Removes a workspace (killing what runs in it) and whatever the runtime left behind.
    fn destroy(&self, id: &WorkspaceId) -> impl Future<Output = Result<(), WorkspaceError>> + Send;
}
