//! A bundle as an OCI artifact: the image manifest, the config blob and the `.wasm` layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stockade_registry_types::{BundleInfo, BundleManifest, ComponentSpec, ToolSpec};

use crate::canonical;
use crate::capabilities::Capabilities;
use crate::digest::Digest;
use crate::error::Error;

/// `mediaType` of the OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// `artifactType` of a Stockade bundle.
pub const ARTIFACT_TYPE: &str = "application/vnd.stockade.bundle.v1";
/// `mediaType` of the config blob ([`BundleConfig`]).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.stockade.bundle.config.v1+json";
/// `mediaType` of every layer: one uncompressed WebAssembly component.
pub const WASM_MEDIA_TYPE: &str = "application/wasm";
/// Annotation naming a layer's file in the installed bundle.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// An OCI image manifest (only the fields a bundle uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST_MEDIA_TYPE`].
    pub media_type: String,
    /// [`ARTIFACT_TYPE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The [`BundleConfig`] blob.
    pub config: Descriptor,
    /// One `.wasm` component per layer.
    pub layers: Vec<Descriptor>,
    /// Manifest annotations (none are written by [`pack`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced blob.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Annotations; layers carry [`TITLE_ANNOTATION`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl Descriptor {
    /// The layer's title annotation, if any.
    pub fn title(&self) -> Option<&str> {
        self.annotations
            .as_ref()?
            .get(TITLE_ANNOTATION)
            .map(String::as_str)
    }
}

/// The config blob: the bundle manifest as deterministic JSON, with each component pointing at
/// its layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// Bundle name.
    pub name: String,
    /// Semver version.
    pub version: semver::Version,
    /// Description shown to approvers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Components by id.
    pub components: BTreeMap<String, ComponentLayer>,
    /// Tools by name, with the capabilities each requests (as in `bundle.toml`).
    pub tools: BTreeMap<String, ToolSpec>,
}

/// A component in the config: its file name and the layer that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentLayer {
    /// File name in the installed bundle (the layer's title).
    pub file: String,
    /// The layer digest.
    pub digest: Digest,
    /// The layer size.
    pub size: u64,
}

impl BundleConfig {
    /// Parses a config blob and turns it back into a [`BundleManifest`], which checks every name.
    pub fn parse(bytes: &[u8]) -> Result<(BundleConfig, BundleManifest), Error> {
        let config: BundleConfig = serde_json::from_slice(bytes)
            .map_err(|err| Error::invalid("config", err.to_string()))?;
        let manifest = config.to_manifest()?;
        Ok((config, manifest))
    }

    /// The equivalent `bundle.toml`, with `wasm` naming the installed files.
    pub fn to_manifest(&self) -> Result<BundleManifest, Error> {
        let bad =
            |err: stockade_registry_types::NameError| Error::invalid("config", err.to_string());
        let mut components = BTreeMap::new();
        for (id, layer) in &self.components {
            check_file_name(&layer.file)?;
            components.insert(
                id.parse().map_err(bad)?,
                ComponentSpec {
                    wasm: layer.file.parse().map_err(bad)?,
                },
            );
        }
        let mut tools = BTreeMap::new();
        for (name, spec) in &self.tools {
            if !self.components.contains_key(spec.component.as_str()) {
                return Err(Error::invalid(
                    "config",
                    format!("tool {name} names unknown component {}", spec.component),
                ));
            }
            tools.insert(name.parse().map_err(bad)?, spec.clone());
        }
        Ok(BundleManifest {
            bundle: BundleInfo {
                name: self.name.parse().map_err(bad)?,
                version: self.version.clone(),
                description: self.description.clone(),
            },
            components,
            tools,
        })
    }

    /// The canonical JSON bytes (the blob).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        canonical::to_vec(self)
    }
}

/// A packed bundle, ready to publish.
#[derive(Debug, Clone)]
pub struct PackedBundle {
    /// The bundle manifest it was packed from.
    pub bundle: BundleManifest,
    /// The OCI manifest.
    pub manifest: OciManifest,
    /// Its exact bytes (canonical JSON).
    pub manifest_bytes: Vec<u8>,
    /// SHA-256 of `manifest_bytes`.
    pub manifest_digest: Digest,
    /// The config blob bytes.
    pub config_bytes: Vec<u8>,
    /// Digest of the requested capabilities.
    pub capabilities_digest: Digest,
    /// The layers: descriptor and bytes.
    pub layers: Vec<(Descriptor, Vec<u8>)>,
}

impl PackedBundle {
    /// Every blob (config first, then layers) with its digest.
    pub fn blobs(&self) -> Vec<(&Digest, &[u8])> {
        let mut blobs = vec![(&self.manifest.config.digest, &self.config_bytes[..])];
        blobs.extend(self.layers.iter().map(|(d, bytes)| (&d.digest, &bytes[..])));
        blobs
    }
}

