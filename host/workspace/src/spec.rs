//! What a caller asks for ([`WorkspaceSpec`], [`ExecRequest`]) and what it gets back
//! ([`WorkspaceId`], [`Execution`], [`ExecOutcome`], [`WorkspaceInfo`]).

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use stockade_egress::EgressGrant;
use tokio::sync::mpsc;

/// A workspace's id: the backend's container id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspaceId(pub String);

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which image a workspace runs, optionally pinned to an image id (`sha256:...`) as
/// [`build_image`](crate::build_image) returned it. A pinned profile refuses an image whose id
/// differs (`image_mismatch`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageProfile {
    /// The local image reference, e.g. `stockade/workspace-test:busybox`.
    pub reference: String,
    /// The image id the configuration pins, if any.
    pub pinned_id: Option<String>,
}

impl ImageProfile {
    /// An unpinned profile (development; production configs pin the id).
    pub fn new(reference: impl Into<String>) -> Self {
        Self {
            reference: reference.into(),
            pinned_id: None,
        }
    }

    /// Pins the image id.
    pub fn pinned(mut self, id: impl Into<String>) -> Self {
        self.pinned_id = Some(id.into());
        self
    }
}

/// Resource limits of one workspace. The defaults are what a workspace gets unless configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Memory limit in bytes; memory+swap is set to the same value (no swap). Default 512 MiB.
    pub memory_bytes: i64,
    /// CPU limit in billionths of a CPU. Default 1 CPU (1_000_000_000).
    pub nano_cpus: i64,
    /// `pids.max` for the whole sandbox. Under runsc this counts gVisor's own host threads too,
    /// which grow with the processes the workload created and ran at once: an idle sandbox
    /// holds about 53 here, about 128 after dozens of execs or forks, about 200 after 8
    /// concurrent processes (see the crate docs). Default 256.
    pub pids: i64,
    /// Size of the `/tmp` tmpfs in bytes. Default 64 MiB.
    pub tmp_bytes: u64,
    /// `nofile` soft and hard limit. Default 1024.
    pub nofile: i64,
    /// json-file log size cap (`max-size`). Default `1m`, one file.
    pub log_max_size: String,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 << 20,
            nano_cpus: 1_000_000_000,
            pids: 256,
            tmp_bytes: 64 << 20,
            nofile: 1024,
            log_max_size: "1m".to_owned(),
        }
    }
}

/// A workspace to create.
#[derive(Debug, Clone)]
pub struct WorkspaceSpec {
    /// Who owns it (an agent or user id); label `dev.stockade.owner`.
    pub owner: String,
    /// The project id; label `dev.stockade.project`, and the unit of the concurrency limit.
    pub project: String,
    /// The host directory mounted read-write at `/workspace`: the only host path visible.
    pub project_dir: PathBuf,
    /// The image.
    pub image: ImageProfile,
    /// Resource limits.
    pub limits: Limits,
    /// Egress destinations, enforced by the host-side proxy. `None`: no way out at all.
    pub egress: Option<EgressGrant>,
    /// How long the workspace may live at most; label `dev.stockade.deadline` (unix seconds).
    pub lifetime: Duration,
}

impl WorkspaceSpec {
    /// A spec with default limits, no egress and a lifetime of 8 hours.
    pub fn new(
        owner: impl Into<String>,
        project: impl Into<String>,
        project_dir: impl Into<PathBuf>,
        image: ImageProfile,
    ) -> Self {
        Self {
            owner: owner.into(),
            project: project.into(),
            project_dir: project_dir.into(),
            image,
            limits: Limits::default(),
            egress: None,
            lifetime: Duration::from_secs(8 * 3600),
        }
    }
}

/// One command to run in a workspace.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The program and its arguments (no shell unless you ask for one).
    pub argv: Vec<String>,
    /// Working directory inside the workspace. Default `/workspace`.
    pub cwd: Option<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Bytes written to the command's stdin, then closed. `None`: no stdin.
    pub stdin: Option<Bytes>,
    /// The command and its process group are killed after this long (`timed_out`).
    pub timeout: Duration,
}

impl ExecRequest {
    /// `argv` with no stdin, no extra env, cwd `/workspace` and a 60 s timeout.
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            cwd: None,
            env: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(60),
        }
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets stdin.
    pub fn stdin(mut self, bytes: impl Into<Bytes>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }
}

/// How an exec ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStatus {
    /// The command exited; see the exit code.
    Exited,
    /// The timeout passed; the command's process group was killed.
    TimedOut,
    /// The workspace ran out of memory. Under runsc the host kernel's OOM killer ends the whole
    /// sandbox, so the workspace is gone afterwards (`workspace_not_running`).
    OomKilled,
    /// The workspace's container stopped for another reason while the command ran.
    WorkspaceDied,
}

impl ExecStatus {
    /// The stable code: `exited`, `timed_out`, `oom_killed`, `workspace_died`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Exited => "exited",
            Self::TimedOut => "timed_out",
            Self::OomKilled => "oom_killed",
            Self::WorkspaceDied => "workspace_died",
        }
    }
}

/// The end of an exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// How it ended.
    pub status: ExecStatus,
    /// The exit code when the command exited (128+signal when a signal ended it).
    pub exit_code: Option<i64>,
    /// From the request to the end.
    pub duration: Duration,
}

/// One event of a running exec, in the order produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEvent {
    /// Bytes the command wrote to stdout.
    Stdout(Bytes),
    /// Bytes the command wrote to stderr.
    Stderr(Bytes),
    /// The last event.
    Finished(ExecOutcome),
}

/// A running exec: its events as they are produced. Dropping it does not stop the command
/// (its timeout does).
#[derive(Debug)]
pub struct Execution {
    /// The events; the last one is [`ExecEvent::Finished`] unless the backend failed.
    pub events: mpsc::Receiver<ExecEvent>,
}

/// A finished exec's whole output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// How it ended (`WorkspaceDied` if the stream ended without an outcome).
    pub outcome: ExecOutcome,
}

impl ExecOutput {
    /// stdout as text (lossy).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as text (lossy).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl Execution {
    /// Waits for the end and gathers the output.
    pub async fn collect(mut self) -> ExecOutput {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        while let Some(event) = self.events.recv().await {
            match event {
                ExecEvent::Stdout(b) => stdout.extend_from_slice(&b),
                ExecEvent::Stderr(b) => stderr.extend_from_slice(&b),
                ExecEvent::Finished(outcome) => {
                    return ExecOutput {
                        stdout,
                        stderr,
                        outcome,
                    };
                }
            }
        }
        ExecOutput {
            stdout,
            stderr,
            outcome: ExecOutcome {
                status: ExecStatus::WorkspaceDied,
                exit_code: None,
                duration: Duration::ZERO,
            },
        }
    }
}

/// A workspace as the backend reports it (from its labels and state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceInfo {
    /// The id.
    pub id: WorkspaceId,
    /// Label `dev.stockade.owner`.
    pub owner: String,
    /// Label `dev.stockade.project`.
    pub project: String,
    /// Label `dev.stockade.instance`: the server instance that created it.
    pub instance: String,
    /// Label `dev.stockade.boot`: the server process (boot) that created it.
    pub boot: String,
    /// Label `dev.stockade.deadline`.
    pub deadline: Option<SystemTime>,
    /// Whether its container is running.
    pub running: bool,
}
