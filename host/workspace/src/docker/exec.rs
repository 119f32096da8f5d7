//! One exec, through the workspace's exec channel (`channel.rs`) to the helper's exec server
//! (PID 1's child, so the command runs under the container's seccomp filter, unlike a
//! `docker exec`, and without the cost of `runsc exec`). The helper runs the command in its
//! own process group and kills the group at the deadline; output streams back as produced; the
//! container is watched so an exec in a sandbox that died (OOM) ends instead of hanging.
//!
//! Frames (both ways): 1 byte type, 4 bytes big-endian length, payload; the protocol is
//! `helper/src/protocol.rs`, compiled into the helper and here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::InspectContainerOptions;
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::unix::OwnedReadHalf;
use tokio::sync::mpsc;

use super::channel::ExecChannel;
use super::status;
use crate::protocol::{
    EXIT, Json, REQUEST, STARTED, STDERR, STDIN, STDIN_END, STDOUT, frame, frame_len, quote,
};
use crate::{
    ExecEvent, ExecOutcome, ExecRequest, ExecStatus, Execution, WorkspaceError, WorkspaceId,
};

/// How long after the deadline the host waits for the helper's kill to end the exec.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// How long an exec waits for the helper's idle connection (right after create the helper may
/// not have dialled yet) before it looks at whether the container still runs.
const QUICK_WAIT: Duration = Duration::from_millis(200);
/// How long an exec waits at most for the helper of a running workspace to connect.
const HELPER_WAIT: Duration = Duration::from_secs(15);
/// How long the helper has to acknowledge a request.
const ACK_WAIT: Duration = Duration::from_secs(15);
/// Connections tried per exec (a connection may be a dead one left by a restarted helper).
const ATTEMPTS: usize = 4;
/// The largest frame the host accepts from the helper.
const MAX_FRAME: usize = 1 << 20;
/// Stdin is sent in frames of at most this many bytes.
const STDIN_CHUNK: usize = 64 * 1024;

