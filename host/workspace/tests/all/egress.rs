//! Egress through the host-side proxy: what a grant allows is reachable from inside, and
//! nothing else is — each denied row is a destination an attacker would try.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use stockade_egress::EgressGrant;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::harness::{env, resolver};
use crate::test_env;

pub const MARKER: &str = "hello-from-the-host-test-server";

/// A loopback HTTP server that answers every request with `MARKER` and counts connections.
pub async fn upstream() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let body = MARKER;
                let response = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

#[tokio::test]
async fn granted_destinations_are_reachable_and_nothing_else() {
    let (port, hits) = upstream().await;
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let resolver = resolver()
        .with("rebind.test", [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))])
        .with("ungranted.test", [loopback]);
    let mut env = test_env!(env().resolver(resolver));
    let mut spec = env.spec("egress");
    let grant = [
        format!("http://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
        // Granted by name, but the name resolves to loopback: the address check refuses it.
        format!("http://rebind.test:{port}"),
    ];
    spec.egress = Some(EgressGrant::parse(&grant).expect("grant"));
    let id = env.manager.create(&spec).await.expect("create");

    let out = env
        .sh(
            &id,
            &format!("wget -q -O - http://127.0.0.1:{port}/allowed"),
        )
        .await;
    assert!(
        out.stdout_text().contains(MARKER),
        "granted http via proxy: {out:?}"
    );
    let tunnel = format!(
        "(printf 'CONNECT 127.0.0.1:{port} HTTP/1.1\\r\\n\\r\\nGET / HTTP/1.0\\r\\n\\r\\n'; sleep 2) | nc 127.0.0.1 3128"
    );
    let out = env.sh(&id, &tunnel).await;
    assert!(
        out.stdout_text().contains("200 Connection established")
            && out.stdout_text().contains(MARKER),
        "granted CONNECT: {out:?}"
    );
    let allowed_hits = hits.load(Ordering::SeqCst);
    assert_eq!(allowed_hits, 2);

    // (name, the request line sent to the proxy, the denial code it must answer with)
    let denied = [
        (
            "cloud metadata address",
            "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1".to_owned(),
            "host_not_granted",
        ),
        (
            "loopback on a port not granted",
            format!(
                "GET http://127.0.0.1:{}/ HTTP/1.1",
                port.wrapping_add(1).max(1)
            ),
            "port_not_granted",
        ),
        (
            "private 10.x",
            "GET http://10.0.0.1/ HTTP/1.1".to_owned(),
            "host_not_granted",
        ),
        (
            "a name not in the grant",
            format!("GET http://ungranted.test:{port}/ HTTP/1.1"),
            "host_not_granted",
        ),
        (
            "a granted name resolving to a private address",
            format!("GET http://rebind.test:{port}/ HTTP/1.1"),
            "address_denied",
        ),
        (
            "CONNECT to a name not in the grant",
            "CONNECT ungranted.test:443 HTTP/1.1".to_owned(),
            "host_not_granted",
        ),
        (
            "CONNECT to the metadata address",
            "CONNECT 169.254.169.254:443 HTTP/1.1".to_owned(),
            "host_not_granted",
        ),
        (
            "CONNECT to loopback on a port not granted",
            "CONNECT 127.0.0.1:22 HTTP/1.1".to_owned(),
            "port_not_granted",
        ),
        (
            "https URL in absolute form",
            format!("GET https://127.0.0.1:{port}/ HTTP/1.1"),
            "invalid_url",
        ),
    ];
    let mut failures = Vec::new();
    for (name, request_line, code) in &denied {
        let script = format!(
            "(printf '{request_line}\\r\\nHost: x\\r\\n\\r\\n'; sleep 1) | nc 127.0.0.1 3128"
        );
        let text = env.sh(&id, &script).await.stdout_text();
        let header = format!("X-Stockade-Egress-Denied: {code}");
        if text.contains(MARKER) || !text.starts_with("HTTP/1.1 403") || !text.contains(&header) {
            failures.push(format!("{name} ({request_line}): {text}"));
        }
    }
    // What a program does: wget through HTTP_PROXY gets the refusal.
    let out = env
        .sh(&id, "wget -q -O - http://169.254.169.254/; echo exit=$?")
        .await;
    if !out.stdout_text().contains("exit=1") || !out.stderr_text().contains("403") {
        failures.push(format!("wget to the metadata address: {out:?}"));
    }
    // Straight to the test server, around the proxy: there is no route.
    let out = env
        .sh(
            &id,
            &format!("nc -w 2 127.0.0.1 {port} </dev/null; echo exit=$?"),
        )
        .await;
    if !out.stdout_text().contains("exit=1") {
        failures.push(format!("direct connection: {out:?}"));
    }
    assert!(
        failures.is_empty(),
        "denied destinations reached:\n{}",
        failures.join("\n")
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        allowed_hits,
        "no denied request reached the test server"
    );
    env.finish().await;
}

#[tokio::test]
async fn without_a_grant_nothing_is_reachable() {
    let (port, hits) = upstream().await;
    let mut env = test_env!(env());
    let id = env.create("no-egress").await;
    for script in [
        format!(
            "http_proxy=http://127.0.0.1:3128 wget -q -O - http://127.0.0.1:{port}/; echo exit=$?"
        ),
        format!("wget -q -O - http://127.0.0.1:{port}/; echo exit=$?"),
        format!("nc -w 2 127.0.0.1 {port} </dev/null; echo exit=$?"),
        "ls /.stockade/egress; echo exit=$?".to_owned(),
    ] {
        let out = env.sh(&id, &script).await;
        assert!(
            !out.stdout_text().contains("exit=0") && !out.stdout_text().contains(MARKER),
            "{script}: {out:?}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    env.finish().await;
}
