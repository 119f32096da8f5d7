//! One exec: the command runs under the helper's `run` (its own process group, killed at the
//! deadline), output streams back as produced, and the container is watched so an exec in a
//! sandbox that died (OOM) ends instead of hanging: under runsc, `docker exec` never returns
//! once the sandbox is killed.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{InspectContainerOptions, WaitContainerOptions};
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::mpsc;

use super::{daemon, status};
use crate::{
    ExecEvent, ExecOutcome, ExecRequest, ExecStatus, Execution, HELPER_IN_CONTAINER,
    WorkspaceError, WorkspaceId,
};

/// How long after the deadline the host waits for the helper's kill to end the stream.
const KILL_GRACE: Duration = Duration::from_secs(3);

pub(super) async fn start(
    docker: &Docker,
    id: &WorkspaceId,
    request: ExecRequest,
) -> Result<Execution, WorkspaceError> {
    let started = Instant::now();
    validate(&request)?;
    let timeout_ms = u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX);
    let mut cmd = vec![
        HELPER_IN_CONTAINER.to_owned(),
        "run".to_owned(),
        "--timeout-ms".to_owned(),
        timeout_ms.to_string(),
        "--".to_owned(),
    ];
    cmd.extend(request.argv.iter().cloned());
    let config = ExecConfig {
        cmd: Some(cmd),
        attach_stdin: Some(request.stdin.is_some()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        env: Some(
            request
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect(),
        ),
        working_dir: Some(
            request
                .cwd
                .clone()
                .unwrap_or_else(|| "/workspace".to_owned()),
        ),
        ..Default::default()
    };
    let exec = docker
        .create_exec(&id.0, config)
        .await
        .map_err(|e| match status(&e) {
            Some(404) => WorkspaceError::NotFound { id: id.0.clone() },
            Some(409) => WorkspaceError::NotRunning {
                id: id.0.clone(),
                state: e.to_string(),
            },
            _ => daemon("create exec", e),
        })?;
    let options = StartExecOptions {
        detach: false,
        tty: false,
        output_capacity: Some(64 * 1024),
    };
    let StartExecResults::Attached {
        mut output,
        mut input,
    } = docker
        .start_exec(&exec.id, Some(options))
        .await
        .map_err(|e| daemon("start exec", e))?
    else {
        return Err(WorkspaceError::Daemon {
            operation: "start exec",
            message: "the daemon detached an attached exec".to_owned(),
        });
    };
    if let Some(stdin) = request.stdin {
        tokio::spawn(async move {
            // A command that does not read its stdin makes this fail; that is its business.
            let _ = input.write_all(&stdin).await;
            let _ = input.shutdown().await;
        });
    } else {
        drop(input);
    }

    let (tx, rx) = mpsc::channel(64);
    let docker = docker.clone();
    let container = id.0.clone();
    let exec_id = exec.id;
    tokio::spawn(async move {
        let mut died = docker.wait_container(
            &container,
            Some(WaitContainerOptions {
                condition: "not-running".to_owned(),
            }),
        );
        let deadline = tokio::time::sleep(request.timeout);
        let grace = tokio::time::sleep(request.timeout + KILL_GRACE);
        tokio::pin!(deadline, grace);
        let mut timed_out = false;
        let mut watching = true;
        let status = loop {
            tokio::select! {
                chunk = output.next() => match chunk {
                    Some(Ok(LogOutput::StdOut { message })) => {
                        let _ = tx.send(ExecEvent::Stdout(message)).await;
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        let _ = tx.send(ExecEvent::Stderr(message)).await;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break None,
                },
                () = &mut deadline, if !timed_out => timed_out = true,
                () = &mut grace => break Some(ExecStatus::TimedOut),
                _ = died.next(), if watching => match container_end(&docker, &container).await {
                    Some(status) => break Some(status),
                    // The wait request itself failed; the exec stream still ends the exec.
                    None => watching = false,
                },
            }
        };
        let (status, exit_code) = match status {
            Some(status) => (status, None),
            None if timed_out => (ExecStatus::TimedOut, None),
            None => match docker.inspect_exec(&exec_id).await {
                Ok(inspect) if inspect.running != Some(true) => {
                    (ExecStatus::Exited, inspect.exit_code)
                }
                // The stream ended but the exec did not: the sandbox went away under it.
                _ => (
                    container_end(&docker, &container)
                        .await
                        .unwrap_or(ExecStatus::WorkspaceDied),
                    None,
                ),
            },
        };
        let outcome = ExecOutcome {
            status,
            exit_code,
            duration: started.elapsed(),
        };
        let _ = tx.send(ExecEvent::Finished(outcome)).await;
    });
    Ok(Execution { events: rx })
}

/// Why the container stopped (`oom_killed` when the daemon says so), or `None` while it runs.
async fn container_end(docker: &Docker, container: &str) -> Option<ExecStatus> {
    let state = docker
        .inspect_container(container, None::<InspectContainerOptions>)
        .await
        .ok()
        .and_then(|inspect| inspect.state);
    match state {
        Some(s) if s.running == Some(true) => None,
        Some(s) if s.oom_killed == Some(true) => Some(ExecStatus::OomKilled),
        _ => Some(ExecStatus::WorkspaceDied),
    }
}

fn validate(request: &ExecRequest) -> Result<(), WorkspaceError> {
    let invalid = |reason: String| Err(WorkspaceError::InvalidRequest { reason });
    if request.argv.is_empty() || request.argv[0].is_empty() {
        return invalid("argv is empty".to_owned());
    }
    if request.argv.iter().any(|a| a.contains('\0')) {
        return invalid("argv contains a NUL byte".to_owned());
    }
    for (key, value) in &request.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return invalid(format!("bad environment variable name {key:?}"));
        }
    }
    if let Some(cwd) = &request.cwd
        && (!cwd.starts_with('/') || cwd.contains('\0'))
    {
        return invalid(format!("cwd {cwd:?} is not an absolute path"));
    }
    if request.timeout.is_zero() {
        return invalid("timeout is zero".to_owned());
    }
    Ok(())
}
