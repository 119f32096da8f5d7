//! The static in-container helper (`host/workspace/helper`), embedded at build time and written
//! next to the workspaces' state so it can be bind-mounted read-only into each of them.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::WorkspaceError;

/// The helper's bytes (a static x86_64 Linux executable).
static HELPER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stockade-workspace-helper"));

/// Where the helper is mounted inside a workspace.
pub const HELPER_IN_CONTAINER: &str = "/.stockade/helper";

/// Writes the helper to `dir/stockade-workspace-helper` (mode 0755) unless an identical copy is
/// there, and returns its path. Written to a temporary name and renamed, so a running
/// workspace's mount never sees a half-written file.
pub fn install_helper(dir: &Path) -> Result<PathBuf, WorkspaceError> {
    let path = dir.join("stockade-workspace-helper");
    if fs::read(&path).is_ok_and(|existing| existing == HELPER) {
        return Ok(path);
    }
    fs::create_dir_all(dir)
        .map_err(|e| WorkspaceError::io(format!("create {}", dir.display()), e))?;
    let tmp = dir.join(format!(".stockade-workspace-helper.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(HELPER)?;
        file.set_permissions(fs::Permissions::from_mode(0o755))?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| WorkspaceError::io(format!("write {}", path.display()), e))?;
    Ok(path)
}
