//! [`WorkspaceError`]: every way a workspace operation fails, each with a stable [`code`].
//!
//! [`code`]: WorkspaceError::code

use std::path::PathBuf;

/// A failed workspace operation. [`code`](Self::code) is the stable machine code the API and
/// the event log carry; the message is for people and may change.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// The daemon has no runtime of this name (gVisor's `runsc` is required unless the
    /// operator explicitly allowed `runc` for development).
    #[error(
        "the container runtime {runtime:?} is not available (the daemon has: {available:?}); install gVisor and register it as {runtime:?} (.ci/dockerd.sh does)"
    )]
    RuntimeUnavailable {
        /// The runtime the workspace needs.
        runtime: String,
        /// The runtimes the daemon offers.
        available: Vec<String>,
    },
    /// The created container would run under another runtime than requested; it was removed.
    #[error("the container was created with runtime {actual:?}, not {requested:?}; it was removed")]
    RuntimeMismatch {
        /// The runtime asked for.
        requested: String,
        /// The runtime the daemon recorded.
        actual: String,
    },
    /// The image is not present locally (images are built locally; nothing is pulled).
    #[error("image {image:?} is not present on the daemon; build it with build_image")]
    ImageNotFound {
        /// The image reference.
        image: String,
    },
    /// The image's id is not the one the configuration pins.
    #[error("image {image:?} has id {actual}, but {pinned} is pinned")]
    ImageMismatch {
        /// The image reference.
        image: String,
        /// The pinned id.
        pinned: String,
        /// The id the daemon has.
        actual: String,
    },
    /// Building an image failed.
    #[error("building image {image:?} failed: {reason}")]
    ImageBuild {
        /// The image reference.
        image: String,
        /// Why.
        reason: String,
    },
    /// The project directory cannot be mounted.
    #[error("project directory {path:?} cannot be used: {reason}")]
    ProjectDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The project already has its maximum number of workspaces.
    #[error("project {project:?} already has {limit} workspaces")]
    ConcurrencyLimit {
        /// The project.
        project: String,
        /// The per-project limit.
        limit: usize,
    },
    /// No workspace with this id (or not one this server manages).
    #[error("no workspace {id:?}")]
    NotFound {
        /// The workspace id.
        id: String,
    },
    /// The workspace's container is not running (it died, e.g. after an out-of-memory kill).
    #[error("workspace {id:?} is not running ({state})")]
    NotRunning {
        /// The workspace id.
        id: String,
        /// The daemon's state string.
        state: String,
    },
    /// A request that can never succeed (empty argv, a NUL byte, a relative cwd, ...).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// Why.
        reason: String,
    },
    /// The host-side egress proxy could not be set up.
    #[error("egress proxy: {reason}")]
    EgressProxy {
        /// Why.
        reason: String,
    },
    /// The daemon cannot be reached.
    #[error("the container daemon at {host} does not answer: {message}")]
    DaemonUnavailable {
        /// Where it was looked for.
        host: String,
        /// The client's error.
        message: String,
    },
    /// The daemon refused or failed an operation.
    #[error("container daemon: {operation} failed: {message}")]
    Daemon {
        /// What was attempted.
        operation: &'static str,
        /// The daemon's message.
        message: String,
    },
    /// A host-side file operation failed (the helper binary, socket directories).
    #[error("{context}: {source}")]
    Io {
        /// What was attempted.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl WorkspaceError {
    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RuntimeUnavailable { .. } => "runtime_unavailable",
            Self::RuntimeMismatch { .. } => "runtime_mismatch",
            Self::ImageNotFound { .. } => "image_not_found",
            Self::ImageMismatch { .. } => "image_mismatch",
            Self::ImageBuild { .. } => "image_build_failed",
            Self::ProjectDir { .. } => "project_dir_invalid",
            Self::ConcurrencyLimit { .. } => "workspace_limit",
            Self::NotFound { .. } => "workspace_not_found",
            Self::NotRunning { .. } => "workspace_not_running",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::EgressProxy { .. } => "egress_proxy_failed",
            Self::DaemonUnavailable { .. } => "daemon_unavailable",
            Self::Daemon { .. } => "daemon_error",
            Self::Io { .. } => "host_io",
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
