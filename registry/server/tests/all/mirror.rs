//! The pinned mirror copies exactly the listed approved entries, byte for byte, and fails
//! closed on any mismatch without writing the mismatching entry.

use std::path::Path;

use stockade_bundle::{LockEntry, LockFile, PackedBundle};
use stockade_test_artifacts::{FS_BUNDLE_DIR, HTTP_BUNDLE_DIR, TRIVIAL_BUNDLE_DIR};

use crate::harness::{EvilProxy, TestRegistry, flip_last, ok, pack};

fn entry(p: &PackedBundle) -> LockEntry {
    LockEntry {
        name: p.bundle.bundle.name.as_str().to_owned(),
        version: p.bundle.bundle.version.clone(),
        manifest_digest: p.manifest_digest.clone(),
        capabilities_digest: p.capabilities_digest.clone(),
    }
}

fn approved_file(dir: &Path, entries: &[&PackedBundle]) -> std::path::PathBuf {
    let mut lock = LockFile::default();
    for p in entries {
        lock.upsert(entry(p));
    }
    let path = dir.join("approved.lock");
    ok(lock.write(&path), "write approved list");
    path
}

fn mirror(
    upstream: &str,
    approved: &Path,
    data: &Path,
) -> (stockade_registry::mirror::MirrorReport, Vec<String>) {
    let runtime = ok(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        "runtime",
    );
    let mut lines = Vec::new();
    let report = runtime.block_on(stockade_registry::mirror::run(
        upstream,
        approved,
        data,
        &mut |line| lines.push(line),
    ));
    (ok(report, "mirror run"), lines)
}

