//! The operator's CLI against the real server: the README walk-through end to end, and the
//! errors an operator meets, each with its exit status and message.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::server::TestServer;
use crate::{stderr, stdout};

/// Runs operator commands against one server, as one user.
pub struct Operator {
    server: String,
    token: Option<String>,
}

impl Operator {
    pub fn new(server: &TestServer, token: Option<String>) -> Self {
        Self {
            server: format!("http://{}", server.addr),
            token,
        }
    }

    pub fn at(server: impl Into<String>, token: Option<String>) -> Self {
        Self {
            server: server.into(),
            token,
        }
    }

    /// `stockade ARGS` with `STOCKADE_SERVER` and `STOCKADE_TOKEN` set. Proxy variables point
    /// at a closed port, so every command here also shows that the CLI ignores them: the token
    /// goes to --server and nowhere else.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stockade"));
        command
            .args(args)
            .env("STOCKADE_SERVER", &self.server)
            .env_remove("STOCKADE_TOKEN")
            .env_remove("STOCKADE_TOKEN_FILE")
            .env_remove("STOCKADE_WRITE_TOKEN_FILE")
            .env_remove("STOCKADE_PROJECT")
            .env_remove("STOCKADE_DATA_DIR")
            .env_remove("STOCKADE_LOG")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy");
        for proxy in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
            command.env(proxy, "http://127.0.0.1:9");
        }
        if let Some(token) = &self.token {
            command.env("STOCKADE_TOKEN", token);
        }
        command.output().unwrap()
    }

    /// [`Operator::run`], which must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "stockade {args:?}: {:?}\nstdout: {}\nstderr: {}",
            out.status,
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// [`Operator::ok`] with `--json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let text = self.ok(&args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}

/// Creates project `name` rooted at `root`, installs `fs`, grants `read_file` read-only and
/// `write_file` read-write on the whole root, and creates agent `editor` allowed `fs.*`.
pub fn project_with_fs(op: &Operator, name: &str, root: &Path) {
    op.ok(&["project", "create", name, "--root", root.to_str().unwrap()]);
    op.ok(&[
        "bundle",
        "install",
        "-p",
        name,
        "--dir",
        stockade_test_artifacts::FS_BUNDLE_DIR,
        "--dev",
    ]);
    op.ok(&["grant", "set", "-p", name, "fs", "read_file", "--dir", "."]);
    op.ok(&[
        "grant",
        "set",
        "-p",
        name,
        "fs",
        "write_file",
        "--dir",
        ".:rw",
    ]);
    op.ok(&["agent", "create", "-p", name, "editor", "--allow", "fs.*"]);
}

