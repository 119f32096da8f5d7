//! Hostile and malformed requests: each gets a 4xx with a stable code, never a 5xx, and
//! changes nothing (no project, agent, grant, token, admin event or file appears).

use std::net::SocketAddr;

use serde_json::{Value, json};
use stockade_test_artifacts::FS_BUNDLE_DIR;

use super::{Fixture, code, project_state};
use crate::server::{Response, send_raw};

/// One hand-made request of the bad-input table.
struct Req {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    chunked: bool,
}

impl Req {
    fn new(method: &'static str, path: impl Into<String>, body: Option<Vec<u8>>) -> Self {
        Self {
            method,
            path: path.into(),
            content_type: Some("application/json"),
            body,
            chunked: false,
        }
    }

    fn get(path: impl Into<String>) -> Self {
        let mut req = Self::new("GET", path, None);
        req.content_type = None;
        req
    }

    fn post(path: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::new("POST", path, Some(body.into()))
    }

    fn put(path: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::new("PUT", path, Some(body.into()))
    }

    fn content_type(mut self, content_type: Option<&'static str>) -> Self {
        self.content_type = content_type;
        self
    }

    fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    fn send(&self, addr: SocketAddr, auth: &str) -> Response {
        let mut raw = format!(
            "{} {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: {auth}\r\n",
            self.method, self.path
        )
        .into_bytes();
        if let Some(content_type) = self.content_type {
            raw.extend(format!("Content-Type: {content_type}\r\n").bytes());
        }
        match &self.body {
            Some(body) if self.chunked => {
                raw.extend(b"Transfer-Encoding: chunked\r\n\r\n");
                for chunk in body.chunks(64 * 1024) {
                    raw.extend(format!("{:x}\r\n", chunk.len()).bytes());
                    raw.extend(chunk);
                    raw.extend(b"\r\n");
                }
                raw.extend(b"0\r\n\r\n");
            }
            Some(body) => {
                raw.extend(format!("Content-Length: {}\r\n\r\n", body.len()).bytes());
                raw.extend(body);
            }
            None => raw.extend(b"\r\n"),
        }
        send_raw(addr, &raw)
    }
}

/// What the API and the project roots show; a request that was refused must not change it.
fn observable_state(fx: &Fixture) -> String {
    let admin = &fx.admin;
    let mut state = vec![
        admin.get("/v1/projects").body,
        admin.get("/v1/tokens").body,
        // Admin actions are events: a refused request must not have recorded one.
        format!("{:?}", admin.events("&kind=admin")),
    ];
    for project in [&fx.a, &fx.b] {
        state.push(project_state(admin, project));
    }
    state.join("\n")
}

