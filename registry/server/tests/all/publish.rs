//! Publishing: immutability, authentication, refusals of bad artifacts, and pull visibility.

use std::collections::BTreeMap;

use stockade_bundle::{
    ARTIFACT_TYPE, CONFIG_MEDIA_TYPE, Descriptor, Digest, MANIFEST_MEDIA_TYPE, OciManifest,
    PackedBundle, TITLE_ANNOTATION, WASM_MEDIA_TYPE, sign_manifest,
};
use stockade_test_artifacts::{FS_BUNDLE_DIR, TRIVIAL_BUNDLE_DIR};

use crate::harness::{ADMIN_TOKEN, TestRegistry, ok, pack, pack_edited};

fn get(url: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = ok(agent.get(url).call(), "GET");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let body = ok(
        response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec(),
        "body",
    );
    (response.status().as_u16(), headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Same bytes again: accepted, not re-created. Different bytes for the same version: 409
/// `version_immutable`, and the registry keeps serving the original.
#[test]
fn versions_are_immutable() {
    let registry = TestRegistry::start();
    let original = pack(TRIVIAL_BUNDLE_DIR);
    assert!(registry.publish(&original).created);
    assert!(
        !registry.publish(&original).created,
        "same bytes are idempotent"
    );
    let changed = pack_edited(TRIVIAL_BUNDLE_DIR, |t| {
        t.replace("a single no-op tool", "a single no-op tool!")
    });
    assert_eq!(
        changed.bundle.bundle.version,
        original.bundle.bundle.version
    );
    let signature = sign_manifest(&registry.publisher, &changed.manifest_digest);
    let err = registry
        .publisher_client()
        .publish(&changed, &signature)
        .err();
    assert_eq!(err.map(|e| e.code()), Some("version_immutable"));
    // The raw answer is a 409 with the code in an OCI-style error body.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = serde_json::json!({
        "manifest": base64_encode(&changed.manifest_bytes),
        "signature": signature,
    });
    let mut response = ok(
        agent
            .put(format!(
                "{}/stockade/v1/bundles/trivial/versions/0.1.0",
                registry.url
            ))
            .header(
                "Authorization",
                format!("Bearer {}", crate::harness::PUBLISH_TOKEN),
            )
            .content_type("application/json")
            .send(body.to_string()),
        "PUT",
    );
    assert_eq!(response.status().as_u16(), 409);
    assert_eq!(
        error_code(&ok(response.body_mut().read_to_vec(), "body")),
        "version_immutable"
    );
    registry.approve(&original);
    let (_, headers, _) = get(&format!("{}/v2/trivial/manifests/0.1.0", registry.url));
    assert_eq!(
        header(&headers, "docker-content-digest"),
        Some(original.manifest_digest.as_str())
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Staged versions are invisible to pulls; approved ones carry the OCI headers.
#[test]
fn only_approved_versions_are_pullable() {
    let registry = TestRegistry::start();
    let fs = pack(FS_BUNDLE_DIR);
    registry.publish(&fs);
    let manifest_url = format!("{}/v2/fs/manifests/0.1.0", registry.url);
    let blob_url = format!("{}/v2/fs/blobs/{}", registry.url, fs.layers[0].0.digest);
    let (status, _, body) = get(&manifest_url);
    assert_eq!(
        (status, error_code(&body).as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
    let (status, _, body) = get(&blob_url);
    assert_eq!((status, error_code(&body).as_str()), (404, "BLOB_UNKNOWN"));
    let (status, _, body) = get(&format!("{}/v2/fs/tags/list", registry.url));
    assert_eq!((status, error_code(&body).as_str()), (404, "NAME_UNKNOWN"));
    let listing = ok(registry.client().versions("fs"), "versions");
    assert!(
        listing.versions.is_empty(),
        "staged versions are not listed"
    );

    registry.approve(&fs);
    let (status, headers, body) = get(&format!("{}/v2/", registry.url));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        header(&headers, "docker-distribution-api-version"),
        Some("registry/2.0")
    );
    let (status, headers, body) = get(&manifest_url);
    assert_eq!(status, 200);
    assert_eq!(body, fs.manifest_bytes);
    assert_eq!(header(&headers, "content-type"), Some(MANIFEST_MEDIA_TYPE));
    assert_eq!(
        header(&headers, "docker-content-digest"),
        Some(fs.manifest_digest.as_str())
    );
    assert_eq!(
        header(&headers, "content-length"),
        Some(fs.manifest_bytes.len().to_string().as_str())
    );
    let (status, _, by_digest) = get(&format!(
        "{}/v2/fs/manifests/{}",
        registry.url, fs.manifest_digest
    ));
    assert_eq!((status, by_digest), (200, fs.manifest_bytes.clone()));
    let (status, headers, body) = get(&blob_url);
    assert_eq!(status, 200);
    assert_eq!(Digest::of(&body), fs.layers[0].0.digest);
    assert_eq!(
        header(&headers, "content-length"),
        Some(fs.layers[0].1.len().to_string().as_str())
    );
    let (_, _, tags) = get(&format!("{}/v2/fs/tags/list", registry.url));
    let tags: serde_json::Value = ok(serde_json::from_slice(&tags), "tags");
    assert_eq!(tags, serde_json::json!({"name": "fs", "tags": ["0.1.0"]}));
    let listing = ok(registry.client().versions("fs"), "versions");
    assert_eq!(listing.versions.len(), 1);
    assert_eq!(listing.versions[0].manifest_digest, fs.manifest_digest);
    assert!(!listing.versions[0].yanked && listing.versions[0].approval.is_some());
}

/// A manifest built by hand around `layer` (already uploaded), with a valid config.
fn hand_made(
    registry: &TestRegistry,
    layer: &[u8],
    media_type: &str,
    config: Option<Vec<u8>>,
) -> PackedBundle {
    let base = pack(TRIVIAL_BUNDLE_DIR);
    let digest = Digest::of(layer);
    let mut config_value: serde_json::Value =
        ok(serde_json::from_slice(&base.config_bytes), "config");
    config_value["components"]["trivial"]["digest"] = digest.to_string().into();
    config_value["components"]["trivial"]["size"] = layer.len().into();
    let config_bytes = config.unwrap_or_else(|| ok(serde_json::to_vec(&config_value), "config"));
    let manifest = OciManifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.into(),
        artifact_type: Some(ARTIFACT_TYPE.into()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.into(),
            digest: Digest::of(&config_bytes),
            size: config_bytes.len() as u64,
            annotations: None,
        },
        layers: vec![Descriptor {
            media_type: media_type.into(),
            digest,
            size: layer.len() as u64,
            annotations: Some(BTreeMap::from([(
                TITLE_ANNOTATION.to_owned(),
                "stockade_guest_trivial.wasm".to_owned(),
            )])),
        }],
        annotations: None,
    };
    let manifest_bytes = ok(serde_json::to_vec(&manifest), "manifest");
    let packed = PackedBundle {
        manifest_digest: Digest::of(&manifest_bytes),
        manifest,
        manifest_bytes,
        config_bytes,
        layers: vec![],
        ..base
    };
    ok(
        registry
            .publisher_client()
            .upload_blob("trivial", &Digest::of(layer), layer),
        "upload layer",
    );
    packed
}

/// Each hostile publish is refused with its code, and nothing becomes visible.
#[test]
fn publish_refusals_table() {
    let gzip = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4].to_vec();
    let mut tar = vec![0u8; 1024];
    tar[257..262].copy_from_slice(b"ustar");
    type Setup = Box<dyn Fn(&TestRegistry) -> Result<(), stockade_bundle::Error>>;
    let publish = |r: &TestRegistry, p: &PackedBundle| {
        let signature = sign_manifest(&r.publisher, &p.manifest_digest);
        r.publisher_client().publish(p, &signature).map(|_| ())
    };
    let cases: Vec<(&str, &str, Setup)> = vec![
        (
            "gzip layer labelled application/wasm",
            "compressed_layer",
            {
                let gzip = gzip.clone();
                Box::new(move |r| publish(r, &hand_made(r, &gzip, WASM_MEDIA_TYPE, None)))
            },
        ),
        ("tar layer", "compressed_layer", {
            let tar = tar.clone();
            Box::new(move |r| publish(r, &hand_made(r, &tar, WASM_MEDIA_TYPE, None)))
        }),
        ("gzip media type", "compressed_layer", {
            Box::new(move |r| {
                publish(
                    r,
                    &hand_made(
                        r,
                        b"\0asm\x0d\0\x01\0",
                        "application/vnd.oci.image.layer.v1.tar+gzip",
                        None,
                    ),
                )
            })
        }),
        (
            "component file escaping the bundle directory",
            "unsafe_path",
            {
                Box::new(move |r| {
                    let layer = b"\0asm\x0d\0\x01\0";
                    let base = pack(TRIVIAL_BUNDLE_DIR);
                    let mut config: serde_json::Value =
                        ok(serde_json::from_slice(&base.config_bytes), "config");
                    config["components"]["trivial"] = serde_json::json!({
                        "file": "../../bin/evil.wasm",
                        "digest": Digest::of(layer).to_string(),
                        "size": layer.len(),
                    });
                    let config = ok(serde_json::to_vec(&config), "config");
                    publish(r, &hand_made(r, layer, WASM_MEDIA_TYPE, Some(config)))
                })
            },
        ),
        ("config that is not a bundle config", "invalid_config", {
            Box::new(move |r| {
                publish(
                    r,
                    &hand_made(
                        r,
                        b"\0asm\x0d\0\x01\0",
                        WASM_MEDIA_TYPE,
                        Some(b"{\"architecture\":\"amd64\"}".to_vec()),
                    ),
                )
            })
        }),
        ("config for another bundle name", "invalid_config", {
            Box::new(move |r| {
                let p = pack(FS_BUNDLE_DIR);
                let signature = sign_manifest(&r.publisher, &p.manifest_digest);
                for (digest, bytes) in p.blobs() {
                    r.publisher_client().upload_blob("trivial", digest, bytes)?;
                }
                let body = serde_json::json!({"manifest": base64_encode(&p.manifest_bytes), "signature": signature});
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut response = agent
                    .put(format!(
                        "{}/stockade/v1/bundles/trivial/versions/0.1.0",
                        r.url
                    ))
                    .header(
                        "Authorization",
                        format!("Bearer {}", crate::harness::PUBLISH_TOKEN),
                    )
                    .content_type("application/json")
                    .send(body.to_string())
                    .map_err(|e| stockade_bundle::Error::Transport(e.to_string()))?;
                let code = error_code(&response.body_mut().read_to_vec().unwrap_or_default());
                Err(stockade_bundle::Error::Registry {
                    status: response.status().as_u16(),
                    code,
                    message: String::new(),
                })
            })
        }),
        ("upload without a token", "unauthorized", {
            Box::new(move |r| {
                r.client()
                    .upload_blob("trivial", &Digest::of(b"\0asm"), b"\0asm")
            })
        }),
        (
            "upload with the admin token instead of the publish token",
            "unauthorized",
            {
                Box::new(move |r| {
                    r.client().with_token(ADMIN_TOKEN).upload_blob(
                        "trivial",
                        &Digest::of(b"\0asm"),
                        b"\0asm",
                    )
                })
            },
        ),
        (
            "upload whose bytes do not match the digest",
            "DIGEST_INVALID",
            {
                Box::new(move |r| {
                    r.publisher_client()
                        .upload_blob("trivial", &Digest::of(b"other"), b"\0asm")
                })
            },
        ),
        ("approval without the admin token", "unauthorized", {
            Box::new(move |r| {
                let p = pack(TRIVIAL_BUNDLE_DIR);
                r.publish(&p);
                let approval = stockade_bundle::SignedApproval::sign(
                    &r.operator,
                    "trivial",
                    "0.1.0",
                    &p.manifest_digest,
                    &p.capabilities_digest,
                )?;
                r.publisher_client().approve(&approval)
            })
        }),
        (
            "approval signed by a key the registry does not know",
            "unknown_operator_key",
            {
                Box::new(move |r| {
                    let p = pack(TRIVIAL_BUNDLE_DIR);
                    r.publish(&p);
                    let stranger = stockade_bundle::SecretKey::generate()?;
                    let approval = stockade_bundle::SignedApproval::sign(
                        &stranger,
                        "trivial",
                        "0.1.0",
                        &p.manifest_digest,
                        &p.capabilities_digest,
                    )?;
                    r.admin_client().approve(&approval)
                })
            },
        ),
    ];
    for (name, code, setup) in cases {
        let registry = TestRegistry::start();
        let got = match setup(&registry) {
            Ok(()) => "accepted".to_owned(),
            Err(stockade_bundle::Error::Registry { code, .. }) => code,
            Err(err) => err.code().to_owned(),
        };
        assert_eq!(got, code, "{name}");
        let (status, _, _) = get(&format!("{}/v2/trivial/tags/list", registry.url));
        assert_eq!(status, 404, "{name}: something became visible");
    }
}

/// An upload over the registry's blob cap is refused while streaming, and nothing is stored.
#[test]
fn oversized_upload_is_refused() {
    let registry = TestRegistry::builder().max_blob_bytes(1000).start();
    let big = [b"\0asm\x0d\0\x01\0".to_vec(), vec![0; 5000]].concat();
    let digest = Digest::of(&big);
    let err = registry
        .publisher_client()
        .upload_blob("trivial", &digest, &big)
        .err();
    assert_eq!(err.map(|e| e.code()), Some("blob_too_large"));
    assert!(!registry.blob_path(&digest).exists());
    let tmp: Vec<_> = ok(std::fs::read_dir(registry.data.join("tmp")), "tmp")
        .flatten()
        .collect();
    assert!(tmp.is_empty(), "temp files left: {tmp:?}");
}
