//! Installing from a live registry: the happy path, then a table of hostile cases, each
//! refused with its own code and leaving nothing installed.

use std::path::Path;

use stockade_bundle::{
    Capabilities, Error, FetchLimits, KeyRing, Progress, RevocationList, SecretKey, Signature,
    SignedApproval, TrustPolicy, VerifiedBundle, sign_manifest, verify_installed,
};
use stockade_test_artifacts::{FS_BUNDLE_DIR, TRIVIAL_BUNDLE_DIR};

use crate::harness::{EvilProxy, TestRegistry, flip_last, ok, pack, pack_edited};

fn install_into(
    client: &stockade_bundle::RegistryClient,
    name: &str,
    version: &str,
    policy: &TrustPolicy,
    dest: &Path,
) -> Result<VerifiedBundle, Error> {
    let version = ok(version.parse::<semver::Version>(), "version");
    client.fetch_verified(name, &version, policy, dest, &mut |_| {})
}

/// The happy path: resolve, fetch, verify, write; the lock entry it produces re-verifies from
/// disk; the progress callback saw every byte.
#[test]
fn installs_resolves_and_reverifies() {
    let registry = TestRegistry::start();
    let v1 = pack(FS_BUNDLE_DIR);
    registry.publish_and_approve(&v1);
    let dir = ok(tempfile::tempdir(), "tempdir");
    let req = ok(semver::VersionReq::parse("^0.1"), "req");
    let mut received = 0;
    let bundle = ok(
        stockade_bundle::install_from_url(
            &registry.url,
            "fs",
            &req,
            &registry.policy(),
            dir.path(),
            &mut |p| {
                if let Progress::Blob { received: r, .. } = p {
                    received = r;
                }
            },
        ),
        "install",
    );
    assert_eq!(received, v1.layers[0].1.len() as u64);
    assert_eq!(bundle.manifest_digest, v1.manifest_digest);
    assert_eq!(bundle.capabilities_digest, v1.capabilities_digest);
    assert_eq!(bundle.dir, dir.path().join("fs").join("0.1.0"));
    let wasm = ok(std::fs::read(&bundle.components[0]), "read component");
    assert_eq!(
        wasm, v1.layers[0].1,
        "component bytes are the published ones"
    );
    let toml = ok(
        std::fs::read_to_string(bundle.dir.join("bundle.toml")),
        "bundle.toml",
    );
    assert_eq!(
        ok(
            stockade_registry_types::BundleManifest::from_toml(&toml),
            "parse"
        ),
        v1.bundle
    );
    let entry = bundle.lock_entry();
    let again = ok(
        verify_installed(&bundle.dir, &entry, &registry.policy()),
        "verify_installed",
    );
    assert_eq!(again.manifest_digest, v1.manifest_digest);
}

/// What one hostile case sets up; returns the client to install with, the policy, the
/// version, and the directory to check.
struct Case {
    name: &'static str,
    code: &'static str,
    run: fn(&TestRegistry, &Path) -> Result<VerifiedBundle, Error>,
}

fn trivial_v(version: &str) -> stockade_bundle::PackedBundle {
    let version = version.to_owned();
    pack_edited(TRIVIAL_BUNDLE_DIR, move |t| {
        t.replace("version = \"0.1.0\"", &format!("version = \"{version}\""))
    })
}

