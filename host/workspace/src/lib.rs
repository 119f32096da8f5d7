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
//!   workspace as PID 1 and wraps every exec.
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
//!   `.git/config` are re-mounted read-only when present. Besides it, only the helper binary
//!   and, with a grant, the directory of the proxy socket (both read-only).
//! - Seccomp: a deny list (`docker/seccomp.json`: mount, unshare, setns, ptrace, bpf, keyctl,
//!   perf_event_open, module and clock syscalls, ...) applied inside the sandbox because runsc
//!   runs with `--oci-seccomp` (without it runsc ignores Docker's seccomp). Not Docker's
//!   default profile: under this runsc it answers `clone3` with EPERM, which stops glibc from
//!   ever creating a thread. **Gap:** this runsc applies the profile to the container's init
//!   (the helper, `Seccomp: 2`) and its descendants but not to `docker exec` processes
//!   (`Seccomp: 0`); commands must be spawned by PID 1 (an exec channel to the helper) for the
//!   filter to cover them. gVisor itself remains the boundary for exec'd commands.
//! - Labels `dev.stockade.owner`, `.project`, `.deadline` (unix seconds), `.instance` (server
//!   instance id) and `.boot` (the server process): how orphans are found.
//!
//! # pids headroom (measured here: Debian runsc 0.0~20221219, ptrace platform)
//! `pids.max` counts gVisor's own threads: an idle sandbox holds 38 tasks, 43 after one exec.
//! The default limit is 256, which leaves about 210 for the workload; a failed fork under
//! runsc reports ENOMEM rather than EAGAIN. A fork bomb that reaches `pids.max` ends its own
//! sandbox (gVisor can no longer create its threads; `nproc` ulimits do not prevent it): the
//! exec reports `workspace_died` or `timed_out`, the host and other workspaces are unaffected.
//!
//! # Latency (`cargo bench -p stockade-workspace --bench workspaces`, busybox image, 2 cores)
//! create → first exec done 360 ms p50 / 392 ms p95 (`docker run --rm --runtime=runsc IMAGE
//! true`: 571 / 731 ms); warm-pool acquisition 0.2 / 0.3 ms (→ first exec done 105 / 126 ms);
//! exec round trip 95 / 114 ms (`docker exec`: 108 / 133 ms). The exec goal of 40 ms is not met:
//! every exec pays for `runsc exec`; an exec channel to the helper (PID 1) would avoid it.
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
//! Output streams as [`ExecEvent`]s while the command runs; the last event is
//! [`ExecEvent::Finished`] with an [`ExecStatus`]: `exited` (with the exit code), `timed_out`
//! (the helper killed the command's process group at the deadline), `oom_killed` (the daemon
//! reports `State.OOMKilled`; under runsc the kernel's OOM killer ends the whole sandbox and a
//! `docker exec` into it never returns, so the exec watches the container too) or
//! `workspace_died`. A command's background processes end with it.
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
