//! Builds the in-container helper (`host/workspace/helper`) as a static x86_64 Linux binary and
//! copies it to `$OUT_DIR`; `src/helper.rs` embeds the bytes, so the server
//! binary carries the helper and writes it out next to its workspaces.
//!
//! A nested `cargo build --profile guest --target x86_64-unknown-linux-gnu` with
//! `-C target-feature=+crt-static` (glibc's `libc.a`, package `libc6-dev`): the explicit
//! `--target` keeps the static flag off build scripts, and the `guest` profile's output
//! directories are never the outer build's, so cargo's per-directory build lock does not
//! deadlock (the same arrangement as `tests/artifacts/build.rs`). The nested cargo gets a clean
//! environment: nothing of the outer build's flags, profile or wrapper (clippy) leaks into it.

#![forbid(unsafe_code)]

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const TARGET: &str = "x86_64-unknown-linux-gnu";
const PROFILE: &str = "guest";
const PACKAGE: &str = "stockade-workspace-helper";

/// Variables the nested cargo needs: where the toolchain and the registry cache are.
const KEEP: &[&str] = &[
    "PATH",
    "HOME",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "CARGO",
];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("no OUT_DIR")?);
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .ok_or("host/workspace has no workspace root two levels up")?
        .to_path_buf();
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("helper").display()
    );
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));

    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command.env_clear();
    for (name, value) in env::vars_os() {
        let keep = name.to_str().is_some_and(|name| {
            KEEP.contains(&name)
                || [
                    "CARGO_NET_",
                    "CARGO_HTTP_",
                    "CARGO_REGISTRIES_",
                    "CARGO_REGISTRY_",
                ]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        });
        if keep {
            command.env(name, value);
        }
    }
    command
        .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["-p", PACKAGE, "--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(&target_dir);
    let status = command
        .status()
        .map_err(|err| format!("cannot run {}: {err}", cargo.to_string_lossy()))?;
    if !status.success() {
        return Err(format!(
            "building {PACKAGE} failed ({status}); it needs glibc's static libc.a (apt-get install libc6-dev)"
        ));
    }
    let binary = target_dir.join(TARGET).join(PROFILE).join(PACKAGE);
    if !binary.is_file() {
        return Err(format!(
            "cargo built {PACKAGE} but {} is missing",
            binary.display()
        ));
    }
    // A copy under OUT_DIR, the path `include_bytes!` in src/helper.rs names.
    std::fs::copy(&binary, out_dir.join("stockade-workspace-helper"))
        .map(drop)
        .map_err(|err| format!("cannot copy {}: {err}", binary.display()))
}
