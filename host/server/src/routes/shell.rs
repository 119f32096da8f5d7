//! `workspace.shell`: the built-in tool that runs a command in the calling agent's workspace,
//! through the normal tool-call path (allowlist, read-only agents refused since it can write,
//! rate limits, redaction of its output, events).
//!
//! Each agent gets its own workspace in the project, created on its first call (with the
//! egress rules granted to `workspace.shell`, `stockade grant set -p P workspace shell --egress
//! RULE`) and reused until it is destroyed or reaped as idle.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use stockade_egress::EgressGrant;
use stockade_storage::Project;
use stockade_workspace::ExecEvent;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routes::grants::GrantSpec;
use crate::routes::workspaces::{exec_request, workspace_event};
use crate::workspaces::workspace_error;

/// The tool's full name.
pub const SHELL_TOOL: &str = "workspace.shell";
/// Its bundle and tool names, as grants address them.
pub const SHELL_BUNDLE: &str = "workspace";
/// See [`SHELL_BUNDLE`].
pub const SHELL_NAME: &str = "shell";
/// Most bytes of stdout and of stderr returned; the rest is cut (`truncated`).
const MAX_STREAM_BYTES: usize = 256 * 1024;

/// The tool's input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellInput {
    /// A shell command line, run with `sh -c` in `/workspace` (the project directory).
    pub command: String,
    /// Text written to the command's stdin.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Working directory inside the workspace (default `/workspace`).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Kill the command after this many milliseconds (at most the server's exec timeout).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// The description agents see.
pub const DESCRIPTION: &str = "Runs a shell command (sh -c) in this agent's sandboxed Linux \
    workspace with the project at /workspace; returns exit status, stdout and stderr. No \
    network unless granted.";

/// JSON Schema of the input.
pub fn input_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(ShellInput)).unwrap_or(Value::Null)
}

/// The grant of `workspace.shell` may hold egress rules only.
pub fn check_grant(spec: &GrantSpec) -> Result<(), ApiError> {
    if !spec.dirs.is_empty() || !spec.secrets.is_empty() {
        return Err(ApiError::bad_request(
            "grant_exceeds_request",
            "workspace.shell always sees the project at /workspace and reads no secrets: its \
             grant takes egress rules only",
        ));
    }
    EgressGrant::parse(&spec.egress)
        .map_err(|err| ApiError::bad_request("invalid_egress", err.to_string()))?;
    Ok(())
}

/// Runs one call; the output is the tool's JSON output (before redaction).
pub async fn run(
    state: &Arc<AppState>,
    project: &Project,
    agent: &str,
    actor: &str,
    grant: &GrantSpec,
    input: &Value,
) -> Result<Value, ApiError> {
    let input: ShellInput = serde_json::from_value(input.clone())
        .map_err(|err| ApiError::bad_request("invalid_input", err.to_string()))?;
    let egress = EgressGrant::parse(&grant.egress)
        .map_err(|err| ApiError::bad_request("invalid_egress", err.to_string()))?;
    let (id, created) = state
        .workspaces
        .shell_workspace(
            &project.id,
            agent,
            std::path::Path::new(&project.root),
            Some(egress),
        )
        .await?;
    if created {
        state
            .record(workspace_event(
                actor.to_owned(),
                project,
                json!({ "action": "create", "id": id.0, "for": SHELL_TOOL, "egress": grant.egress }),
            ))
            .await?;
    }
    let argv = vec!["sh".to_owned(), "-c".to_owned(), input.command];
    let request = exec_request(
        state,
        argv.clone(),
        input.cwd,
        BTreeMap::new(),
        input.stdin,
        input.timeout_ms,
    )?;
    let mut execution = state
        .workspaces
        .manager()?
        .exec(&id, request)
        .await
        .map_err(workspace_error)?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut truncated = false;
    let mut outcome = None;
    while let Some(event) = execution.events.recv().await {
        let (buffer, bytes) = match event {
            ExecEvent::Stdout(bytes) => (&mut stdout, bytes),
            ExecEvent::Stderr(bytes) => (&mut stderr, bytes),
            ExecEvent::Finished(done) => {
                outcome = Some(done);
                break;
            }
        };
        let room = MAX_STREAM_BYTES.saturating_sub(buffer.len());
        truncated |= bytes.len() > room;
        buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
    let (status, exit_code, duration_ms) = match &outcome {
        Some(done) => (
            done.status.code(),
            done.exit_code,
            done.duration.as_secs_f64() * 1e3,
        ),
        None => ("workspace_died", None, 0.0),
    };
    state
        .record(workspace_event(
            actor.to_owned(),
            project,
            json!({ "action": "exec", "id": id.0, "for": SHELL_TOOL, "argv": argv,
                    "exit": { "status": status, "exit_code": exit_code, "duration_ms": duration_ms },
                    "stdout_bytes": stdout.len(), "stderr_bytes": stderr.len() }),
        ))
        .await?;
    Ok(json!({
        "status": status,
        "exit_code": exit_code,
        "stdout": String::from_utf8_lossy(&stdout),
        "stderr": String::from_utf8_lossy(&stderr),
        "truncated": truncated,
        "duration_ms": duration_ms,
        "workspace": id.0,
    }))
}
