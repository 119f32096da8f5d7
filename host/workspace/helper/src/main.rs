//! `stockade-workspace-helper`: the one program Stockade puts into every workspace, bind-mounted
//! read-only at `/.stockade/helper` and linked statically (the image may have no libc at all).
//!
//! - `init [--exec-socket PATH] [--listen 127.0.0.1:PORT --socket PATH]` is the container's
//!   PID 1: it reaps the zombies that orphaned processes leave (they would hold pids against
//!   `pids.max`), keeps the exec server (`serve`, below) running as its child, and, when egress
//!   is granted, relays every TCP connection on `--listen` to the host's egress proxy through
//!   the bind-mounted Unix socket. The workspace has no network device; this relay is the only
//!   way out, and the proxy on the other side decides every destination.
//! - `serve --socket PATH` is the exec server: every command of the workspace is its child, so
//!   it runs under the seccomp filter runsc gives the container's init and its descendants (a
//!   `docker exec` would not). It dials the host's exec socket (bind-mounted read-only; the
//!   sandbox connects out to it, runsc `--host-uds=open`) and keeps one idle connection there.
//!   When a request arrives on it, it dials the next idle connection and serves the request on
//!   the current one: the command runs in its own process group, its output streams back as
//!   produced, and the whole group is killed (SIGKILL) when the command exits or when the
//!   deadline passes, so neither a timed-out command nor its children outlive the exec. It is a
//!   child of PID 1 rather than PID 1 itself so that PID 1's reaping of orphans (`wait` for any
//!   child) never takes a command's exit status from the thread waiting for it.
//! - `probe` prints `no_new_privs=0|1` (gVisor's `/proc/self/status` has no `NoNewPrivs` line).
//!
//! The exec protocol (frames, JSON) is `protocol.rs`, which the host compiles in too.

#![forbid(unsafe_code)]

#[allow(dead_code)] // shared with the host, which uses the other half of it
mod protocol;

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitOptions, kill_process_group, wait};

use crate::protocol::{EXIT, Json, REQUEST, STARTED, STDERR, STDIN, STDOUT, frame, frame_len};

/// Where the helper is mounted (used when `/proc/self/exe` cannot be read).
const SELF_PATH: &str = "/.stockade/helper";
/// The largest request frame accepted.
const MAX_REQUEST: usize = 4 << 20;
/// How long after the command exits its output pipes may stay open (held by a process that left
/// its process group) before the exit is reported anyway.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("init") => init(&args[1..]),
        Some("serve") => serve(&args[1..]),
        Some("probe") => probe(),
        _ => Err("usage: stockade-workspace-helper init|serve|probe".to_owned()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("stockade-workspace-helper: {message}");
            ExitCode::from(125)
        }
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str())
}

