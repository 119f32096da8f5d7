//! The registry's state: an SQLite database (`registry.db`) for versions, approvals, yanks and
//! revocation lists, and a content-addressed [`BlobStore`] for manifests and blobs.

mod blobs;

use std::path::Path;
use std::str::FromStr as _;

use axum::http::StatusCode;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use stockade_bundle::{Digest, Signature, SignedApproval, SignedRevocationList};

pub use blobs::BlobStore;

use crate::error::ApiError;

/// Database and blobs.
#[derive(Debug, Clone)]
pub struct Store {
    /// The database.
    pub db: SqlitePool,
    /// The blobs.
    pub blobs: BlobStore,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    /// Bundle name.
    pub name: String,
    /// Version.
    pub version: semver::Version,
    /// Manifest digest.
    pub manifest_digest: Digest,
    /// Capabilities digest.
    pub capabilities_digest: Digest,
    /// Publisher signature.
    pub signature: Signature,
    /// Operator approval; `None` while staged.
    pub approval: Option<SignedApproval>,
    /// Yanked.
    pub yanked: bool,
    /// When published, RFC 3339.
    pub published_at: String,
}

/// Whether [`Store::insert_version`] created the version or found the same bytes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// New.
    Created,
    /// Already published with the same manifest digest.
    AlreadyThere,
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
);

/// The `versions` columns in [`Row`] order, as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "name, version, manifest_digest, capabilities_digest, signature, approval, yanked, published_at"
    };
}

