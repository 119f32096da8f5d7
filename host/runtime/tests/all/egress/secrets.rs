//! Host-side secret injection through the real guests: `{{secret:api_token}}` in a header
//! becomes [`VALUE`] only on its way to the injection's destinations, and a plugin trying
//! every interface it has never sees [`VALUE`] in anything it gets back, nor does it show up
//! in a record, a reason or `Debug` output.
//!
//! The test server's `/seen` route answers 204 and reflects nothing, so what a request carried
//! is asserted server-side only. A granted destination that echoes headers would hand the
//! value back to the plugin: that limit is documented (grant injection only to destinations
//! that do not echo), not tested as a feature.

use std::sync::Arc;

use serde_json::{Value, json};
use stockade_egress::{EgressGrant, Resolver};
use stockade_runtime::{CallError, Egress, EgressOutcome, SecretInjection, ToolGrants};

use super::server::{METADATA_URL, TestServer};
use super::{ALLOWED, Net, assert_refused, egress, grants, resolver};

/// The secret's value: only the test server may ever see it.
const VALUE: &str = "sk-live-5f0e9c1d-only-the-host-holds-this";
const PLACEHOLDER: &str = "{{secret:api_token}}";
/// Another name [`resolver`] maps to loopback: granted for egress, not for the secret.
const INTERNAL: &str = "internal.test";

/// `api_token` = [`VALUE`], injected for `destinations` only.
fn token(destinations: &[String]) -> SecretInjection {
    SecretInjection::new(
        "api_token",
        VALUE.to_owned(),
        EgressGrant::parse(destinations).unwrap(),
    )
}

/// `reach` for egress, with `api_token` for `http://api.allowed.test:PORT` only.
fn with_token(net: &Net, reach: &[String], resolver: &Arc<dyn Resolver>) -> Egress {
    let only_allowed = [format!("http://{ALLOWED}:{}", net.port())];
    egress(reach, resolver.clone()).with_secret(token(&only_allowed))
}

/// Fails if [`VALUE`] is anywhere the plugin or the event log could see it: the tool's
/// output, the call's error, the call's records (as JSON and `Debug`) and the grant's `Debug`.
#[track_caller]
fn assert_no_leak(name: &str, result: &Result<Value, CallError>, egress: &Egress) {
    let shown = match result {
        Ok(output) => output.to_string(),
        Err(err) => format!("{err} {err:?}"),
    };
    assert!(!shown.contains(VALUE), "{name}: the plugin got it: {shown}");
    let records = egress.log.records();
    let json = serde_json::to_string(&records).unwrap();
    assert!(!json.contains(VALUE), "{name}: in the records: {json}");
    let debug = format!("{records:?} {egress:?}");
    assert!(!debug.contains(VALUE), "{name}: in Debug: {debug}");
}

/// `fetch` of `url` with `headers` (an object or a list of pairs).
async fn fetch(
    net: &Net,
    url: String,
    headers: Value,
    egress: &Egress,
) -> Result<Value, CallError> {
    net.fetch(json!({ "url": url, "headers": headers }), egress)
        .await
}

/// The hostile guest's `http_get` of `url` with `headers` as `[name, value]` pairs.
async fn http_get(
    net: &Net,
    url: String,
    headers: Value,
    egress: &Egress,
) -> Result<Value, CallError> {
    let input = json!({ "url": url, "headers": headers });
    net.hostile("http_get", input, &grants(egress)).await
}

