//! The registry path end to end, as the SDK README walks through it: a plugin built with the
//! SDK is packed, signed and published with the `stockade` CLI, approved by a registry
//! operator, installed into a project by name and version requirement (with progress), pinned
//! in stockade.lock, and called over the HTTP API. Then what an install or a load refuses at
//! the host: a revoked digest (even though the bundle is installed and loaded), a component
//! changed on disk after install, a version nobody approved, and an untrusted publisher.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::json;
use stockade_bundle::{KeyRing, RevocationList, SecretKey, SignedApproval};
use stockade_registry::Config;
use stockade_registry::config::Token;
use stockade_test_artifacts::TRIVIAL_BUNDLE_DIR;

use crate::api::{Client, code};
use crate::operator::Operator;
use crate::server::TestServer;
use crate::stderr;

const PUBLISH_TOKEN: &str = "publish-token-0123456789abcdef";
const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef01";

/// A registry on loopback, in this process, with its operator key.
struct Registry {
    url: String,
    operator: SecretKey,
    _data: tempfile::TempDir,
    _thread: std::thread::JoinHandle<()>,
}

impl Registry {
    fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        let operator = SecretKey::generate().unwrap();
        let mut config = Config::new(data.path().join("registry"));
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.publish_token = Some(Token::new(PUBLISH_TOKEN).unwrap());
        config.admin_token = Some(Token::new(ADMIN_TOKEN).unwrap());
        config.operator_keys = KeyRing::new([operator.public()]);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let ready = move |addr| tx.send(addr).unwrap();
            if let Err(err) = runtime.block_on(stockade_registry::serve(config, ready)) {
                panic!("registry: {err}");
            }
        });
        let addr = rx.recv().unwrap();
        Self {
            url: format!("http://{addr}"),
            operator,
            _data: data,
            _thread: thread,
        }
    }

    fn admin(&self) -> stockade_bundle::RegistryClient {
        stockade_bundle::RegistryClient::new(&self.url)
            .unwrap()
            .with_token(ADMIN_TOKEN)
    }

    /// The operator approves what the layout at `layout` holds.
    fn approve(&self, layout: &Path) -> SignedApproval {
        let packed = stockade_bundle::read_layout(layout).unwrap();
        let info = &packed.bundle.bundle;
        let approval = SignedApproval::sign(
            &self.operator,
            info.name.as_str(),
            &info.version.to_string(),
            &packed.manifest_digest,
            &packed.capabilities_digest,
        )
        .unwrap();
        self.admin().approve(&approval).unwrap();
        approval
    }
}

