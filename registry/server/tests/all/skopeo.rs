//! A standard OCI client reads the registry: `skopeo inspect` and `skopeo copy` to an `oci:`
//! layout give the same manifest and blob digests. Needs skopeo (`apt-get install -y skopeo`):
//! without it the test fails when `CI` is set and is skipped loudly otherwise.

use std::process::Command;

use stockade_bundle::Digest;
use stockade_test_artifacts::FS_BUNDLE_DIR;

use crate::harness::{TestRegistry, ok, pack};

fn skopeo_available() -> bool {
    let found = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "skopeo is not installed and CI is set"
        );
        eprintln!("SKIPPED: skopeo is not installed (apt-get install -y skopeo)");
    }
    found
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let output = ok(Command::new("skopeo").args(args).output(), "run skopeo");
    assert!(
        output.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn skopeo_inspects_and_copies_a_published_bundle() {
    if !skopeo_available() {
        return;
    }
    let registry = TestRegistry::start();
    let fs = pack(FS_BUNDLE_DIR);
    registry.publish_and_approve(&fs);
    let reference = format!("docker://{}/fs:0.1.0", registry.addr);

    // An artifact manifest has no image config, so ask for the raw manifest.
    let raw = skopeo(&["inspect", "--tls-verify=false", "--raw", &reference]);
    assert_eq!(raw, fs.manifest_bytes, "skopeo sees the published bytes");
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/fs", registry.addr),
    ]);
    let tags: serde_json::Value = ok(serde_json::from_slice(&tags), "tags");
    assert_eq!(tags["Tags"], serde_json::json!(["0.1.0"]));

    let layout = ok(tempfile::tempdir(), "tempdir");
    let dest = format!("oci:{}:0.1.0", layout.path().display());
    skopeo(&["copy", "--src-tls-verify=false", &reference, &dest]);
    let index: serde_json::Value = ok(
        serde_json::from_slice(&ok(
            std::fs::read(layout.path().join("index.json")),
            "index.json",
        )),
        "index",
    );
    assert_eq!(
        index["manifests"][0]["digest"],
        fs.manifest_digest.as_str(),
        "{index}"
    );
    let blob = |digest: &Digest| {
        ok(
            std::fs::read(layout.path().join("blobs/sha256").join(digest.hex())),
            "blob",
        )
    };
    assert_eq!(blob(&fs.manifest_digest), fs.manifest_bytes);
    assert_eq!(blob(&fs.manifest.config.digest), fs.config_bytes);
    for (descriptor, bytes) in &fs.layers {
        assert_eq!(
            &blob(&descriptor.digest),
            bytes,
            "layer {}",
            descriptor.digest
        );
    }
}
