//! `stockade-workspace-helper`: the one program Stockade puts into every workspace, bind-mounted
//! read-only at `/.stockade/helper` and linked statically (the image may have no libc at all).
//!
//! - `init [--listen 127.0.0.1:PORT --socket PATH]` is the container's PID 1: it reaps the
//!   zombies that orphaned processes leave (they would hold pids against `pids.max`) and, when
//!   egress is granted, relays every TCP connection on `--listen` to the host's egress proxy
//!   through the bind-mounted Unix socket. The workspace has no network device; this relay is
//!   the only way out, and the proxy on the other side decides every destination.
//! - `run --timeout-ms N -- ARGV...` runs one exec in its own process group and kills the whole
//!   group (SIGKILL) when the command exits or when the deadline passes, so neither a timed-out
//!   command nor its children outlive the exec. The host decides and reports `timed_out`; this
//!   is what makes the kill real inside the sandbox.
//! - `probe` prints `no_new_privs=0|1` (gVisor's `/proc/self/status` has no `NoNewPrivs` line).

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitCode};
use std::thread;
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions, kill_process_group, wait};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("init") => init(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("probe") => probe(),
        _ => Err("usage: stockade-workspace-helper init|run|probe".to_owned()),
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
                thread::spawn(move || relay(client, &socket));
            }
        });
    }
    loop {
        match wait(WaitOptions::empty()) {
            Ok(_) => {}
            // No children right now; orphans are re-parented to us later.
            Err(_) => thread::sleep(Duration::from_millis(500)),
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

fn run(args: &[String]) -> Result<u8, String> {
    let timeout_ms: u64 = flag(args, "--timeout-ms")
        .ok_or("run needs --timeout-ms")?
        .parse()
        .map_err(|_| "--timeout-ms is not a number")?;
    let argv = args
        .iter()
        .position(|a| a == "--")
        .map(|i| &args[i + 1..])
        .filter(|argv| !argv.is_empty())
        .ok_or("run needs -- ARGV")?;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .process_group(0)
        .spawn()
        .map_err(|err| format!("cannot run {}: {err}", argv[0]))?;
    let group = Pid::from_raw(i32::try_from(child.id()).map_err(|_| "pid out of range")?)
        .ok_or("child has pid 0")?;
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(timeout_ms));
        let _ = kill_process_group(group, Signal::KILL);
    });
    let status = child.wait().map_err(|err| format!("wait: {err}"))?;
    // Background children of the command end with it: an exec leaves nothing running.
    let _ = kill_process_group(group, Signal::KILL);
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 125,
    };
    Ok(u8::try_from(code).unwrap_or(125))
}

fn probe() -> Result<u8, String> {
    let nnp = rustix::thread::no_new_privs().map_err(|err| format!("prctl: {err}"))?;
    println!("no_new_privs={}", u8::from(nnp));
    Ok(0)
}