/// Packs the bundle in `dir` (`bundle.toml` + components). Component files are found the way
/// the host finds them for a directory install: next to `bundle.toml`, or for a plugin source
/// folder (one with a `Cargo.toml`) in its `wasm32-wasip2` build output.
pub fn pack(dir: &Path) -> Result<PackedBundle, Error> {
    pack_with_wasm_dir(dir, None)
}

/// [`pack`], looking in `wasm_dir` (such as a test-artifacts `WASM_DIR`) for components that
/// are not next to `bundle.toml`.
pub fn pack_with_wasm_dir(dir: &Path, wasm_dir: Option<&Path>) -> Result<PackedBundle, Error> {
    let path = dir.join(BundleManifest::FILE);
    let text =
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    let bundle = BundleManifest::from_toml(&text)
        .map_err(|err| Error::invalid("manifest", format!("{}: {err}", path.display())))?;
    let mut layers = Vec::new();
    let mut components = BTreeMap::new();
    for (id, spec) in &bundle.components {
        let file = spec.wasm.as_str();
        check_file_name(file)?;
        let source = locate_component(dir, spec, wasm_dir)?;
        let bytes =
            std::fs::read(&source).map_err(Error::io(format!("reading {}", source.display())))?;
        check_layer_head(&bytes, file, true)?;
        let digest = Digest::of(&bytes);
        components.insert(
            id.as_str().to_owned(),
            ComponentLayer {
                file: file.to_owned(),
                digest: digest.clone(),
                size: bytes.len() as u64,
            },
        );
        let descriptor = Descriptor {
            media_type: WASM_MEDIA_TYPE.to_owned(),
            digest,
            size: bytes.len() as u64,
            annotations: Some(BTreeMap::from([(
                TITLE_ANNOTATION.to_owned(),
                file.to_owned(),
            )])),
        };
        layers.push((descriptor, bytes));
    }
    let config = BundleConfig {
        name: bundle.bundle.name.as_str().to_owned(),
        version: bundle.bundle.version.clone(),
        description: bundle.bundle.description.clone(),
        components,
        tools: bundle
            .tools
            .iter()
            .map(|(name, spec)| (name.as_str().to_owned(), spec.clone()))
            .collect(),
    };
    let config_bytes = config.to_bytes()?;
    let manifest = OciManifest {
        schema_version: 2,
        media_type: MANIFEST_MEDIA_TYPE.to_owned(),
        artifact_type: Some(ARTIFACT_TYPE.to_owned()),
        config: Descriptor {
            media_type: CONFIG_MEDIA_TYPE.to_owned(),
            digest: Digest::of(&config_bytes),
            size: config_bytes.len() as u64,
            annotations: None,
        },
        layers: layers.iter().map(|(d, _)| d.clone()).collect(),
        annotations: None,
    };
    let manifest_bytes = canonical::to_vec(&manifest)?;
    Ok(PackedBundle {
        capabilities_digest: Capabilities::of(&bundle).digest()?,
        bundle,
        manifest_digest: Digest::of(&manifest_bytes),
        manifest,
        manifest_bytes,
        config_bytes,
        layers,
    })
}

/// Finds a component file: next to `bundle.toml`; then in `wasm_dir`; then, for a plugin
/// source folder, in `$CARGO_TARGET_DIR` or the nearest `target/` above it, under
/// `wasm32-wasip2/{guest,release}`, newest first (the host's rule for dir installs).
fn locate_component(
    dir: &Path,
    spec: &ComponentSpec,
    wasm_dir: Option<&Path>,
) -> Result<PathBuf, Error> {
    let file = spec.wasm.as_str();
    let mut candidates = vec![dir.join(file)];
    if let Some(wasm_dir) = wasm_dir {
        candidates.push(wasm_dir.join(file));
    }
    if dir.join("Cargo.toml").is_file() {
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(target) => Some(PathBuf::from(target)),
            None => dir
                .canonicalize()
                .unwrap_or_else(|_| dir.to_path_buf())
                .ancestors()
                .map(|a| a.join("target"))
                .find(|t| t.is_dir()),
        };
        let mut built: Vec<(std::time::SystemTime, PathBuf)> = target
            .iter()
            .flat_map(|t| ["guest", "release"].map(|p| t.join("wasm32-wasip2").join(p).join(file)))
            .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p)))
            .collect();
        built.sort();
        candidates.extend(built.into_iter().rev().map(|(_, p)| p));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        Error::invalid(
            "manifest",
            format!("component {file} not found for {}", dir.display()),
        )
    })
}

/// A component file name: `[A-Za-z0-9._-]`, ending in `.wasm`, not starting with `.`.
pub fn check_file_name(name: &str) -> Result<(), Error> {
    let ok = name.len() <= 128
        && name.ends_with(".wasm")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::UnsafePath(name.to_owned()))
    }
}

/// Bytes of a layer needed to judge it: `\0asm` or a compression / archive magic (tar's
/// `ustar` sits at offset 257).
pub const SNIFF_LEN: usize = 262;

