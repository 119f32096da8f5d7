//! End-to-end tests: the real `stockade` binary, real guest components, real files.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod api;
mod audit;
mod backup;
mod durability;
mod netns;
mod operator;
mod plugin_run;
mod registry;
mod secrets;
mod serve;
mod server;
mod tls;
mod upstream;
mod webhooks;
mod workspaces;
mod write_guard;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `stockade` with `args` and a private data directory.
pub fn stockade(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stockade"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("STOCKADE_LOG")
        .output()
        .expect("run stockade")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
