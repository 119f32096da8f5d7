//! The hostile plugin tries to get out of its grant; every attempt must fail, and the granted
//! reads and writes must work.

use serde_json::json;
use stockade_registry_types::Access;
use stockade_runtime::ToolGrants;

use crate::host::{HELLO, SECRET, Scratch, TestHost, call};

#[tokio::test]
async fn escapes_from_the_grant_are_refused() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let scratch = Scratch::new();
    let rw = scratch.grant("project", "/project", Access::ReadWrite);
    let host_secret = scratch.path("outside/secret.txt").display().to_string();
    let cases: Vec<(&str, &str, String)> = vec![
        (
            "dot-dot escape",
            "read",
            "/project/../outside/secret.txt".into(),
        ),
        (
            "dot-dot from a subdirectory",
            "read",
            "/project/sub/../../outside/secret.txt".into(),
        ),
        ("relative dot-dot", "read", "../outside/secret.txt".into()),
        ("absolute host path", "read", host_secret.clone()),
        ("absolute system path", "read", "/etc/passwd".into()),
        (
            "symlink to a file outside",
            "read",
            "/project/link_out".into(),
        ),
        (
            "symlink to a directory outside",
            "read",
            "/project/dir_out/secret.txt".into(),
        ),
        ("absolute symlink", "read", "/project/abs_link".into()),
        ("symlink to /etc", "read", "/project/etc_link/passwd".into()),
        ("proc self environ", "read", "/proc/self/environ".into()),
        ("root of the guest filesystem", "list", "/".into()),
        (
            "list through a symlinked directory",
            "list",
            "/project/dir_out".into(),
        ),
        ("other tool's mount", "read", "/other/other.txt".into()),
        (
            "write through a symlink outside",
            "write",
            "/project/link_out".into(),
        ),
        (
            "write with dot-dot",
            "write",
            "/project/../outside/planted.txt".into(),
        ),
    ];
    for (name, tool, path) in &cases {
        let input = if *tool == "write" {
            json!({ "path": path, "content": "planted" })
        } else {
            json!({ "path": path })
        };
        let result = call(&host, &bundle, tool, input, &rw).await;
        match result {
            Ok(out) => panic!("{name}: escaped the grant: {}", out.output),
            Err(err) => {
                assert!(
                    matches!(err.code(), "not_found" | "denied" | "tool_failed"),
                    "{name}: unexpected error {err} ({})",
                    err.code()
                );
                assert!(
                    !err.to_string().contains(SECRET),
                    "{name}: secret leaked in error"
                );
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(scratch.path("outside/secret.txt")).unwrap(),
        SECRET
    );
    assert!(!scratch.path("outside/planted.txt").exists());
}

#[tokio::test]
async fn read_only_grant_refuses_every_kind_of_write() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let scratch = Scratch::new();
    let ro = scratch.grant("project", "/project", Access::Read);
    let cases = [
        ("create a file", "/project/new.txt"),
        ("overwrite a file", "/project/hello.txt"),
        ("create in a subdirectory", "/project/sub/new.txt"),
    ];
    for (name, path) in cases {
        let err = call(
            &host,
            &bundle,
            "write",
            json!({ "path": path, "content": "x" }),
            &ro,
        )
        .await
        .expect_err(name);
        assert!(
            matches!(err.code(), "denied" | "tool_failed"),
            "{name}: {err}"
        );
    }
    assert!(!scratch.path("project/new.txt").exists());
    assert!(!scratch.path("project/sub/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(scratch.path("project/hello.txt")).unwrap(),
        HELLO
    );
}

#[tokio::test]
async fn granted_reads_and_writes_succeed() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let scratch = Scratch::new();
    let rw = scratch.grant("project", "/project", Access::ReadWrite);
    let out = call(
        &host,
        &bundle,
        "read",
        json!({ "path": "/project/hello.txt" }),
        &rw,
    )
    .await
    .unwrap();
    assert!(out.output.contains(HELLO), "{}", out.output);
    call(
        &host,
        &bundle,
        "write",
        json!({ "path": "/project/sub/made.txt", "content": "made" }),
        &rw,
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(scratch.path("project/sub/made.txt")).unwrap(),
        "made"
    );

    let other = scratch.grant("other", "/other", Access::Read);
    let out = call(
        &host,
        &bundle,
        "read_other",
        json!({ "path": "/other/other.txt" }),
        &other,
    )
    .await
    .unwrap();
    assert!(out.output.contains("other tool's file"));
}

#[tokio::test]
async fn grants_beyond_the_request_are_refused_before_running() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let scratch = Scratch::new();
    let cases: Vec<(&str, &str, ToolGrants)> = vec![
        // `read` requests only /project: the other tool's directory cannot be given to it.
        (
            "another tool's mount",
            "read",
            scratch.grant("other", "/other", Access::Read),
        ),
        // `read_other` requests /other read-only.
        (
            "write beyond a read request",
            "read_other",
            scratch.grant("other", "/other", Access::ReadWrite),
        ),
        // `noop` requests nothing at all.
        (
            "any directory for a tool that requests none",
            "noop",
            scratch.grant("project", "/project", Access::Read),
        ),
    ];
    for (name, tool, grants) in cases {
        let err = call(
            &host,
            &bundle,
            tool,
            json!({ "path": "/other/other.txt" }),
            &grants,
        )
        .await
        .expect_err(name);
        assert_eq!(err.code(), "grant_exceeds_request", "{name}: {err}");
    }
}

#[tokio::test]
async fn nothing_ambient_is_inherited() {
    // SAFETY-free way to make sure there is something to leak: the test process has env vars.
    assert!(std::env::vars().next().is_some());
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let out = call(&host, &bundle, "env", json!({}), &ToolGrants::none())
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&out.output).unwrap();
    assert_eq!(value["vars"], json!([]), "environment leaked: {value}");
    assert!(
        value["args"].as_array().is_none_or(|a| a.is_empty()),
        "args leaked: {value}"
    );

    // A real listener on loopback: the plugin still cannot connect to it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let err = call(
        &host,
        &bundle,
        "connect",
        json!({ "addr": addr }),
        &ToolGrants::none(),
    )
    .await
    .expect_err("socket connect must be refused");
    assert!(matches!(err.code(), "denied" | "tool_failed"), "{err}");
    listener.set_nonblocking(true).unwrap();
    assert!(
        listener.accept().is_err(),
        "the plugin reached the listener"
    );
}

#[tokio::test]
async fn state_does_not_survive_between_calls() {
    let host = TestHost::new();
    let bundle = host.hostile().await;
    let none = ToolGrants::none();
    call(
        &host,
        &bundle,
        "stash",
        json!({ "value": "left behind" }),
        &none,
    )
    .await
    .unwrap();
    let out = call(&host, &bundle, "peek", json!({}), &none)
        .await
        .unwrap();
    assert!(
        !out.output.contains("left behind"),
        "state leaked: {}",
        out.output
    );
}
