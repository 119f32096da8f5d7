//! Workspaces through the server against the real Docker daemon under runsc (`.ci/dockerd.sh`
//! starts it): the lifecycle API and CLI with streamed exec output and exit statuses, the
//! `workspace.shell` tool on the normal tool-call path (allowlist, read-only agents, events,
//! egress only through the grant), and a server killed with SIGKILL leaving nothing behind once
//! it restarts. With `CI` set a missing daemon fails these tests; elsewhere they skip loudly.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use serde_json::json;

use crate::api::{Client, code};
use crate::operator::Operator;
use crate::server::TestServer;
use crate::{stderr, stdout};

const TEST_IMAGE: &str = "stockade/workspace-test:busybox";

fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///run/stockade-docker.sock".to_owned())
}

fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", docker_host())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The test image's id, or `None` (after a loud message) when there is no daemon outside CI.
fn test_image_id() -> Option<String> {
    match docker(&["image", "inspect", "-f", "{{.Id}}", TEST_IMAGE]) {
        Some(id) if !id.is_empty() => Some(id),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but the Docker daemon or {TEST_IMAGE} is missing; run .ci/dockerd.sh")
        }
        _ => {
            eprintln!(
                "!!!!! SKIPPING workspace test: no Docker daemon with {TEST_IMAGE} (run bash .ci/dockerd.sh)"
            );
            None
        }
    }
}

/// Removes every container of a server instance when dropped, so a failing test leaves
/// nothing running in the daemon.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(instance) = std::fs::read_to_string(self.0.join("instance-id")) else {
            return;
        };
        let filter = format!("label=dev.stockade.instance={}", instance.trim());
        if let Some(ids) = docker(&["ps", "-aq", "--filter", &filter]) {
            for id in ids.split_whitespace() {
                let _ = docker(&["rm", "-f", id]);
            }
        }
    }
}

/// A server whose workspaces use the pinned test image.
fn start(image_id: &str, data: tempfile::TempDir) -> TestServer {
    let config = data.path().join("test.toml");
    std::fs::write(
        &config,
        format!(
            "[rate_limit]\napi_per_minute = 100000\n[workspaces]\ndocker_host = \"{}\"\nexec_timeout_secs = 20\ndefault_image = \"test\"\n[workspaces.images.test]\nreference = \"{TEST_IMAGE}\"\nid = \"{image_id}\"\n",
            docker_host()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    TestServer::start_in(data, "127.0.0.1:0", &["--config", &config])
}

/// A project whose root the workspace user (65534, as root owns nothing here) can read.
fn project(admin: &Client) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), "hello from the project\n").unwrap();
    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": "p", "root": root.path() })),
    );
    root
}