#[test]
fn bad_input_gets_a_4xx_with_a_code_and_writes_nothing() {
    let fx = Fixture::new();
    let root = fx.a.root.path().to_str().unwrap().to_owned();
    let huge = json!({ "agent": "writer", "tool": "fs.write_file",
        "input": { "path": "huge.txt", "content": "x".repeat(3 << 19) } })
    .to_string();
    let nested = format!(
        r#"{{"agent": "reader", "tool": "fs.read_file", "input": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let long_name = "a".repeat(10_000);
    let patterns =
        |allow: Value| json!({ "name": "globbed", "tools": { "allow": allow } }).to_string();
    let calls = "/v1/projects/a/tool-calls";
    let agents = "/v1/projects/a/agents";
    let grant = "/v1/projects/a/grants/fs/read_file";
    let project = |name: &str, root: &str| json!({ "name": name, "root": root }).to_string();

    // (case, request, expected status, expected code)
    #[rustfmt::skip]
    let cases: Vec<(&str, Req, u16, &str)> = vec![
        // Bodies that are not JSON.
        ("malformed JSON", Req::post("/v1/projects", r#"{"name": "x", "root": "#), 400, "invalid_json"),
        ("not JSON at all", Req::post(agents, "name=x"), 400, "invalid_json"),
        ("trailing garbage", Req::post("/v1/projects", format!("{} x", project("x", &root))), 400, "invalid_json"),
        ("invalid UTF-8", Req::post(agents, b"{\"name\": \"\xff\xfe\"}".to_vec()), 400, "invalid_json"),
        ("input nested 10,000 deep", Req::post(calls, nested), 400, "invalid_json"),
        ("empty body", Req::post(agents, ""), 400, "invalid_json"),
        // JSON of the wrong shape.
        ("wrong type: name is a number", Req::post("/v1/projects", format!(r#"{{"name": 5, "root": "{root}"}}"#)), 400, "invalid_body"),
        ("wrong type: allow is a string", Req::post(agents, r#"{"name": "x", "tools": {"allow": "fs.*"}}"#), 400, "invalid_body"),
        ("wrong type: dev is a string", Req::post("/v1/projects/a/bundles", format!(r#"{{"dir": "{FS_BUNDLE_DIR}", "dev": "yes"}}"#)), 400, "invalid_body"),
        ("wrong type: body is a string", Req::post(calls, r#""fs.read_file""#), 400, "invalid_body"),
        ("wrong type: access is not an access", Req::put(grant, r#"{"dirs": [{"mount": "/project", "access": "admin"}]}"#), 400, "invalid_body"),
        ("wrong type: relative mount", Req::put(grant, r#"{"dirs": [{"mount": "project", "access": "read"}]}"#), 400, "invalid_body"),
        ("unknown field", Req::post("/v1/projects", format!(r#"{{"name": "x", "root": "{root}", "owner": "me"}}"#)), 400, "invalid_body"),
        ("unknown nested field", Req::post(agents, r#"{"name": "x", "tools": {"allow": [], "alow": ["fs.*"]}}"#), 400, "invalid_body"),
        ("unknown field in a grant", Req::put(grant, r#"{"dirs": [{"mount": "/project", "access": "read", "recursive": true}]}"#), 400, "invalid_body"),
        ("duplicate field", Req::post("/v1/projects", format!(r#"{{"name": "x", "name": "y", "root": "{root}"}}"#)), 400, "invalid_body"),
        ("missing field: root", Req::post("/v1/projects", r#"{"name": "x"}"#), 400, "invalid_body"),
        ("missing field: tool", Req::post(calls, r#"{"agent": "writer"}"#), 400, "invalid_body"),
        ("missing field: user", Req::post("/v1/projects/a/members", "{}"), 400, "invalid_body"),
        // Size and framing.
        ("huge body (1.5 MiB)", Req::post(calls, huge.clone()), 413, "body_too_large"),
        ("huge chunked body (1.5 MiB)", Req::post(calls, huge).chunked(), 413, "body_too_large"),
        ("wrong content type", Req::post(agents, patterns(json!(["fs.read_file"]))).content_type(Some("text/plain")), 415, "unsupported_media_type"),
        ("no content type", Req::post(agents, patterns(json!(["fs.read_file"]))).content_type(None), 415, "unsupported_media_type"),
        // Bad values.
        ("project name with `..`", Req::post("/v1/projects", project("../evil", &root)), 400, "invalid_name"),
        ("project name in capitals", Req::post("/v1/projects", project("Evil", &root)), 400, "invalid_name"),
        ("project name of 65 characters", Req::post("/v1/projects", project(&"a".repeat(65), &root)), 400, "invalid_name"),
        ("empty project name", Req::post("/v1/projects", project("", &root)), 400, "invalid_name"),
        ("project that exists", Req::post("/v1/projects", project("a", &root)), 409, "conflict"),
        ("relative root", Req::post("/v1/projects", project("x", "tmp")), 400, "invalid_root"),
        ("system path as root", Req::post("/v1/projects", project("x", "/etc")), 400, "invalid_root"),
        ("filesystem root as root", Req::post("/v1/projects", project("x", "/")), 400, "invalid_root"),
        ("missing root", Req::post("/v1/projects", project("x", "/nonexistent/stockade")), 400, "invalid_root"),
        ("root with a NUL byte", Req::post("/v1/projects", project("x", &format!("{root}\u{0}x"))), 400, "invalid_root"),
        ("agent name with a space", Req::post(agents, r#"{"name": "bad agent", "tools": {}}"#), 400, "invalid_name"),
        ("agent name of 65 characters", Req::post(agents, format!(r#"{{"name": "{}", "tools": {{}}}}"#, "a".repeat(65))), 400, "invalid_name"),
        ("user that is not a role", Req::post("/v1/users", r#"{"name": "bob", "role": "root"}"#), 400, "invalid_role"),
        ("member that does not exist", Req::post("/v1/projects/a/members", r#"{"user": "nobody"}"#), 404, "not_found"),
        ("bundle without the dev flag", Req::post("/v1/projects/a/bundles", format!(r#"{{"dir": "{FS_BUNDLE_DIR}"}}"#)), 400, "dev_flag_required"),
        ("relative bundle dir", Req::post("/v1/projects/a/bundles", r#"{"dir": "plugins/fs", "dev": true}"#), 400, "invalid_bundle"),
        ("bundle dir that is not a bundle", Req::post("/v1/projects/a/bundles", format!(r#"{{"dir": "{root}", "dev": true}}"#)), 400, "invalid_bundle"),
        ("bundle dir under /etc", Req::post("/v1/projects/a/bundles", r#"{"dir": "/etc", "dev": true}"#), 400, "invalid_bundle"),
        ("grant for a tool the bundle lacks", Req::put("/v1/projects/a/grants/fs/delete_all", "{}"), 404, "not_found"),
        ("grant for a bundle not installed", Req::put("/v1/projects/a/grants/git/push", "{}"), 404, "not_found"),
        ("call by an unknown agent", Req::post(calls, r#"{"agent": "ghost", "tool": "fs.read_file"}"#), 404, "agent_not_found"),
        ("call of a tool without a bundle", Req::post(calls, r#"{"agent": "writer", "tool": "read_file"}"#), 400, "invalid_tool"),
        ("call of a bundle not installed", Req::post(calls, r#"{"agent": "writer", "tool": "fsx.read_file"}"#), 403, "tool_not_allowed"),
        ("call of a tool the bundle lacks", Req::post(calls, r#"{"agent": "writer", "tool": "fs.delete_all"}"#), 404, "unknown_tool"),
        ("tool input of the wrong type", Req::post(calls, r#"{"agent": "writer", "tool": "fs.write_file", "input": "huge.txt"}"#), 400, "invalid_input"),
        ("tool input missing a field", Req::post(calls, r#"{"agent": "writer", "tool": "fs.write_file", "input": {"path": "huge.txt"}}"#), 400, "invalid_input"),
        // Invalid glob patterns.
        ("empty pattern", Req::post(agents, patterns(json!([""]))), 400, "invalid_pattern"),
        ("pattern without a dot", Req::post(agents, patterns(json!(["fs"]))), 400, "invalid_pattern"),
        ("pattern with two dots", Req::post(agents, patterns(json!(["fs.read.file"]))), 400, "invalid_pattern"),
        ("pattern with `**`", Req::post(agents, patterns(json!(["fs.**"]))), 400, "invalid_pattern"),
        ("pattern with a character class", Req::post(agents, patterns(json!(["fs.[a-z]*"]))), 400, "invalid_pattern"),
        ("pattern with a path", Req::post(agents, patterns(json!(["../fs.read_file"]))), 400, "invalid_pattern"),
        ("invalid deny pattern", Req::post(agents, r#"{"name": "globbed", "tools": {"allow": ["fs.read_file"], "deny": ["fs read"]}}"#), 400, "invalid_pattern"),
        ("257 patterns", Req::post(agents, patterns(json!(vec!["fs.read_file"; 257]))), 400, "too_many_patterns"),
        // Bad path parameters and routes.
        ("project `%2e%2e`", Req::get("/v1/projects/%2e%2e/agents"), 404, "not_found"),
        ("project `%2e%2e`, write", Req::post("/v1/projects/%2e%2e/agents", patterns(json!(["fs.read_file"]))), 404, "not_found"),
        ("bundle `%2e%2e` in a grant", Req::put("/v1/projects/a/grants/%2e%2e/read_file", "{}"), 404, "not_found"),
        ("tool `%2e%2e%2f` in a grant", Req::put("/v1/projects/a/grants/fs/%2e%2e%2fread_file", "{}"), 404, "not_found"),
        ("encoded slash in a project", Req::get("/v1/projects/a%2fagents"), 404, "not_found"),
        ("project of 10,000 characters", Req::get(format!("/v1/projects/{long_name}/agents")), 404, "not_found"),
        ("project with a NUL byte", Req::get("/v1/projects/a%00/agents"), 404, "not_found"),
        ("project that is not UTF-8", Req::get("/v1/projects/%ff%fe/agents"), 400, "invalid_path"),
        ("unknown route", Req::get("/v1/projects/a/widgets"), 404, "not_found"),
        ("unsupported method", Req::new("DELETE", "/v1/projects/a", None), 405, "method_not_allowed"),
        // Bad queries.
        ("tools without agent", Req::get("/v1/projects/a/tools"), 400, "invalid_query"),
        ("tools with an unknown parameter", Req::get("/v1/projects/a/tools?agent=reader&all=1"), 400, "invalid_query"),
        ("tools for an unknown agent", Req::get("/v1/projects/a/tools?agent=ghost"), 404, "agent_not_found"),
        ("events limit not a number", Req::get("/v1/events?limit=lots"), 400, "invalid_query"),
        ("events limit negative", Req::get("/v1/events?limit=-1"), 400, "invalid_query"),
        ("events with an unknown parameter", Req::get("/v1/events?everything=1"), 400, "invalid_query"),
    ];

    let before = observable_state(&fx);
    let auth = format!("Bearer {}", fx.server.admin_token());
    let mut failures = Vec::new();
    for (name, req, status, expected) in &cases {
        let response = req.send(fx.server.addr, &auth);
        let got = code(&response);
        if response.status >= 500 || response.status < 400 || got.is_empty() {
            failures.push(format!(
                "{name}: not a 4xx with a code: {} {:?}",
                response.status, response.body
            ));
        } else if (response.status, got.as_str()) != (*status, *expected) {
            failures.push(format!(
                "{name}: expected {status} {expected}, got {} {got}: {}",
                response.status, response.body
            ));
        }
    }
    // Checked before the codes, so a wrong code cannot hide a write.
    assert_eq!(
        observable_state(&fx),
        before,
        "a refused request changed something"
    );
    assert!(!fx.a.path("huge.txt").exists());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The server is still serving.
    assert_eq!(fx.server.get("/healthz").status, 200);
}