#[test]
fn walk_through_project_bundle_grant_agent_call_events() {
    let server = TestServer::start(&[]);
    let op = Operator::new(&server, Some(server.admin_token()));
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("notes.txt"), "hello from disk\n").unwrap();
    let canonical_root = root.path().canonicalize().unwrap();

    // Project.
    let out = op.ok(&[
        "project",
        "create",
        "demo",
        "--root",
        root.path().to_str().unwrap(),
    ]);
    assert!(out.contains("created project demo"), "{out}");
    let shown = op.json(&["project", "show", "demo"]);
    assert_eq!(shown["root"], canonical_root.to_str().unwrap());
    assert!(op.ok(&["project", "list"]).contains("demo"));

    // Bundle: installing records the digest of the component.
    let out = op.ok(&[
        "bundle",
        "install",
        "--project",
        "demo",
        "--dir",
        stockade_test_artifacts::FS_BUNDLE_DIR,
        "--dev",
    ]);
    assert!(out.contains("installed fs 0.1.0 into demo"), "{out}");
    assert!(out.contains("component fs: sha256 "), "{out}");
    let bundles = op.json(&["bundle", "list", "-p", "demo"]);
    assert_eq!(bundles[0]["name"], "fs");
    assert_eq!(bundles[0]["dev_install"], true);

    // Grants: PATH defaults to the mount /project; :rw where the manifest asks for it.
    op.ok(&[
        "grant",
        "set",
        "-p",
        "demo",
        "fs",
        "read_file",
        "--dir",
        ".",
    ]);
    let out = op.ok(&[
        "grant",
        "set",
        "-p",
        "demo",
        "fs",
        "write_file",
        "--dir",
        "/project=.:rw",
        "--deadline-ms",
        "5000",
    ]);
    assert!(out.contains("/project = <project>/. (read-write)"), "{out}");
    let grant = op.json(&["grant", "show", "-p", "demo", "fs", "write_file"]);
    assert_eq!(
        grant,
        serde_json::json!({
            "dirs": [{ "mount": "/project", "path": ".", "access": "read-write" }],
            "egress": [],
            "secrets": [],
            "limits": { "deadline_ms": 5000 },
        })
    );

    // Agents.
    op.ok(&["agent", "create", "-p", "demo", "editor", "--allow", "fs.*"]);
    op.ok(&[
        "agent",
        "create",
        "-p",
        "demo",
        "reader",
        "--allow",
        "fs.*",
        "--deny",
        "fs.write_file",
    ]);
    let agents = op.ok(&["agent", "list", "-p", "demo"]);
    assert!(
        agents.contains("editor") && agents.contains("reader"),
        "{agents}"
    );

    // Tools: what each agent may call.
    let tools = op.ok(&["tools", "-p", "demo", "--agent", "editor"]);
    for tool in ["fs.read_file", "fs.write_file", "fs.list_dir", "fs.search"] {
        assert!(tools.contains(tool), "{tool} missing from:\n{tools}");
    }
    let reader_tools = op.json(&["tools", "-p", "demo", "--agent", "reader"]);
    let names: Vec<&str> = reader_tools
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"fs.read_file"), "{names:?}");
    assert!(!names.contains(&"fs.write_file"), "{names:?}");

    // Calls: a read of a file on disk, a write that lands on disk.
    let out = op.run(&[
        "call",
        "-p",
        "demo",
        "--agent",
        "editor",
        "fs.read_file",
        "--input",
        r#"{"path":"notes.txt"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let output: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(output["content"], "hello from disk\n");
    assert!(
        stderr(&out).contains("ok: fs.read_file"),
        "{}",
        stderr(&out)
    );

    op.ok(&[
        "call",
        "-p",
        "demo",
        "--agent",
        "editor",
        "fs.write_file",
        "--input",
        r#"{"path":"result.txt","content":"written by the agent"}"#,
    ]);
    assert_eq!(
        std::fs::read_to_string(root.path().join("result.txt")).unwrap(),
        "written by the agent"
    );

    // The denied call is refused with the server's code, and nothing is written.
    let out = op.run(&[
        "call",
        "-p",
        "demo",
        "--agent",
        "reader",
        "fs.write_file",
        "--input",
        r#"{"path":"denied.txt","content":"x"}"#,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error[tool_not_allowed]: "),
        "{}",
        stderr(&out)
    );
    assert!(!root.path().join("denied.txt").exists());

    // Events: the three calls, in order, with their outcomes.
    let page = op.json(&["events", "-p", "demo", "--kind", "tool_call"]);
    let calls: Vec<(&str, &str, &Value)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["payload"]["tool"].as_str().unwrap(),
                &e["payload"]["outcome"]["verdict"],
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            ("agent:demo/editor", "fs.read_file", &Value::from("allowed")),
            (
                "agent:demo/editor",
                "fs.write_file",
                &Value::from("allowed")
            ),
            ("agent:demo/reader", "fs.write_file", &Value::from("denied")),
        ]
    );
    let table = op.ok(&["events", "-p", "demo"]);
    assert!(table.starts_with("SEQ"), "{table}");
    assert!(table.contains("action=bundle_install"), "{table}");
    assert!(table.contains("tool=fs.write_file"), "{table}");
    let first = op.json(&["events", "--limit", "1"]);
    assert_eq!(first["events"].as_array().unwrap().len(), 1);
    let next = first["next_after_seq"].as_i64().unwrap();
    let rest = op.json(&["events", "--after-seq", &next.to_string()]);
    assert!(rest["events"][0]["seq"].as_i64().unwrap() > next);
}