#[tokio::test]
async fn a_granted_api_receives_the_injected_header() {
    let net = Net::new().await;
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let egress = with_token(&net, &net.reach_server(), &resolver);
    let headers = json!({ "Authorization": format!("Bearer {PLACEHOLDER}") });
    let result = fetch(&net, net.url(ALLOWED, "/seen"), headers, &egress).await;
    assert_no_leak("fetch", &result, &egress);
    assert_eq!(result.unwrap()["status"], 204);

    let seen = net.server.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let expected = format!("Bearer {VALUE}");
    assert_eq!(seen[0].header("authorization"), Some(expected.as_str()));
    let records = egress.log.records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].outcome, EgressOutcome::Response { status: 204 });
    assert_eq!(records[0].secrets_injected, ["api_token"]);
    let json = serde_json::to_value(&records[0]).unwrap();
    assert_eq!(json["secrets_injected"], json!(["api_token"]));

    // Twice in one value, and in a second header: each replaced, the name recorded once.
    let egress = with_token(&net, &net.reach_server(), &resolver);
    let headers = json!([
        ["x-a", format!("{PLACEHOLDER}:{PLACEHOLDER}")],
        ["x-b", format!("token {PLACEHOLDER}")],
    ]);
    let result = http_get(&net, net.url(ALLOWED, "/seen"), headers, &egress).await;
    assert_no_leak("http_get", &result, &egress);
    assert_eq!(result.unwrap()["status"], 204);
    let seen = net.server.requests();
    let both = format!("{VALUE}:{VALUE}");
    let prefixed = format!("token {VALUE}");
    assert_eq!(seen[1].header("x-a"), Some(both.as_str()));
    assert_eq!(seen[1].header("x-b"), Some(prefixed.as_str()));
    assert_eq!(egress.log.records()[0].secrets_injected, ["api_token"]);

    // A request without a placeholder records no injection (and omits the field in JSON).
    let egress = with_token(&net, &net.reach_server(), &resolver);
    let result = fetch(&net, net.url(ALLOWED, "/seen"), json!({}), &egress).await;
    assert_eq!(result.unwrap()["status"], 204);
    let record = &egress.log.records()[0];
    assert!(record.secrets_injected.is_empty());
    let json = serde_json::to_value(record).unwrap();
    assert!(json.get("secrets_injected").is_none(), "{json}");
    assert_eq!(net.server.requests()[2].header("authorization"), None);
}

/// A request that passes the egress policy but may not carry the placeholder.
struct Refusal {
    name: &'static str,
    /// Through `http.fetch` (else `hostile.http_get`).
    fetch: bool,
    url: String,
    headers: Value,
    egress: Egress,
    code: &'static str,
    /// The reason names this (the secret and the destination).
    says: String,
}