/// A server trusting `publisher` and the registry's operator key.
fn server_for(registry: &Registry, publisher: &str) -> TestServer {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("test.toml");
    let operator = registry.operator.public().to_string();
    std::fs::write(
        &config,
        format!(
            "[rate_limit]\napi_per_minute = 100000\n[registry]\nurl = \"{}\"\npublisher_keys = [\"{publisher}\"]\noperator_keys = [\"{operator}\"]\n",
            registry.url
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    TestServer::start_in(data, "127.0.0.1:0", &["--config", &config])
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// What the author's three commands left: the key, the layout and what they printed.
struct Published {
    publisher: SecretKey,
    layout: PathBuf,
    packed: String,
    published: String,
}

/// The author's workflow through the CLI: a publisher key, then `bundle pack`, `sign` and
/// `publish` of the trivial plugin (no server involved; proxies in the environment are
/// ignored, as for every command of the CLI).
fn author_publishes(registry: &Registry, work: &Path) -> Published {
    let key_file = work.join("publisher.key");
    let publisher = SecretKey::generate().unwrap();
    publisher.write(&key_file).unwrap();
    let token_file = work.join("publish.token");
    std::fs::write(&token_file, PUBLISH_TOKEN).unwrap();
    let layout = work.join("trivial.oci");
    let author = Operator::at("http://127.0.0.1:9", None);
    let packed = author.ok(&[
        "bundle",
        "pack",
        TRIVIAL_BUNDLE_DIR,
        "--out",
        path_arg(&layout),
    ]);
    author.ok(&[
        "bundle",
        "sign",
        path_arg(&layout),
        "--key",
        path_arg(&key_file),
    ]);
    let published = author.ok(&[
        "bundle",
        "publish",
        path_arg(&layout),
        "--registry",
        &registry.url,
        "--token-file",
        path_arg(&token_file),
    ]);
    Published {
        publisher,
        layout,
        packed,
        published,
    }
}

#[test]
fn a_plugin_goes_from_pack_to_a_verified_install_and_a_tool_call() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let Published {
        publisher,
        layout,
        packed,
        published,
    } = author_publishes(&registry, work.path());
    assert!(packed.contains("manifest sha256:"), "{packed}");
    assert!(published.contains("staged"), "{published}");

    let server = server_for(&registry, &publisher.public().to_string());
    let token = server.admin_token();
    let admin = Client::new(server.addr, &token);
    let operator = Operator::new(&server, Some(token.clone()));
    let root = tempfile::tempdir().unwrap();
    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": "p", "root": root.path() })),
    );

    // Published but not approved: invisible to hosts.
    let unapproved = operator.run(&["bundle", "install", "trivial@^0.1", "-p", "p"]);
    assert!(!unapproved.status.success());
    assert!(
        stderr(&unapproved).contains("no_matching_version"),
        "{}",
        stderr(&unapproved)
    );

    // Approved: installed with progress, pinned, callable.
    let approval = registry.approve(&layout);
    let install = operator.run(&["bundle", "install", "trivial@^0.1", "-p", "p"]);
    let (out, err) = (crate::stdout(&install), stderr(&install));
    assert!(install.status.success(), "{out}\n{err}");
    for step in [
        "resolved trivial 0.1.0",
        "downloading",
        "verified",
        "precompiled",
    ] {
        assert!(err.contains(step), "no {step:?} in the progress: {err}");
    }
    let digest = approval.approval.manifest_digest.to_string();
    assert!(out.contains(&digest), "{out}");

    let lock_files: Vec<PathBuf> = walk(server.data_dir())
        .into_iter()
        .filter(|p| p.ends_with("stockade.lock"))
        .collect();
    assert_eq!(lock_files.len(), 1, "{lock_files:?}");
    let lock = std::fs::read_to_string(&lock_files[0]).unwrap();
    assert!(lock.contains(&digest), "{lock}");
    assert!(!lock.contains("127.0.0.1"), "the lock names a host: {lock}");

    admin.expect(
        201,
        "POST",
        "/v1/projects/p/agents",
        Some(&json!({ "name": "bot", "tools": { "allow": ["trivial.*"] } })),
    );
    let call = || admin.call("p", "bot", "trivial.noop", json!({}));
    assert_eq!(call().status, 200, "{}", call().body);
    let installs = admin.events("&kind=admin");
    let install_event = installs
        .iter()
        .find(|e| e["payload"]["action"] == "bundle_install")
        .unwrap();
    assert_eq!(install_event["payload"]["manifest_digest"], digest.as_str());
    assert_eq!(install_event["payload"]["dev_install"], false);

    // The operator revokes the digest: after the host syncs, the installed, already loaded
    // bundle is refused.
    let revoked = RevocationList::default()
        .with_revoked(
            approval.approval.manifest_digest.clone(),
            "test: compromised",
        )
        .sign(&registry.operator)
        .unwrap();
    registry.admin().put_revocations(&revoked).unwrap();
    let sync = admin.expect(200, "POST", "/v1/registry/sync", None);
    assert_eq!(sync["revoked"], 1);
    let refused = call();
    assert_eq!(code(&refused), "digest_revoked", "{}", refused.body);
    let again = operator.run(&["bundle", "install", "trivial@^0.1", "-p", "p"]);
    assert!(!again.status.success(), "a revoked digest was installed");
}

#[test]
fn a_component_changed_after_install_or_an_untrusted_publisher_is_refused() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let Published {
        publisher, layout, ..
    } = author_publishes(&registry, work.path());
    registry.approve(&layout);

    // A host that trusts another publisher refuses the bundle, and keeps nothing of it.
    let stranger = SecretKey::generate().unwrap().public().to_string();
    let wary = server_for(&registry, &stranger);
    let admin = Client::new(wary.addr, &wary.admin_token());
    let root = tempfile::tempdir().unwrap();
    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": "p", "root": root.path() })),
    );
    let refused = admin.send(
        "POST",
        "/v1/projects/p/bundles",
        Some(&json!({ "name": "trivial", "version": "^0.1" })),
    );
    assert_eq!(code(&refused), "unknown_publisher_key", "{}", refused.body);
    assert!(
        !walk(wary.data_dir())
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "wasm")),
        "a refused bundle left files behind"
    );

    // A host that trusts the publisher installs it; a component edited on disk afterwards is
    // refused at the next load (a restart drops what was loaded).
    let host = server_for(&registry, &publisher.public().to_string());
    let host_token = host.admin_token();
    let admin = Client::new(host.addr, &host_token);
    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": "p", "root": root.path() })),
    );
    let bad_req = admin.send(
        "POST",
        "/v1/projects/p/bundles",
        Some(&json!({ "name": "trivial", "version": "latest" })),
    );
    assert_eq!(code(&bad_req), "invalid_version_req", "{}", bad_req.body);
    let installed = admin.expect(
        201,
        "POST",
        "/v1/projects/p/bundles",
        Some(&json!({ "name": "trivial", "version": "=0.1.0" })),
    );
    assert_eq!(installed["dev_install"], false);
    admin.expect(
        201,
        "POST",
        "/v1/projects/p/agents",
        Some(&json!({ "name": "bot", "tools": { "allow": ["trivial.*"] } })),
    );
    assert_eq!(
        admin.call("p", "bot", "trivial.noop", json!({})).status,
        200
    );
    let wasm = walk(host.data_dir())
        .into_iter()
        .find(|p| {
            p.extension().is_some_and(|e| e == "wasm")
                && p.starts_with(host.data_dir().join("bundles"))
        })
        .unwrap();
    let mut bytes = std::fs::read(&wasm).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&wasm, bytes).unwrap();
    let config = host.data_dir().join("test.toml");
    let (_, data) = host.stop_keeping_data();
    let config = config.to_str().unwrap().to_owned();
    let restarted = TestServer::start_in(data, "127.0.0.1:0", &["--config", &config]);
    let admin = Client::new(restarted.addr, &host_token);
    let call = admin.call("p", "bot", "trivial.noop", json!({}));
    assert_eq!(code(&call), "blob_digest_mismatch", "{}", call.body);
}

