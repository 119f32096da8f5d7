//! Plugin egress through the real guests (`plugins/http`, the hostile guest) against a real
//! HTTP server on loopback ([`server::TestServer`]): what an allowed request sends and records,
//! that every hostile destination is refused with its policy code before any connection, that
//! a name is resolved once per request, that redirects are not followed, that the caps have
//! their own codes, and that raw sockets need an explicit address grant.
//!
//! Loopback is a denied range, so the server is reachable only through an explicit address
//! rule for its port (`http://127.0.0.1/32:PORT`) next to the name rule; the resolver maps
//! [`ALLOWED`] to 127.0.0.1.
//!
//! The http plugin is called through [`Bundle::call`], the embedder's path (its manifest
//! requests every name and address on any port, so the grants here are within it). The hostile
//! guest's manifest requests names only, so a grant with address rules for it goes straight to
//! [`Runtime::call`](stockade_runtime::Runtime::call): the check that a grant is within the
//! manifest has its own tests (`sandbox.rs`); these are about what the runtime enforces.
//!
//! Here: the fixture ([`Net`]) and the request paths (allowed, rebinding, redirect, no grant);
//! [`ssrf`]: the table of hostile destinations; [`caps`]: the caps and their codes;
//! [`sockets`]: raw TCP, UDP and name lookup; [`secrets`]: host-side secret injection and
//! what a hostile plugin can (not) learn of a secret; [`server`]: the test server.

mod caps;
mod secrets;
mod server;
mod sockets;
mod ssrf;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use stockade_egress::{EgressGrant, EgressPolicy, Resolver, StaticResolver};
use stockade_registry_types::LimitOverrides;
use stockade_runtime::{
    Bundle, CallError, Egress, EgressOutcome, EgressRecord, Limits, ToolCall, ToolGrants,
};

use crate::host::TestHost;
use server::{HELLO, METADATA_URL, TestServer};

/// The name the test server is reached by.
const ALLOWED: &str = "api.allowed.test";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34));
const PRIVATE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

/// Every name, every port, every address: what a careless operator might grant. Address rules
/// this wide open no denied range, so all the hostile cases still fail.
const WIDE: [&str; 4] = [
    "http://*:*",
    "https://*:*",
    "http://0.0.0.0/0:*",
    "http://[::/0]:*",
];

/// A runtime with both guests loaded and a fresh test server.
struct Net {
    host: TestHost,
    http: Bundle,
    hostile: Bundle,
    server: TestServer,
}

impl Net {
    async fn new() -> Self {
        let host = TestHost::new();
        let http = host
            .bundle(
                stockade_test_artifacts::HTTP_BUNDLE_DIR,
                stockade_test_artifacts::HTTP,
            )
            .await;
        let hostile = host.hostile().await;
        Self {
            host,
            http,
            hostile,
            server: TestServer::start(),
        }
    }

    fn port(&self) -> u16 {
        self.server.port()
    }

    /// `http://host:PORT{path}` on the test server's port.
    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port())
    }

    /// The grant that reaches the test server: its name, and loopback on its port only.
    fn reach_server(&self) -> Vec<String> {
        vec![
            format!("http://{ALLOWED}:{}", self.port()),
            format!("http://127.0.0.1/32:{}", self.port()),
        ]
    }

    /// Runs `tool` through [`Bundle::call`] and parses the output.
    async fn call(
        &self,
        bundle: &Bundle,
        tool: &str,
        input: Value,
        grants: &ToolGrants,
    ) -> Result<Value, CallError> {
        let input = input.to_string();
        let overrides = LimitOverrides::default();
        let out = bundle
            .call(&self.host.runtime, tool, &input, grants, &overrides)
            .await?;
        Ok(serde_json::from_str(&out.output).unwrap())
    }

    /// Runs a hostile tool: through [`Bundle::call`] when its manifest covers the grant,
    /// otherwise with the grant as given (see the module docs).
    async fn hostile(
        &self,
        tool: &str,
        input: Value,
        grants: &ToolGrants,
    ) -> Result<Value, CallError> {
        let entry = &self.hostile.tools()[tool];
        if grants.egress.policy.grant().within(&entry.egress).is_ok() {
            return self.call(&self.hostile, tool, input, grants).await;
        }
        let input = input.to_string();
        let call = ToolCall {
            tool,
            input: &input,
            grants,
            limits: Limits::default(),
        };
        let out = self.host.runtime.call(entry.component(), call).await?;
        Ok(serde_json::from_str(&out.output).unwrap())
    }

    async fn fetch(&self, input: Value, egress: &Egress) -> Result<Value, CallError> {
        self.call(&self.http, "fetch", input, &grants(egress)).await
    }

    async fn http_get(&self, url: &str, egress: &Egress) -> Result<Value, CallError> {
        let input = json!({ "url": url });
        self.hostile("http_get", input, &grants(egress)).await
    }
}

