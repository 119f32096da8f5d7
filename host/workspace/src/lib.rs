//! Stockade's agent workspaces: hardened containers under gVisor (`runsc`) in which agents run
//! builds, tests and shells, with no network except what an egress grant allows, enforced
//! outside the sandbox.
//!
//! - [`WorkspaceBackend`] (`backend.rs`) is what a place that runs workspaces does: create,
//!   exec, list, destroy. [`DockerBackend`] (`docker.rs`, bollard) is the one backend today;
//!   Kubernetes with a gVisor RuntimeClass is the planned second.
//! - [`WorkspaceManager`] (`manager.rs`) owns the lifecycle: per-project limit, an
//!   [`EgressProxy`] per workspace with a grant, the idle reaper, and
//!   [`reap_orphans`](WorkspaceManager::reap_orphans) on start.
//! - The helper (`helper/`, a separate static binary embedded by `build.rs`) runs inside every
//!   workspace as PID 1, with its exec server as PID 1's child: every command is spawned there,
//!   on a request over the workspace's exec socket (see Exec).
//! - [`build_image`] (`image.rs`) builds images locally from Debian packages; the binary
//!   `stockade-workspace-image` calls it.
//! - [`WarmPool`] (`pool.rs`) keeps started workspaces of one spec ready to hand out.
//!
//! # Hardening (every workspace; nothing in a request turns it off)
//! - Runtime `runsc` (gVisor, `--platform=ptrace`). If the daemon has none: `runtime_unavailable`.
//!   `runc` only through [`RuntimeChoice::DevelopmentRunc`], warned on every create. After
//!   create the container is inspected and removed (`runtime_mismatch`) unless the daemon
//!   recorded the requested runtime.
//! - `cap-drop ALL`, `no-new-privileges`, a non-root user (the project directory's owner, or
//!   65534 when root owns it), read-only root filesystem, `/tmp` a `nosuid,nodev` tmpfs with a
//!   size cap, memory limit with memory+swap equal to it, `nano_cpus`, `pids.max`, `nofile`,
//!   json-file logs capped at one file of `max-size`, private IPC, `network_mode: none`.
//! - Only the project directory is bind-mounted (`/workspace`); its `.git/hooks` and
//!   `.git/config` are re-mounted read-only when present. Besides it, only the helper binary,
//!   the workspace's own exec socket directory and, with a grant, the directory of the proxy
//!   socket (all read-only).
//! - Seccomp: a deny list (`docker/seccomp.json`: mount, unshare, setns, ptrace, bpf, keyctl,
//!   perf_event_open, module and clock syscalls, ...) applied inside the sandbox because runsc
//!   runs with `--oci-seccomp` (without it runsc ignores Docker's seccomp). Not Docker's
//!   default profile: under this runsc it answers `clone3` with EPERM, which stops glibc from
//!   ever creating a thread. This runsc applies the profile to the container's init (the
//!   helper) and its descendants only, not to `docker exec` processes (`Seccomp: 0`); that is
//!   why no command goes through `docker exec`: every exec is a descendant of PID 1 and shows
//!   `Seccomp: 2` (the hardening test checks an exec'd command's `/proc/self/status`).
//! - Labels `dev.stockade.owner`, `.project`, `.deadline` (unix seconds), `.instance` (server
//!   instance id) and `.boot` (the server process): how orphans are found.
//!
//! # pids headroom (measured here: Debian runsc 0.0~20221219, ptrace platform)
//! `pids.max` counts gVisor's own host threads, and under the ptrace platform they grow with
//! the processes the workload has created and with how many ran at once, and are kept: an idle
//! sandbox (helper and exec server) holds about 53 tasks, 71 after one exec, about 128 after
//! 30 sequential execs or 60 forks in one shell, and about 185-215 after 8 processes ran at
//! once. (`docker exec` of `true` grew it less, 46 → 64 after 30, because `runsc exec` creates
//! the task without a fork in the sandbox; any command that forks pays the same.) The default
//! limit of 256 therefore leaves room for a handful of concurrent processes, not a parallel
//! build; raise [`Limits::pids`] for those. A failed fork under runsc reports ENOMEM rather
//! than EAGAIN. A fork bomb that reaches `pids.max` ends its own sandbox (gVisor can no longer
//! create its threads; `nproc` ulimits do not prevent it): the exec reports `workspace_died` or
//! `timed_out`, the host and other workspaces are unaffected.
//!
//! # Latency (`cargo bench -p stockade-workspace --bench workspaces`, busybox image, 2 cores)
//! create → first exec done 225 ms p50 / 248 ms p95 (`docker run --rm --runtime=runsc IMAGE
//! true`: 355 / 405 ms); warm-pool acquisition 0.2 / 0.2 ms (→ first exec done 28 / 39 ms);
//! exec round trip 13 / 21 ms through the exec channel (`docker exec`: 86 / 110 ms). The exec
//! goal of 40 ms is met: no exec pays for `runsc exec`.
//!
//! # Egress
//! runsc's netstack does not work on these hosts, so a workspace never has a network device.
//! With a grant, the manager starts an [`EgressProxy`] on a per-workspace Unix socket on the
//! host; runsc's `--host-uds=open` lets the container connect to that one bind-mounted socket.
//! The helper listens on `127.0.0.1:3128` inside and relays to it; `HTTP_PROXY`,
//! `HTTPS_PROXY`, `http_proxy` and `https_proxy` point there. The proxy judges `CONNECT` as
//! `https://host:port` and absolute-form requests as their URL with the `stockade-egress`
//! policy, resolves names host-side once, checks every address and connects to a checked one.
//! Without a grant there is no socket and no relay: nothing is reachable.
//!
//! # Exec
//! Not `docker exec` (which is `runsc exec`: ~90 ms each, and outside the seccomp filter). At
//! create, the backend listens on a Unix socket in a directory of its own under the state
//! directory (`exec/<unique>/exec.sock`), bind-mounted read-only at `/.stockade/exec` into that
//! one container, like the egress socket: the sandbox connects out to it (`--host-uds=open`);
//! the host never connects into the sandbox. The helper's exec server (PID 1's child, the
//! workspace's non-root user) keeps one idle connection in the socket's listen queue; an exec
//! accepts it, sends the request (argv, cwd, default `/workspace`, env, timeout, then stdin),
//! and the helper dials the next idle connection while it serves this one. Connections from
//! host processes other than root's or the server's user are dropped. Frames and JSON:
//! `helper/src/protocol.rs`, compiled into both sides. Right after create the helper may not
//! have dialled yet: an exec waits up to 15 s for it while the container runs.
//!
//! Output streams as [`ExecEvent`]s while the command runs; the last event is
//! [`ExecEvent::Finished`] with an [`ExecStatus`]: `exited` (with the exit code; 128+signal for
//! a signal; 127 when the program does not exist, 126 when it cannot be executed), `timed_out`
//! (the helper killed the command's process group at the deadline), `oom_killed` (the daemon
//! reports `State.OOMKilled`; under runsc the kernel's OOM killer ends the whole sandbox, so
//! every workspace's container is watched and an exec in it ends when it stops) or
//! `workspace_died` (the sandbox, or the exec server, went away under the command). A
//! command's background processes end with it. A process inside the workspace runs as the same
//! user as the helper and could connect to the exec socket too, taking an exec request meant
//! for the helper: it learns nothing that user could not read in `/proc` already and can only
//! misreport that one exec.
//!
//! # Error codes ([`WorkspaceError::code`])
//! `runtime_unavailable`, `runtime_mismatch`, `image_not_found`, `image_mismatch`,
//! `image_build_failed`, `project_dir_invalid`, `workspace_limit`, `workspace_not_found`,
//! `workspace_not_running`, `invalid_request`, `egress_proxy_failed`, `daemon_unavailable`,
//! `daemon_error`, `host_io`.