#[test]
fn without_a_registry_only_development_installs_work() {
    let server = TestServer::start(&[]);
    let admin = Client::new(server.addr, &server.admin_token());
    let root = tempfile::tempdir().unwrap();
    admin.expect(
        201,
        "POST",
        "/v1/projects",
        Some(&json!({ "name": "p", "root": root.path() })),
    );
    let cases: &[(&str, &str, serde_json::Value, &str)] = &[
        (
            "install by name",
            "/v1/projects/p/bundles",
            json!({ "name": "trivial", "version": "^0.1" }),
            "registry_not_configured",
        ),
        (
            "sync",
            "/v1/registry/sync",
            json!({}),
            "registry_not_configured",
        ),
        (
            "name and dir at once",
            "/v1/projects/p/bundles",
            json!({ "name": "trivial", "dir": TRIVIAL_BUNDLE_DIR, "dev": true }),
            "invalid_bundle_source",
        ),
        (
            "a registry install marked dev",
            "/v1/projects/p/bundles",
            json!({ "name": "trivial", "dev": true }),
            "invalid_bundle_source",
        ),
        (
            "a directory without dev",
            "/v1/projects/p/bundles",
            json!({ "dir": TRIVIAL_BUNDLE_DIR }),
            "dev_flag_required",
        ),
    ];
    for (name, route, body, expected) in cases {
        let response = admin.send("POST", route, Some(body));
        assert_eq!(code(&response), *expected, "{name}: {}", response.body);
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
