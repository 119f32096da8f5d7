//! Leftover gVisor processes. A runsc start that fails, or a daemon that loses track of a
//! sandbox, can leave `runsc-sandbox` and `runsc-gofer` processes running after their container
//! is gone. Each carries its container id on its command line; once the container is removed,
//! any such process is killed.

use std::fs;

use rustix::process::{Pid, Signal, kill_process};

/// Kills every host process whose program name starts with `runsc` and whose command line
/// names one of `container_ids` (full 64-hex ids). Returns how many were signalled. Call it only
/// for containers that were removed: a live container's sandbox would die too.
pub fn kill_runsc_leftovers(container_ids: &[String]) -> usize {
    let ids: Vec<&str> = container_ids
        .iter()
        .map(String::as_str)
        .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    if ids.is_empty() {
        return 0;
    }
    runsc_processes()
        .into_iter()
        .filter(|(_, cmdline)| ids.iter().any(|id| cmdline.contains(id)))
        .filter(|(pid, _)| kill_process(*pid, Signal::KILL).is_ok())
        .count()
}

/// Every process whose program name starts with `runsc`, with its command line (arguments
/// joined by spaces).
pub fn runsc_processes() -> Vec<(Pid, String)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let raw = fs::read(entry.path().join("cmdline")).ok()?;
            let mut args = raw.split(|b| *b == 0).filter(|a| !a.is_empty());
            let program = args.next()?;
            let name = program.rsplit(|b| *b == b'/').next()?;
            if !name.starts_with(b"runsc") {
                return None;
            }
            let cmdline =
                String::from_utf8_lossy(&raw.split(|b| *b == 0).collect::<Vec<_>>().join(&b' '))
                    .into_owned();
            Some((Pid::from_raw(pid)?, cmdline))
        })
        .collect()
}
