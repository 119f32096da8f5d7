//! Tool calls end to end: the `fs` plugin reads and writes inside the project root under its
//! grant, allowlists and read-only agents refuse, `["*"]` only in development, and grants never
//! exceed the manifest's request or leave the root.

use std::path::Path;

use serde_json::json;

use super::{Fixture, code};

#[test]
fn fs_reads_and_writes_inside_the_project_root_under_its_grant() {
    let fx = Fixture::new();
    let admin = &fx.admin;

    let read = admin.call(
        "a",
        "reader",
        "fs.read_file",
        json!({ "path": "hello.txt" }),
    );
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.json()["output"]["content"], "hello from a\n");
    assert!(read.json()["event_seq"].as_i64().unwrap() > 0);
    // The member of `a` may call tools there too.
    let read = fx.member.call(
        "a",
        "reader",
        "fs.read_file",
        json!({ "path": "hello.txt" }),
    );
    assert_eq!(read.status, 200, "{}", read.body);

    let write = admin.call(
        "a",
        "writer",
        "fs.write_file",
        json!({ "path": "sub/out.txt", "content": "written over http\n" }),
    );
    assert_eq!(write.status, 200, "{}", write.body);
    assert_eq!(write.json()["output"]["bytes_written"], 18);
    assert_eq!(
        std::fs::read_to_string(fx.a.path("sub/out.txt")).unwrap(),
        "written over http\n"
    );
    assert!(
        !fx.b.path("sub/out.txt").exists(),
        "written into the other project"
    );

    // Refused writes: (case, agent, tool input path).
    let refused = [
        (
            "agent whose allowlist lacks the tool",
            "reader",
            "denied-reader.txt",
        ),
        (
            "read-only agent, tool allowed by glob",
            "viewer",
            "denied-viewer.txt",
        ),
    ];
    for (name, agent, path) in refused {
        let response = admin.call(
            "a",
            agent,
            "fs.write_file",
            json!({ "path": path, "content": "must not exist" }),
        );
        assert_eq!(response.status, 403, "{name}: {}", response.body);
        assert_eq!(code(&response), "tool_not_allowed", "{name}");
        assert!(!fx.a.path(path).exists(), "{name}: the file was written");
    }
    // The read-only agent was refused a write, not everything.
    let read = admin.call("a", "viewer", "fs.list_dir", json!({ "path": "." }));
    assert_eq!(read.status, 200, "{}", read.body);

    // Escapes in the tool input never leave the root.
    let outside = tempfile::tempdir().unwrap();
    let escape = format!(
        "../{}/escaped.txt",
        outside.path().file_name().unwrap().to_str().unwrap()
    );
    for path in [escape.as_str(), "/tmp/escaped.txt", "sub/../../escaped.txt"] {
        let response = admin.call(
            "a",
            "writer",
            "fs.write_file",
            json!({ "path": path, "content": "escaped" }),
        );
        assert!(
            (400..500).contains(&response.status),
            "{path}: {}",
            response.body
        );
        assert_eq!(code(&response), "invalid_input", "{path}");
    }
    assert!(!outside.path().join("escaped.txt").exists());
    assert!(!Path::new("/tmp/escaped.txt").exists());
    assert!(
        !fx.a
            .root
            .path()
            .parent()
            .unwrap()
            .join("escaped.txt")
            .exists()
    );
}

#[test]
fn allow_all_is_refused_in_production_and_accepted_in_development() {
    let patterns = ["*", "*.*"];
    let production = Fixture::new();
    for pattern in patterns {
        let response = production.admin.send(
            "POST",
            "/v1/projects/a/agents",
            Some(&json!({ "name": "everything", "tools": { "allow": ["fs.read_file", pattern] } })),
        );
        assert_eq!(response.status, 400, "{pattern}: {}", response.body);
        assert_eq!(code(&response), "allow_all_forbidden", "{pattern}");
    }
    let agents = production
        .admin
        .expect(200, "GET", "/v1/projects/a/agents", None);
    assert!(
        agents
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["name"] != "everything"),
        "{agents}"
    );

    let development = Fixture::builder().development().build();
    development.admin.expect(
        201,
        "POST",
        "/v1/projects/a/agents",
        Some(&json!({ "name": "everything", "tools": { "allow": ["*"] } })),
    );
    let read = development.admin.call(
        "a",
        "everything",
        "fs.read_file",
        json!({ "path": "hello.txt" }),
    );
    assert_eq!(read.status, 200, "{}", read.body);
}

