//! Stockade bundles as OCI artifacts, and everything the host needs to trust one.
//!
//! - [`pack`] turns a bundle directory (`bundle.toml` + `.wasm` components) into a
//!   [`PackedBundle`]: an OCI image manifest whose config blob is the bundle manifest as
//!   canonical JSON ([`BundleConfig`]) and whose layers are the uncompressed components.
//! - [`Capabilities`] is what every tool requests; its [`digest`](Capabilities::digest) is what
//!   an approval pins, and [`capabilities_within`] lists how one request widens another.
//! - [`SecretKey`] / [`PublicKey`] / [`KeyRing`]: ed25519 keys. Publishers sign the manifest
//!   digest ([`sign_manifest`]); operators sign [`Approval`]s and [`RevocationList`]s.
//! - [`RegistryClient`] resolves versions and [`fetch_verified`](RegistryClient::fetch_verified)
//!   installs one, checking every byte against a [`TrustPolicy`]; [`install_from_url`] does
//!   both. [`verify_installed`] re-checks an installed bundle against its [`LockEntry`] on
//!   every load. [`LockFile`] is `stockade.lock`.
//! - [`write_layout`] / [`read_layout`] keep a packed bundle on disk as an OCI image layout
//!   between `stockade bundle pack`, `sign` and `publish`.
//! - Every failure is an [`Error`] with a stable [`code`](Error::code).
//!
//! # Formats
//!
//! **Artifact.** OCI image manifest, `schemaVersion` 2, `mediaType`
//! `application/vnd.oci.image.manifest.v1+json`, `artifactType`
//! `application/vnd.stockade.bundle.v1`. The config descriptor has `mediaType`
//! `application/vnd.stockade.bundle.config.v1+json`; the blob is
//! `{"components":{"<id>":{"digest","file","size"}},"description","name","tools":{…},"version"}`
//! (tools as in `bundle.toml`). Each layer is one component: `mediaType` `application/wasm`,
//! annotation `org.opencontainers.image.title` = the file name (`[A-Za-z0-9._-]+\.wasm`).
//! Manifest and config are canonical JSON (keys sorted, no whitespace, no timestamps), so the
//! same inputs always give the same manifest digest. Layers must start with `\0asm`; gzip,
//! zstd, xz, bzip2, zip and tar content is refused as `compressed_layer`. Digests are
//! `sha256:<64 lowercase hex>`.
//!
//! **Capabilities digest.** SHA-256 of the canonical JSON of [`Capabilities`]:
//! `{"tools":{"<tool>":{"dirs":[{"access","mount"}],"egress":[…],"limits":{"deadline_ms",
//! "memory_mib","output_kib"}}}}`, lists sorted and de-duplicated, absent limits `null`.
//!
//! **Keys.** Public: one line `stockade-ed25519:<base64 of 32 bytes>`. Secret file (mode
//! 0600): `stockade-ed25519-secret:<base64 of the 32-byte seed>`. Key id: the first 8 bytes of
//! SHA-256 of the public key bytes, 16 hex digits. A [`Signature`] is
//! `{"key_id","signature":"<base64 of 64 bytes>"}`.
//!
//! **Publisher signature.** Over the bytes `stockade-bundle-signature-v1\n<manifest digest>`.
//!
//! **Approval.** [`SignedApproval`] `{"approval":{"name","version","manifest_digest",
//! "capabilities_digest","approved_at","approver"},"signature"}`; signed bytes
//! `stockade-bundle-approval-v1\n` + canonical JSON of `approval`; `approver` = signing key id.
//!
//! **Revocation list.** [`SignedRevocationList`] `{"list":{"serial","issued_at","revoked":
//! [{"digest","reason"}]},"signature"}`; signed bytes `stockade-revocation-list-v1\n` +
//! canonical JSON of `list`. The serial grows by one per list; a client refuses a lower serial
//! than it has seen.
//!
//! **Lock file** (`stockade.lock`): `version = 1` and `[[bundle]]` tables with `name`,
//! `version`, `manifest_digest`, `capabilities_digest`. No host names.
//!
//! **Installed bundle**: see [`install`](mod@install) for the directory layout.
//!
//! # Example
//!
//! ```no_run
//! use stockade_bundle::{KeyRing, PublicKey, TrustPolicy, install_from_url};
//!
//! # fn main() -> Result<(), stockade_bundle::Error> {
//! let policy = TrustPolicy {
//!     publisher_keys: KeyRing::new([PublicKey::parse("stockade-ed25519:…")?]),
//!     operator_keys: KeyRing::new([PublicKey::parse("stockade-ed25519:…")?]),
//!     ..TrustPolicy::default()
//! };
//! let req = semver::VersionReq::parse("^0.1").map_err(|e| stockade_bundle::Error::Transport(e.to_string()))?;
//! let bundle = install_from_url(
//!     "http://127.0.0.1:5000", "fs", &req, &policy,
//!     std::path::Path::new(".stockade/bundles"), &mut |p| eprintln!("{p:?}"),
//! )?;
//! let entry = bundle.lock_entry();
//! # let _ = entry; Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod artifact;
mod canonical;
mod capabilities;
mod client;
mod digest;
mod error;
pub mod install;
mod keys;
mod layout;
mod lock;
mod records;
mod wire;

pub use artifact::{
    ARTIFACT_TYPE, BundleConfig, CONFIG_MEDIA_TYPE, ComponentLayer, Descriptor,
    MANIFEST_MEDIA_TYPE, OciManifest, PackedBundle, SNIFF_LEN, TITLE_ANNOTATION, WASM_MEDIA_TYPE,
    check_config_matches, check_file_name, check_layer_head, pack, pack_with_wasm_dir,
    parse_manifest,
};
pub use capabilities::{
    Capabilities, DirCapability, Limits, ToolCapabilities, Widening, capabilities_within,
};
pub use client::{RegistryClient, install_from_url};
pub use digest::{Copied, Digest, DigestWriter, copy_verified};
pub use error::{ERROR_CODES, Error};
pub use install::{
    BlobSource, FetchLimits, LayerSniffer, Progress, TrustPolicy, VerifiedBundle, verify_installed,
    write_atomic,
};
pub use keys::{
    KeyRing, PublicKey, SecretKey, Signature, generate_key_files, list_public_keys, public_path,
};
pub use layout::{
    LAYOUT_SIGNATURE, read_layout, read_layout_signature, write_layout, write_layout_signature,
};
pub use lock::{LOCK_FILE, LockEntry, LockFile};
pub use records::{
    APPROVAL_DOMAIN, Approval, REVOCATION_DOMAIN, Revocation, RevocationList, SIGNATURE_DOMAIN,
    SignedApproval, SignedRevocationList, now_rfc3339, sign_manifest, verify_manifest_signature,
};
pub use wire::{
    ErrorBody, ErrorItem, PublishRequest, PublishResponse, VersionEntry, VersionListing,
};