/// [`ALLOWED`] and two test names on loopback; `mixed.test` has a public and a private address.
fn resolver() -> StaticResolver {
    StaticResolver::new()
        .with(ALLOWED, [LOOPBACK])
        .with("internal.test", [LOOPBACK])
        .with("mixed.test", [PUBLIC, PRIVATE])
}

fn egress(rules: &[impl AsRef<str>], resolver: Arc<dyn Resolver>) -> Egress {
    Egress::new(
        EgressPolicy::new(EgressGrant::parse(rules).unwrap()),
        resolver,
    )
}

fn grants(egress: &Egress) -> ToolGrants {
    ToolGrants::none().with_egress(egress.clone())
}

/// The call failed with `call_code`, the call made exactly one attempt, refused with
/// `record_code`, and the call's reason is the record's. Returns the record.
#[track_caller]
fn assert_refused(
    name: &str,
    result: Result<Value, CallError>,
    egress: &Egress,
    call_code: &str,
    record_code: &str,
) -> EgressRecord {
    let records = egress.log.records();
    assert_eq!(
        records.len(),
        1,
        "{name}: one attempt recorded: {records:?}"
    );
    let record = records.into_iter().next().unwrap();
    let EgressOutcome::Denied { code, reason } = &record.outcome else {
        panic!("{name}: not refused: {record:?} (call: {result:?})");
    };
    assert_eq!(code, record_code, "{name}: {reason}");
    match result {
        Err(CallError::Egress {
            code,
            reason: called,
        }) => {
            assert_eq!(code, call_code, "{name}");
            assert_eq!(
                &called, reason,
                "{name}: the call reports the record's reason"
            );
        }
        other => panic!("{name}: expected {call_code}, got {other:?}"),
    }
    record
}

#[tokio::test]
async fn allowed_request_reaches_the_server_and_is_recorded() {
    let net = Net::new().await;
    let port = net.port();
    let resolver = Arc::new(resolver());
    let allowed = || egress(&net.reach_server(), resolver.clone());

    let egress1 = allowed();
    let url = net.url(ALLOWED, "/hello");
    let out = net.fetch(json!({ "url": url }), &egress1).await.unwrap();
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["body"], HELLO);
    assert_eq!(out["truncated"], false);
    assert_eq!(
        egress1.log.records(),
        [EgressRecord {
            scheme: "http".into(),
            host: ALLOWED.into(),
            port,
            address: Some(SocketAddr::new(LOOPBACK, port)),
            outcome: EgressOutcome::Response { status: 200 },
            bytes_sent: 0,
            bytes_received: HELLO.len() as u64,
            secrets_injected: Vec::new(),
        }]
    );
    let seen = net.server.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("GET", "/hello")
    );
    let host_header = format!("{ALLOWED}:{port}");
    assert_eq!(seen[0].header("host"), Some(host_header.as_str()));
    assert_eq!(resolver.lookups(ALLOWED), 1);

    // Headers the plugin sets arrive as sent.
    let egress2 = allowed();
    let input =
        json!({ "url": net.url(ALLOWED, "/echo"), "headers": { "x-probe": "egress-test" } });
    let out = net.fetch(input, &egress2).await.unwrap();
    let body = out["body"].as_str().unwrap();
    assert!(body.contains("x-probe: egress-test\n"), "{body}");

    // A body within the request cap is sent and counted.
    let egress3 = allowed();
    let input =
        json!({ "url": net.url(ALLOWED, "/upload"), "method": "POST", "body": "y".repeat(100) });
    let out = net.fetch(input, &egress3).await.unwrap();
    assert_eq!(out["body"], "received 100 bytes");
    assert_eq!(egress3.log.records()[0].bytes_sent, 100);

    // fetch_text reads an HTML page as text.
    let egress4 = allowed();
    let input = json!({ "url": net.url(ALLOWED, "/page") });
    let out = net
        .call(&net.http, "fetch_text", input, &grants(&egress4))
        .await
        .unwrap();
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(out["title"], "Egress page");
    let text = out["text"].as_str().unwrap();
    assert!(text.contains("Reached through the policy."), "{text}");
    assert_eq!(
        egress4.log.records()[0].outcome,
        EgressOutcome::Response { status: 200 }
    );
    assert_eq!(net.server.requests().len(), 4);
}

