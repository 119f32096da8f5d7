//! Egress end to end over HTTP: the `http` plugin reaches a loopback test server only under an
//! explicit grant for its address and port, every other destination is refused with
//! `egress_denied` before anything is sent, and each request and refusal is an event.

use serde_json::json;
use stockade_test_artifacts::HTTP_BUNDLE_DIR;

use super::{Fixture, code};
use crate::upstream::Upstream;

#[test]
fn plugins_reach_only_granted_destinations_and_every_attempt_is_an_event() {
    let fx = Fixture::new();
    let admin = &fx.admin;
    let upstream = Upstream::start();
    let port = upstream.addr.port();
    admin.expect(
        201,
        "POST",
        "/v1/projects/a/bundles",
        Some(&json!({ "dir": HTTP_BUNDLE_DIR, "dev": true })),
    );
    admin.expect(
        201,
        "POST",
        "/v1/projects/a/agents",
        Some(&json!({ "name": "browser", "tools": { "allow": ["http.*"] } })),
    );

    // Before any grant: no network at all, and nothing reached the server.
    let url = format!("http://127.0.0.1:{port}/page");
    let refused = admin.call("a", "browser", "http.fetch", json!({ "url": url }));
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(code(&refused), "egress_denied");
    assert_eq!(upstream.hits(), 0);

    // A name grant does not open loopback; only a rule naming the address does.
    let bad_grants = [
        ("not a rule", json!(["ftp://example.com"]), "invalid_egress"),
        (
            "path in rule",
            json!(["https://example.com/x"]),
            "invalid_egress",
        ),
        ("not a list", json!("https://example.com"), "invalid_body"),
    ];
    for (name, egress, expected) in bad_grants {
        let response = admin.send(
            "PUT",
            "/v1/projects/a/grants/http/fetch",
            Some(&json!({ "egress": egress })),
        );
        assert_eq!(response.status, 400, "{name}: {}", response.body);
        assert!(
            code(&response) == expected
                || (expected == "invalid_body" && !code(&response).is_empty()),
            "{name}: {}",
            response.body
        );
    }
    // A tool that requests no network cannot be granted any.
    let response = admin.send(
        "PUT",
        "/v1/projects/a/grants/fs/read_file",
        Some(&json!({ "dirs": [{ "mount": "/project", "access": "read" }], "egress": ["https://example.com"] })),
    );
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(code(&response), "grant_exceeds_request");

    let grant = format!("http://127.0.0.1:{port}");
    admin.expect(
        200,
        "PUT",
        "/v1/projects/a/grants/http/fetch",
        // Granting the server's own address explicitly must still not let a plugin call it.
        Some(&json!({ "egress": [grant, format!("http://{}", fx.server.addr), "https://*.example.com"] })),
    );
    let fetched = admin.call("a", "browser", "http.fetch", json!({ "url": url }));
    assert_eq!(fetched.status, 200, "{}", fetched.body);
    assert_eq!(fetched.json()["output"]["status"], 200);
    assert!(
        fetched.json()["output"]["body"]
            .as_str()
            .unwrap()
            .contains("granted content")
    );
    assert_eq!(upstream.hits(), 1);
    // The grant is an address, not a spelling: 127.0.0.1 in decimal is the same destination.
    let decimal = admin.call(
        "a",
        "browser",
        "http.fetch",
        json!({ "url": format!("http://2130706433:{port}/") }),
    );
    assert_eq!(decimal.status, 200, "{}", decimal.body);
    assert_eq!(upstream.hits(), 2);

    // Refused with the policy's reason; nothing sent. (The plugin itself refuses URLs with
    // userinfo as invalid input; the host's own refusal is in the runtime's hostile table.) (case, url, reason fragment)
    let refusals = [
        (
            "other port on the granted address",
            format!("http://127.0.0.1:{}/", port.wrapping_add(1).max(1)),
            "port",
        ),
        (
            "another loopback address",
            format!("http://127.0.0.2:{port}/"),
            "127.0.0.2",
        ),
        (
            "another loopback address in decimal",
            format!("http://2130706434:{port}/"),
            "127.0.0.2",
        ),
        (
            "mapped loopback",
            format!("http://[::ffff:127.0.0.2]:{port}/"),
            "::ffff:127.0.0.2",
        ),
        (
            "cloud metadata",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
        ),
        (
            "localhost by name",
            format!("http://localhost:{port}/"),
            "localhost",
        ),
        (
            "the server itself",
            format!("http://{}/v1/projects", fx.server.addr),
            "own listen address",
        ),
    ];
    for (name, url, fragment) in &refusals {
        let response = admin.call("a", "browser", "http.fetch", json!({ "url": url }));
        assert_eq!(response.status, 403, "{name}: {}", response.body);
        assert_eq!(code(&response), "egress_denied", "{name}");
        assert!(
            response.body.contains(fragment),
            "{name}: reason should mention {fragment:?}: {}",
            response.body
        );
    }
    assert_eq!(upstream.hits(), 2, "a refused request reached the server");

    // Every attempt is an event naming the tool, destination and outcome.
    let events = admin.events("&kind=egress");
    // The two refusals before the grant and after it, and the two fetches.
    assert_eq!(events.len(), 3 + refusals.len(), "{events:#?}");
    let allowed: Vec<_> = events
        .iter()
        .filter(|e| e["payload"]["request"]["outcome"] == "response")
        .collect();
    assert_eq!(allowed.len(), 2, "{events:#?}");
    let request = &allowed[0]["payload"]["request"];
    assert_eq!(request["status"], 200);
    assert_eq!(request["address"], json!(format!("127.0.0.1:{port}")));
    assert!(request["bytes_received"].as_u64().unwrap() > 0);
    assert_eq!(allowed[0]["payload"]["tool"], "http.fetch");
    assert!(
        events
            .iter()
            .filter(|e| e["payload"]["request"]["outcome"] == "denied")
            .all(|e| e["payload"]["request"]["code"].is_string()),
        "{events:#?}"
    );
}