#[test]
fn users_tokens_and_membership() {
    let server = TestServer::start(&[]);
    let admin = Operator::new(&server, Some(server.admin_token()));
    let root = tempfile::tempdir().unwrap();
    admin.ok(&[
        "project",
        "create",
        "shared",
        "--root",
        root.path().to_str().unwrap(),
    ]);

    // The new token is alone on stdout, so `> file` stores exactly it.
    let out = admin.run(&["user", "create", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alice_token = stdout(&out).trim().to_owned();
    assert!(alice_token.starts_with("stk_"), "{alice_token}");
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stderr(&out).contains("shown only once"), "{}", stderr(&out));

    // Alice sees nothing until she is a member.
    let alice = Operator::new(&server, Some(alice_token));
    assert!(alice.ok(&["project", "list"]).contains("no projects"));
    let members = |op: &Operator| op.json(&["project", "members", "shared"]);
    // The creator is a member from the start. (The server lists members by user id.)
    assert_eq!(members(&admin).as_array().unwrap().len(), 1);
    let out = admin.ok(&["project", "add-member", "shared", "alice"]);
    assert!(out.contains("alice is a member of shared"), "{out}");
    assert_eq!(members(&admin).as_array().unwrap().len(), 2);
    assert!(alice.ok(&["project", "list"]).contains("shared"));

    // A token from a file; revoking it shuts it out.
    let issued = alice.json(&["token", "create", "--label", "ci"]);
    let token_file = root.path().join("ci.token");
    std::fs::write(
        &token_file,
        format!("{}\n", issued["token"].as_str().unwrap()),
    )
    .unwrap();
    let ci = Operator::at(format!("http://{}", server.addr), None);
    let token_arg = ["--token-file", token_file.to_str().unwrap()];
    let mut list = vec!["project", "list"];
    list.extend(token_arg);
    assert!(ci.ok(&list).contains("shared"));
    let tokens = alice.ok(&["token", "list"]);
    assert!(
        tokens.contains("ci") && tokens.contains("initial"),
        "{tokens}"
    );
    let id = issued["token_id"].as_str().unwrap();
    assert!(alice.ok(&["token", "revoke", id]).contains("revoked"));
    let out = ci.run(&list);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("error[unauthorized]")
            && stderr(&out).contains("the token in --token-file was refused"),
        "{}",
        stderr(&out)
    );
}

/// How a failing command must end.
struct Refusal {
    name: &'static str,
    args: Vec<String>,
    token: bool,
    code: i32,
    stderr: Vec<String>,
}