#[test]
fn install_refusals_table() {
    let cases: &[Case] = &[
        Case {
            name: "tampered blob on the registry's disk",
            code: "blob_digest_mismatch",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish_and_approve(&p);
                let path = r.blob_path(&p.layers[0].0.digest);
                let bytes = ok(std::fs::read(&path), "read blob");
                ok(std::fs::write(&path, flip_last(bytes)), "tamper");
                install_into(&r.client(), "trivial", "1.0.0", &r.policy(), dest)
            },
        },
        Case {
            name: "tampered manifest served by a proxy",
            code: "manifest_digest_mismatch",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish_and_approve(&p);
                let proxy = EvilProxy::start(&r.url, |path, body| {
                    if path.contains("/manifests/") {
                        [body, b" ".to_vec()].concat()
                    } else {
                        body
                    }
                });
                let client = ok(stockade_bundle::RegistryClient::new(&proxy.url), "client");
                install_into(&client, "trivial", "1.0.0", &r.policy(), dest)
            },
        },
        Case {
            name: "publisher key the host does not trust",
            code: "unknown_publisher_key",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish_and_approve(&p);
                let stranger = ok(SecretKey::generate(), "key");
                let policy = TrustPolicy {
                    publisher_keys: KeyRing::new([stranger.public()]),
                    ..r.policy()
                };
                install_into(&r.client(), "trivial", "1.0.0", &policy, dest)
            },
        },
        Case {
            name: "signature by another key claiming the trusted key id",
            code: "bad_signature",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                let forger = ok(SecretKey::generate(), "key");
                let forged = Signature {
                    key_id: r.publisher.public().key_id(),
                    signature: sign_manifest(&forger, &p.manifest_digest).signature,
                };
                ok(r.publisher_client().publish(&p, &forged), "publish");
                r.approve(&p);
                install_into(&r.client(), "trivial", "1.0.0", &r.policy(), dest)
            },
        },
        Case {
            name: "published but never approved",
            code: "approval_missing",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish(&p);
                install_into(&r.client(), "trivial", "1.0.0", &r.policy(), dest)
            },
        },
        Case {
            name: "approval for a different manifest digest",
            code: "approval_mismatch",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                let other = trivial_v("1.0.1");
                r.publish(&p);
                // A registry whose database was edited: a genuine operator signature, but over
                // another manifest's digest.
                let wrong = ok(
                    SignedApproval::sign(
                        &r.operator,
                        "trivial",
                        "1.0.0",
                        &other.manifest_digest,
                        &p.capabilities_digest,
                    ),
                    "sign",
                );
                r.with_store(async |store| {
                    store.set_approval("trivial", "1.0.0", &wrong).await.is_ok()
                });
                install_into(&r.client(), "trivial", "1.0.0", &r.policy(), dest)
            },
        },
        Case {
            name: "upgrade whose egress widens what was approved for the installed version",
            code: "capabilities_widened",
            run: |r, dest| {
                let v1 = trivial_v("1.0.0");
                let v2 = pack_edited(TRIVIAL_BUNDLE_DIR, |t| {
                    t.replace("version = \"0.1.0\"", "version = \"1.1.0\"")
                        .replace(
                            "component = \"trivial\"",
                            "component = \"trivial\"\negress = [\"https://exfil.example\"]",
                        )
                });
                r.publish_and_approve(&v1);
                r.publish_and_approve(&v2);
                // The host upgrades within what the operator approved for v1.
                let policy = TrustPolicy {
                    caps: Some(Capabilities::of(&v1.bundle)),
                    ..r.policy()
                };
                install_into(&r.client(), "trivial", "1.1.0", &policy, dest)
            },
        },
        Case {
            name: "yanked version, new install",
            code: "version_yanked",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish_and_approve(&p);
                ok(
                    r.admin_client().yank("trivial", &p.bundle.bundle.version),
                    "yank",
                );
                install_into(&r.client(), "trivial", "1.0.0", &r.policy(), dest)
            },
        },
        Case {
            name: "revoked digest, fresh install after revocation sync",
            code: "digest_revoked",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish_and_approve(&p);
                let list = ok(
                    RevocationList::default()
                        .with_revoked(p.manifest_digest.clone(), "bad")
                        .sign(&r.operator),
                    "sign",
                );
                ok(r.admin_client().put_revocations(&list), "revoke");
                let revoked = ok(
                    r.client()
                        .fetch_revocations(&r.policy().operator_keys, None),
                    "fetch revocations",
                );
                let policy = TrustPolicy {
                    revoked: revoked.digests(),
                    ..r.policy()
                };
                install_into(&r.client(), "trivial", "1.0.0", &policy, dest)
            },
        },
        Case {
            name: "layer larger than the client's cap",
            code: "blob_too_large",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish_and_approve(&p);
                let limits = FetchLimits {
                    max_layer_bytes: 1024,
                    ..FetchLimits::default()
                };
                let client = r.client().with_limits(limits);
                install_into(&client, "trivial", "1.0.0", &r.policy(), dest)
            },
        },
        Case {
            name: "proxy serving extra bytes after a layer",
            code: "blob_too_large",
            run: |r, dest| {
                let p = trivial_v("1.0.0");
                r.publish_and_approve(&p);
                let proxy = EvilProxy::start(&r.url, |path, body| {
                    if path.contains("/blobs/") && body.starts_with(b"\0asm") {
                        [body, vec![0; 4096]].concat()
                    } else {
                        body
                    }
                });
                let client = ok(stockade_bundle::RegistryClient::new(&proxy.url), "client");
                install_into(&client, "trivial", "1.0.0", &r.policy(), dest)
            },
        },
    ];
    for case in cases {
        let registry = TestRegistry::start();
        let root = ok(tempfile::tempdir(), "tempdir");
        let dest = root.path().join("trivial");
        let result = (case.run)(&registry, &dest);
        let code = match result {
            Ok(_) => "installed",
            Err(ref err) => err.code(),
        };
        assert_eq!(code, case.code, "{}: {:?}", case.name, result.err());
        assert!(
            !dest.exists(),
            "{}: left {} behind",
            case.name,
            dest.display()
        );
        let leftovers: Vec<_> = ok(std::fs::read_dir(root.path()), "read_dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(leftovers.is_empty(), "{}: left {leftovers:?}", case.name);
    }
}

