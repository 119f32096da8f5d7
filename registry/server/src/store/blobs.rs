//! The content-addressed blob store: `blobs/sha256/<hex>`, written via `tmp/` + fsync + rename.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use futures_util::{Stream, StreamExt as _};
use stockade_bundle::{Digest, DigestWriter};
use tokio::io::AsyncWriteExt as _;

use crate::error::ApiError;

/// Blobs on disk. A file under `blobs/sha256/` always holds the bytes its name says: it is
/// only ever created by renaming a fully written, hashed and fsynced temp file.
#[derive(Debug, Clone)]
pub struct BlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// Opens (creating) the store under the data directory.
    pub fn open(data: &Path) -> std::io::Result<Self> {
        let blobs = data.join("blobs").join("sha256");
        let tmp = data.join("tmp");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&tmp)?;
        Ok(BlobStore { blobs, tmp })
    }

    /// Where a blob lives.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// The directory for temp files (same file system as the blobs).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Whether the blob is stored.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The size of a stored blob.
    pub async fn size(&self, digest: &Digest) -> Option<u64> {
        tokio::fs::metadata(self.path(digest))
            .await
            .ok()
            .map(|m| m.len())
    }

    /// Reads a blob of at most `limit` bytes, re-checking its digest.
    pub async fn read(&self, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>, ApiError> {
        let path = self.path(digest);
        match tokio::fs::metadata(&path).await {
            Err(_) => return Ok(None),
            Ok(meta) if meta.len() > limit => {
                return Err(stockade_bundle::Error::BlobTooLarge {
                    what: digest.to_string(),
                    limit,
                }
                .into());
            }
            Ok(_) => {}
        }
        let bytes = tokio::fs::read(&path).await?;
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(ApiError::internal(format!(
                "blob {digest} on disk hashes to {actual}"
            )));
        }
        Ok(Some(bytes))
    }

    /// Streams a request body into the store. Fails with `blob_too_large` past `limit`, and
    /// with `DIGEST_INVALID` if the bytes do not hash to `expected`; nothing is stored then.
    pub async fn put_stream<S, E>(
        &self,
        mut body: S,
        expected: &Digest,
        limit: u64,
    ) -> Result<u64, ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let temp = tempfile::NamedTempFile::new_in(&self.tmp)?.into_temp_path();
        let mut file = tokio::fs::File::create(&temp).await?;
        let mut hasher = DigestWriter::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|err| ApiError::bad_request(format!("reading the upload: {err}")))?;
            if hasher.len() + chunk.len() as u64 > limit {
                return Err(stockade_bundle::Error::BlobTooLarge {
                    what: format!("upload of {expected}"),
                    limit,
                }
                .into());
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        let len = hasher.len();
        let actual = hasher.finish();
        if &actual != expected {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "DIGEST_INVALID",
                format!("the upload hashes to {actual}, not {expected}"),
            ));
        }
        file.sync_all().await?;
        drop(file);
        self.commit(temp, expected)?;
        Ok(len)
    }

    /// Writes bytes whose digest the caller computed.
    pub fn put_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<(), ApiError> {
        if &Digest::of(bytes) != digest {
            return Err(ApiError::internal(format!(
                "put_bytes: bytes do not hash to {digest}"
            )));
        }
        let mut temp = tempfile::NamedTempFile::new_in(&self.tmp)?;
        std::io::Write::write_all(&mut temp, bytes)?;
        temp.as_file().sync_all()?;
        self.commit(temp.into_temp_path(), digest)
    }

    /// Moves a fully written and verified temp file into place (keeping an existing copy, which
    /// holds the same bytes by construction).
    pub fn commit(&self, temp: tempfile::TempPath, digest: &Digest) -> Result<(), ApiError> {
        let target = self.path(digest);
        if target.is_file() {
            return Ok(());
        }
        temp.persist(&target)
            .map_err(|err| ApiError::internal(err.error))?;
        std::fs::File::open(&self.blobs)?.sync_all()?;
        Ok(())
    }
}
