//! The `stockade-registry` binary: keys, serve, publish, approve, yank, revoke and mirror as an
//! operator runs them.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use stockade_bundle::{KeyRing, LockFile, PublicKey, SecretKey, TrustPolicy};
use stockade_test_artifacts::{TRIVIAL_BUNDLE_DIR, WASM_DIR};

use crate::harness::ok;

const BIN: &str = env!("CARGO_BIN_EXE_stockade-registry");

fn run(args: &[&str]) -> (bool, String, String) {
    let output = ok(
        Command::new(BIN).args(args).output(),
        "run stockade-registry",
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn must(args: &[&str]) -> String {
    let (success, stdout, stderr) = run(args);
    assert!(success, "stockade-registry {args:?} failed: {stderr}");
    stdout
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve` on a free port and waits for its "listening on" line.
fn serve(args: &[&str]) -> (Server, String) {
    use std::io::BufRead as _;
    let mut child = ok(
        Command::new(BIN)
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn(),
        "spawn serve",
    );
    let stdout = child.stdout.take();
    let mut line = String::new();
    if let Some(stdout) = stdout {
        ok(std::io::BufReader::new(stdout).read_line(&mut line), "read");
    }
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "serve printed {line:?}"
    );
    (Server(child), url)
}

#[test]
fn operator_workflow_through_the_binary() {
    let work = ok(tempfile::tempdir(), "tempdir");
    let w = |name: &str| work.path().join(name).display().to_string();
    let keys = work.path().join("keys");
    ok(std::fs::create_dir(&keys), "mkdir");
    let key = |name: &str| keys.join(name).display().to_string();

    // keys generate / list
    let publisher_line = must(&["keys", "generate", "--out", &key("publisher")]);
    must(&["keys", "generate", "--out", &key("operator")]);
    let (success, _, stderr) = run(&["keys", "generate", "--out", &key("operator")]);
    assert!(
        !success && stderr.contains("operator"),
        "refuses to overwrite a key: {stderr}"
    );
    let listed = must(&["keys", "list", &keys.display().to_string()]);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let publisher_id = publisher_line.split(' ').next().unwrap_or_default();
    assert!(listed.contains(publisher_id), "{listed}");

    // serve refuses a non-loopback address without tokens
    let (success, _, stderr) = run(&["serve", "--data", &w("refused"), "--listen", "0.0.0.0:0"]);
    assert!(!success && stderr.contains("not loopback"), "{stderr}");

    // serve, publish, approve locally, install
    ok(
        std::fs::write(w("publish.token"), "publish-token-for-the-cli-test\n"),
        "token",
    );
    ok(
        std::fs::write(w("admin.token"), "admin-token-for-the-cli-test!!\n"),
        "token",
    );
    let data = w("data");
    let (_server, url) = serve(&[
        "--data",
        &data,
        "--listen",
        "127.0.0.1:0",
        "--publish-token-file",
        &w("publish.token"),
        "--admin-token-file",
        &w("admin.token"),
        "--publisher-keys",
        &keys.display().to_string(),
    ]);
    let published = must(&[
        "publish",
        TRIVIAL_BUNDLE_DIR,
        "--registry",
        &url,
        "--key",
        &key("publisher"),
        "--token-file",
        &w("publish.token"),
        "--wasm-dir",
        WASM_DIR,
    ]);
    assert!(
        published.starts_with("published trivial@0.1.0"),
        "{published}"
    );
    let approved = must(&[
        "approve",
        "trivial@0.1.0",
        "--key",
        &key("operator"),
        "--data",
        &data,
    ]);
    assert!(approved.starts_with("approved trivial@0.1.0"), "{approved}");
    let read_key = |name: &str| {
        ok(
            PublicKey::read(&keys.join(format!("{name}.pub"))),
            "public key",
        )
    };
    let policy = TrustPolicy {
        publisher_keys: KeyRing::new([read_key("publisher")]),
        operator_keys: KeyRing::new([read_key("operator")]),
        ..TrustPolicy::default()
    };
    let client = ok(stockade_bundle::RegistryClient::new(&url), "client");
    let version = ok("0.1.0".parse(), "version");
    let installed = ok(
        client.fetch_verified(
            "trivial",
            &version,
            &policy,
            &work.path().join("install"),
            &mut |_| {},
        ),
        "install",
    );

    // mirror (a lock file is an approved list) into a second data directory
    let mut lock = LockFile::default();
    lock.upsert(installed.lock_entry());
    ok(lock.write(&work.path().join("stockade.lock")), "lock");
    let mirrored = must(&[
        "mirror",
        "--upstream",
        &url,
        "--approved",
        &w("stockade.lock"),
        "--data",
        &w("mirror"),
    ]);
    assert!(mirrored.contains("copied   trivial@0.1.0"), "{mirrored}");
    let mut wrong = lock.clone();
    wrong.bundles[0].manifest_digest = stockade_bundle::Digest::of(b"not it");
    ok(wrong.write(&work.path().join("wrong.lock")), "lock");
    let (success, stdout, stderr) = run(&[
        "mirror",
        "--upstream",
        &url,
        "--approved",
        &w("wrong.lock"),
        "--data",
        &w("mirror2"),
    ]);
    assert!(!success, "a mismatching entry fails the run");
    assert!(
        stdout.contains("FAILED") && stderr.contains("mirror failed"),
        "{stdout}{stderr}"
    );

    // yank and revoke locally
    must(&["yank", "trivial@0.1.0", "--data", &data]);
    let err = client
        .fetch_verified(
            "trivial",
            &version,
            &policy,
            &work.path().join("again"),
            &mut |_| {},
        )
        .err();
    assert_eq!(err.map(|e| e.code()), Some("version_yanked"));
    let revoked = must(&[
        "revoke",
        installed.manifest_digest.as_str(),
        "--key",
        &key("operator"),
        "--reason",
        "test",
        "--data",
        &data,
    ]);
    assert!(revoked.contains("serial 1"), "{revoked}");
    let list = ok(
        client.fetch_revocations(&policy.operator_keys, None),
        "revocations",
    );
    let policy = TrustPolicy {
        revoked: list.digests(),
        ..policy
    };
    let err =
        stockade_bundle::verify_installed(&installed.dir, &installed.lock_entry(), &policy).err();
    assert_eq!(err.map(|e| e.code()), Some("digest_revoked"));

    // A publish signed by a key the server does not list is refused.
    let stranger = work.path().join("stranger");
    ok(
        SecretKey::generate().and_then(|k| k.write(&stranger)),
        "stranger key",
    );
    let bumped = work.path().join("bumped");
    copy_bundle(Path::new(TRIVIAL_BUNDLE_DIR), &bumped, "0.2.0");
    let (success, _, stderr) = run(&[
        "publish",
        &bumped.display().to_string(),
        "--registry",
        &url,
        "--key",
        &stranger.display().to_string(),
        "--token-file",
        &w("publish.token"),
        "--wasm-dir",
        WASM_DIR,
    ]);
    assert!(
        !success && stderr.contains("unknown_publisher_key"),
        "{stderr}"
    );
}

fn copy_bundle(from: &Path, to: &Path, version: &str) {
    ok(std::fs::create_dir_all(to), "mkdir");
    let text = ok(std::fs::read_to_string(from.join("bundle.toml")), "read");
    let text = text.replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
    ok(std::fs::write(to.join("bundle.toml"), text), "write");
}