#[test]
fn workspaces_are_created_run_commands_with_streamed_output_and_are_destroyed() {
    let Some(image) = test_image_id() else { return };
    let server = start(&image, tempfile::tempdir().unwrap());
    let _cleanup = Cleanup(server.data_dir().to_path_buf());
    let token = server.admin_token();
    let admin = Client::new(server.addr, &token);
    let _root = project(&admin);
    let cli = Operator::new(&server, Some(token));

    let created = cli.ok(&["workspace", "create", "-p", "p"]);
    let id = created
        .split_whitespace()
        .nth(2)
        .unwrap_or_else(|| panic!("{created}"))
        .to_owned();
    assert!(cli.ok(&["workspace", "list", "-p", "p"]).contains(&id));

    // Each row: argv, expected exit status of `stockade` (-1: any failure), something stdout
    // must contain.
    let cases: &[(&str, &[&str], i32, &str)] = &[
        ("the kernel is gVisor's", &["dmesg"], 0, "gVisor"),
        (
            "the project is mounted",
            &["cat", "/workspace/hello.txt"],
            0,
            "hello from the project",
        ),
        ("not root", &["id", "-u"], 0, "65534"),
        (
            "no capabilities",
            &["grep", "CapEff", "/proc/self/status"],
            0,
            "0000000000000000",
        ),
        (
            "the exit code comes through",
            &["sh", "-c", "echo out; exit 3"],
            3,
            "out",
        ),
        (
            "the root filesystem is read-only",
            &["touch", "/etc/x"],
            -1,
            "",
        ),
        ("a host path is not there", &["ls", "/work"], -1, ""),
        (
            "no network without a grant",
            &["wget", "-q", "-O-", "http://1.1.1.1/"],
            -1,
            "",
        ),
    ];
    for (name, argv, status, needle) in cases {
        let mut args = vec!["workspace", "exec", "-p", "p", &id, "--"];
        args.extend_from_slice(argv);
        let out = cli.run(&args);
        if *status < 0 {
            assert!(!out.status.success(), "{name}: succeeded: {}", stdout(&out));
        } else {
            assert_eq!(out.status.code(), Some(*status), "{name}: {}", stderr(&out));
        }
        assert!(stdout(&out).contains(needle), "{name}: {}", stdout(&out));
    }
    // Past its timeout the command is killed and reported (exit 124).
    let slow = cli.run(&[
        "workspace",
        "exec",
        "-p",
        "p",
        &id,
        "--timeout-ms",
        "1000",
        "--",
        "sleep",
        "30",
    ]);
    assert_eq!(slow.status.code(), Some(124), "{}", stderr(&slow));
    assert!(stderr(&slow).contains("timed_out"), "{}", stderr(&slow));

    // Output streams: the first line arrives while the command still runs.
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args([
            "workspace",
            "exec",
            "-p",
            "p",
            &id,
            "--",
            "sh",
            "-c",
            "echo first; sleep 3; echo second",
        ])
        .env("STOCKADE_SERVER", format!("http://{}", server.addr))
        .env("STOCKADE_TOKEN", server.admin_token())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 6];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    assert_eq!(&first, b"first\n");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2900),
        "not streamed"
    );
    assert!(child.wait().unwrap().success());

    cli.ok(&["workspace", "destroy", "-p", "p", &id]);
    assert!(!cli.ok(&["workspace", "list", "-p", "p"]).contains(&id));
    let actions: Vec<String> = admin
        .events("&kind=workspace")
        .iter()
        .map(|e| e["payload"]["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions.first().map(String::as_str), Some("create"));
    assert_eq!(actions.last().map(String::as_str), Some("destroy"));
    assert!(actions.iter().filter(|a| *a == "exec").count() >= cases.len());
}

/// A loopback HTTP server answering every request with `reached`.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nreached\n",
            );
        }
    });
    port
}