fn stored_blobs(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("blobs/sha256"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn mirror_copies_only_listed_approved_entries_byte_for_byte() {
    let upstream = TestRegistry::start();
    let (fs, trivial, http) = (
        pack(FS_BUNDLE_DIR),
        pack(TRIVIAL_BUNDLE_DIR),
        pack(HTTP_BUNDLE_DIR),
    );
    upstream.publish_and_approve(&fs);
    upstream.publish_and_approve(&trivial);
    upstream.publish_and_approve(&http); // approved upstream but not on the list
    let work = ok(tempfile::tempdir(), "tempdir");
    let data = work.path().join("mirror");
    let approved = approved_file(work.path(), &[&fs, &trivial]);

    let (report, lines) = mirror(&upstream.url, &approved, &data);
    assert!(!report.failed(), "{report}");
    assert_eq!(
        report
            .entries
            .iter()
            .filter(|e| e.result == Ok(true))
            .count(),
        2,
        "{report}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("[1/2]")),
        "progress lines: {lines:?}"
    );

    // Served by a registry on the mirror's data: the same bytes under the same digests.
    let served = TestRegistry::builder().data(&data).start();
    let client = served.client();
    for p in [&fs, &trivial] {
        let name = p.bundle.bundle.name.as_str();
        let listing = ok(client.versions(name), "versions");
        assert_eq!(listing.versions.len(), 1);
        assert_eq!(listing.versions[0].manifest_digest, p.manifest_digest);
        // The upstream's approval and signature travel with it, so hosts verify as before.
        let dir = ok(tempfile::tempdir(), "tempdir");
        let installed = ok(
            client.fetch_verified(
                name,
                &p.bundle.bundle.version,
                &upstream.policy(),
                &dir.path().join(name),
                &mut |_| {},
            ),
            "install from the mirror",
        );
        assert_eq!(installed.manifest_digest, p.manifest_digest);
        for (descriptor, bytes) in &p.layers {
            assert_eq!(
                &ok(std::fs::read(served.blob_path(&descriptor.digest)), "blob"),
                bytes
            );
        }
        assert_eq!(
            ok(
                std::fs::read(served.blob_path(&p.manifest_digest)),
                "manifest"
            ),
            p.manifest_bytes
        );
    }
    let http_listing = ok(client.versions("http"), "versions");
    assert!(
        http_listing.versions.is_empty(),
        "unlisted entries are not copied"
    );
    assert!(!served.blob_path(&http.layers[0].0.digest).exists());
    drop(served);

    // Running again changes nothing.
    let (again, _) = mirror(&upstream.url, &approved, &data);
    assert!(
        again.entries.iter().all(|e| e.result == Ok(false)),
        "{again}"
    );
}

/// Each hostile upstream makes the run fail for that entry, with nothing of it written.
#[test]
fn mirror_refusals_table() {
    type Tamper = fn(&str, Vec<u8>) -> Vec<u8>;
    let cases: &[(&str, &str, Tamper)] = &[
        (
            "different bytes for a layer",
            "blob_digest_mismatch",
            |path, body| {
                if path.contains("/blobs/") && body.starts_with(b"\0asm") {
                    flip_last(body)
                } else {
                    body
                }
            },
        ),
        (
            "different bytes for the manifest",
            "manifest_digest_mismatch",
            |path, body| {
                if path.contains("/manifests/") {
                    [body, b"\n".to_vec()].concat()
                } else {
                    body
                }
            },
        ),
        (
            "extra bytes after the config",
            "blob_too_large",
            |path, body| {
                if path.contains("/blobs/") && body.starts_with(b"{") {
                    [body, b" ".to_vec()].concat()
                } else {
                    body
                }
            },
        ),
        (
            "listing that names another digest",
            "manifest_digest_mismatch",
            |path, body| {
                if path.ends_with("/versions") {
                    let text = String::from_utf8_lossy(&body).into_owned();
                    let digest = "sha256:".to_owned() + &"0".repeat(64);
                    let mut value: serde_json::Value =
                        serde_json::from_str(&text).unwrap_or_default();
                    value["versions"][0]["manifest_digest"] = digest.into();
                    value.to_string().into_bytes()
                } else {
                    body
                }
            },
        ),
    ];
    for (name, code, tamper) in cases {
        let upstream = TestRegistry::start();
        let (trivial, fs) = (pack(TRIVIAL_BUNDLE_DIR), pack(FS_BUNDLE_DIR));
        upstream.publish_and_approve(&trivial);
        upstream.publish_and_approve(&fs);
        let tamper = *tamper;
        // Only trivial's traffic is tampered with; fs passes through untouched.
        let proxy = EvilProxy::start(&upstream.url, move |path, body| {
            if path.contains("/trivial/") {
                tamper(path, body)
            } else {
                body
            }
        });
        let work = ok(tempfile::tempdir(), "tempdir");
        let data = work.path().join("mirror");
        let approved = approved_file(work.path(), &[&fs, &trivial]);
        let (report, _) = mirror(&proxy.url, &approved, &data);
        assert!(report.failed(), "{name}: {report}");
        let outcome = report.entries.iter().find(|e| e.entry.name == "trivial");
        let got = outcome
            .and_then(|e| e.result.as_ref().err())
            .map(|(c, _)| c.as_str());
        assert_eq!(got, Some(*code), "{name}: {report}");
        assert!(
            report.to_string().contains("FAILED"),
            "{name}: the report says so"
        );
        // fs was copied; nothing of trivial was written.
        let blobs = stored_blobs(&data);
        assert!(
            blobs.contains(&fs.layers[0].0.digest.hex().to_owned()),
            "{name}"
        );
        for digest in [
            &trivial.manifest_digest,
            &trivial.manifest.config.digest,
            &trivial.layers[0].0.digest,
        ] {
            assert!(
                !blobs.contains(&digest.hex().to_owned()),
                "{name}: {digest} was written"
            );
        }
        let tmp: Vec<_> = std::fs::read_dir(data.join("tmp"))
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        assert!(tmp.is_empty(), "{name}: temp files left: {tmp:?}");
        let served = TestRegistry::builder().data(&data).start();
        assert!(
            ok(served.client().versions("trivial"), "versions")
                .versions
                .is_empty(),
            "{name}"
        );
    }
}

/// An entry the upstream has not approved is not copied, and the run fails.
#[test]
fn mirror_refuses_unapproved_upstream_entries() {
    let upstream = TestRegistry::start();
    let trivial = pack(TRIVIAL_BUNDLE_DIR);
    upstream.publish(&trivial);
    let work = ok(tempfile::tempdir(), "tempdir");
    let data = work.path().join("mirror");
    let approved = approved_file(work.path(), &[&trivial]);
    let (report, _) = mirror(&upstream.url, &approved, &data);
    let got = report.entries[0]
        .result
        .as_ref()
        .err()
        .map(|(c, _)| c.clone());
    assert_eq!(got.as_deref(), Some("locked_version_missing"), "{report}");
    assert!(stored_blobs(&data).is_empty());
}