#[tokio::test]
async fn injection_is_refused_outside_the_secrets_grant_and_nothing_is_sent() {
    let net = Net::new().await;
    let other = TestServer::start();
    let (port, other_port) = (net.port(), other.port());
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    // Egress reaches both servers, by either name and by address; the secret only one.
    let mut reach = net.reach_server();
    reach.extend([
        format!("http://{ALLOWED}:{other_port}"),
        format!("http://127.0.0.1/32:{other_port}"),
        format!("http://{INTERNAL}:{port}"),
        format!("https://{ALLOWED}:{port}"),
        format!("https://127.0.0.1/32:{port}"),
    ]);
    let granted = || with_token(&net, &reach, &resolver);
    let bearer = json!({ "Authorization": format!("Bearer {PLACEHOLDER}") });
    let broken = SecretInjection::new(
        "broken",
        format!("{VALUE}\r\nx-smuggled: 1"),
        EgressGrant::parse(&[format!("http://{ALLOWED}:{port}")]).unwrap(),
    );
    let case = |name, url: String, headers: Value, egress: Egress, code, says: String| Refusal {
        name,
        fetch: true,
        url,
        headers,
        egress,
        code,
        says,
    };
    let not_granted = "secret_not_granted";
    let cases = vec![
        case(
            "another port",
            format!("http://{ALLOWED}:{other_port}/seen"),
            bearer.clone(),
            granted(),
            not_granted,
            format!("`api_token` is not granted for http://{ALLOWED}:{other_port}"),
        ),
        case(
            "the address instead of the granted name",
            net.url("127.0.0.1", "/seen"),
            bearer.clone(),
            granted(),
            not_granted,
            format!("`api_token` is not granted for http://127.0.0.1:{port}"),
        ),
        case(
            "another granted name",
            net.url(INTERNAL, "/seen"),
            bearer.clone(),
            granted(),
            not_granted,
            format!("`api_token` is not granted for http://{INTERNAL}:{port}"),
        ),
        case(
            "https instead of http",
            format!("https://{ALLOWED}:{port}/seen"),
            bearer.clone(),
            granted(),
            not_granted,
            format!("`api_token` is not granted for https://{ALLOWED}:{port}"),
        ),
        case(
            "a secret the tool was not given",
            net.url(ALLOWED, "/seen"),
            json!({ "Authorization": "Bearer {{secret:other_token}}" }),
            granted(),
            not_granted,
            "`other_token` is not granted to this tool".into(),
        ),
        case(
            "no secrets at all",
            net.url(ALLOWED, "/seen"),
            bearer.clone(),
            egress(&reach, resolver.clone()),
            not_granted,
            "`api_token` is not granted to this tool".into(),
        ),
        case(
            "one granted, one not: the whole request is refused",
            net.url(ALLOWED, "/seen"),
            json!({ "Authorization": format!("Bearer {PLACEHOLDER}"), "X-Other": "{{secret:nope}}" }),
            granted(),
            not_granted,
            "`nope`".into(),
        ),
        case(
            "the second value of a repeated header",
            net.url(ALLOWED, "/seen"),
            json!([["x-a", "plain"], ["x-a", "{{secret:nope}}"]]),
            granted(),
            not_granted,
            "`nope`".into(),
        ),
        case(
            "a secret that would break the header",
            net.url(ALLOWED, "/seen"),
            json!({ "X-Key": "{{secret:broken}}" }),
            granted().with_secret(broken),
            "secret_invalid_header",
            format!("`x-key` header for http://{ALLOWED}:{port}"),
        ),
    ];
    let mut hostile_cases: Vec<Refusal> = Vec::new();
    for case in &cases {
        // The same request from the hostile guest, which sends headers unchecked.
        let pairs = match &case.headers {
            Value::Object(map) => map.iter().map(|(n, v)| json!([n, v])).collect(),
            other => other.clone(),
        };
        hostile_cases.push(Refusal {
            name: case.name,
            fetch: false,
            url: case.url.clone(),
            headers: pairs,
            egress: Egress {
                log: Default::default(),
                ..case.egress.clone()
            },
            code: case.code,
            says: case.says.clone(),
        });
    }
    for case in cases.into_iter().chain(hostile_cases) {
        let via = if case.fetch { "fetch" } else { "http_get" };
        let name = format!("{} ({via})", case.name);
        let result = if case.fetch {
            fetch(&net, case.url, case.headers, &case.egress).await
        } else {
            http_get(&net, case.url, case.headers, &case.egress).await
        };
        assert_no_leak(&name, &result, &case.egress);
        let record = assert_refused(&name, result, &case.egress, case.code, case.code);
        let EgressOutcome::Denied { reason, .. } = &record.outcome else {
            unreachable!("assert_refused checked it");
        };
        assert!(reason.contains(&case.says), "{name}: {reason}");
        assert_eq!(record.address, None, "{name}: no connection");
        assert!(record.secrets_injected.is_empty(), "{name}");
    }
    assert_eq!(net.server.connections(), 0, "nothing sent to the server");
    assert_eq!(other.connections(), 0, "nothing sent to the other port");
}

