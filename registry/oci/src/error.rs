//! The one error type of this crate, each variant with a stable machine code.

use crate::capabilities::Widening;
use crate::digest::Digest;

/// Everything that can go wrong packing, fetching or verifying a bundle.
///
/// [`Error::code`] is stable and distinct per kind of failure: the host shows it, tests assert
/// it, and the registry server sends the same codes in its JSON error bodies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A blob's bytes do not hash to the digest that names it.
    #[error("blob {expected} has digest {actual}: the bytes were changed")]
    BlobDigestMismatch {
        /// The digest the manifest (or the lock) names.
        expected: Digest,
        /// The digest of the bytes received or found on disk.
        actual: Digest,
    },
    /// A manifest's bytes do not hash to the pinned digest.
    #[error("manifest {expected} has digest {actual}: the bytes were changed")]
    ManifestDigestMismatch {
        /// The digest the listing, the approval or the lock names.
        expected: Digest,
        /// The digest of the bytes received or found on disk.
        actual: Digest,
    },
    /// The publisher signature is by a key the trust policy does not list.
    #[error("publisher key {key_id} is not trusted")]
    UnknownPublisherKey {
        /// The key id named by the signature.
        key_id: String,
    },
    /// The approval or revocation list is signed by a key the trust policy does not list.
    #[error("operator key {key_id} is not trusted")]
    UnknownOperatorKey {
        /// The key id named by the signature.
        key_id: String,
    },
    /// A signature does not verify under the key it names.
    #[error("bad signature on the {what}")]
    BadSignature {
        /// What was signed: `publisher signature`, `approval`, `revocation list`.
        what: &'static str,
    },
    /// The version has no operator approval.
    #[error("{name}@{version} has no operator approval")]
    ApprovalMissing {
        /// Bundle name.
        name: String,
        /// Bundle version.
        version: String,
    },
    /// The approval names a different bundle, version, manifest or capabilities digest.
    #[error("the approval does not match: its {field} is {approved}, the bundle's is {actual}")]
    ApprovalMismatch {
        /// Which field differs.
        field: &'static str,
        /// The value in the approval record.
        approved: String,
        /// The value of the bundle being installed.
        actual: String,
    },
    /// The bundle requests capabilities beyond what was approved before.
    #[error("the bundle asks for more than was approved: {}", list_widenings(.widenings))]
    CapabilitiesWidened {
        /// Each capability that is new or larger.
        widenings: Vec<Widening>,
    },
    /// The version is yanked: existing installs may keep it, new installs may not.
    #[error("{name}@{version} is yanked")]
    VersionYanked {
        /// Bundle name.
        name: String,
        /// Bundle version.
        version: String,
    },
    /// The manifest digest is on the operator's revocation list.
    #[error("{digest} is revoked")]
    DigestRevoked {
        /// The revoked manifest digest.
        digest: Digest,
    },
    /// A blob or document is larger than the configured cap.
    #[error("{what} is larger than the cap of {limit} bytes")]
    BlobTooLarge {
        /// What was too large.
        what: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// A version that is already published was published again with different bytes.
    #[error("{name}@{version} is already published with a different manifest")]
    VersionImmutable {
        /// Bundle name.
        name: String,
        /// Bundle version.
        version: String,
    },
    /// A layer is compressed or an archive (gzip, zstd, xz, bzip2, zip, tar).
    #[error("layer {what} is compressed or an archive ({format}); layers must be plain .wasm")]
    CompressedLayer {
        /// The layer's title or digest.
        what: String,
        /// The format recognised.
        format: &'static str,
    },
    /// A layer is not a WebAssembly binary or has the wrong media type.
    #[error("layer {what} is not a WebAssembly component: {reason}")]
    NotWasm {
        /// The layer's title or digest.
        what: String,
        /// Why.
        reason: String,
    },
    /// A layer title or component file is not a plain file name.
    #[error("unsafe component file name {0:?}")]
    UnsafePath(String),
    /// The lock pins a version the registry or the install directory no longer has.
    #[error("locked version {name}@{version} is missing: {reason}")]
    LockedVersionMissing {
        /// Bundle name.
        name: String,
        /// Bundle version.
        version: String,
        /// What is missing.
        reason: String,
    },
    /// No approved, non-yanked version matches the request.
    #[error("no approved version of {name} matches {req}")]
    NoMatchingVersion {
        /// Bundle name.
        name: String,
        /// The version requirement.
        req: String,
    },
    /// A revocation list older than one already seen (a rollback).
    #[error("revocation list serial {got} is older than the {seen} already seen")]
    RevocationRollback {
        /// Serial received.
        got: u64,
        /// Highest serial seen before.
        seen: u64,
    },
    /// An OCI manifest or bundle config that is not well formed.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// `manifest`, `config`, `digest`, `key`, `approval`, ...
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A file of an installed bundle differs from what was installed (such as an edited
    /// `bundle.toml`).
    #[error("installed file {0} was changed after install")]
    InstalledFileChanged(String),
    /// The install directory already exists.
    #[error("{0} already exists")]
    DestinationExists(String),
    /// The registry answered with an error.
    #[error("registry answered {status}: {code}: {message}")]
    Registry {
        /// HTTP status.
        status: u16,
        /// The registry's error code.
        code: String,
        /// The registry's message.
        message: String,
    },
    /// The registry could not be reached.
    #[error("cannot reach the registry: {0}")]
    Transport(String),
    /// A local file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

fn list_widenings(widenings: &[Widening]) -> String {
    widenings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::BlobDigestMismatch { .. } => "blob_digest_mismatch",
            Error::ManifestDigestMismatch { .. } => "manifest_digest_mismatch",
            Error::UnknownPublisherKey { .. } => "unknown_publisher_key",
            Error::UnknownOperatorKey { .. } => "unknown_operator_key",
            Error::BadSignature { .. } => "bad_signature",
            Error::ApprovalMissing { .. } => "approval_missing",
            Error::ApprovalMismatch { .. } => "approval_mismatch",
            Error::CapabilitiesWidened { .. } => "capabilities_widened",
            Error::VersionYanked { .. } => "version_yanked",
            Error::DigestRevoked { .. } => "digest_revoked",
            Error::BlobTooLarge { .. } => "blob_too_large",
            Error::VersionImmutable { .. } => "version_immutable",
            Error::CompressedLayer { .. } => "compressed_layer",
            Error::NotWasm { .. } => "not_wasm",
            Error::UnsafePath(_) => "unsafe_path",
            Error::LockedVersionMissing { .. } => "locked_version_missing",
            Error::NoMatchingVersion { .. } => "no_matching_version",
            Error::RevocationRollback { .. } => "revocation_rollback",
            Error::Invalid { what, .. } => match *what {
                "manifest" => "invalid_manifest",
                "config" => "invalid_config",
                "digest" => "invalid_digest",
                "key" => "invalid_key",
                "lock" => "invalid_lock",
                _ => "invalid_document",
            },
            Error::InstalledFileChanged(_) => "installed_file_changed",
            Error::DestinationExists(_) => "destination_exists",
            Error::Registry { .. } => "registry_error",
            Error::Transport(_) => "registry_unreachable",
            Error::Io { .. } => "io_error",
        }
    }

    /// Wraps an I/O error with what was being done (for callers building on this crate).
    pub fn io_context(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        Self::io(context)
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
        Error::Invalid {
            what,
            reason: reason.into(),
        }
    }
}

