//! Operator actions run directly against a data directory (the `approve`, `yank` and `revoke`
//! commands); the HTTP API offers the same with pre-signed documents.

use stockade_bundle::{Digest, RevocationList, SecretKey, SignedApproval, SignedRevocationList};

use crate::error::ApiError;
use crate::store::Store;

/// Signs and stores an approval for the published `name@version`, pinning its stored digests.
pub async fn approve(
    store: &Store,
    name: &str,
    version: &str,
    key: &SecretKey,
) -> Result<SignedApproval, ApiError> {
    let row = store.version(name, version).await?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("{name}@{version} is not published"),
        )
    })?;
    let approval = SignedApproval::sign(
        key,
        name,
        version,
        &row.manifest_digest,
        &row.capabilities_digest,
    )?;
    store.set_approval(name, version, &approval).await?;
    Ok(approval)
}

/// Adds `digest` to the revocation list: the next serial, signed by `key`.
pub async fn revoke(
    store: &Store,
    digest: Digest,
    reason: &str,
    key: &SecretKey,
) -> Result<SignedRevocationList, ApiError> {
    let current = store
        .revocations()
        .await?
        .map(|s| s.list)
        .unwrap_or_else(RevocationList::default);
    let next = current.with_revoked(digest, reason).sign(key)?;
    store.put_revocations(&next).await?;
    Ok(next)
}