#[tokio::test]
async fn placeholders_in_the_url_and_body_are_sent_as_written() {
    let net = Net::new().await;
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());

    // The hostile guest hands the query to wasi:http unencoded.
    let egress = with_token(&net, &net.reach_server(), &resolver);
    let url = net.url(ALLOWED, &format!("/seen?q={PLACEHOLDER}"));
    let result = http_get(&net, url, json!([]), &egress).await;
    assert_no_leak("query", &result, &egress);
    assert_eq!(result.unwrap()["status"], 204);
    let target = net.server.requests()[0].target.clone();
    assert_eq!(target, format!("/seen?q={PLACEHOLDER}"));
    assert!(egress.log.records()[0].secrets_injected.is_empty());

    // The http plugin percent-encodes the braces; the name still arrives, the value not.
    let egress = with_token(&net, &net.reach_server(), &resolver);
    let url = net.url(ALLOWED, &format!("/seen/{PLACEHOLDER}?q={PLACEHOLDER}"));
    let result = fetch(&net, url, json!({}), &egress).await;
    assert_no_leak("encoded path and query", &result, &egress);
    let target = net.server.requests()[1].target.clone();
    assert!(target.contains("secret:api_token"), "{target}");
    assert!(!target.contains(VALUE), "{target}");

    // A body is never scanned, whatever its headers say.
    let egress = with_token(&net, &net.reach_server(), &resolver);
    let body = format!("token={PLACEHOLDER}");
    let input = json!({
        "url": net.url(ALLOWED, "/upload"),
        "method": "POST",
        "headers": { "Content-Type": "application/x-www-form-urlencoded" },
        "body": body,
    });
    let result = net.fetch(input, &egress).await;
    assert_no_leak("body", &result, &egress);
    assert_eq!(
        result.unwrap()["body"],
        format!("received {} bytes", body.len())
    );
    assert_eq!(net.server.requests()[2].content, body);
    assert!(egress.log.records()[0].secrets_injected.is_empty());
}

/// One thing a hostile plugin tries in order to learn the secret.
struct Attempt {
    name: &'static str,
    tool: &'static str,
    input: Value,
    /// The code it must be refused with, if it reaches the network.
    refused: Option<&'static str>,
}

