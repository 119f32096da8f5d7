//! A packed bundle on disk as an OCI image layout, the hand-off between `stockade bundle pack`,
//! `sign` and `publish`.
//!
//! ```text
//! <dir>/oci-layout                   {"imageLayoutVersion":"1.0.0"}
//! <dir>/index.json                   one manifest descriptor, tagged with the bundle version
//! <dir>/blobs/sha256/<hex>           manifest, config and every component
//! <dir>/stockade-signature.json      the publisher signature, once signed
//! ```
//!
//! Any OCI tool reads the layout (`skopeo inspect --raw oci:<dir>`). Reading it back re-hashes
//! every blob and re-derives the capabilities digest, so a layout edited after packing is
//! refused before anything is signed or published.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::artifact::{
    BundleConfig, MANIFEST_MEDIA_TYPE, PackedBundle, check_config_matches, parse_manifest,
};
use crate::capabilities::Capabilities;
use crate::digest::Digest;
use crate::error::Error;
use crate::install::write_atomic;
use crate::keys::Signature;

/// The publisher signature file inside a layout.
pub const LAYOUT_SIGNATURE: &str = "stockade-signature.json";

fn blob_path(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs").join("sha256").join(digest.hex())
}

/// Writes `packed` as an OCI image layout in `dir` (created; files written atomically).
pub fn write_layout(packed: &PackedBundle, dir: &Path) -> Result<(), Error> {
    let blobs = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs)
        .map_err(Error::io_context(format!("creating {}", blobs.display())))?;
    write_atomic(
        &blob_path(dir, &packed.manifest_digest),
        &packed.manifest_bytes,
    )?;
    for (digest, bytes) in packed.blobs() {
        write_atomic(&blob_path(dir, digest), bytes)?;
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": packed.manifest_digest.to_string(),
            "size": packed.manifest_bytes.len(),
            "annotations": {
                "org.opencontainers.image.ref.name": packed.bundle.bundle.version.to_string(),
            },
        }],
    });
    let index = serde_json::to_vec_pretty(&index)
        .map_err(|err| Error::invalid("document", err.to_string()))?;
    write_atomic(&dir.join("index.json"), &index)?;
    write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
}

/// Reads a layout written by [`write_layout`], verifying every blob's digest.
pub fn read_layout(dir: &Path) -> Result<PackedBundle, Error> {
    let read = |path: PathBuf| {
        std::fs::read(&path).map_err(Error::io_context(format!("reading {}", path.display())))
    };
    let index: serde_json::Value = serde_json::from_slice(&read(dir.join("index.json"))?)
        .map_err(|err| Error::invalid("document", format!("index.json: {err}")))?;
    let manifests = index["manifests"].as_array().map_or(&[][..], Vec::as_slice);
    let [descriptor] = manifests else {
        return Err(Error::invalid(
            "document",
            format!(
                "index.json lists {} manifests; a bundle layout holds exactly one",
                manifests.len()
            ),
        ));
    };
    let manifest_digest: Digest = descriptor["digest"].as_str().unwrap_or_default().parse()?;
    let verified = |digest: &Digest| -> Result<Vec<u8>, Error> {
        let bytes = read(blob_path(dir, digest))?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(Error::BlobDigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    };
    let manifest_bytes = verified(&manifest_digest)?;
    let manifest = parse_manifest(&manifest_bytes)?;
    let config_bytes = verified(&manifest.config.digest)?;
    let (config, bundle) = BundleConfig::parse(&config_bytes)?;
    check_config_matches(&manifest, &config)?;
    let layers = manifest
        .layers
        .iter()
        .map(|layer| Ok((layer.clone(), verified(&layer.digest)?)))
        .collect::<Result<Vec<_>, Error>>()?;
    let capabilities_digest = Capabilities::of(&bundle).digest()?;
    Ok(PackedBundle {
        bundle,
        manifest,
        manifest_bytes,
        manifest_digest,
        config_bytes,
        capabilities_digest,
        layers,
    })
}

/// Writes the publisher signature into the layout.
pub fn write_layout_signature(dir: &Path, signature: &Signature) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(signature)
        .map_err(|err| Error::invalid("document", err.to_string()))?;
    write_atomic(&dir.join(LAYOUT_SIGNATURE), &bytes)
}

/// The publisher signature of a layout (`stockade bundle sign` writes it).
pub fn read_layout_signature(dir: &Path) -> Result<Signature, Error> {
    let path = dir.join(LAYOUT_SIGNATURE);
    let bytes = std::fs::read(&path).map_err(Error::io_context(format!(
        "reading {} (sign the bundle first: stockade bundle sign)",
        path.display()
    )))?;
    serde_json::from_slice(&bytes).map_err(|err| Error::invalid("signature", err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::pack_with_wasm_dir;

    fn bundle_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bundle.toml"),
            "[bundle]\nname = \"b\"\nversion = \"1.0.0\"\n[components.c]\nwasm = \"c.wasm\"\n[tools.t]\ncomponent = \"c\"\n",
        )
        .unwrap();
        let mut wasm = b"\0asm\x0d\0\x01\0".to_vec();
        wasm.extend_from_slice(&[0u8; 64]);
        std::fs::write(dir.path().join("c.wasm"), wasm).unwrap();
        dir
    }

    #[test]
    fn a_layout_reads_back_as_the_same_bundle_and_refuses_edits() {
        let src = bundle_dir();
        let packed = pack_with_wasm_dir(src.path(), None).unwrap();
        let out = tempfile::tempdir().unwrap();
        write_layout(&packed, out.path()).unwrap();
        let again = read_layout(out.path()).unwrap();
        assert_eq!(again.manifest_digest, packed.manifest_digest);
        assert_eq!(again.capabilities_digest, packed.capabilities_digest);
        assert_eq!(again.blobs().len(), packed.blobs().len());

        let layer = &packed.layers[0].0.digest;
        std::fs::write(blob_path(out.path(), layer), b"\0asm\x0d\0\x01\0tampered").unwrap();
        let err = read_layout(out.path()).err().map(|e| e.code());
        assert_eq!(err, Some("blob_digest_mismatch"));
    }
}
