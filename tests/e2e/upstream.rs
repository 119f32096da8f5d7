//! A loopback HTTP server for the egress and secrets tests: it records each request's
//! `authorization` header, answers `/echo` with that header in the body (a hostile upstream),
//! and anything else with a small HTML page.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

/// The page every path but `/echo` gets.
pub const PAGE: &str = "<html><title>Upstream</title><p>granted content</p></html>";

pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Upstream {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut auth = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        auth = value.trim().to_owned();
                    }
                    line.clear();
                }
                record.lock().unwrap().push(auth.clone());
                let (kind, body) = if request_line.contains("/echo") {
                    ("text/plain", format!("you sent: {auth}"))
                } else {
                    ("text/html", PAGE.to_owned())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { addr, seen }
    }

    /// The `authorization` header of each request received so far (empty if none).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}
