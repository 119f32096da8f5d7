//! JSON bodies of the registry's `/stockade/v1` API, shared by the server and the client.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::keys::Signature;
use crate::records::SignedApproval;

/// `GET /stockade/v1/bundles/<name>/versions`: the approved versions (yanked ones included,
/// flagged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionListing {
    /// Bundle name.
    pub name: String,
    /// Approved versions, oldest first.
    pub versions: Vec<VersionEntry>,
}

/// One version in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionEntry {
    /// The version.
    pub version: semver::Version,
    /// OCI manifest digest.
    pub manifest_digest: Digest,
    /// Capabilities digest.
    pub capabilities_digest: Digest,
    /// Yanked: kept for existing installs, refused for new ones.
    pub yanked: bool,
    /// Publisher signature over the manifest digest.
    pub signature: Signature,
    /// Operator approval (listings only show approved versions, so always present there).
    pub approval: Option<SignedApproval>,
}

/// `PUT /stockade/v1/bundles/<name>/versions/<version>`: publish a manifest whose blobs were
/// uploaded before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The exact manifest bytes, base64 (standard alphabet).
    pub manifest: String,
    /// Publisher signature over its digest.
    pub signature: Signature,
}

/// What publishing answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishResponse {
    /// Manifest digest.
    pub manifest_digest: Digest,
    /// Capabilities digest.
    pub capabilities_digest: Digest,
    /// False when the same bytes were already published (idempotent).
    pub created: bool,
}

/// Error body of every endpoint, OCI style: `{"errors":[{"code":"…","message":"…"}]}`.
/// `/v2` pulls use the OCI codes (`MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`, …); everything else the
/// crate's [`Error::code`](crate::Error::code) values and a few server ones (`unauthorized`,
/// `not_found`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The errors (one in practice).
    pub errors: Vec<ErrorItem>,
}

/// One error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    /// Machine code.
    pub code: String,
    /// For people.
    pub message: String,
}