/// Every code [`Error::code`] can return, for documentation and for tests that check they are
/// distinct.
pub const ERROR_CODES: &[&str] = &[
    "blob_digest_mismatch",
    "manifest_digest_mismatch",
    "unknown_publisher_key",
    "unknown_operator_key",
    "bad_signature",
    "approval_missing",
    "approval_mismatch",
    "capabilities_widened",
    "version_yanked",
    "digest_revoked",
    "blob_too_large",
    "version_immutable",
    "compressed_layer",
    "not_wasm",
    "unsafe_path",
    "locked_version_missing",
    "no_matching_version",
    "revocation_rollback",
    "invalid_manifest",
    "invalid_config",
    "invalid_digest",
    "invalid_key",
    "invalid_lock",
    "invalid_document",
    "installed_file_changed",
    "destination_exists",
    "registry_error",
    "registry_unreachable",
    "io_error",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes are what hosts and scripts match on: each is distinct, and every variant's code
    /// is listed.
    #[test]
    fn codes_are_distinct_and_listed() {
        let mut sorted = ERROR_CODES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ERROR_CODES.len(), "duplicate code");
        let digest = Digest::of(b"x");
        let samples = [
            Error::BlobDigestMismatch {
                expected: digest.clone(),
                actual: digest.clone(),
            },
            Error::ManifestDigestMismatch {
                expected: digest.clone(),
                actual: digest.clone(),
            },
            Error::VersionImmutable {
                name: "a".into(),
                version: "1.0.0".into(),
            },
            Error::CompressedLayer {
                what: "a".into(),
                format: "gzip",
            },
            Error::DigestRevoked { digest },
            Error::invalid("lock", "x"),
            Error::invalid("approval", "x"),
            Error::InstalledFileChanged("bundle.toml".into()),
        ];
        for err in samples {
            assert!(
                ERROR_CODES.contains(&err.code()),
                "{} not listed",
                err.code()
            );
        }
    }
}