/// Judges the first bytes of a layer: a WebAssembly binary, or refused as `compressed_layer`
/// (gzip, zstd, xz, bzip2, zip, tar) or `not_wasm`. `complete` says `head` is the whole blob.
pub fn check_layer_head(head: &[u8], what: &str, complete: bool) -> Result<(), Error> {
    if head.starts_with(b"\0asm") {
        return Ok(());
    }
    let format = if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some("zip")
    } else if head.get(257..262) == Some(b"ustar") {
        Some("tar")
    } else {
        None
    };
    match format {
        Some(format) => Err(Error::CompressedLayer {
            what: what.to_owned(),
            format,
        }),
        None if head.len() < 4 && !complete => Ok(()),
        None => Err(Error::NotWasm {
            what: what.to_owned(),
            reason: "does not start with the WebAssembly magic \\0asm".to_owned(),
        }),
    }
}

/// Parses and checks an OCI manifest that claims to be a bundle: schema 2, the image manifest
/// media type, the bundle artifact and config types, `application/wasm` layers with distinct
/// safe titles. Compressed or archive media types are `compressed_layer`.
pub fn parse_manifest(bytes: &[u8]) -> Result<OciManifest, Error> {
    let manifest: OciManifest =
        serde_json::from_slice(bytes).map_err(|err| Error::invalid("manifest", err.to_string()))?;
    if manifest.schema_version != 2 || manifest.media_type != MANIFEST_MEDIA_TYPE {
        return Err(Error::invalid(
            "manifest",
            "not an OCI image manifest (schemaVersion 2)",
        ));
    }
    if manifest.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
        return Err(Error::invalid(
            "manifest",
            format!("artifactType is not {ARTIFACT_TYPE}"),
        ));
    }
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(Error::invalid(
            "manifest",
            format!("config mediaType is not {CONFIG_MEDIA_TYPE}"),
        ));
    }
    let mut titles = BTreeSet::new();
    for layer in &manifest.layers {
        let what = layer.title().unwrap_or(layer.digest.as_str()).to_owned();
        if layer.media_type != WASM_MEDIA_TYPE {
            let media = layer.media_type.as_str();
            return Err(
                if ["gzip", "zstd", "tar", "zip", "xz", "bzip"]
                    .iter()
                    .any(|m| media.contains(m))
                {
                    Error::CompressedLayer {
                        what,
                        format: "compressed media type",
                    }
                } else {
                    Error::NotWasm {
                        what,
                        reason: format!("mediaType {media} is not {WASM_MEDIA_TYPE}"),
                    }
                },
            );
        }
        let title = layer.title().ok_or_else(|| {
            Error::invalid("manifest", format!("layer {} has no title", layer.digest))
        })?;
        check_file_name(title)?;
        if !titles.insert(title) {
            return Err(Error::invalid(
                "manifest",
                format!("two layers are titled {title}"),
            ));
        }
    }
    Ok(manifest)
}

/// Checks that the config's components are exactly the manifest's layers (file, digest, size).
pub fn check_config_matches(manifest: &OciManifest, config: &BundleConfig) -> Result<(), Error> {
    let layers: BTreeSet<(&str, &Digest, u64)> = manifest
        .layers
        .iter()
        .map(|l| (l.title().unwrap_or_default(), &l.digest, l.size))
        .collect();
    let components: BTreeSet<(&str, &Digest, u64)> = config
        .components
        .values()
        .map(|c| (c.file.as_str(), &c.digest, c.size))
        .collect();
    if layers != components || layers.len() != manifest.layers.len() {
        return Err(Error::invalid(
            "config",
            "components do not match the manifest's layers",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_sniffing_table() {
        let mut tar = vec![0u8; 512];
        tar[..8].copy_from_slice(b"fs.wasm\0");
        tar[257..262].copy_from_slice(b"ustar");
        let cases: &[(&str, &[u8], &str)] = &[
            ("component", b"\0asm\x0d\x00\x01\x00rest", "ok"),
            ("gzip", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "compressed_layer"),
            (
                "zstd",
                &[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0],
                "compressed_layer",
            ),
            (
                "xz",
                &[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0],
                "compressed_layer",
            ),
            ("zip", b"PK\x03\x04\0\0\0\0", "compressed_layer"),
            ("bzip2", b"BZh91AY&SY", "compressed_layer"),
            ("tar", &tar, "compressed_layer"),
            ("text", b"#!/bin/sh\necho", "not_wasm"),
            ("empty", b"", "not_wasm"),
        ];
        for (name, bytes, expected) in cases {
            let got = match check_layer_head(bytes, name, true) {
                Ok(()) => "ok",
                Err(err) => err.code(),
            };
            assert_eq!(got, *expected, "{name}");
        }
    }

    #[test]
    fn file_names_table() {
        for (name, ok) in [
            ("fs.wasm", true),
            ("stockade_plugin-fs.1.wasm", true),
            ("../fs.wasm", false),
            ("a/fs.wasm", false),
            (".hidden.wasm", false),
            ("fs.so", false),
            ("/etc/passwd.wasm", false),
            ("fs\0.wasm", false),
        ] {
            assert_eq!(check_file_name(name).is_ok(), ok, "{name:?}");
        }
    }
}
