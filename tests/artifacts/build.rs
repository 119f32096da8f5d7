//! Builds the guest plugins to `wasm32-wasip2` components and writes their paths into
//! `$OUT_DIR/artifacts.rs`, which `src/lib.rs` includes.
//!
//! The guests are built by a nested `cargo build --profile guest --target wasm32-wasip2` into
//! the same target directory as the outer build, so `target/wasm32-wasip2/guest/*.wasm` is one
//! set of files shared with `xtask` and the CLI. That does not deadlock on cargo's build lock:
//! cargo locks per output directory (`target/debug`, `target/release`, ...), and the `guest`
//! profile's directories (`target/guest` for build scripts and proc macros,
//! `target/wasm32-wasip2/guest` for the guests) are never the outer build's.

#![forbid(unsafe_code)]

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "guest";

/// The guests: the const naming the component, the package, and its folder (where its
/// `bundle.toml` lives), relative to the workspace root.
const GUESTS: &[(&str, &str, &str)] = &[
    ("FS", "stockade-plugin-fs", "plugins/fs"),
    ("HTTP", "stockade-plugin-http", "plugins/http"),
    ("HOSTILE", "stockade-guest-hostile", "tests/guests/hostile"),
    ("TRIVIAL", "stockade-guest-trivial", "tests/guests/trivial"),
];

/// Sources whose change must rebuild the guests, relative to the workspace root.
const WATCHED: &[&str] = &[
    "plugins/fs",
    "plugins/http",
    "tests/guests",
    "plugin-sdk",
    "wit",
    "Cargo.toml",
    "Cargo.lock",
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
    let manifest_dir = env_path("CARGO_MANIFEST_DIR")?;
    let out_dir = env_path("OUT_DIR")?;
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .ok_or("tests/artifacts has no workspace root two levels up")?
        .to_path_buf();
    for watched in WATCHED {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    check_target_installed()?;
    let target_dir = match env::var_os("CARGO_TARGET_DIR") {
        // Relative to where the outer cargo ran, which a build script cannot know; the
        // workspace root is where it is run in practice.
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    build_guests(&workspace, &target_dir)?;

    let wasm_dir = target_dir.join(TARGET).join(PROFILE);
    let mut code = String::new();
    for (name, package, folder) in GUESTS {
        let wasm = wasm_dir.join(format!("{}.wasm", package.replace('-', "_")));
        if !wasm.is_file() {
            return Err(format!(
                "cargo built {package} but {} is missing",
                wasm.display()
            ));
        }
        let bundle_dir = workspace.join(folder);
        let _ = writeln!(
            code,
            "/// The `{package}` component, built for `{TARGET}` with the `{PROFILE}` profile.\n\
             pub const {name}: &str = {wasm:?};\n\
             /// The folder holding `{package}`'s `bundle.toml` (its plugin source folder).\n\
             pub const {name}_BUNDLE_DIR: &str = {bundle_dir:?};",
            wasm = path_str(&wasm)?,
            bundle_dir = path_str(&bundle_dir)?,
        );
    }
    let _ = writeln!(
        code,
        "/// The directory holding all the built components.\n\
         pub const WASM_DIR: &str = {:?};",
        path_str(&wasm_dir)?
    );
    fs::write(out_dir.join("artifacts.rs"), code).map_err(|err| {
        format!(
            "cannot write {}: {err}",
            out_dir.join("artifacts.rs").display()
        )
    })
}

fn env_path(name: &str) -> Result<PathBuf, String> {
    env::var_os(name)
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo did not set {name}"))
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("path is not UTF-8: {}", path.display()))
}

/// Fails early with the fix, instead of a page of "can't find crate for `core`".
fn check_target_installed() -> Result<(), String> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .map_err(|err| format!("cannot run {}: {err}", rustc.to_string_lossy()))?;
    let libdir = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && Path::new(libdir.trim()).is_dir() {
        Ok(())
    } else {
        Err(format!(
            "the {TARGET} target is not installed: run `rustup target add {TARGET}` \
             (or `cargo xtask setup`)"
        ))
    }
}

/// Environment variables cargo sets for this build script (or the user set for the outer
/// build) that would change the nested build: flags and settings meant for the host target,
/// the outer profile, clippy's wrapper, or this build script itself.
fn leaks_into_nested_build(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_BUILD_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_CRATE_NAME",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "OUT_DIR",
        "TARGET",
        "HOST",
        "NUM_JOBS",
        "OPT_LEVEL",
        "DEBUG",
        "PROFILE",
        "RUSTC_LINKER",
        "RUSTDOC",
    ];
    const PREFIXES: &[&str] = &[
        "CARGO_PROFILE_",
        "CARGO_FEATURE_",
        "CARGO_CFG_",
        "CARGO_PKG_",
        "CARGO_TARGET_WASM32_WASIP2_",
        "CARGO_LLVM_COV",
        "__CARGO_",
    ];
    EXACT.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

fn build_guests(workspace: &Path, target_dir: &Path) -> Result<(), String> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .args(["--target", TARGET, "--profile", PROFILE])
        .arg("--target-dir")
        .arg(target_dir);
    for (_, package, _) in GUESTS {
        command.args(["-p", package]);
    }
    for (name, _) in env::vars_os() {
        if name.to_str().is_some_and(leaks_into_nested_build) {
            command.env_remove(&name);
        }
    }
    let output = command
        .output()
        .map_err(|err| format!("cannot run {}: {err}", cargo.to_string_lossy()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "building the guest plugins failed ({}): {command:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    ))
}