#[test]
fn errors_name_their_cause_and_exit_status() {
    let server = TestServer::start(&[]);
    let token = server.admin_token();
    let url = format!("http://{}", server.addr);
    let root = tempfile::tempdir().unwrap();
    let admin = Operator::new(&server, Some(token.clone()));
    project_with_fs(&admin, "demo", root.path());
    let closed = {
        // A port that was just free: nothing listens there.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let cases = [
        Refusal {
            name: "no token",
            args: owned(&["project", "list"]),
            token: false,
            code: 1,
            stderr: owned(&[
                "error[unauthorized]: ",
                "set STOCKADE_TOKEN or pass --token-file",
            ]),
        },
        Refusal {
            name: "server not running",
            args: owned(&["project", "list", "--server", &closed]),
            token: true,
            code: 2,
            stderr: vec![
                format!("cannot reach the server at {closed}"),
                format!("is `stockade serve` running at {closed}?"),
            ],
        },
        Refusal {
            name: "bundle install without --dev",
            args: owned(&[
                "bundle",
                "install",
                "-p",
                "demo",
                "--dir",
                stockade_test_artifacts::TRIVIAL_BUNDLE_DIR,
            ]),
            token: true,
            code: 2,
            stderr: owned(&["development install", "add --dev to confirm"]),
        },
        Refusal {
            name: "unknown project",
            args: owned(&["agent", "list", "-p", "nope"]),
            token: true,
            code: 1,
            stderr: owned(&["error[not_found]: "]),
        },
        Refusal {
            name: "path injection in a name stays one segment",
            args: owned(&["project", "show", "../tokens"]),
            token: true,
            code: 1,
            stderr: owned(&["error[not_found]: "]),
        },
        Refusal {
            name: "grant beyond the manifest's request",
            args: owned(&[
                "grant",
                "set",
                "-p",
                "demo",
                "fs",
                "read_file",
                "--dir",
                ".:rw",
            ]),
            token: true,
            code: 1,
            stderr: owned(&["error[grant_exceeds_request]: "]),
        },
        Refusal {
            name: "grant path outside the root",
            args: owned(&[
                "grant",
                "set",
                "-p",
                "demo",
                "fs",
                "read_file",
                "--dir",
                "/etc",
            ]),
            token: true,
            code: 2,
            stderr: owned(&["must be relative to the project root"]),
        },
        Refusal {
            name: "input that is not JSON",
            args: owned(&[
                "call",
                "-p",
                "demo",
                "--agent",
                "editor",
                "fs.read_file",
                "--input",
                "{path",
            ]),
            token: true,
            code: 2,
            stderr: owned(&["--input is not valid JSON"]),
        },
        Refusal {
            name: "tool input the tool refuses",
            args: owned(&[
                "call",
                "-p",
                "demo",
                "--agent",
                "editor",
                "fs.read_file",
                "--input",
                r#"{"path":"../outside"}"#,
            ]),
            token: true,
            code: 1,
            stderr: owned(&["error[invalid_input]: "]),
        },
        Refusal {
            name: "https is refused before any request",
            args: owned(&["project", "list", "--server", "https://127.0.0.1:1"]),
            token: true,
            code: 2,
            stderr: owned(&["plain HTTP only"]),
        },
        Refusal {
            name: "missing token file",
            args: owned(&["project", "list", "--token-file", "/nonexistent/token"]),
            token: false,
            code: 2,
            stderr: owned(&["cannot read the API token from /nonexistent/token"]),
        },
        Refusal {
            name: "there is no --token flag",
            args: owned(&["project", "list", "--token", "stk_x"]),
            token: false,
            code: 2,
            stderr: owned(&["unexpected argument '--token'"]),
        },
    ];
    for case in cases {
        let op = Operator::at(url.clone(), case.token.then(|| token.clone()));
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let out = op.run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(case.code), "{}: {err}", case.name);
        for needle in &case.stderr {
            assert!(
                err.contains(needle.as_str()),
                "{}: {needle:?} not in {err}",
                case.name
            );
        }
        assert!(
            !err.contains(&token),
            "{}: the token leaked: {err}",
            case.name
        );
    }
    // The refused install sent nothing: only `fs` is installed.
    let bundles = admin.json(&["bundle", "list", "-p", "demo"]);
    assert_eq!(bundles.as_array().unwrap().len(), 1, "{bundles}");
}

#[test]
fn redirects_are_not_followed_and_the_token_stays_put() {
    // A fake server that redirects to a second one, which records what reaches it.
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let target_addr = target.local_addr().unwrap();
    target.set_nonblocking(true).unwrap();
    let redirector = TcpListener::bind("127.0.0.1:0").unwrap();
    let redirector_addr = redirector.local_addr().unwrap();
    let answer = std::thread::spawn(move || {
        let (mut stream, _) = redirector.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = stream.read(&mut buf).unwrap();
        let response = format!(
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target_addr}/v1/projects\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(response.as_bytes()).unwrap();
    });
    let op = Operator::at(
        format!("http://{redirector_addr}"),
        Some("stk_secret".into()),
    );
    let out = op.run(&["project", "list"]);
    answer.join().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not follow redirects"),
        "{}",
        stderr(&out)
    );
    assert!(
        target.accept().is_err(),
        "the CLI followed the redirect to another host"
    );
}