#![deny(unsafe_code)]

mod backend;
mod docker;
mod error;
mod helper;
mod image;
mod manager;
mod orphans;
mod pool;
#[allow(dead_code)] // shared with the helper; the host uses part of it
#[path = "../helper/src/protocol.rs"]
mod protocol;
mod proxy;
mod spec;

pub use backend::{CreateRequest, WorkspaceBackend, labels};
pub use docker::{DEFAULT_DOCKER_HOST, DockerBackend, RuntimeChoice, docker_host};
pub use error::WorkspaceError;
pub use helper::{HELPER_IN_CONTAINER, install_helper};
pub use image::{BuiltImage, DEFAULT_IMAGE, ImageRecipe, TEST_IMAGE, build_image};
pub use manager::{ManagerConfig, WorkspaceManager};
pub use orphans::{kill_runsc_leftovers, runsc_processes};
pub use pool::WarmPool;
pub use proxy::{EgressProxy, SOCKET_NAME};
pub use spec::{
    ExecEvent, ExecOutcome, ExecOutput, ExecRequest, ExecStatus, Execution, ImageProfile, Limits,
    WorkspaceId, WorkspaceInfo, WorkspaceSpec,
};

/// Where the egress proxy's socket directory is mounted inside a workspace.
pub const EGRESS_DIR_IN_CONTAINER: &str = "/.stockade/egress";
/// The port the helper's egress relay listens on inside a workspace (`127.0.0.1`).
pub const EGRESS_PROXY_PORT: u16 = 3128;