fn decode(row: Row) -> Result<VersionRow, ApiError> {
    let (name, version, manifest, caps, signature, approval, yanked, published_at) = row;
    let bad = |what: &str, err: &dyn std::fmt::Display| {
        ApiError::internal(format!("stored {what} of {name}: {err}"))
    };
    Ok(VersionRow {
        version: version.parse().map_err(|e| bad("version", &e))?,
        manifest_digest: manifest.parse().map_err(|e| bad("digest", &e))?,
        capabilities_digest: caps.parse().map_err(|e| bad("digest", &e))?,
        signature: serde_json::from_str(&signature).map_err(|e| bad("signature", &e))?,
        approval: approval
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(|e| bad("approval", &e))?,
        yanked: yanked != 0,
        published_at,
        name,
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

impl Store {
    /// Opens (creating) `registry.db` and the blob store in `data`, and runs migrations.
    pub async fn open(data: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data)?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(data.join("registry.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        let db = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&db).await?;
        Ok(Store {
            db,
            blobs: BlobStore::open(data)?,
        })
    }

    /// One version, staged or approved.
    pub async fn version(&self, name: &str, version: &str) -> Result<Option<VersionRow>, ApiError> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM versions WHERE name = ? AND version = ?"
        ))
        .bind(name)
        .bind(version)
        .fetch_optional(&self.db)
        .await?;
        row.map(decode).transpose()
    }

    /// Every version of `name` (staged ones too), ordered by semver.
    pub async fn versions(&self, name: &str) -> Result<Vec<VersionRow>, ApiError> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM versions WHERE name = ?"
        ))
        .bind(name)
        .fetch_all(&self.db)
        .await?;
        let mut versions = rows
            .into_iter()
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        versions.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(versions)
    }

    /// Every version of every bundle.
    pub async fn all_versions(&self) -> Result<Vec<VersionRow>, ApiError> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM versions ORDER BY name"
        ))
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(decode).collect()
    }

    /// The manifest digest a pull of `reference` (a version or a digest) may see: approved
    /// versions only (yanked ones included, so existing installs can still be fetched).
    pub async fn visible_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<Option<Digest>, ApiError> {
        let query = if reference.starts_with("sha256:") {
            "SELECT manifest_digest FROM versions \
             WHERE name = ? AND manifest_digest = ? AND approval IS NOT NULL LIMIT 1"
        } else {
            "SELECT manifest_digest FROM versions \
             WHERE name = ? AND version = ? AND approval IS NOT NULL LIMIT 1"
        };
        let row: Option<(String,)> = sqlx::query_as(query)
            .bind(name)
            .bind(reference)
            .fetch_optional(&self.db)
            .await?;
        row.map(|(d,)| d.parse().map_err(ApiError::internal))
            .transpose()
    }

    /// Whether `digest` is a blob of an approved manifest of `name`.
    pub async fn blob_visible(&self, name: &str, digest: &Digest) -> Result<bool, ApiError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM manifest_blobs b JOIN versions v \
             ON v.name = b.name AND v.manifest_digest = b.manifest_digest \
             WHERE b.name = ? AND b.blob_digest = ? AND v.approval IS NOT NULL LIMIT 1",
        )
        .bind(name)
        .bind(digest.as_str())
        .fetch_optional(&self.db)
        .await?;
        Ok(row.is_some())
    }

    /// Records a published version and the blobs its manifest references. Versions are
    /// immutable: the same manifest digest again is [`Inserted::AlreadyThere`], a different one
    /// is 409 `version_immutable`.
    pub async fn insert_version(
        &self,
        row: &VersionRow,
        blobs: &[Digest],
    ) -> Result<Inserted, ApiError> {
        let mut tx = self.db.begin().await?;
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT manifest_digest FROM versions WHERE name = ? AND version = ?")
                .bind(&row.name)
                .bind(row.version.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((digest,)) = existing {
            return if digest == row.manifest_digest.as_str() {
                Ok(Inserted::AlreadyThere)
            } else {
                Err(stockade_bundle::Error::VersionImmutable {
                    name: row.name.clone(),
                    version: row.version.to_string(),
                }
                .into())
            };
        }
        sqlx::query(concat!(
            "INSERT INTO versions (",
            columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&row.name)
        .bind(row.version.to_string())
        .bind(row.manifest_digest.as_str())
        .bind(row.capabilities_digest.as_str())
        .bind(to_json(&row.signature)?)
        .bind(row.approval.as_ref().map(to_json).transpose()?)
        .bind(i64::from(row.yanked))
        .bind(&row.published_at)
        .execute(&mut *tx)
        .await?;
        for blob in blobs {
            sqlx::query("INSERT OR IGNORE INTO manifest_blobs (name, manifest_digest, blob_digest) VALUES (?, ?, ?)")
                .bind(&row.name)
                .bind(row.manifest_digest.as_str())
                .bind(blob.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Inserted::Created)
    }

    /// Stores an approval (replacing an earlier one for the same version).
    pub async fn set_approval(
        &self,
        name: &str,
        version: &str,
        approval: &SignedApproval,
    ) -> Result<(), ApiError> {
        let done = sqlx::query("UPDATE versions SET approval = ? WHERE name = ? AND version = ?")
            .bind(to_json(approval)?)
            .bind(name)
            .bind(version)
            .execute(&self.db)
            .await?;
        if done.rows_affected() == 0 {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{name}@{version} is not published"),
            ));
        }
        Ok(())
    }

    /// Sets or clears the yank flag.
    pub async fn set_yanked(
        &self,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<(), ApiError> {
        let done = sqlx::query("UPDATE versions SET yanked = ? WHERE name = ? AND version = ?")
            .bind(i64::from(yanked))
            .bind(name)
            .bind(version)
            .execute(&self.db)
            .await?;
        if done.rows_affected() == 0 {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{name}@{version} is not published"),
            ));
        }
        Ok(())
    }

    /// The newest revocation list.
    pub async fn revocations(&self) -> Result<Option<SignedRevocationList>, ApiError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT document FROM revocation_lists ORDER BY serial DESC LIMIT 1")
                .fetch_optional(&self.db)
                .await?;
        row.map(|(doc,)| serde_json::from_str(&doc).map_err(ApiError::internal))
            .transpose()
    }

    /// Stores a new revocation list; its serial must be above the current one
    /// (`revocation_rollback`). The caller has verified the signature.
    pub async fn put_revocations(&self, list: &SignedRevocationList) -> Result<(), ApiError> {
        let current = self
            .revocations()
            .await?
            .map(|l| l.list.serial)
            .unwrap_or(0);
        if list.list.serial <= current {
            return Err(stockade_bundle::Error::RevocationRollback {
                got: list.list.serial,
                seen: current,
            }
            .into());
        }
        let serial = i64::try_from(list.list.serial)
            .map_err(|_| ApiError::bad_request("serial out of range"))?;
        sqlx::query("INSERT INTO revocation_lists (serial, document) VALUES (?, ?)")
            .bind(serial)
            .bind(to_json(list)?)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
