//! [`EgressProxy`]: a workspace's only way out. An HTTP proxy on a per-workspace Unix socket,
//! outside the sandbox, that asks the egress policy about every destination:
//!
//! ```text
//! workspace (no network device)                       host
//! curl ─ HTTPS_PROXY=127.0.0.1:3128 ─ helper relay ─ egress.sock ─ EgressProxy ─ policy ─ TCP
//! ```
//!
//! `CONNECT host:port` is judged as `https://host:port`, an absolute-form request
//! (`GET http://host/path`) as its URL. The name is resolved here, once, every address is
//! checked, and the connection goes to a checked address: a rebinding DNS answer cannot move it.
//! A refusal is `403` with header `X-Stockade-Egress-Denied: <code>` and the reason as body.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stockade_egress::{Denial, Destination, EgressPolicy, Resolver};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::WorkspaceError;

/// The file name of the proxy's socket inside its directory.
pub const SOCKET_NAME: &str = "egress.sock";
/// The largest request head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy. Dropping it stops it and removes its socket.
#[derive(Debug)]
pub struct EgressProxy {
    dir: PathBuf,
    task: JoinHandle<()>,
}

impl EgressProxy {
    /// Listens on `dir/egress.sock` (mode 0666: the workspace's non-root user connects to it).
    /// `label` names the workspace in the log.
    pub fn start(
        dir: &Path,
        label: String,
        policy: Arc<EgressPolicy>,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, WorkspaceError> {
        let fail = |reason: String| WorkspaceError::EgressProxy { reason };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("create {}: {e}", dir.display())))?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        let path = dir.join(SOCKET_NAME);
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).map_err(|e| fail(format!("bind {}: {e}", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| fail(format!("chmod {}: {e}", path.display())))?;
        let label: Arc<str> = label.into();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (policy, resolver, label) = (policy.clone(), resolver.clone(), label.clone());
                tokio::spawn(async move {
                    serve(stream, &policy, resolver.as_ref(), &label).await;
                });
            }
        });
        Ok(Self {
            dir: dir.to_owned(),
            task,
        })
    }

    /// The directory holding the socket (what the backend mounts).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The parsed head of one proxy request.
struct Head {
    connect: bool,
    dest: Destination,
    /// For absolute-form requests: the head to send upstream (origin-form).
    upstream_head: Vec<u8>,
}

async fn serve(
    mut client: UnixStream,
    policy: &EgressPolicy,
    resolver: &dyn Resolver,
    label: &str,
) {
    let Ok(Ok((head_len, buf))) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await
    else {
        let _ = client
            .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    let head = match parse(&buf[..head_len]) {
        Ok(head) => head,
        Err(denial) => return refuse(&mut client, label, "?", &denial).await,
    };
    let target = format!(
        "{}://{}:{}",
        head.dest.scheme.as_str(),
        head.dest.host,
        head.dest.port
    );
    let addresses = match policy.resolve(&head.dest, resolver).await {
        Ok(addresses) => addresses,
        Err(denial) => return refuse(&mut client, label, &target, &denial).await,
    };
    let Some((mut upstream, addr)) = connect(&addresses).await else {
        tracing::warn!(workspace = label, %target, "egress: no checked address answered");
        let _ = client
            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
            .await;
        return;
    };
    tracing::info!(workspace = label, %target, %addr, "egress allowed");
    let rest = &buf[head_len..];
    let sent = if head.connect {
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await
            .is_ok()
            && upstream.write_all(rest).await.is_ok()
    } else {
        upstream.write_all(&head.upstream_head).await.is_ok()
            && upstream.write_all(rest).await.is_ok()
    };
    if sent {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

async fn refuse(client: &mut UnixStream, label: &str, target: &str, denial: &Denial) {
    tracing::warn!(workspace = label, target, code = denial.code.as_str(), reason = %denial.reason, "egress denied");
    let body = format!("{}\n", denial.reason);
    let response = format!(
        "HTTP/1.1 403 Forbidden\r\nX-Stockade-Egress-Denied: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        denial.code.as_str(),
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
}

async fn connect(addresses: &[SocketAddr]) -> Option<(TcpStream, SocketAddr)> {
    for addr in addresses {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
        {
            return Some((stream, *addr));
        }
    }
    None
}

/// Reads until the end of the request head; returns its length and everything read.
async fn read_head(client: &mut UnixStream) -> std::io::Result<(usize, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok((end + 4, buf));
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    }
}

fn invalid(reason: &str) -> Denial {
    Denial::new(stockade_egress::DenialCode::InvalidUrl, reason)
}

fn parse(head: &[u8]) -> Result<Head, Denial> {
    let text = std::str::from_utf8(head).map_err(|_| invalid("the request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("malformed request line"));
    };
    if method == "CONNECT" {
        let dest = Destination::from_url(&format!("https://{target}/"))?;
        return Ok(Head {
            connect: true,
            dest,
            upstream_head: Vec::new(),
        });
    }
    if !target.starts_with("http://") {
        return Err(invalid(
            "only CONNECT and absolute http:// requests go through this proxy",
        ));
    }
    let dest = Destination::from_url(target)?;
    let after_scheme = &target["http://".len()..];
    let path_start = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
    let authority = &after_scheme[..path_start];
    let path = match &after_scheme[path_start..] {
        "" => "/".to_owned(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_owned(),
    };
    let mut upstream = format!("{method} {path} {version}\r\nHost: {authority}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "host" | "connection" | "proxy-connection" | "proxy-authorization" | "keep-alive"
        ) {
            continue;
        }
        upstream.push_str(line);
        upstream.push_str("\r\n");
    }
    // One request per connection: the next request may go elsewhere and must be checked.
    upstream.push_str("Connection: close\r\n\r\n");
    Ok(Head {
        connect: false,
        dest,
        upstream_head: upstream.into_bytes(),
    })
}
