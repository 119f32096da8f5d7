//! Developer tasks. `cargo xtask <task>`; every task first installs what is missing.
//!
//! - `setup`   adds the `wasm32-wasip2` target and the Debian packages the tests use
//!   (`iproute2` for network-namespace test hosts, `curl`, `skopeo` for the registry) if they
//!   are missing
//! - `plugins` builds every guest (first-party plugins and test guests) for `wasm32-wasip2`
//! - `run`     builds `stockade` and the plugins and runs `stockade serve` on its defaults
//! - `demo`    runs the `fs` plugin on `plugins/fs/sample-project` with `stockade plugin run`
//! - `test`    runs the whole test suite (`cargo test --workspace`)
//! - `bench`   runs the runtime benchmark (fresh-instance calls vs a bare wasmtime baseline)
//! - `bench-http` tool calls per second and latency over HTTP (wrk), next to the in-process rate
//! - `bench-install` installs a ~10 MB bundle from a loopback registry (download, verify,
//!   compile), next to `sha256sum` and a bare precompile of the same component
//! - `bench-workspaces` workspace create → first exec and exec round trip under runsc, next to
//!   the docker CLI, and warm-pool acquisition (starts the private Docker daemon first)

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod bench_http;

const GUESTS: &[&str] = &[
    "stockade-plugin-fs",
    "stockade-guest-hostile",
    "stockade-guest-trivial",
];

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf();
    std::env::set_current_dir(&root)?;
    match task.as_str() {
        "setup" => setup(),
        "plugins" => setup().and_then(|()| plugins()),
        "run" => setup().and_then(|()| plugins()).and_then(|()| serve(&root)),
        "demo" => setup().and_then(|()| plugins()).and_then(|()| demo(&root)),
        "test" => setup().and_then(|()| test()),
        "bench" => {
            setup().and_then(|()| cargo(&["bench", "-p", "stockade-runtime", "--bench", "calls"]))
        }
        "bench-http" => setup().and_then(|()| bench_http::run(&root)),
        "bench-install" => setup()
            .and_then(|()| cargo(&["bench", "-p", "stockade-registry", "--bench", "install"])),
        "bench-workspaces" => docker_daemon()
            .and_then(|()| cargo(&["bench", "-p", "stockade-workspace", "--bench", "workspaces"])),
        _ => {
            eprintln!(
                "usage: cargo xtask <setup|plugins|run|demo|test|bench|bench-http|bench-install|bench-workspaces>"
            );
            eprintln!("  setup    install the wasm32-wasip2 target if it is missing");
            eprintln!("  plugins  build the plugins and test guests for wasm32-wasip2");
            eprintln!("  run      build everything and run `stockade serve` (127.0.0.1:7878)");
            eprintln!("  demo     run the fs plugin on plugins/fs/sample-project, no server");
            eprintln!("  test     run the whole test suite");
            eprintln!("  bench    run the runtime benchmark");
            eprintln!("  bench-http  tool calls over HTTP with wrk, next to the in-process rate");
            eprintln!("  bench-install  install a ~10 MB bundle from a loopback registry, next to");
            eprintln!("                 sha256sum and a bare precompile of the same component");
            eprintln!("  bench-workspaces  workspace create, first exec and exec round trip under");
            eprintln!("                    runsc, next to the docker CLI; warm-pool acquisition");
            bail!("unknown task {task:?}")
        }
    }
}

/// Commands the tests run, and the Debian package that provides each.
/// `skopeo` is the standard OCI client the registry's tests read a published bundle with.
const TEST_COMMANDS: &[(&str, &str)] =
    &[("ip", "iproute2"), ("curl", "curl"), ("skopeo", "skopeo")];

fn setup() -> Result<()> {
    let missing: Vec<&str> = TEST_COMMANDS
        .iter()
        .filter(|(command, _)| !on_path(command))
        .map(|(_, package)| *package)
        .collect();
    if !missing.is_empty() {
        eprintln!("xtask: installing {}", missing.join(" "));
        status(Command::new("apt-get").arg("update").arg("-q"))?;
        status(
            Command::new("apt-get")
                .args(["install", "-y", "-q"])
                .args(&missing),
        )
        .context("the tests need these Debian packages (run as root, or install them)")?;
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to add the wasm32-wasip2 target")?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|t| t == "wasm32-wasip2")
    {
        eprintln!("xtask: installing the wasm32-wasip2 target");
        status(Command::new("rustup").args(["target", "add", "wasm32-wasip2"]))?;
    }
    Ok(())
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(command).is_file()))
}

fn plugins() -> Result<()> {
    let mut args = vec!["build", "--profile", "guest", "--target", "wasm32-wasip2"];
    for guest in GUESTS {
        args.extend(["-p", guest]);
    }
    cargo(&args)
}

fn test() -> Result<()> {
    docker_daemon()?;
    cargo(&["test", "--workspace"])
}

/// Starts the private Docker daemon with gVisor that the workspace tests use
/// (`.ci/dockerd.sh`; they find it through `DOCKER_HOST` or its default socket). Outside CI a
/// failure (not root, no apt) only warns: those tests then skip loudly.
fn docker_daemon() -> Result<()> {
    let result = status(Command::new("bash").arg(".ci/dockerd.sh"));
    match result {
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("xtask: no Docker daemon for the workspace tests ({e:#}); they will skip");
            Ok(())
        }
        other => other,
    }
}

fn stockade_binary(root: &Path) -> Result<PathBuf> {
    cargo(&["build", "-p", "stockade-cli"])?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(target.join("debug").join("stockade"))
}

/// `stockade serve` on its embedded defaults (127.0.0.1:7878, data in `.stockade/`), with any
/// extra arguments passed through: `cargo xtask run --mode development`.
fn serve(root: &Path) -> Result<()> {
    let stockade = stockade_binary(root)?;
    let extra: Vec<String> = std::env::args().skip(2).collect();
    status(Command::new(stockade).arg("serve").args(extra))
}

/// The author demo: a few fs calls against the sample project, through the real CLI and
/// runtime, without a server.
fn demo(root: &Path) -> Result<()> {
    let stockade = stockade_binary(root)?;
    let sample = "plugins/fs/sample-project";
    let calls: &[(&str, &str)] = &[
        ("list_dir", r#"{"path":"."}"#),
        ("read_file", r#"{"path":"README.md"}"#),
        ("search", r#"{"pattern":"TODO"}"#),
        ("read_file", r#"{"path":"../../../Cargo.toml"}"#),
    ];
    for (tool, input) in calls {
        eprintln!(
            "\n$ stockade plugin run plugins/fs {tool} --input '{input}' --grant-dir {sample}:ro"
        );
        // A refused call exits non-zero; the demo shows it and goes on.
        let _ = Command::new(&stockade)
            .args([
                "plugin",
                "run",
                "plugins/fs",
                tool,
                "--input",
                input,
                "--grant-dir",
            ])
            .arg(format!("{sample}:ro"))
            .status()?;
    }
    Ok(())
}

pub(crate) fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    status(Command::new(cargo).args(args))
}

pub(crate) fn status(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
