//! `TestServer`: the real `stockade serve` on an ephemeral loopback port with its own data
//! directory, plus a minimal HTTP client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct TestServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    /// Everything the server wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
}

/// What `stockade serve` prints, once, on the first start of a fresh data directory.
const BOOTSTRAP_PREFIX: &str = "bootstrap admin token (shown once, store it now): ";

impl TestServer {
    /// Starts `stockade serve --bind 127.0.0.1:0` with `extra` arguments and waits until it
    /// listens.
    pub fn start(extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        Self::start_in(data, "127.0.0.1:0", extra)
    }

    pub fn start_in(data: tempfile::TempDir, bind: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args(["serve", "--bind", bind, "--data-dir"])
            .arg(data.path())
            .args(extra)
            .env_remove("STOCKADE_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("stockade listening on http://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().unwrap(),
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {}", log.lock().unwrap());
            }
        };
        Self {
            child,
            addr,
            data,
            log,
        }
    }

    /// The bootstrap admin token the server printed on stderr. It is printed before the
    /// "listening" line, so it is in the log by the time `start` returns.
    pub fn admin_token(&self) -> String {
        let log = self.log.lock().unwrap();
        log.lines()
            .find_map(|line| line.strip_prefix(BOOTSTRAP_PREFIX))
            .map(|token| token.trim().to_owned())
            .unwrap_or_else(|| panic!("no bootstrap admin token in the server log:\n{log}"))
    }

    pub fn get(&self, path: &str) -> Response {
        request(self.addr, "GET", path, &[], None)
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }

    /// [`TestServer::stop`], keeping the data directory for a look afterwards.
    pub fn stop_keeping_data(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().unwrap());
        (self.stop(), data)
    }
}

impl TestServer {
    /// Kills the server with SIGKILL (no shutdown at all) and keeps its data directory.
    pub fn kill_keeping_data(mut self) -> tempfile::TempDir {
        let data = std::mem::replace(&mut self.data, tempfile::tempdir().unwrap());
        Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        let _ = self.child.wait();
        data
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close`; enough for tests, no client library needed.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Response {
    try_request(addr, method, path, headers, body).unwrap()
}

/// [`request`] for callers that expect the connection to fail (a server being killed).
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body.as_bytes())?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(parse_response(&raw))
}

/// Sends `raw` bytes as they are (a whole request, head and body, spelled by the test) and
/// reads the answer. A server may answer and close before reading all of a large body, so a
/// failed write is not an error: what counts is the response.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    // A reset after the response arrived still leaves the response in `answer`.
    let _ = stream.read_to_end(&mut answer);
    parse_response(&answer)
}

fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
