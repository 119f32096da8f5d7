//! The write guard and rate limits against the real server, with real non-loopback peers
//! from a network namespace.

use crate::netns::NetnsHost;
use crate::server::{TestServer, request};

const TOKEN: &str = "write-token-0123456789abcdef";

/// A mutating request the router does not know: anything but 401/403 means the guard let it
/// through to routing.
const PROBE: &str = "/v1/guard-probe";

fn guard_code(status: u16, body: &str) -> String {
    match status {
        401 | 403 => serde_json::from_str::<serde_json::Value>(body)
            .map(|v| format!("{status}:{}", v["error"]["code"].as_str().unwrap_or("?")))
            .unwrap_or_else(|_| format!("{status}:unparsed")),
        _ => "passed".to_owned(),
    }
}

fn loopback(server: &TestServer) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port()))
}

fn start(with_token: bool) -> (TestServer, tempfile::TempDir) {
    let secrets = tempfile::tempdir().unwrap();
    let token_file = secrets.path().join("write-token");
    std::fs::write(&token_file, TOKEN).unwrap();
    // All addresses: loopback clients reach 127.0.0.1, the test host reaches its veth peer.
    let bind = "0.0.0.0:0";
    let token_arg = token_file.display().to_string();
    let extra: Vec<&str> = if with_token {
        vec!["--write-token-file", &token_arg]
    } else {
        vec!["--insecure-public-bind"]
    };
    let server = TestServer::start_in(tempfile::tempdir().unwrap(), bind, &extra);
    (server, secrets)
}

#[test]
fn write_guard_table_with_real_peers() {
    let host = NetnsHost::new();
    let (open, _s1) = start(false);
    let (tokened, _s2) = start(true);
    let url =
        |server: &TestServer| format!("http://{}:{}{PROBE}", host.host_ip, server.addr.port());
    type Case<'a> = (
        &'a str,
        &'a TestServer,
        bool,
        &'a str,
        Vec<(&'a str, &'a str)>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        // (name, server, from the test host?, method, headers, expected)
        (
            "loopback, no forwarding headers, no token configured",
            &open,
            false,
            "POST",
            vec![],
            "passed",
        ),
        (
            "loopback, token configured, none sent",
            &tokened,
            false,
            "DELETE",
            vec![],
            "passed",
        ),
        (
            "loopback with X-Forwarded-For is not loopback",
            &open,
            false,
            "POST",
            vec![("X-Forwarded-For", "203.0.113.9")],
            "403:write_forbidden",
        ),
        (
            "loopback with Forwarded is not loopback",
            &open,
            false,
            "PUT",
            vec![("Forwarded", "for=203.0.113.9")],
            "403:write_forbidden",
        ),
        (
            "loopback with X-Real-IP is not loopback",
            &open,
            false,
            "PATCH",
            vec![("X-Real-IP", "203.0.113.9")],
            "403:write_forbidden",
        ),
        (
            "non-loopback, no token configured",
            &open,
            true,
            "POST",
            vec![],
            "403:write_forbidden",
        ),
        (
            "non-loopback, no token configured, one sent anyway",
            &open,
            true,
            "POST",
            vec![("X-Stockade-Write-Token", TOKEN)],
            "403:write_forbidden",
        ),
        (
            "non-loopback, valid write token",
            &tokened,
            true,
            "POST",
            vec![("X-Stockade-Write-Token", TOKEN)],
            "passed",
        ),
        (
            "non-loopback, missing write token",
            &tokened,
            true,
            "POST",
            vec![],
            "401:write_unauthorized",
        ),
        (
            "non-loopback, wrong write token",
            &tokened,
            true,
            "DELETE",
            vec![("X-Stockade-Write-Token", "write-token-0123456789abcdeX")],
            "401:write_unauthorized",
        ),
        (
            "non-loopback, write token as Authorization bearer",
            &tokened,
            true,
            "POST",
            vec![("Authorization", "Bearer write-token-0123456789abcdef")],
            "401:write_unauthorized",
        ),
        (
            "non-loopback GET is exempt",
            &open,
            true,
            "GET",
            vec![],
            "passed",
        ),
        (
            "non-loopback HEAD is exempt",
            &open,
            true,
            "HEAD",
            vec![],
            "passed",
        ),
        (
            "non-loopback OPTIONS is exempt",
            &open,
            true,
            "OPTIONS",
            vec![],
            "passed",
        ),
    ];
    for (name, server, remote, method, headers, expected) in cases {
        let (status, body) = if remote {
            host.curl(method, &url(server), &headers, None)
        } else {
            let r = request(loopback(server), method, PROBE, &headers, None);
            (r.status, r.body)
        };
        assert_ne!(status, 0, "{name}: no response");
        assert_eq!(
            guard_code(status, &body),
            expected,
            "{name}: {status} {body}"
        );
    }
}

#[test]
fn rate_limit_per_client_with_retry_after() {
    let host = NetnsHost::new();
    let (server, _secrets) = start(false);
    let forged = [("X-Forwarded-For", "198.51.100.7")];
    for i in 1..=300 {
        // Half the requests carry a forged X-Forwarded-For: from an untrusted peer it changes
        // nothing, they all count against the loopback client.
        let headers: &[(&str, &str)] = if i % 2 == 0 { &forged } else { &[] };
        let response = request(loopback(&server), "GET", "/v1/rate-probe", headers, None);
        assert_ne!(response.status, 429, "request {i} was limited");
    }
    for headers in [&[][..], &forged[..]] {
        let response = request(loopback(&server), "GET", "/v1/rate-probe", headers, None);
        assert_eq!(response.status, 429, "request 301 passed ({headers:?})");
        let retry: u64 = response
            .header("Retry-After")
            .expect("Retry-After")
            .parse()
            .unwrap();
        // A sliding window: the wait is just over the window, rounded up to whole seconds.
        assert!((1..=61).contains(&retry), "Retry-After {retry}");
        assert_eq!(response.json()["error"]["code"], "rate_limited");
    }
    // Another client is unaffected.
    let (status, _) = host.curl(
        "GET",
        &format!(
            "http://{}:{}/v1/rate-probe",
            host.host_ip,
            server.addr.port()
        ),
        &[],
        None,
    );
    assert_ne!(status, 429);
    // Health checks are not rate limited.
    assert_eq!(
        request(loopback(&server), "GET", "/healthz", &[], None).status,
        200
    );
}