#[test]
fn grants_beyond_the_manifest_or_outside_the_root_are_refused() {
    let fx = Fixture::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside the root").unwrap();
    std::os::unix::fs::symlink(outside.path(), fx.a.path("escape")).unwrap();
    std::os::unix::fs::symlink("/etc", fx.a.path("etc")).unwrap();
    std::os::unix::fs::symlink("sub", fx.a.path("inner-link")).unwrap();

    let dir = |path: &str, access: &str| json!({ "dirs": [{ "mount": "/project", "path": path, "access": access }] });
    // (case, tool, grant, expected code)
    let cases = [
        (
            "read-write for a tool that requests read",
            "read_file",
            dir(".", "read-write"),
            "grant_exceeds_request",
        ),
        (
            "a mount the tool does not request",
            "read_file",
            json!({ "dirs": [{ "mount": "/home", "access": "read" }] }),
            "grant_exceeds_request",
        ),
        (
            "the same mount twice",
            "read_file",
            json!({ "dirs": [
                { "mount": "/project", "access": "read" },
                { "mount": "/project", "path": "sub", "access": "read" }] }),
            "grant_invalid",
        ),
        (
            "`..` out of the root",
            "read_file",
            dir("..", "read"),
            "invalid_grant",
        ),
        (
            "`..` that lands back inside",
            "read_file",
            dir("sub/..", "read"),
            "invalid_grant",
        ),
        (
            "absolute path",
            "read_file",
            dir("/tmp", "read"),
            "invalid_grant",
        ),
        (
            "symlink inside the root pointing outside",
            "read_file",
            dir("escape", "read"),
            "invalid_grant",
        ),
        (
            "symlink inside the root pointing at a system path",
            "read_file",
            dir("etc", "read"),
            "grant_invalid",
        ),
        (
            "missing directory",
            "read_file",
            dir("nope", "read"),
            "grant_invalid",
        ),
        (
            "a file, not a directory",
            "read_file",
            dir("hello.txt", "read"),
            "grant_invalid",
        ),
    ];
    for (name, tool, grant, expected) in &cases {
        let path = format!("/v1/projects/a/grants/fs/{tool}");
        let before = fx.admin.get(&path).body;
        let response = fx.admin.send("PUT", &path, Some(grant));
        assert_eq!(response.status, 400, "{name}: {}", response.body);
        assert_eq!(code(&response), *expected, "{name}: {}", response.body);
        assert_eq!(
            fx.admin.get(&path).body,
            before,
            "{name}: the grant changed"
        );
    }

    // A symlink that stays inside the root is a fine grant.
    fx.admin.expect(
        200,
        "PUT",
        "/v1/projects/a/grants/fs/list_dir",
        Some(&dir("inner-link", "read")),
    );
    // A directory granted, then swapped for a symlink to the outside: the next call is refused
    // and nothing of the outside is listed.
    fx.admin.expect(
        200,
        "PUT",
        "/v1/projects/a/grants/fs/read_file",
        Some(&dir("sub", "read")),
    );
    std::fs::remove_dir(fx.a.path("sub")).unwrap();
    std::os::unix::fs::symlink(outside.path(), fx.a.path("sub")).unwrap();
    let response = fx.admin.call(
        "a",
        "reader",
        "fs.read_file",
        json!({ "path": "secret.txt" }),
    );
    assert!((400..500).contains(&response.status), "{}", response.body);
    assert_eq!(code(&response), "invalid_grant", "{}", response.body);
    assert!(
        !response.body.contains("outside the root"),
        "{}",
        response.body
    );
}

/// The server caches each project's agents, bundles and grants for the call path; every admin
/// change must be visible to the very next call.
#[test]
fn admin_changes_take_effect_on_the_next_call() {
    let fx = Fixture::new();
    let base = "/v1/projects/a";
    let write = |fx: &Fixture| {
        fx.admin.call(
            "a",
            "writer",
            "fs.write_file",
            json!({ "path": "fresh.txt", "content": "x" }),
        )
    };
    let grant = |access: Option<&str>| {
        let dirs = access.map_or(json!([]), |a| json!([{ "mount": "/project", "access": a }]));
        fx.admin.expect(
            200,
            "PUT",
            &format!("{base}/grants/fs/write_file"),
            Some(&json!({ "dirs": dirs })),
        );
    };
    assert_eq!(write(&fx).status, 200, "precondition: the writer can write");
    std::fs::remove_file(fx.a.path("fresh.txt")).unwrap();
    // Narrow the grant to read-only: the next write is refused by the sandbox.
    grant(Some("read"));
    let refused = write(&fx);
    assert_eq!(code(&refused), "denied", "{}", refused.body);
    assert!(!fx.a.path("fresh.txt").exists());
    // No grant at all: nothing is preopened, the write fails too.
    grant(None);
    assert_ne!(write(&fx).status, 200);
    assert!(!fx.a.path("fresh.txt").exists());
    // Restored: the next write succeeds.
    grant(Some("read-write"));
    assert_eq!(write(&fx).status, 200);
    // A new agent can call right away.
    fx.admin.expect(
        201,
        "POST",
        &format!("{base}/agents"),
        Some(&json!({ "name": "late", "tools": { "allow": ["fs.read_file"] } })),
    );
    let read = fx
        .admin
        .call("a", "late", "fs.read_file", json!({ "path": "hello.txt" }));
    assert_eq!(read.status, 200, "{}", read.body);
    // A new member sees the project right away.
    assert_eq!(fx.member.get("/v1/projects/b").status, 404);
    fx.admin.expect(
        204,
        "POST",
        "/v1/projects/b/members",
        Some(&json!({ "user": super::MEMBER })),
    );
    assert_eq!(fx.member.get("/v1/projects/b").status, 200);
}
