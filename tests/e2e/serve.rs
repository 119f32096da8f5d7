//! `stockade serve`: starting, the bind policy, stopping.

use crate::server::TestServer;
use crate::{stderr, stockade};

#[test]
fn serves_on_loopback_and_stops_cleanly_on_sigterm() {
    let server = TestServer::start(&[]);
    assert!(server.addr.ip().is_loopback());
    let health = server.get("/healthz");
    assert_eq!(health.status, 200);
    assert!(server.data.path().exists());
    // Prometheus text: the health check is not counted, the earlier /v1 miss is.
    let _ = server.get("/v1/nothing-here");
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .body
            .contains("stockade_http_requests_total{class=\"4xx\"} 1"),
        "{}",
        metrics.body
    );
    assert!(
        metrics
            .body
            .contains("# TYPE stockade_tool_call_duration_seconds histogram")
    );
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn refuses_a_public_bind_without_a_write_token() {
    let data = tempfile::tempdir().unwrap();
    let out = stockade(data.path(), &["serve", "--bind", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("refusing to listen on 0.0.0.0:0 without a write token"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_config_file_is_refused_with_its_line() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("stockade.toml");
    std::fs::write(&config, "bind = \"127.0.0.1:0\"\nratelimit = 5\n").unwrap();
    let out = stockade(
        data.path(),
        &["serve", "--config", config.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("line 2") && err.contains("ratelimit"), "{err}");
}

/// The OpenAPI document lists every route with its methods (router and document are built
/// from the same annotations; this pins the public surface).
#[test]
fn openapi_document_covers_every_route() {
    let server = TestServer::start(&[]);
    let doc = server.get("/v1/openapi.json");
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    let mut routes: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "delete", "patch"].contains(&k.as_str()))
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    routes.sort();
    let mut expected = vec![
        "POST /v1/projects",
        "GET /v1/projects",
        "GET /v1/projects/{project}",
        "POST /v1/projects/{project}/members",
        "GET /v1/projects/{project}/members",
        "POST /v1/users",
        "POST /v1/tokens",
        "GET /v1/tokens",
        "DELETE /v1/tokens/{id}",
        "POST /v1/projects/{project}/agents",
        "GET /v1/projects/{project}/agents",
        "POST /v1/projects/{project}/bundles",
        "GET /v1/projects/{project}/bundles",
        "PUT /v1/projects/{project}/grants/{bundle}/{tool}",
        "GET /v1/projects/{project}/grants/{bundle}/{tool}",
        "GET /v1/projects/{project}/tools",
        "POST /v1/projects/{project}/tool-calls",
        "POST /v1/registry/sync",
        "POST /v1/projects/{project}/workspaces",
        "GET /v1/projects/{project}/workspaces",
        "DELETE /v1/projects/{project}/workspaces/{id}",
        "POST /v1/projects/{project}/workspaces/{id}/exec",
        "GET /v1/events",
        "POST /webhooks/events",
        "GET /v1/secrets",
        "PUT /v1/secrets/{name}",
        "DELETE /v1/secrets/{name}",
        "GET /v1/projects/{project}/secrets",
        "PUT /v1/projects/{project}/secrets/{name}",
        "DELETE /v1/projects/{project}/secrets/{name}",
    ];
    expected.sort();
    assert_eq!(routes, expected);
    assert!(
        doc["components"]["schemas"]["CallRequest"].is_object(),
        "request schemas are documented"
    );
}
