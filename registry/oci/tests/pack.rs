//! Packing real first-party bundles: deterministic digests and a well-formed OCI artifact.

use std::path::Path;

use stockade_bundle::{
    ARTIFACT_TYPE, BundleConfig, Digest, WASM_MEDIA_TYPE, pack_with_wasm_dir, parse_manifest,
};
use stockade_test_artifacts::{FS_BUNDLE_DIR, HTTP_BUNDLE_DIR, TRIVIAL_BUNDLE_DIR, WASM_DIR};

fn pack(dir: &str) -> stockade_bundle::PackedBundle {
    match pack_with_wasm_dir(Path::new(dir), Some(Path::new(WASM_DIR))) {
        Ok(packed) => packed,
        Err(err) => panic!("pack {dir}: {err}"),
    }
}

/// Packing the same inputs twice gives byte-identical manifests, so one digest names a
/// release wherever and whenever it is packed.
#[test]
fn pack_is_deterministic() {
    for dir in [FS_BUNDLE_DIR, HTTP_BUNDLE_DIR, TRIVIAL_BUNDLE_DIR] {
        let (a, b) = (pack(dir), pack(dir));
        assert_eq!(a.manifest_bytes, b.manifest_bytes, "{dir}");
        assert_eq!(a.manifest_digest, b.manifest_digest, "{dir}");
        assert_eq!(a.manifest_digest, Digest::of(&a.manifest_bytes), "{dir}");
        assert_eq!(a.config_bytes, b.config_bytes, "{dir}");
        assert_eq!(a.capabilities_digest, b.capabilities_digest, "{dir}");
    }
    // Different bundles, different digests.
    assert_ne!(
        pack(FS_BUNDLE_DIR).manifest_digest,
        pack(HTTP_BUNDLE_DIR).manifest_digest
    );
}

/// The artifact is what OCI clients and the installer expect: the bundle artifact type, the
/// config blob naming each layer, layers that are uncompressed components with a title.
#[test]
fn packed_fs_is_an_oci_bundle_artifact() {
    let packed = pack(FS_BUNDLE_DIR);
    let manifest = match parse_manifest(&packed.manifest_bytes) {
        Ok(manifest) => manifest,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(manifest.artifact_type.as_deref(), Some(ARTIFACT_TYPE));
    let text = String::from_utf8_lossy(&packed.manifest_bytes);
    assert!(
        text.starts_with("{\"artifactType\""),
        "keys are sorted: {text}"
    );
    assert!(!text.contains("created"), "no timestamps: {text}");
    assert_eq!(manifest.layers.len(), 1);
    let layer = &manifest.layers[0];
    assert_eq!(layer.media_type, WASM_MEDIA_TYPE);
    assert_eq!(layer.title(), Some("stockade_plugin_fs.wasm"));
    assert!(packed.layers[0].1.starts_with(b"\0asm"));
    assert_eq!(Digest::of(&packed.layers[0].1), layer.digest);
    let (config, bundle) = match BundleConfig::parse(&packed.config_bytes) {
        Ok(parsed) => parsed,
        Err(err) => panic!("{err}"),
    };
    assert_eq!(config.components["fs"].digest, layer.digest);
    assert_eq!(bundle, packed.bundle);
    assert_eq!(Digest::of(&packed.config_bytes), manifest.config.digest);
}

/// A bundle whose component file is gzip is refused with `compressed_layer` at pack time.
#[test]
fn pack_refuses_a_compressed_component() {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => panic!("{err}"),
    };
    let toml = "[bundle]\nname = \"z\"\nversion = \"1.0.0\"\n[components.z]\nwasm = \"z.wasm\"\n[tools.t]\ncomponent = \"z\"\n";
    std::fs::write(dir.path().join("bundle.toml"), toml).ok();
    std::fs::write(
        dir.path().join("z.wasm"),
        [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
    )
    .ok();
    let err = stockade_bundle::pack(dir.path()).err();
    assert_eq!(err.map(|e| e.code()), Some("compressed_layer"));
}