pub(super) async fn start(
    docker: &Docker,
    channel: Option<Arc<ExecChannel>>,
    id: &WorkspaceId,
    request: ExecRequest,
) -> Result<Execution, WorkspaceError> {
    let started = Instant::now();
    validate(&request)?;
    let Some(channel) = channel else {
        // Not a workspace this backend created: say whether it exists at all.
        check_running(docker, id).await?;
        return Err(WorkspaceError::NotFound { id: id.0.clone() });
    };
    let timeout_ms = u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX);
    let request_frame = frame(REQUEST, request_json(&request, timeout_ms).as_bytes());

    let mut attempt = 0;
    let (mut reader, writer) = loop {
        attempt += 1;
        let stream = connect(docker, &channel, id).await?;
        let (mut reader, mut writer) = stream.into_split();
        let acked = async {
            writer.write_all(&request_frame).await?;
            read_frame(&mut reader).await
        };
        match tokio::time::timeout(ACK_WAIT, acked).await {
            Ok(Ok(Some((STARTED, _)))) => break (reader, writer),
            // A dead connection (the helper that dialled it is gone): is the sandbox?
            _ => {
                check_running(docker, id).await?;
                if attempt >= ATTEMPTS {
                    return Err(WorkspaceError::Daemon {
                        operation: "exec",
                        message: "the workspace's helper does not answer".to_owned(),
                    });
                }
            }
        }
    };
    let mut writer = writer;
    if let Some(stdin) = request.stdin {
        tokio::spawn(async move {
            // A command that does not read its stdin makes this fail; that is its business.
            for chunk in stdin.chunks(STDIN_CHUNK) {
                if writer.write_all(&frame(STDIN, chunk)).await.is_err() {
                    return;
                }
            }
            let _ = writer.write_all(&frame(STDIN_END, &[])).await;
        });
    }

    let (tx, rx) = mpsc::channel(64);
    let docker = docker.clone();
    let container = id.0.clone();
    let mut ended = channel.ended();
    tokio::spawn(async move {
        // Frames are read by their own task: reading is not cancel-safe, the select below is.
        let (frames_tx, mut frames) = mpsc::channel(16);
        let frame_reader = tokio::spawn(async move {
            while let Ok(Some(frame)) = read_frame(&mut reader).await {
                if frames_tx.send(frame).await.is_err() {
                    return;
                }
            }
        });
        let deadline = tokio::time::sleep(request.timeout);
        let grace = tokio::time::sleep(request.timeout.saturating_add(KILL_GRACE));
        tokio::pin!(deadline, grace);
        let mut timed_out = false;
        let mut watching = true;
        let end = loop {
            tokio::select! {
                frame = frames.recv() => match frame {
                    Some((STDOUT, data)) => {
                        let _ = tx.send(ExecEvent::Stdout(data)).await;
                    }
                    Some((STDERR, data)) => {
                        let _ = tx.send(ExecEvent::Stderr(data)).await;
                    }
                    Some((EXIT, data)) => break End::Exit(data),
                    Some(_) => {}
                    None => break End::Lost,
                },
                () = &mut deadline, if !timed_out => timed_out = true,
                () = &mut grace => break End::Status(ExecStatus::TimedOut),
                changed = ended.changed(), if watching => match changed {
                    Ok(()) => {
                        if let Some(status) = *ended.borrow_and_update() {
                            break End::Status(status);
                        }
                    }
                    Err(_) => watching = false,
                },
            }
        };
        frame_reader.abort();
        let (status, exit_code) = match end {
            End::Status(status) => (status, None),
            End::Exit(data) => exit_status(&data, timed_out),
            End::Lost if timed_out => (ExecStatus::TimedOut, None),
            // The connection ended without an exit: the sandbox went away under the command.
            End::Lost => (stopped(&docker, &container).await, None),
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

enum End {
    Exit(Bytes),
    Status(ExecStatus),
    Lost,
}

/// The helper's idle connection: at once when it is waiting (the usual case); otherwise, once
/// the container is known to run, within [`HELPER_WAIT`].
async fn connect(
    docker: &Docker,
    channel: &ExecChannel,
    id: &WorkspaceId,
) -> Result<tokio::net::UnixStream, WorkspaceError> {
    let accept = channel.accept();
    tokio::pin!(accept);
    let accepted = match tokio::time::timeout(QUICK_WAIT, &mut accept).await {
        Ok(accepted) => accepted,
        Err(_) => {
            check_running(docker, id).await?;
            match tokio::time::timeout(HELPER_WAIT, &mut accept).await {
                Ok(accepted) => accepted,
                Err(_) => {
                    check_running(docker, id).await?;
                    return Err(WorkspaceError::Daemon {
                        operation: "exec",
                        message: format!(
                            "the workspace's helper did not connect within {HELPER_WAIT:?}"
                        ),
                    });
                }
            }
        }
    };
    accepted.map_err(|e| WorkspaceError::io("accept on the exec socket", e))
}

/// `Ok` while the container runs; `workspace_not_found` / `workspace_not_running` otherwise.
async fn check_running(docker: &Docker, id: &WorkspaceId) -> Result<(), WorkspaceError> {
    match docker
        .inspect_container(&id.0, None::<InspectContainerOptions>)
        .await
    {
        Ok(inspect) => {
            let state = inspect.state.unwrap_or_default();
            if state.running == Some(true) {
                Ok(())
            } else {
                Err(WorkspaceError::NotRunning {
                    id: id.0.clone(),
                    state: format!(
                        "{}{}",
                        state
                            .status
                            .map_or_else(|| "unknown".to_owned(), |s| s.to_string()),
                        if state.oom_killed == Some(true) {
                            ", out of memory"
                        } else {
                            ""
                        }
                    ),
                })
            }
        }
        Err(e) if status(&e) == Some(404) => Err(WorkspaceError::NotFound { id: id.0.clone() }),
        Err(e) => Err(super::daemon("inspect container", e)),
    }
}

/// The exit frame as a status and exit code (128+signal for a signal).
fn exit_status(data: &[u8], host_timed_out: bool) -> (ExecStatus, Option<i64>) {
    let exit = std::str::from_utf8(data)
        .ok()
        .and_then(|text| Json::parse(text).ok())
        .unwrap_or(Json::Null);
    if host_timed_out || matches!(exit.get("timed_out"), Some(Json::Bool(true))) {
        return (ExecStatus::TimedOut, None);
    }
    let number = |name| match exit.get(name) {
        Some(Json::Number(n)) => i64::try_from(*n).ok(),
        _ => None,
    };
    let code = number("code").or_else(|| number("signal").map(|s| 128 + s));
    (ExecStatus::Exited, code)
}

/// The request frame's JSON.
fn request_json(request: &ExecRequest, timeout_ms: u64) -> String {
    let argv: Vec<String> = request.argv.iter().map(|a| quote(a)).collect();
    let env: Vec<String> = request
        .env
        .iter()
        .map(|(k, v)| format!("[{},{}]", quote(k), quote(v)))
        .collect();
    format!(
        "{{\"argv\":[{}],\"cwd\":{},\"env\":[{}],\"timeout_ms\":{timeout_ms},\"stdin\":{}}}",
        argv.join(","),
        quote(request.cwd.as_deref().unwrap_or("/workspace")),
        env.join(","),
        request.stdin.is_some()
    )
}

/// Why the container stopped, waiting a little for the daemon to notice; `workspace_died` if
/// it still runs (the helper itself went away) or the daemon does not say.
async fn stopped(docker: &Docker, container: &str) -> ExecStatus {
    for _ in 0..25 {
        if let Some(status) = container_end(docker, container).await {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ExecStatus::WorkspaceDied
}

/// Why the container stopped (`oom_killed` when the daemon says so), or `None` while it runs.
pub(super) async fn container_end(docker: &Docker, container: &str) -> Option<ExecStatus> {
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

/// The next frame, `None` at the end of the connection.
async fn read_frame(reader: &mut OwnedReadHalf) -> std::io::Result<Option<(u8, Bytes)>> {
    let mut head = [0u8; 5];
    match reader.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = frame_len(head);
    if len > MAX_FRAME {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    Ok(Some((head[0], Bytes::from(payload))))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_json_parses_back_in_the_helpers_parser() {
        let mut request =
            ExecRequest::new(["sh", "-c", "echo \"quoted\" \\ back\tslash\n\u{1} é 😀"]);
        request.env = vec![("K".to_owned(), "v=\"1\"".to_owned())];
        let json = request_json(&request, 1500);
        let parsed = Json::parse(&json).expect("parses");
        let Some(Json::Array(argv)) = parsed.get("argv") else {
            panic!("argv: {json}");
        };
        let argv: Vec<&str> = argv
            .iter()
            .map(|a| match a {
                Json::String(s) => s.as_str(),
                _ => panic!("argv item"),
            })
            .collect();
        assert_eq!(argv, request.argv);
        assert!(matches!(parsed.get("timeout_ms"), Some(Json::Number(1500))));
        assert!(matches!(parsed.get("stdin"), Some(Json::Bool(false))));
        assert!(matches!(parsed.get("cwd"), Some(Json::String(c)) if c == "/workspace"));
        let Some(Json::Array(env)) = parsed.get("env") else {
            panic!("env: {json}");
        };
        assert!(
            matches!(&env[0], Json::Array(pair) if matches!(&pair[1], Json::String(v) if v == "v=\"1\""))
        );
    }

    #[test]
    fn exit_frames_become_statuses() {
        assert_eq!(
            exit_status(br#"{"code":7,"timed_out":false}"#, false),
            (ExecStatus::Exited, Some(7))
        );
        assert_eq!(
            exit_status(br#"{"signal":9,"timed_out":false}"#, false),
            (ExecStatus::Exited, Some(137))
        );
        assert_eq!(
            exit_status(br#"{"signal":9,"timed_out":true}"#, false),
            (ExecStatus::TimedOut, None)
        );
        assert_eq!(
            exit_status(br#"{"code":0,"timed_out":false}"#, true),
            (ExecStatus::TimedOut, None)
        );
    }
}