#[tokio::test]
async fn a_name_is_resolved_once_per_request_and_reached_at_the_checked_address() {
    let net = Net::new().await;
    let port = net.port();
    // A rebinding attacker's DNS: the server's address first, a private one afterwards.
    let resolver = Arc::new(
        StaticResolver::new().with_sequence("rebind.test", [vec![LOOPBACK], vec![PRIVATE]]),
    );
    let rules = [
        format!("http://rebind.test:{port}"),
        format!("http://127.0.0.1/32:{port}"),
    ];
    let mut first = egress(&rules, resolver.clone());
    // A second lookup at connect time would steer to 10.0.0.7: fail fast rather than hang.
    first.limits.connect_timeout = Duration::from_secs(1);
    let out = net
        .fetch(json!({ "url": net.url("rebind.test", "/hello") }), &first)
        .await
        .unwrap();
    assert_eq!(out["body"], HELLO);
    assert_eq!(resolver.lookups("rebind.test"), 1, "one lookup per request");
    let records = first.log.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].address, Some(SocketAddr::new(LOOPBACK, port)));
    assert_eq!(net.server.requests().len(), 1);

    // The next request is a new lookup, and its private answer is refused.
    let second = egress(&rules, resolver.clone());
    let result = net
        .fetch(json!({ "url": net.url("rebind.test", "/hello") }), &second)
        .await;
    let record = assert_refused(
        "rebound",
        result,
        &second,
        "egress_denied",
        "address_denied",
    );
    assert_eq!(record.address, None);
    assert_eq!(resolver.lookups("rebind.test"), 2);
    assert_eq!(net.server.requests().len(), 1);
}

#[tokio::test]
async fn redirect_to_metadata_is_returned_not_followed_and_the_next_hop_is_refused() {
    let net = Net::new().await;
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let allowed = egress(&net.reach_server(), resolver.clone());
    let out = net
        .fetch(json!({ "url": net.url(ALLOWED, "/redirect") }), &allowed)
        .await
        .unwrap();
    assert_eq!(out["status"], 302, "{out}");
    let headers = out["headers"].as_array().unwrap();
    assert!(
        headers.contains(&json!(["location", METADATA_URL])),
        "{headers:?}"
    );
    let records = allowed.log.records();
    assert_eq!(records.len(), 1, "not followed: {records:?}");
    assert_eq!(records[0].host, ALLOWED);
    assert_eq!(records[0].outcome, EgressOutcome::Response { status: 302 });
    assert_eq!(net.server.requests().len(), 1);

    // fetch_text reports where it points, without going there either.
    let text_egress = egress(&net.reach_server(), resolver.clone());
    let input = json!({ "url": net.url(ALLOWED, "/redirect") });
    let out = net
        .call(&net.http, "fetch_text", input, &grants(&text_egress))
        .await
        .unwrap();
    assert_eq!(out["location"], METADATA_URL);
    assert_eq!(text_egress.log.records().len(), 1);

    // A plugin that follows the hop itself makes a new request, checked like any other.
    let wide = egress(&WIDE, resolver);
    let result = net.http_get(METADATA_URL, &wide).await;
    let record = assert_refused("next hop", result, &wide, "egress_denied", "address_denied");
    assert_eq!((record.host.as_str(), record.port), ("169.254.169.254", 80));
    assert_eq!(net.server.requests().len(), 2);
}

#[tokio::test]
async fn no_egress_by_default() {
    let net = Net::new().await;
    let grants = ToolGrants::none();
    let url = net.url("127.0.0.1", "/hello");
    // An empty grant is within any request: this goes through Bundle::call.
    let result = net
        .hostile("http_get", json!({ "url": url }), &grants)
        .await;
    assert_refused(
        "no grant",
        result,
        &grants.egress,
        "egress_denied",
        "scheme_not_granted",
    );
    assert_eq!(net.server.connections(), 0);
}
