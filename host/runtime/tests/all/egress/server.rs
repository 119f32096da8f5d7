//! [`TestServer`]: a loopback HTTP/1.1 server on its own thread that remembers every
//! connection it accepted and every request it read, so a test can assert that a refused
//! request never reached it (and that an allowed one arrived as sent).
//!
//! | request | response |
//! |---|---|
//! | `GET /hello` | 200 `text/plain`, [`HELLO`] |
//! | `GET /page` | 200 `text/html`, [`PAGE`] |
//! | `GET /bytes/N` | 200 `text/plain`, `N` times `x` |
//! | `GET /redirect` | 302 to [`METADATA_URL`] |
//! | `GET /echo` | 200 `text/plain`, the request headers as `name: value` lines |
//! | `GET /seen...` | 204, nothing reflected: what arrived is only in [`TestServer::requests`] |
//! | `POST` anything | 200 `text/plain`, `received N bytes` |
//! | anything else | 404 |
//!
//! One request per connection (`connection: close`): nothing is kept between requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub const HELLO: &str = "hello from the allowed server";
pub const PAGE: &str = "<!doctype html><html><head><title>Egress page</title></head>\
    <body><h1>Allowed</h1><p>Reached through the policy.</p></body></html>";
/// Where `/redirect` points: the cloud metadata service.
pub const METADATA_URL: &str = "http://169.254.169.254/latest/meta-data/";

/// Longest request head or body the server reads.
const MAX_READ: usize = 4 * 1024 * 1024;

/// One request the server read.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target as sent (origin-form, e.g. `/hello`).
    pub target: String,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes received.
    pub body: usize,
    /// The body, UTF-8 lossy.
    pub content: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Log {
    connections: AtomicUsize,
    requests: Mutex<Vec<Seen>>,
}

pub struct TestServer {
    addr: SocketAddr,
    log: Arc<Log>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Listens on `127.0.0.1:0` and serves until dropped.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Log::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(accept(listener, log, stopped));
            }
        });
        Self {
            addr,
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.log.connections.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.log.requests.lock().unwrap().clone()
    }

    /// Waits up to two seconds for `n` accepted connections (accepting runs on the server's
    /// thread, after the client's connect has returned).
    pub async fn wait_for_connections(&self, n: usize) -> usize {
        for _ in 0..200 {
            if self.connections() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.connections()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept(listener: std::net::TcpListener, log: Arc<Log>, stopped: oneshot::Receiver<()>) {
    let listener = TcpListener::from_std(listener).unwrap();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                log.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, Arc::clone(&log)));
            }
        }
    }
}

async fn serve(mut stream: TcpStream, log: Arc<Log>) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_READ || !read_more(&mut stream, &mut buf).await {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let target = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_READ);
    while buf.len() - head_end < length {
        if !read_more(&mut stream, &mut buf).await {
            break;
        }
    }
    let seen = Seen {
        method,
        target,
        headers,
        body: (buf.len() - head_end).min(length),
        content: String::from_utf8_lossy(&buf[head_end..][..(buf.len() - head_end).min(length)])
            .into_owned(),
    };
    let response = respond(&seen);
    log.requests.lock().unwrap().push(seen);
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn respond(seen: &Seen) -> Vec<u8> {
    let text = "text/plain; charset=utf-8";
    let (status, content_type, location, body): (&str, &str, Option<&str>, Vec<u8>) =
        match (seen.method.as_str(), seen.target.as_str()) {
            ("POST", _) => (
                "200 OK",
                text,
                None,
                format!("received {} bytes", seen.body).into_bytes(),
            ),
            ("GET", target) if target.starts_with("/seen") => {
                ("204 No Content", text, None, Vec::new())
            }
            ("GET", "/hello") => ("200 OK", text, None, HELLO.into()),
            ("GET", "/page") => ("200 OK", "text/html; charset=utf-8", None, PAGE.into()),
            ("GET", "/redirect") => ("302 Found", text, Some(METADATA_URL), Vec::new()),
            ("GET", "/echo") => {
                let lines: String = seen
                    .headers
                    .iter()
                    .map(|(n, v)| format!("{n}: {v}\n"))
                    .collect();
                ("200 OK", text, None, lines.into_bytes())
            }
            ("GET", target) => match target
                .strip_prefix("/bytes/")
                .and_then(|n| n.parse::<usize>().ok())
            {
                Some(n) => ("200 OK", text, None, vec![b'x'; n.min(MAX_READ)]),
                None => ("404 Not Found", text, None, b"not found".to_vec()),
            },
            _ => ("404 Not Found", text, None, b"not found".to_vec()),
        };
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(location) = location {
        head.push_str(&format!("location: {location}\r\n"));
    }
    head.push_str("\r\n");
    let mut response = head.into_bytes();
    response.extend_from_slice(&body);
    response
}
