//! The HTTP API against the real server and the real `fs` plugin. [`Fixture`] builds a server
//! with an admin, two projects and a member of one of them; the tests live beside it:
//!
//! - `membership`: a non-member gets 404 on every route of a project, exactly as if it did not
//!   exist, and sees none of its events;
//! - `tool_calls`: `fs` reads and writes under its grant, allowlists and read-only agents refuse,
//!   `["*"]` only in development, grants stay within the manifest and the project root;
//! - `bad_input`: hostile requests get a 4xx with a code, never a 5xx, and change nothing.

mod bad_input;
mod egress;
mod membership;
mod tool_calls;

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{Value, json};
use stockade_test_artifacts::FS_BUNDLE_DIR;

use crate::server::{Response, TestServer, request};

/// Requests per client per minute for fixture servers. The tests send hundreds of requests from
/// loopback; the rate limit itself is tested in `write_guard`.
const RATE_LIMIT: u32 = 100_000;

/// The agents every fixture project gets: (name, allow, read_only).
const AGENTS: &[(&str, &[&str], bool)] = &[
    // No write tool in its allowlist.
    ("reader", &["fs.read_file", "fs.list_dir"], false),
    ("writer", &["fs.*"], false),
    // Allowed every fs tool by glob, but read-only: write tools are still refused.
    ("viewer", &["fs.*"], true),
];

/// The grants every fixture project gets: each fs tool exactly what its manifest requests.
const GRANTS: &[(&str, &str)] = &[
    ("read_file", "read"),
    ("list_dir", "read"),
    ("search", "read"),
    ("write_file", "read-write"),
];

/// The member of project `a` (and of nothing else).
pub const MEMBER: &str = "alice";

/// An API client: one bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    auth: String,
}

impl Client {
    pub fn new(addr: SocketAddr, token: &str) -> Self {
        Self {
            addr,
            auth: format!("Bearer {token}"),
        }
    }

    pub fn get(&self, path: &str) -> Response {
        self.send("GET", path, None)
    }

    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Response {
        let body = body.map(Value::to_string);
        request(
            self.addr,
            method,
            path,
            &[("Authorization", &self.auth)],
            body.as_deref(),
        )
    }

    /// `method path body`, asserting `status`; returns the JSON body (`null` when empty).
    pub fn expect(&self, status: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
        let response = self.send(method, path, body);
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.body
        );
        if response.body.is_empty() {
            Value::Null
        } else {
            response.json()
        }
    }

    /// A tool call; the raw response.
    pub fn call(&self, project: &str, agent: &str, tool: &str, input: Value) -> Response {
        self.send(
            "POST",
            &format!("/v1/projects/{project}/tool-calls"),
            Some(&json!({ "agent": agent, "tool": tool, "input": input })),
        )
    }

    /// Every event the caller may see (all pages), optionally filtered by a query string.
    pub fn events(&self, filter: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut after = 0;
        loop {
            let page = self.expect(
                200,
                "GET",
                &format!("/v1/events?limit=1000&after_seq={after}{filter}"),
                None,
            );
            events.extend(page["events"].as_array().unwrap().iter().cloned());
            match page["next_after_seq"].as_i64() {
                Some(next) => after = next,
                None => return events,
            }
        }
    }
}

/// The stable error code of a response (empty if there is none).
pub fn code(response: &Response) -> String {
    serde_json::from_str::<Value>(&response.body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A project of the fixture and its root directory.
pub struct Project {
    pub name: String,
    pub root: tempfile::TempDir,
}

impl Project {
    pub fn path(&self, relative: &str) -> std::path::PathBuf {
        self.root.path().join(relative)
    }
}

/// A running server with an admin, projects `a` and `b` (each with `fs` installed, every fs
/// tool granted exactly what it requests, the [`AGENTS`], and a `hello.txt`), and a user who is
/// a member of `a` only.
pub struct Fixture {
    pub server: TestServer,
    pub admin: Client,
    /// Member of `a`, not of `b`.
    pub member: Client,
    pub a: Project,
    pub b: Project,
}

#[derive(Debug, Default)]
pub struct FixtureBuilder {
    development: bool,
}

impl FixtureBuilder {
    /// Runs the server with `--mode development` (the default is production).
    pub fn development(mut self) -> Self {
        self.development = true;
        self
    }

    pub fn build(self) -> Fixture {
        let data = tempfile::tempdir().unwrap();
        let config = data.path().join("test.toml");
        std::fs::write(
            &config,
            format!("[rate_limit]\napi_per_minute = {RATE_LIMIT}\n"),
        )
        .unwrap();
        let config = config.to_str().unwrap().to_owned();
        let mut args = vec!["--config", &config];
        if self.development {
            args.extend(["--mode", "development"]);
        }
        let server = TestServer::start_in(data, "127.0.0.1:0", &args);
        let admin = Client::new(server.addr, &server.admin_token());
        let a = setup_project(&admin, "a");
        let b = setup_project(&admin, "b");
        let user = admin.expect(201, "POST", "/v1/users", Some(&json!({ "name": MEMBER })));
        let member = Client::new(server.addr, user["token"].as_str().unwrap());
        admin.expect(
            204,
            "POST",
            "/v1/projects/a/members",
            Some(&json!({ "user": MEMBER })),
        );
        Fixture {
            server,
            admin,
            member,
            a,
            b,
        }
    }
}

impl Fixture {
    pub fn builder() -> FixtureBuilder {
        FixtureBuilder::default()
    }

    pub fn new() -> Self {
        Self::builder().build()
    }
}

/// Creates project `name` with a fresh root and everything a fixture project has.
pub fn setup_project(admin: &Client, name: &str) -> Project {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(
        root.path().join("hello.txt"),
        format!("hello from {name}\n"),
    )
    .unwrap();
    std::fs::create_dir(root.path().join("sub")).unwrap();
    let base = format!("/v1/projects/{name}");
    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": name, "root": root.path() })),
    );
    admin.expect(
        201,
        "POST",
        &format!("{base}/bundles"),
        Some(&json!({ "dir": FS_BUNDLE_DIR, "dev": true })),
    );
    for (tool, access) in GRANTS {
        admin.expect(
            200,
            "PUT",
            &format!("{base}/grants/fs/{tool}"),
            Some(&json!({ "dirs": [{ "mount": "/project", "access": access }] })),
        );
    }
    for (agent, allow, read_only) in AGENTS {
        admin.expect(
            201,
            "POST",
            &format!("{base}/agents"),
            Some(&json!({ "name": agent, "tools": { "allow": allow, "read_only": read_only } })),
        );
    }
    Project {
        name: name.to_owned(),
        root,
    }
}

/// A project's agents, bundles, members, grants and files, as the admin sees them.
fn project_state(admin: &Client, project: &Project) -> String {
    let base = format!("/v1/projects/{}", project.name);
    let mut state = Vec::new();
    for route in ["", "/agents", "/bundles", "/members"] {
        state.push(admin.get(&format!("{base}{route}")).body);
    }
    for (tool, _) in GRANTS {
        state.push(admin.get(&format!("{base}/grants/fs/{tool}")).body);
    }
    state.push(tree(project.root.path()));
    state.join("\n")
}

/// Every path under `dir` with its content (files) or `/` (directories).
fn tree(dir: &Path) -> String {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            let shown = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                out.push(format!("{shown}/"));
                stack.push(path);
            } else {
                out.push(format!("{shown}: {:?}", std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out.join("\n")
}