#[test]
fn agents_use_the_shell_tool_through_the_tool_call_path_with_granted_egress_only() {
    let Some(image) = test_image_id() else { return };
    let server = start(&image, tempfile::tempdir().unwrap());
    let _cleanup = Cleanup(server.data_dir().to_path_buf());
    let admin = Client::new(server.addr, &server.admin_token());
    let _root = project(&admin);
    for (name, read_only) in [("coder", false), ("viewer", true)] {
        admin.expect(
            201,
            "POST",
            "/v1/projects/p/agents",
            Some(&json!({ "name": name, "tools": { "allow": ["workspace.shell"], "read_only": read_only } })),
        );
    }
    let port = upstream();
    admin.expect(
        200,
        "PUT",
        "/v1/projects/p/grants/workspace/shell",
        Some(&json!({ "egress": [
            format!("http://127.0.0.1:{port}"),
            // Even a rule naming the server's own listener does not open it.
            format!("http://127.0.0.1:{}", server.addr.port()),
        ] })),
    );
    let refused = admin.send(
        "PUT",
        "/v1/projects/p/grants/workspace/shell",
        Some(&json!({ "dirs": [{ "mount": "/project", "access": "read" }] })),
    );
    assert_eq!(code(&refused), "grant_exceeds_request", "{}", refused.body);

    let tools = admin.expect(200, "GET", "/v1/projects/p/tools?agent=coder", None);
    assert!(tools.to_string().contains("workspace.shell"), "{tools}");

    let shell = |agent: &str, command: &str| {
        admin.call("p", agent, "workspace.shell", json!({ "command": command }))
    };
    let viewer = shell("viewer", "true");
    assert_eq!(code(&viewer), "tool_not_allowed", "{}", viewer.body);

    let ran = shell("coder", "cat /workspace/hello.txt; echo err >&2; exit 2");
    assert_eq!(ran.status, 200, "{}", ran.body);
    let output: serde_json::Value = serde_json::from_str(&ran.body).unwrap();
    assert_eq!(output["output"]["exit_code"], 2, "{output}");
    assert_eq!(output["output"]["stderr"], "err\n", "{output}");
    assert!(
        output["output"]["stdout"]
            .as_str()
            .unwrap()
            .contains("hello from the project")
    );

    // The granted loopback server is reachable through the proxy; nothing else is.
    let cases: &[(&str, String, &str)] = &[
        (
            "granted destination",
            format!("http://127.0.0.1:{port}/"),
            "reached",
        ),
        (
            "another port on loopback",
            format!("http://127.0.0.1:{}/", port + 1),
            "",
        ),
        (
            "the server's own API, though granted",
            format!("http://127.0.0.1:{}/healthz", server.addr.port()),
            "",
        ),
        (
            "cloud metadata",
            "http://169.254.169.254/latest/meta-data/".into(),
            "",
        ),
        ("a private range", "http://10.0.0.1/".into(), ""),
        ("a public address", "http://1.1.1.1/".into(), ""),
    ];
    for (name, url, expected) in cases {
        let call = shell("coder", &format!("wget -q -O- {url}"));
        let output: serde_json::Value = serde_json::from_str(&call.body).unwrap();
        let stdout = output["output"]["stdout"].as_str().unwrap_or_default();
        if expected.is_empty() {
            assert_ne!(
                output["output"]["exit_code"], 0,
                "{name}: reached: {output}"
            );
        } else {
            assert!(stdout.contains(expected), "{name}: {output}");
        }
    }
    // One workspace per agent, reused across calls.
    let ids: std::collections::BTreeSet<String> = admin
        .events("&kind=workspace")
        .iter()
        .filter_map(|e| e["payload"]["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let calls = admin.events("&kind=tool_call");
    assert!(calls.len() >= 7, "{calls:#?}");

    // A fork bomb ends (at most) its own workspace: the call returns, the server keeps
    // answering, and the agent's next call gets a fresh workspace.
    let bomb = admin.call(
        "p",
        "coder",
        "workspace.shell",
        json!({ "command": "b() { b & b; }; b", "timeout_ms": 5000 }),
    );
    assert_eq!(bomb.status, 200, "{}", bomb.body);
    let status: serde_json::Value = serde_json::from_str(&bomb.body).unwrap();
    let status = status["output"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        status == "workspace_died" || status == "timed_out",
        "the fork bomb ended as {status}: {}",
        bomb.body
    );
    assert_eq!(server.get("/healthz").status, 200);
    let after = shell("coder", "echo alive");
    assert_eq!(after.status, 200, "{}", after.body);
    assert!(after.body.contains("alive"), "{}", after.body);
}

#[test]
fn a_killed_server_leaves_nothing_behind_after_restart() {
    let Some(image) = test_image_id() else { return };
    let server = start(&image, tempfile::tempdir().unwrap());
    let token = server.admin_token();
    let admin = Client::new(server.addr, &token);
    let _root = project(&admin);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let created = admin.expect(201, "POST", "/v1/projects/p/workspaces", Some(&json!({})));
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let running = |id: &str| docker(&["inspect", "-f", "{{.State.Running}}", id]);
    for id in &ids {
        assert_eq!(running(id).as_deref(), Some("true"));
    }
    let data = server.kill_keeping_data();
    let _cleanup = Cleanup(data.path().to_path_buf());
    let restarted = start(&image, data);
    let admin = Client::new(restarted.addr, &token);
    // Removed at start, before the server answers.
    for id in &ids {
        assert_eq!(running(id), None, "workspace {id} survived the restart");
    }
    let listed = admin.expect(200, "GET", "/v1/projects/p/workspaces", None);
    assert_eq!(listed, json!([]));
    let leftovers = Command::new("pgrep")
        .args(["-f", &format!("runsc.*{}", ids[0])])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&leftovers.stdout).trim().is_empty(),
        "runsc processes of a removed workspace are still running"
    );
}
