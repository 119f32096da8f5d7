//! Secrets end to end: sealed without the right master key (503 `sealed`, everything else
//! works, nothing written), injection into a granted request only, and the value nowhere a
//! plugin, an agent or an operator could read it: not in the database or WAL, the server log,
//! the event log, or any API response (searched byte for byte). A tool granted a read gets
//! the value, and whatever it then tries (logging it, returning it) is scrubbed on the way out.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};
use stockade_test_artifacts::{HOSTILE_BUNDLE_DIR, HTTP_BUNDLE_DIR};

use crate::api::{Client, code};
use crate::server::TestServer;
use crate::upstream::Upstream;

const VALUE: &str = "s3cr3t-VALUE-7f2b9c41d0e8";

fn key_file(dir: &Path, name: &str, hex_byte: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, hex_byte.repeat(32)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Starts a server on `data` with `master_key_file = key` (or none).
fn start(data: tempfile::TempDir, key: Option<&str>) -> TestServer {
    let config = data.path().join("test.toml");
    let mut text = "[rate_limit]\napi_per_minute = 100000\n".to_owned();
    if let Some(key) = key {
        text = format!("master_key_file = \"{key}\"\n{text}");
    }
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap().to_owned();
    TestServer::start_in(data, "127.0.0.1:0", &["--config", &config])
}

fn files_contain(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(files_contain(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[test]
fn without_the_right_master_key_secrets_are_sealed_and_nothing_else_breaks() {
    let keys = tempfile::tempdir().unwrap();
    let good = key_file(keys.path(), "good", "ab");
    let wrong = key_file(keys.path(), "wrong", "cd");
    let data = tempfile::tempdir().unwrap();

    // No key: sealed from the start; the rest of the API works.
    let server = start(data, None);
    let admin = Client::new(server.addr, &server.admin_token());
    let token = server.admin_token();
    let refused = admin.send(
        "PUT",
        "/v1/secrets/api_token",
        Some(&json!({ "value": VALUE })),
    );
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(code(&refused), "sealed");
    assert!(refused.body.contains("master_key_file"), "{}", refused.body);
    admin.expect(200, "GET", "/v1/projects", None);
    let (_, data) = server.stop_keeping_data();

    // The right key: store one. The wrong key: sealed, the secret survives untouched.
    let server = start(data, Some(&good));
    let admin = Client::new(server.addr, &token);
    admin.expect(
        201,
        "PUT",
        "/v1/secrets/api_token",
        Some(&json!({ "value": VALUE })),
    );
    let (_, data) = server.stop_keeping_data();
    let db = std::fs::read(data.path().join("stockade.db")).unwrap();

    let server = start(data, Some(&wrong));
    let admin = Client::new(server.addr, &token);
    for (method, path, body) in [
        ("GET", "/v1/secrets", None),
        (
            "PUT",
            "/v1/secrets/other",
            Some(json!({ "value": "another-value-123" })),
        ),
        ("DELETE", "/v1/secrets/api_token", None),
    ] {
        let response = admin.send(method, path, body.as_ref());
        assert_eq!(response.status, 503, "{method} {path}: {}", response.body);
        assert_eq!(code(&response), "sealed", "{method} {path}");
    }
    admin.expect(200, "GET", "/v1/projects", None);
    let (_, data) = server.stop_keeping_data();
    // Nothing re-keyed or overwritten while sealed (the WAL was checkpointed on close).
    assert_eq!(std::fs::read(data.path().join("stockade.db")).unwrap(), db);

    let server = start(data, Some(&good));
    let admin = Client::new(server.addr, &token);
    let list = admin.expect(200, "GET", "/v1/secrets", None);
    assert_eq!(list[0]["name"], "api_token", "{list}");
}

#[test]
fn secrets_reach_granted_requests_only_and_never_leave_the_server() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "key", "5a");
    let server = start(tempfile::tempdir().unwrap(), Some(&key));
    let admin = Client::new(server.addr, &server.admin_token());
    let upstream = Upstream::start();
    let port = upstream.addr.port();
    let root = tempfile::tempdir().unwrap();
    let mut responses: Vec<String> = Vec::new();
    let mut keep = |r: &crate::server::Response| responses.push(r.body.clone());

    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": "p", "root": root.path() })),
    );
    admin.expect(
        201,
        "POST",
        "/v1/projects/p/bundles",
        Some(&json!({ "dir": HTTP_BUNDLE_DIR, "dev": true })),
    );
    admin.expect(
        201,
        "POST",
        "/v1/projects/p/agents",
        Some(&json!({ "name": "bot", "tools": { "allow": ["http.*"] } })),
    );
    let set = admin.send(
        "PUT",
        "/v1/projects/p/secrets/api_token",
        Some(&json!({ "value": VALUE })),
    );
    assert_eq!(set.status, 201, "{}", set.body);
    keep(&set);
    let short = admin.send("PUT", "/v1/secrets/tiny", Some(&json!({ "value": "abc" })));
    assert_eq!(code(&short), "secret_too_short", "{}", short.body);

    let granted = format!("http://127.0.0.1:{port}");
    // A secret may only go where the tool may connect.
    let outside = admin.send(
        "PUT",
        "/v1/projects/p/grants/http/fetch",
        Some(&json!({ "egress": [granted], "secrets": [{ "name": "api_token", "destinations": ["https://api.example.com"] }] })),
    );
    assert_eq!(code(&outside), "invalid_secret_grant", "{}", outside.body);
    let grant = admin.send(
        "PUT",
        "/v1/projects/p/grants/http/fetch",
        Some(&json!({ "egress": [granted], "secrets": [{ "name": "api_token", "destinations": [granted] }] })),
    );
    assert_eq!(grant.status, 200, "{}", grant.body);
    keep(&grant);

    let headers = json!({ "Authorization": "Bearer {{secret:api_token}}" });
    let call = |path: &str| {
        admin.call(
            "p",
            "bot",
            "http.fetch",
            json!({ "url": format!("{granted}{path}"), "headers": headers }),
        )
    };
    // The granted API gets the value; the plugin only ever held the placeholder.
    let ok = call("/api");
    assert_eq!(ok.status, 200, "{}", ok.body);
    keep(&ok);
    assert_eq!(upstream.seen(), [format!("Bearer {VALUE}")]);

    // An upstream that echoes it back: the output is scrubbed before it leaves the server.
    let echoed = call("/echo");
    assert_eq!(echoed.status, 200, "{}", echoed.body);
    keep(&echoed);
    assert!(
        echoed.body.contains("[REDACTED:secret:api_token]"),
        "{}",
        echoed.body
    );
    let redactions = admin.events("&kind=redaction");
    assert_eq!(redactions.len(), 1, "{redactions:#?}");
    assert_eq!(
        redactions[0]["payload"]["findings"][0]["secret"],
        "api_token"
    );

    // Without the grant's secret entry the placeholder is refused, never sent.
    admin.expect(
        200,
        "PUT",
        "/v1/projects/p/grants/http/fetch",
        Some(&json!({ "egress": [granted] })),
    );
    let refused = call("/api");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(code(&refused), "secret_not_granted", "{}", refused.body);
    keep(&refused);
    assert_eq!(upstream.seen().len(), 2, "a refused request was sent");

    // Everything an operator or agent can read: every response, the events, the listing.
    let listing = admin.get("/v1/projects/p/secrets");
    keep(&listing);
    let events: Vec<Value> = admin.events("");
    let everything = format!(
        "{}\n{}",
        responses.join("\n"),
        serde_json::to_string(&events).unwrap()
    );
    assert!(
        !everything.contains(VALUE),
        "the value leaked through the API"
    );
    assert!(
        events
            .iter()
            .any(|e| e["payload"]["action"] == "secret_set")
    );
    assert!(
        !server.log().contains(VALUE),
        "the value is in the server log"
    );
    let data_dir = server.data_dir().to_path_buf();
    let (_, _data) = server.stop_keeping_data();
    let hits = files_contain(&data_dir, VALUE.as_bytes());
    assert!(hits.is_empty(), "the value is in {hits:?}");
}

#[test]
fn a_granted_read_reaches_the_plugin_and_every_way_out_is_scrubbed() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "key", "6b");
    let server = start(tempfile::tempdir().unwrap(), Some(&key));
    let admin = Client::new(server.addr, &server.admin_token());
    let root = tempfile::tempdir().unwrap();
    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": "p", "root": root.path() })),
    );
    admin.expect(
        201,
        "POST",
        "/v1/projects/p/bundles",
        Some(&json!({ "dir": HOSTILE_BUNDLE_DIR, "dev": true })),
    );
    admin.expect(
        201,
        "POST",
        "/v1/projects/p/agents",
        Some(&json!({ "name": "bot", "tools": { "allow": ["hostile.read_secret"] } })),
    );
    for name in ["api_token", "signing_key"] {
        let set = admin.send(
            "PUT",
            &format!("/v1/projects/p/secrets/{name}"),
            Some(&json!({ "value": format!("{VALUE}-{name}") })),
        );
        assert_eq!(set.status, 201, "{}", set.body);
    }
    let grant = |body: Value| {
        admin.send(
            "PUT",
            "/v1/projects/p/grants/hostile/read_secret",
            Some(&body),
        )
    };
    // Refused grants: a name the tool does not request; an entry that grants nothing.
    let refused: &[(&str, Value, &str)] = &[
        (
            "not requested by the manifest",
            json!({ "secrets": [{ "name": "root_password", "read": true }] }),
            "grant_exceeds_request",
        ),
        (
            "neither read nor destinations",
            json!({ "secrets": [{ "name": "api_token" }] }),
            "invalid_secret_grant",
        ),
        (
            "the same name twice",
            json!({ "secrets": [{ "name": "api_token", "read": true }, { "name": "api_token", "read": true }] }),
            "invalid_secret_grant",
        ),
    ];
    for (name, body, expected) in refused {
        let response = grant(body.clone());
        assert_eq!(code(&response), *expected, "{name}: {}", response.body);
    }
    let ok = grant(json!({ "secrets": [{ "name": "api_token", "read": true }] }));
    assert_eq!(ok.status, 200, "{}", ok.body);

    let read = |name: &str| admin.call("p", "bot", "hostile.read_secret", json!({ "name": name }));
    // The plugin gets the value, logs it and returns it: the answer carries only the marker.
    let got = read("api_token");
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(!got.body.contains(VALUE), "{}", got.body);
    assert!(
        got.body.contains("[REDACTED:secret:api_token]"),
        "{}",
        got.body
    );
    // Requested but not granted: refused, and the value of the other secret is not in the error.
    let other = read("signing_key");
    assert_eq!(other.status, 403, "{}", other.body);
    assert!(!other.body.contains(VALUE), "{}", other.body);

    let reads = admin.events("&kind=secret_read");
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert_eq!(reads[0]["payload"]["secret"], "api_token");
    let redactions = admin.events("&kind=redaction");
    let places: Vec<&str> = redactions
        .iter()
        .map(|e| e["payload"]["in"].as_str().unwrap())
        .collect();
    assert_eq!(places, ["log", "output"], "{redactions:#?}");
    assert_eq!(
        redactions[0]["payload"]["findings"][0]["secret"],
        "api_token"
    );
    assert!(redactions[0]["payload"]["findings"][0]["count"].as_u64() >= Some(2));

    let log = server.log();
    assert!(!log.contains(VALUE), "the value is in the server log");
    assert!(
        log.contains("[REDACTED:secret:api_token]"),
        "the plugin's log record is missing: {log}"
    );
    let events = serde_json::to_string(&admin.events("")).unwrap();
    assert!(!events.contains(VALUE), "the value is in the event log");
}

