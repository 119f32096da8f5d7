//! The first-party `fs` plugin under its manifest's requests.

use serde_json::{Value, json};
use stockade_registry_types::Access;

use crate::host::{HELLO, Scratch, TestHost, call};

fn parse(output: &str) -> Value {
    serde_json::from_str(output).unwrap()
}

#[tokio::test]
async fn reads_writes_lists_and_searches_inside_the_grant() {
    let host = TestHost::new();
    let fs = host.fs().await;
    let scratch = Scratch::new();
    let ro = scratch.grant("project", "/project", Access::Read);
    let rw = scratch.grant("project", "/project", Access::ReadWrite);

    let out = call(&host, &fs, "read_file", json!({ "path": "hello.txt" }), &ro)
        .await
        .unwrap();
    assert_eq!(parse(&out.output)["content"], HELLO);

    call(
        &host,
        &fs,
        "write_file",
        json!({ "path": "sub/new.txt", "content": "needle here" }),
        &rw,
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(scratch.path("project/sub/new.txt")).unwrap(),
        "needle here"
    );

    let out = call(&host, &fs, "list_dir", json!({ "path": "." }), &ro)
        .await
        .unwrap();
    let names: Vec<String> = parse(&out.output)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"hello.txt".to_owned()) && names.contains(&"sub".to_owned()),
        "{names:?}"
    );

    let out = call(&host, &fs, "search", json!({ "pattern": "needle" }), &ro)
        .await
        .unwrap();
    let matches = parse(&out.output)["matches"].as_array().unwrap().clone();
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert_eq!(matches[0]["path"], "sub/new.txt");
}

#[tokio::test]
async fn bad_inputs_get_invalid_input_naming_the_field() {
    let host = TestHost::new();
    let fs = host.fs().await;
    let scratch = Scratch::new();
    let ro = scratch.grant("project", "/project", Access::Read);
    let cases = [
        (
            "absolute path",
            "read_file",
            json!({ "path": "/etc/passwd" }),
            "path",
        ),
        (
            "dot-dot",
            "read_file",
            json!({ "path": "../outside/secret.txt" }),
            "path",
        ),
        ("wrong type", "read_file", json!({ "path": 3 }), "path"),
        (
            "missing field",
            "write_file",
            json!({ "path": "a.txt" }),
            "content",
        ),
        (
            "bad regex",
            "search",
            json!({ "pattern": "(", "regex": true }),
            "pattern",
        ),
    ];
    for (name, tool, input, field) in cases {
        let grants = if tool == "write_file" {
            scratch.grant("project", "/project", Access::ReadWrite)
        } else {
            ro.clone()
        };
        let err = call(&host, &fs, tool, input, &grants)
            .await
            .expect_err(name);
        assert_eq!(err.code(), "invalid_input", "{name}: {err}");
        assert!(
            err.to_string().contains(field),
            "{name}: {err} does not name {field}"
        );
    }
}

#[tokio::test]
async fn write_file_needs_a_read_write_grant() {
    let host = TestHost::new();
    let fs = host.fs().await;
    let scratch = Scratch::new();
    // read_file requests read access only: a read-write grant is refused.
    let rw = scratch.grant("project", "/project", Access::ReadWrite);
    let err = call(&host, &fs, "read_file", json!({ "path": "hello.txt" }), &rw)
        .await
        .expect_err("rw grant");
    assert_eq!(err.code(), "grant_exceeds_request");
    // write_file given only read access cannot write.
    let ro = scratch.grant("project", "/project", Access::Read);
    let err = call(
        &host,
        &fs,
        "write_file",
        json!({ "path": "x.txt", "content": "x" }),
        &ro,
    )
    .await
    .expect_err("ro write");
    assert_eq!(err.code(), "denied", "{err}");
    assert!(!scratch.path("project/x.txt").exists());
}
