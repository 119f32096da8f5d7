//! The hardened container body: every workspace gets these settings; nothing in a request can
//! turn one off.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::SystemTime;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits};

use super::channel::{EXEC_DIR_IN_CONTAINER, EXEC_SOCKET_NAME};
use crate::backend::{CreateRequest, labels};
use crate::{EGRESS_DIR_IN_CONTAINER, EGRESS_PROXY_PORT, HELPER_IN_CONTAINER, WorkspaceError};

/// The seccomp profile, applied inside the sandbox because runsc runs with `--oci-seccomp`.
/// A deny list on top of gVisor rather than Docker's default allow list: under this runsc,
/// Docker's default profile answers `clone3` with EPERM (runsc ignores its `errnoRet: ENOSYS`),
/// so glibc never falls back to `clone` and no program can start a thread.
const SECCOMP: &str = include_str!("seccomp.json");

/// The user a workspace runs as when the project directory belongs to root.
pub(crate) const NOBODY: u32 = 65534;

pub(crate) fn hardened(
    request: &CreateRequest<'_>,
    runtime: &str,
    image_id: &str,
    exec_dir: &Path,
) -> Result<ContainerCreateBody, WorkspaceError> {
    let spec = request.spec;
    let project_dir = project_dir(&spec.project_dir)?;
    let meta = std::fs::metadata(&project_dir)
        .map_err(|e| WorkspaceError::io(format!("stat {}", project_dir.display()), e))?;
    // Never root: the project directory's owner, so the workspace can write its files.
    let (uid, gid) = match (meta.uid(), meta.gid()) {
        (0, _) => (NOBODY, NOBODY),
        (uid, gid) => (uid, gid),
    };
    let deadline = SystemTime::now()
        .checked_add(spec.lifetime)
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());

    let mut binds = vec![
        format!("{}:/workspace:rw", project_dir.display()),
        format!("{}:{HELPER_IN_CONTAINER}:ro", path_str(request.helper)?),
        // This workspace's exec socket, in a directory of its own: no other container sees it.
        format!("{}:{EXEC_DIR_IN_CONTAINER}:ro", path_str(exec_dir)?),
    ];
    // Git runs hooks and honours `core.fsmonitor`/`core.sshCommand` from these: a workspace
    // must not plant commands that the operator's own git later runs on the host.
    for git_path in [".git/hooks", ".git/config"] {
        let host = project_dir.join(git_path);
        if host.exists() {
            binds.push(format!("{}:/workspace/{git_path}:ro", host.display()));
        }
    }
    let mut env = vec!["HOME=/tmp".to_owned()];
    let mut cmd = vec![
        "init".to_owned(),
        "--exec-socket".to_owned(),
        format!("{EXEC_DIR_IN_CONTAINER}/{EXEC_SOCKET_NAME}"),
    ];
    if let Some(dir) = request.egress_dir {
        binds.push(format!("{}:{EGRESS_DIR_IN_CONTAINER}:ro", path_str(dir)?));
        let proxy = format!("http://127.0.0.1:{EGRESS_PROXY_PORT}");
        for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
            env.push(format!("{name}={proxy}"));
        }
        cmd.extend([
            "--listen".to_owned(),
            format!("127.0.0.1:{EGRESS_PROXY_PORT}"),
            "--socket".to_owned(),
            format!("{EGRESS_DIR_IN_CONTAINER}/egress.sock"),
        ]);
    }

    let limits = &spec.limits;
    let host_config = HostConfig {
        runtime: Some(runtime.to_owned()),
        network_mode: Some("none".to_owned()),
        cap_drop: Some(vec!["ALL".to_owned()]),
        security_opt: Some(vec![
            "no-new-privileges:true".to_owned(),
            format!("seccomp={SECCOMP}"),
        ]),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_owned(),
            format!("rw,nosuid,nodev,size={},mode=1777", limits.tmp_bytes),
        )])),
        memory: Some(limits.memory_bytes),
        memory_swap: Some(limits.memory_bytes),
        nano_cpus: Some(limits.nano_cpus),
        pids_limit: Some(limits.pids),
        ulimits: Some(vec![ResourcesUlimits {
            name: Some("nofile".to_owned()),
            soft: Some(limits.nofile),
            hard: Some(limits.nofile),
        }]),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".to_owned()),
            config: Some(HashMap::from([
                ("max-size".to_owned(), limits.log_max_size.clone()),
                ("max-file".to_owned(), "1".to_owned()),
            ])),
        }),
        binds: Some(binds),
        ipc_mode: Some("private".to_owned()),
        privileged: Some(false),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(image_id.to_owned()),
        user: Some(format!("{uid}:{gid}")),
        entrypoint: Some(vec![HELPER_IN_CONTAINER.to_owned()]),
        cmd: Some(cmd),
        env: Some(env),
        working_dir: Some("/workspace".to_owned()),
        network_disabled: Some(true),
        labels: Some(HashMap::from([
            (labels::OWNER.to_owned(), spec.owner.clone()),
            (labels::PROJECT.to_owned(), spec.project.clone()),
            (labels::DEADLINE.to_owned(), deadline.to_string()),
            (labels::INSTANCE.to_owned(), request.instance.to_owned()),
            (labels::BOOT.to_owned(), request.boot.to_owned()),
        ])),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// The canonical project directory: it must exist, be a directory, not be `/`, and have a path
/// Docker's bind syntax can carry.
fn project_dir(dir: &Path) -> Result<std::path::PathBuf, WorkspaceError> {
    let invalid = |reason: &str| WorkspaceError::ProjectDir {
        path: dir.to_owned(),
        reason: reason.to_owned(),
    };
    let canonical = dir
        .canonicalize()
        .map_err(|e| invalid(&format!("cannot resolve it: {e}")))?;
    if !canonical.is_dir() {
        return Err(invalid("not a directory"));
    }
    if canonical.parent().is_none() {
        return Err(invalid("the root directory cannot be a workspace"));
    }
    path_str(&canonical).map_err(|_| invalid("path is not UTF-8 or contains ':' or ','"))?;
    Ok(canonical)
}

fn path_str(path: &Path) -> Result<&str, WorkspaceError> {
    path.to_str()
        .filter(|s| !s.contains([':', ',']))
        .ok_or_else(|| WorkspaceError::InvalidRequest {
            reason: format!("{} is not UTF-8 or contains ':' or ','", path.display()),
        })
}