#[test]
fn the_master_key_rotates_from_the_command_line_and_the_old_key_stops_working() {
    let keys = tempfile::tempdir().unwrap();
    let old = key_file(keys.path(), "old", "11");
    // A key made by the CLI itself.
    let generated = crate::stockade(keys.path(), &["admin", "generate-master-key"]);
    assert!(generated.status.success(), "{generated:?}");
    let text = String::from_utf8(generated.stdout).unwrap();
    assert_eq!(text.trim().len(), 64, "{text}");
    let new = keys.path().join("new");
    std::fs::write(&new, text.trim()).unwrap();
    std::fs::set_permissions(&new, std::fs::Permissions::from_mode(0o600)).unwrap();

    let server = start(tempfile::tempdir().unwrap(), Some(&old));
    let token = server.admin_token();
    let admin = Client::new(server.addr, &token);
    for name in ["one", "two", "three"] {
        admin.expect(
            201,
            "PUT",
            &format!("/v1/secrets/{name}"),
            Some(&json!({ "value": format!("{VALUE}-{name}") })),
        );
    }
    let (_, data) = server.stop_keeping_data();

    let rotate = |new_key: &Path| {
        crate::stockade(
            data.path(),
            &[
                "admin",
                "rotate-master-key",
                "--master-key-file",
                &old,
                "--new-key-file",
                new_key.to_str().unwrap(),
            ],
        )
    };
    let out = rotate(&new);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rotated 3 secrets"));
    // Running it again is harmless: the job is done.
    let again = rotate(&new);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let server = start(data, Some(&old));
    let admin = Client::new(server.addr, &token);
    assert_eq!(code(&admin.get("/v1/secrets")), "sealed");
    let (_, data) = server.stop_keeping_data();
    let server = start(data, Some(new.to_str().unwrap()));
    let admin = Client::new(server.addr, &token);
    let list = admin.expect(200, "GET", "/v1/secrets", None);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    let events = admin.events("&kind=admin");
    assert!(
        events
            .iter()
            .any(|e| e["payload"]["action"] == "secret_rotate_master_key"),
        "{events:#?}"
    );
}