fn init(args: &[String]) -> Result<u8, String> {
    if let (Some(listen), Some(socket)) = (flag(args, "--listen"), flag(args, "--socket")) {
        let listener =
            TcpListener::bind(listen).map_err(|err| format!("cannot listen on {listen}: {err}"))?;
        let socket = socket.to_owned();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let socket = socket.clone();
                let _ = thread::Builder::new().spawn(move || relay(client, &socket));
            }
        });
    }
    let exec_socket = flag(args, "--exec-socket").map(str::to_owned);
    let mut server: Option<Pid> = None;
    let mut last_start = None::<Instant>;
    loop {
        // The exec server is restarted whenever it is gone, at most once a second.
        let mut options = WaitOptions::empty();
        if let Some(socket) = &exec_socket
            && server.is_none()
        {
            if let Some(since) = last_start.map(|t| t.elapsed())
                && since < Duration::from_secs(1)
            {
                thread::sleep(Duration::from_secs(1) - since);
            }
            last_start = Some(Instant::now());
            server = start_server(socket);
            if server.is_none() {
                // Do not block in `wait` while there is no server: try again soon.
                options = WaitOptions::NOHANG;
            }
        }
        match wait(options) {
            Ok(Some((pid, _))) if Some(pid) == server => server = None,
            Ok(Some(_)) => {}
            Ok(None) => thread::sleep(Duration::from_millis(200)),
            // No children right now; orphans are re-parented to us later.
            Err(_) => thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn start_server(socket: &str) -> Option<Pid> {
    let exe = std::env::current_exe().unwrap_or_else(|_| SELF_PATH.into());
    match Command::new(exe)
        .args(["serve", "--socket", socket])
        .spawn()
    {
        Ok(child) => Pid::from_raw(i32::try_from(child.id()).ok()?),
        Err(err) => {
            eprintln!("stockade-workspace-helper: cannot start the exec server: {err}");
            None
        }
    }
}

fn relay(client: TcpStream, socket: &str) {
    let Ok(upstream) = UnixStream::connect(socket) else {
        // The client sees a closed connection; the proxy is the one that explains denials.
        return;
    };
    let (Ok(client_read), Ok(upstream_write)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let up = thread::spawn(move || {
        copy(client_read, upstream_write, |s| {
            let _ = s.shutdown(Shutdown::Write);
        })
    });
    copy(upstream, client, |s| {
        let _ = s.shutdown(Shutdown::Write);
    });
    let _ = up.join();
}

fn copy<R: Read, W: Write>(mut from: R, mut to: W, close: impl FnOnce(&W)) {
    let _ = io::copy(&mut from, &mut to);
    close(&to);
}

fn probe() -> Result<u8, String> {
    let nnp = rustix::thread::no_new_privs().map_err(|err| format!("prctl: {err}"))?;
    println!("no_new_privs={}", u8::from(nnp));
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// The exec server.

/// Keeps one idle connection on the host's exec socket; each request is served on its own
/// thread while the next idle connection is dialled.
fn serve(args: &[String]) -> Result<u8, String> {
    let socket = flag(args, "--socket").ok_or("serve needs --socket")?;
    loop {
        let mut conn = dial(socket);
        match read_frame(&mut conn, MAX_REQUEST) {
            Ok(Some((REQUEST, payload))) => {
                let spawned = thread::Builder::new().spawn(move || serve_one(conn, &payload));
                if spawned.is_err() {
                    // Out of threads (pids.max): the host sees the connection close.
                    thread::sleep(Duration::from_millis(50));
                }
            }
            // The host closed the idle connection, or sent something else: dial again.
            _ => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// Connects to the exec socket, retrying (up to once a second) until it answers.
fn dial(socket: &str) -> UnixStream {
    let mut pause = Duration::from_millis(10);
    loop {
        match UnixStream::connect(socket) {
            Ok(conn) => return conn,
            Err(_) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn read_frame(from: &mut impl Read, max: usize) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match from.read_exact(&mut head) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(err) => return Err(err),
    }
    let len = frame_len(head);
    if len > max {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let mut payload = vec![0u8; len];
    from.read_exact(&mut payload)?;
    Ok(Some((head[0], payload)))
}

/// The sending half of an exec connection. `None` once the exit was sent (later output is
/// dropped) or the host is gone (output is still drained, so the command never blocks on it).
#[derive(Clone)]
struct Sender(Arc<Mutex<Option<UnixStream>>>);

impl Sender {
    fn send(&self, kind: u8, payload: &[u8]) {
        let mut conn = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stream) = conn.as_mut()
            && stream.write_all(&frame(kind, payload)).is_err()
        {
            // The host is gone; keep draining the command's output so it does not block.
            *conn = None;
        }
    }

    fn finish(&self, exit: &str) {
        self.send(EXIT, exit.as_bytes());
        let mut conn = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stream) = conn.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

struct Request {
    argv: Vec<String>,
    cwd: String,
    env: Vec<(String, String)>,
    timeout: Duration,
    stdin: bool,
}

fn parse_request(payload: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(payload).map_err(|_| "request is not UTF-8")?;
    let Json::Object(fields) = Json::parse(text)? else {
        return Err("request is not a JSON object".to_owned());
    };
    let strings = |value: &Json| -> Option<Vec<String>> {
        match value {
            Json::Array(items) => items
                .iter()
                .map(|i| match i {
                    Json::String(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    };
    let argv = fields
        .get("argv")
        .and_then(strings)
        .filter(|a| !a.is_empty())
        .ok_or("request needs a non-empty argv")?;
    let cwd = match fields.get("cwd") {
        Some(Json::String(cwd)) => cwd.clone(),
        _ => "/workspace".to_owned(),
    };
    let env = match fields.get("env") {
        Some(Json::Array(pairs)) => pairs
            .iter()
            .map(|pair| match strings(pair).as_deref() {
                Some([k, v]) => Ok((k.clone(), v.clone())),
                _ => Err("env entries are [name, value]".to_owned()),
            })
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let timeout = match fields.get("timeout_ms") {
        Some(Json::Number(ms)) => Duration::from_millis(*ms),
        _ => return Err("request needs timeout_ms".to_owned()),
    };
    let stdin = matches!(fields.get("stdin"), Some(Json::Bool(true)));
    Ok(Request {
        argv,
        cwd,
        env,
        timeout,
        stdin,
    })
}

fn serve_one(conn: UnixStream, payload: &[u8]) {
    let Ok(write_half) = conn.try_clone() else {
        return;
    };
    let sender = Sender(Arc::new(Mutex::new(Some(write_half))));
    sender.send(STARTED, &[]);
    let request = match parse_request(payload) {
        Ok(request) => request,
        Err(message) => {
            sender.send(
                STDERR,
                format!("stockade-workspace-helper: {message}\n").as_bytes(),
            );
            return sender.finish("{\"code\":125,\"timed_out\":false}");
        }
    };
    let mut command = Command::new(&request.argv[0]);
    command
        .args(&request.argv[1..])
        .current_dir(&request.cwd)
        .envs(request.env.iter().map(|(k, v)| (k, v)))
        .process_group(0)
        .stdin(if request.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let code = match err.kind() {
                io::ErrorKind::NotFound => 127,
                io::ErrorKind::PermissionDenied => 126,
                _ => 125,
            };
            let message = format!(
                "stockade-workspace-helper: cannot run {}: {err}\n",
                request.argv[0]
            );
            sender.send(STDERR, message.as_bytes());
            return sender.finish(&format!("{{\"code\":{code},\"timed_out\":false}}"));
        }
    };
    run_child(child, conn, &request, &sender);
}

/// Runs the command to its end with two threads: this one multiplexes its stdout and stderr
/// (poll) and keeps the deadline, a waiter thread waits for the exit. Few threads per exec
/// matter under runsc's ptrace platform: gVisor's host threads, which count against
/// `pids.max`, grow with the number of tasks running at once.
fn run_child(mut child: Child, conn: UnixStream, request: &Request, sender: &Sender) {
    let Some(group) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        let _ = child.kill();
        let _ = child.wait();
        return sender.finish("{\"code\":125,\"timed_out\":false}");
    };
    let mut pipes: [(u8, Option<Box<dyn ReadFd>>); 2] = [
        (
            STDOUT,
            child.stdout.take().map(|p| Box::new(p) as Box<dyn ReadFd>),
        ),
        (
            STDERR,
            child.stderr.take().map(|p| Box::new(p) as Box<dyn ReadFd>),
        ),
    ];
    if let Some(stdin) = child.stdin.take() {
        let _ = thread::Builder::new().spawn(move || feed_stdin(conn, stdin));
    }
    // A timeout too large for the clock is as good as none (the host still has its own).
    let deadline = Instant::now()
        .checked_add(request.timeout)
        .unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400));
    let mut timed_out = false;
    // The waiter reports the exit on a socket pair, so the poll below wakes for it.
    let (exit_tx, exit_rx) = mpsc::channel();
    let mut wake = None;
    if let Ok((wake_rx, mut wake_tx)) = UnixStream::pair() {
        let waiter = thread::Builder::new().spawn(move || {
            let status = child.wait();
            let _ = exit_tx.send(status);
            let _ = wake_tx.write_all(&[1]);
        });
        if waiter.is_ok() {
            wake = Some(wake_rx);
        }
    }
    let Some(mut wake) = wake else {
        // No thread to wait with: the command does not get to run without a deadline.
        let _ = kill_process_group(group, Signal::KILL);
        return sender.finish("{\"code\":125,\"timed_out\":true}");
    };

    let mut exited = false;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let open = pipes.iter().any(|(_, p)| p.is_some());
        if exited && (!open || drain_until.is_some_and(|t| Instant::now() >= t)) {
            break;
        }
        let now = Instant::now();
        if !timed_out && now >= deadline {
            timed_out = true;
            let _ = kill_process_group(group, Signal::KILL);
        }
        let until = match (timed_out, drain_until) {
            (_, Some(t)) => Some(t),
            (false, None) => Some(deadline),
            (true, None) => None,
        };
        let timeout = until.map(|t| {
            let left = t.saturating_duration_since(now);
            rustix::event::Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        let (ready, woke) = {
            let mut fds = Vec::with_capacity(3);
            let mut which = Vec::with_capacity(3);
            for (i, (_, pipe)) in pipes.iter().enumerate() {
                if let Some(pipe) = pipe {
                    fds.push(PollFd::from_borrowed_fd(pipe.fd(), PollFlags::IN));
                    which.push(Some(i));
                }
            }
            if !exited {
                fds.push(PollFd::new(&wake, PollFlags::IN));
                which.push(None);
            }
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
            let mut ready = [false; 2];
            let mut woke = false;
            for (fd, which) in fds.iter().zip(&which) {
                if fd.revents().is_empty() {
                    continue;
                }
                match which {
                    Some(i) => ready[*i] = true,
                    None => woke = true,
                }
            }
            (ready, woke)
        };
        for (i, (kind, pipe)) in pipes.iter_mut().enumerate() {
            if !ready[i] {
                continue;
            }
            if let Some(reader) = pipe {
                match reader.read(&mut buf) {
                    Ok(0) => *pipe = None,
                    Ok(n) => sender.send(*kind, &buf[..n]),
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => *pipe = None,
                }
            }
        }
        if woke {
            let _ = wake.read(&mut [0u8; 1]);
            exited = true;
            // Background children of the command end with it: an exec leaves nothing running.
            let _ = kill_process_group(group, Signal::KILL);
            // A process that left the group may hold a pipe open: wait for it only so long.
            drain_until = Some(Instant::now() + DRAIN_GRACE);
        }
    }
    let status = exit_rx.recv();
    let exit = match status {
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("{{\"code\":{code},\"timed_out\":{timed_out}}}"),
            (None, Some(signal)) => {
                format!("{{\"signal\":{signal},\"timed_out\":{timed_out}}}")
            }
            (None, None) => format!("{{\"code\":125,\"timed_out\":{timed_out}}}"),
        },
        _ => format!("{{\"code\":125,\"timed_out\":{timed_out}}}"),
    };
    sender.finish(&exit);
}

/// A pipe from the command that poll can watch.
trait ReadFd: Read + Send {
    fn fd(&self) -> BorrowedFd<'_>;
}

impl<T: Read + AsFd + Send> ReadFd for T {
    fn fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
}

/// Copies `I` frames to the command's stdin until `E` (or the connection ends).
fn feed_stdin(mut conn: UnixStream, mut stdin: ChildStdin) {
    while let Ok(Some((kind, payload))) = read_frame(&mut conn, 1 << 20) {
        match kind {
            STDIN => {
                if stdin.write_all(&payload).is_err() {
                    // The command closed its stdin; what is left is not read.
                    return;
                }
            }
            _ => return,
        }
    }
}
