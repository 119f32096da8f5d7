//! The exec channel of one workspace: a Unix socket on the host, in a directory of its own that
//! is bind-mounted read-only into that one container only. The helper's exec server inside
//! connects out to it (runsc `--host-uds=open`) and keeps one idle connection waiting in the
//! listen queue; an exec accepts it, sends the request and reads the command's output from it.
//!
//! The socket is mode 0666 so the workspace's non-root user can connect; a connection from any
//! host process but root's or this server's user (the sandbox connects as root) is dropped.
//! Inside the workspace, the helper and the workspace's commands share one user: a command
//! could connect too and take an exec request meant for the helper; it learns nothing a
//! process of that user could not read from `/proc` anyway, and can only misreport that exec.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::WaitContainerOptions;
use futures_util::StreamExt as _;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{ExecStatus, WorkspaceError};

/// The file name of the exec socket inside its directory.
pub(crate) const EXEC_SOCKET_NAME: &str = "exec.sock";
/// Where the exec socket's directory is mounted inside a workspace.
pub(crate) const EXEC_DIR_IN_CONTAINER: &str = "/.stockade/exec";

/// A workspace's exec socket and the watch on its container.
#[derive(Debug)]
pub(crate) struct ExecChannel {
    dir: PathBuf,
    listener: UnixListener,
    /// Why the container stopped, once it did (`None` while it runs or when unknown).
    ended: watch::Receiver<Option<ExecStatus>>,
    ended_tx: watch::Sender<Option<ExecStatus>>,
    watcher: Option<JoinHandle<()>>,
}

impl ExecChannel {
    /// Creates `dir` (mode 0755) and listens on `dir/exec.sock` (mode 0666).
    pub(crate) fn bind(dir: &Path) -> Result<Self, WorkspaceError> {
        let io = |what: &str, e| WorkspaceError::io(format!("{what} {}", dir.display()), e);
        std::fs::create_dir_all(dir).map_err(|e| io("create", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io("chmod", e))?;
        let path = dir.join(EXEC_SOCKET_NAME);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|e| io("listen in", e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| io("chmod socket in", e))?;
        let (ended_tx, ended) = watch::channel(None);
        Ok(Self {
            dir: dir.to_owned(),
            listener,
            ended,
            ended_tx,
            watcher: None,
        })
    }

    /// The directory holding the socket (what the backend mounts).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts watching the container: once it stops, [`ended`](Self::ended) says why.
    pub(crate) fn watch(&mut self, docker: &Docker, container: &str) {
        let (docker, container) = (docker.clone(), container.to_owned());
        let tx = self.ended_tx.clone();
        self.watcher = Some(tokio::spawn(async move {
            let mut wait = docker.wait_container(
                &container,
                Some(WaitContainerOptions {
                    condition: "not-running".to_owned(),
                }),
            );
            // Ends when the container stops (or the wait itself fails: then look anyway).
            let _ = wait.next().await;
            for _ in 0..50 {
                if let Some(status) = super::exec::container_end(&docker, &container).await {
                    let _ = tx.send(Some(status));
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    /// Why the container stopped, as soon as it is known.
    pub(crate) fn ended(&self) -> watch::Receiver<Option<ExecStatus>> {
        self.ended.clone()
    }

    /// The next connection of the helper in the listen queue, skipping connections from host
    /// processes that are neither root nor this server's user.
    pub(crate) async fn accept(&self) -> std::io::Result<UnixStream> {
        let own = rustix::process::geteuid().as_raw();
        loop {
            let (stream, _) = self.listener.accept().await?;
            match stream.peer_cred() {
                Ok(cred) if cred.uid() == 0 || cred.uid() == own => return Ok(stream),
                Ok(cred) => tracing::warn!(
                    uid = cred.uid(),
                    pid = ?cred.pid(),
                    dir = %self.dir.display(),
                    "dropped a connection to a workspace exec socket from another user"
                ),
                Err(e) => tracing::warn!(error = %e, "exec socket: no peer credentials"),
            }
        }
    }
}

impl Drop for ExecChannel {
    fn drop(&mut self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