/// Re-verification on load: a revocation synced after install, an edited component, an edited
/// `bundle.toml`, and a lock pinning another digest are each refused with their own code;
/// a yank does not affect an existing install.
#[test]
fn verify_installed_refusals() {
    let registry = TestRegistry::start();
    let p = trivial_v("1.0.0");
    registry.publish_and_approve(&p);
    let root = ok(tempfile::tempdir(), "tempdir");
    let install = |name: &str| {
        let dest = root.path().join(name);
        ok(
            install_into(
                &registry.client(),
                "trivial",
                "1.0.0",
                &registry.policy(),
                &dest,
            ),
            "install",
        )
    };

    let fresh = install("revoked");
    ok(
        registry
            .admin_client()
            .yank("trivial", &p.bundle.bundle.version),
        "yank",
    );
    let yanked = install_fetch_locked(&registry, &root.path().join("yanked"), &p);
    assert!(
        verify_installed(&yanked.dir, &yanked.lock_entry(), &registry.policy()).is_ok(),
        "yank keeps existing installs"
    );

    let list = ok(
        RevocationList::default()
            .with_revoked(p.manifest_digest.clone(), "bad")
            .sign(&registry.operator),
        "sign",
    );
    ok(registry.admin_client().put_revocations(&list), "revoke");
    let revoked = ok(
        registry
            .client()
            .fetch_revocations(&registry.policy().operator_keys, None),
        "sync",
    );
    let policy = TrustPolicy {
        revoked: revoked.digests(),
        ..registry.policy()
    };
    let err = verify_installed(&fresh.dir, &fresh.lock_entry(), &policy).err();
    assert_eq!(err.map(|e| e.code()), Some("digest_revoked"));
    let rollback = registry
        .client()
        .fetch_revocations(&registry.policy().operator_keys, Some(5))
        .err();
    assert_eq!(rollback.map(|e| e.code()), Some("revocation_rollback"));

    let edited = |file: &str, change: &dyn Fn(Vec<u8>) -> Vec<u8>| {
        let path = fresh.dir.join(file);
        let before = ok(std::fs::read(&path), "read");
        ok(std::fs::write(&path, change(before.clone())), "write");
        let code = verify_installed(&fresh.dir, &fresh.lock_entry(), &registry.policy())
            .err()
            .map(|e| e.code());
        ok(std::fs::write(&path, before), "restore");
        code
    };
    assert_eq!(
        edited("stockade_guest_trivial.wasm", &flip_last),
        Some("blob_digest_mismatch")
    );
    assert_eq!(
        edited("bundle.toml", &|b| [
            b,
            b"egress = [\"https://x\"]\n".to_vec()
        ]
        .concat()),
        Some("installed_file_changed")
    );
    assert_eq!(
        edited("oci-manifest.json", &|b| [b, b" ".to_vec()].concat()),
        Some("manifest_digest_mismatch")
    );
    let missing = {
        let path = fresh.dir.join("stockade_guest_trivial.wasm");
        ok(std::fs::remove_file(&path), "remove");
        verify_installed(&fresh.dir, &fresh.lock_entry(), &registry.policy())
            .err()
            .map(|e| e.code())
    };
    assert_eq!(missing, Some("locked_version_missing"));
}

fn install_fetch_locked(
    registry: &TestRegistry,
    dest: &Path,
    p: &stockade_bundle::PackedBundle,
) -> VerifiedBundle {
    let lock = stockade_bundle::LockEntry {
        name: "trivial".into(),
        version: p.bundle.bundle.version.clone(),
        manifest_digest: p.manifest_digest.clone(),
        capabilities_digest: p.capabilities_digest.clone(),
    };
    ok(
        registry
            .client()
            .fetch_locked(&lock, &registry.policy(), dest, &mut |_| {}),
        "fetch_locked",
    )
}

/// `resolve` picks the highest approved, non-yanked version matching the requirement.
#[test]
fn resolve_skips_yanked_and_unapproved() {
    let registry = TestRegistry::start();
    for version in ["1.0.0", "1.2.0", "1.3.0"] {
        registry.publish_and_approve(&trivial_v(version));
    }
    registry.publish(&trivial_v("1.4.0"));
    ok(
        registry
            .admin_client()
            .yank("trivial", &ok("1.3.0".parse(), "v")),
        "yank",
    );
    let resolve = |req: &str| {
        let req = ok(semver::VersionReq::parse(req), "req");
        registry
            .client()
            .resolve("trivial", &req)
            .map(|v| v.version.to_string())
            .map_err(|e| e.code())
    };
    assert_eq!(resolve("^1"), Ok("1.2.0".to_owned()));
    assert_eq!(resolve("=1.0.0"), Ok("1.0.0".to_owned()));
    assert_eq!(resolve(">=1.3"), Err("no_matching_version"));
    // A host that synced a revocation of 1.2.0 resolves to the next best.
    let revoked = trivial_v("1.2.0").manifest_digest;
    let policy = TrustPolicy {
        revoked: [revoked].into_iter().collect(),
        ..registry.policy()
    };
    let req = ok(semver::VersionReq::parse("^1"), "req");
    let picked = ok(
        registry.client().resolve_trusted("trivial", &req, &policy),
        "resolve",
    );
    assert_eq!(picked.version.to_string(), "1.0.0");
}