#[tokio::test]
async fn a_hostile_plugin_cannot_obtain_the_value() {
    let net = Net::new().await;
    // An echoing server the plugin is not granted.
    let echo = TestServer::start();
    let port = net.port();
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let mut reach = net.reach_server();
    reach.push(format!("http://{INTERNAL}:{port}"));
    let leak = |value: &str| json!([["authorization", value], ["x-leak", PLACEHOLDER]]);
    let bearer = format!("Bearer {PLACEHOLDER}");
    let attempt = |name, tool, input, refused| Attempt {
        name,
        tool,
        input,
        refused,
    };
    let echo_at = |host: &str| format!("http://{host}:{}/echo", echo.port());
    let attempts = vec![
        attempt("environment and arguments", "env", json!({}), None),
        attempt(
            "the process environment",
            "read",
            json!({ "path": "/proc/self/environ" }),
            None,
        ),
        attempt(
            "the process memory",
            "read",
            json!({ "path": "/proc/self/mem" }),
            None,
        ),
        attempt(
            "the command line",
            "read",
            json!({ "path": "/proc/self/cmdline" }),
            None,
        ),
        attempt("the root", "list", json!({ "path": "/" }), None),
        attempt(
            "the working directory",
            "list",
            json!({ "path": "." }),
            None,
        ),
        attempt(
            "a file named like the secret",
            "read",
            json!({ "path": "/run/secrets/api_token" }),
            None,
        ),
        attempt(
            "an echo server by address",
            "http_get",
            json!({ "url": echo_at("127.0.0.1"), "headers": leak(&bearer) }),
            Some("port_not_granted"),
        ),
        attempt(
            "an echo server by an ungranted name",
            "http_get",
            json!({ "url": echo_at("echo.evil.test"), "headers": leak(&bearer) }),
            Some("host_not_granted"),
        ),
        attempt(
            "an echo server as the granted name on another port",
            "http_get",
            json!({ "url": echo_at(ALLOWED), "headers": leak(&bearer) }),
            Some("port_not_granted"),
        ),
        attempt(
            "the granted server's echo by another granted name",
            "http_get",
            json!({ "url": net.url(INTERNAL, "/echo"), "headers": leak(&bearer) }),
            Some("secret_not_granted"),
        ),
        attempt(
            "the granted server's echo by address",
            "http_get",
            json!({ "url": net.url("127.0.0.1", "/echo"), "headers": leak(&bearer) }),
            Some("secret_not_granted"),
        ),
        // wasi:http refuses a `host` field before the request reaches the host's hook.
        attempt(
            "the placeholder as the Host header",
            "http_get",
            json!({ "url": net.url(INTERNAL, "/echo"), "headers": [["host", PLACEHOLDER]] }),
            None,
        ),
        attempt(
            "a raw TCP connection to the echo server",
            "connect",
            json!({ "addr": format!("127.0.0.1:{}", echo.port()) }),
            None,
        ),
        attempt(
            "the host log",
            "log",
            json!({ "message": PLACEHOLDER }),
            None,
        ),
        attempt("state left by another call", "peek", json!({}), None),
    ];
    let served = net.server.requests().len();
    for attempt in attempts {
        let name = attempt.name;
        let egress = with_token(&net, &reach, &resolver);
        let result = net
            .hostile(attempt.tool, attempt.input, &grants(&egress))
            .await;
        assert_no_leak(name, &result, &egress);
        match attempt.refused {
            Some(code) => {
                let call_code = match code {
                    "secret_not_granted" => code,
                    _ => "egress_denied",
                };
                assert_refused(name, result, &egress, call_code, code);
            }
            None => assert!(egress.log.records().is_empty(), "{name}: no request"),
        }
    }
    assert_eq!(echo.connections(), 0, "the echo server was never reached");
    assert_eq!(
        net.server.requests().len(),
        served,
        "nothing reached the granted server either"
    );

    // A redirect is returned, not followed: the header went to the granted server only, and
    // following the hop by hand is a new request, refused by the policy before any secret.
    let egress = with_token(&net, &reach, &resolver);
    let result = http_get(&net, net.url(ALLOWED, "/redirect"), leak(&bearer), &egress).await;
    assert_no_leak("redirect", &result, &egress);
    let out = result.unwrap();
    assert_eq!(
        (out["status"].as_u64(), out["location"].as_str()),
        (Some(302), Some(METADATA_URL))
    );
    let records = egress.log.records();
    assert_eq!(records.len(), 1, "not followed: {records:?}");
    assert_eq!(records[0].secrets_injected, ["api_token"]);
    let egress = with_token(&net, &reach, &resolver);
    let result = http_get(&net, METADATA_URL.to_owned(), leak(&bearer), &egress).await;
    assert_no_leak("the redirect's next hop", &result, &egress);
    assert_refused(
        "next hop",
        result,
        &egress,
        "egress_denied",
        "host_not_granted",
    );

    // With no grant at all (the embedder's default), the same tools see nothing either.
    let none = ToolGrants::none();
    let result = net.hostile("env", json!({}), &none).await;
    assert_no_leak("env without grants", &result, &none.egress);
}

#[tokio::test]
async fn debug_and_records_never_show_the_value() {
    let net = Net::new().await;
    let resolver: Arc<dyn Resolver> = Arc::new(resolver());
    let egress = with_token(&net, &net.reach_server(), &resolver);
    let headers = json!({ "Authorization": format!("Bearer {PLACEHOLDER}") });
    let result = fetch(&net, net.url(ALLOWED, "/seen"), headers, &egress).await;
    assert!(result.is_ok(), "{result:?}");
    let expected = format!("Bearer {VALUE}");
    assert_eq!(
        net.server.requests()[0].header("authorization"),
        Some(expected.as_str()),
        "sent"
    );

    let shown = [
        format!("{egress:?}"),
        format!("{egress:#?}"),
        format!("{:?}", grants(&egress)),
        format!("{:?}", egress.secrets),
        format!("{:?}", egress.log),
        format!("{:?}", egress.log.records()),
        serde_json::to_string(&egress.log.records()).unwrap(),
    ];
    for text in &shown {
        assert!(!text.contains(VALUE), "{text}");
    }
    assert!(
        shown[0].contains("api_token"),
        "the name is shown: {}",
        shown[0]
    );
    assert!(shown[6].contains("\"secrets_injected\":[\"api_token\"]"));
    assert_eq!(egress.secrets[0].name(), "api_token");
}
