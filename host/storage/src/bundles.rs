//! Bundles installed into a project: what was installed, from where, pinned to which digests.
//!
//! The digests recorded here are what the runtime re-checks on every load, so they are
//! validated (lowercase hex SHA-256) before they are stored.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::{Database, now_millis};
use crate::error::{Result, StorageError};
use crate::users::check_name;

/// What the server hands over to install a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBundle {
    /// Bundle name from the manifest; unique within a project.
    pub name: String,
    /// Semver version from the manifest.
    pub version: String,
    /// The manifest, verbatim TOML.
    pub manifest: String,
    /// Component file name → lowercase hex SHA-256 of its bytes.
    pub component_digests: BTreeMap<String, String>,
    /// Where it was installed from (a local directory until the registry step).
    pub source_dir: String,
    /// Installed from a local directory under the explicit dev flag, not from the registry.
    pub dev_install: bool,
}

/// A row of `installed_bundles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledBundle {
    /// Owning project id.
    pub project_id: String,
    /// Bundle name.
    pub name: String,
    /// Installed version.
    pub version: String,
    /// The manifest, verbatim TOML.
    pub manifest: String,
    /// Component file name → lowercase hex SHA-256.
    pub component_digests: BTreeMap<String, String>,
    /// Source directory.
    pub source_dir: String,
    /// Whether this was a dev (local, unregistered) install.
    pub dev_install: bool,
    /// Unix millis of the install (or last upgrade).
    pub installed_at: i64,
}

impl InstalledBundle {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        let digests: String = row.try_get("component_digests")?;
        Ok(Self {
            project_id: row.try_get("project_id")?,
            name: row.try_get("name")?,
            version: row.try_get("version")?,
            manifest: row.try_get("manifest")?,
            component_digests: serde_json::from_str(&digests).map_err(|e| {
                StorageError::Corrupt {
                    what: "installed_bundles.component_digests",
                    reason: e.to_string(),
                }
            })?,
            source_dir: row.try_get("source_dir")?,
            dev_install: row.try_get("dev_install")?,
            installed_at: row.try_get("installed_at")?,
        })
    }
}

/// The `installed_bundles` repository. Obtain it with [`Database::bundles`].
#[derive(Debug, Clone, Copy)]
pub struct Bundles<'a> {
    db: &'a Database,
}

impl Database {
    /// The installed-bundles repository.
    pub fn bundles(&self) -> Bundles<'_> {
        Bundles { db: self }
    }
}

/// The shared column list, as a macro so `concat!` can build `&'static str` statements (sqlx
/// refuses dynamically built SQL strings without an audit marker).
macro_rules! select {
    () => {
        "SELECT project_id, name, version, manifest, component_digests, source_dir, \
         dev_install, installed_at FROM installed_bundles"
    };
}

fn validate(bundle: &NewBundle) -> Result<String> {
    check_name("name", &bundle.name)?;
    if bundle.component_digests.is_empty() {
        return Err(StorageError::invalid(
            "component_digests",
            "a bundle has at least one component",
        ));
    }
    for (component, digest) in &bundle.component_digests {
        let is_sha256_hex = digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !is_sha256_hex {
            return Err(StorageError::invalid(
                "component_digests",
                format!("digest of `{component}` is not lowercase hex SHA-256"),
            ));
        }
    }
    serde_json::to_string(&bundle.component_digests)
        .map_err(|e| StorageError::invalid("component_digests", e.to_string()))
}

impl Bundles<'_> {
    /// Records a new install. `conflict` if the project already has a bundle of that name
    /// (upgrades go through [`Bundles::upgrade`]); `not_found` if the project is missing.
    pub async fn install(&self, project_id: &str, bundle: &NewBundle) -> Result<InstalledBundle> {
        let digests = validate(bundle)?;
        let installed_at = now_millis();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO installed_bundles (project_id, name, version, manifest, \
             component_digests, source_dir, dev_install, installed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(project_id)
        .bind(&bundle.name)
        .bind(&bundle.version)
        .bind(&bundle.manifest)
        .bind(&digests)
        .bind(&bundle.source_dir)
        .bind(bundle.dev_install)
        .bind(installed_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            StorageError::from_write(e, "bundle", &bundle.name, Some(("project", project_id)))
        })?;
        tx.commit().await?;
        Ok(installed(project_id, bundle, installed_at))
    }

    /// Replaces an installed bundle's version, manifest and digests, keeping its grants (the
    /// server re-checks them against the new manifest). `not_found` if not installed.
    pub async fn upgrade(&self, project_id: &str, bundle: &NewBundle) -> Result<InstalledBundle> {
        let digests = validate(bundle)?;
        let installed_at = now_millis();
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE installed_bundles SET version = $3, manifest = $4, component_digests = $5, \
             source_dir = $6, dev_install = $7, installed_at = $8 \
             WHERE project_id = $1 AND name = $2",
        )
        .bind(project_id)
        .bind(&bundle.name)
        .bind(&bundle.version)
        .bind(&bundle.manifest)
        .bind(&digests)
        .bind(&bundle.source_dir)
        .bind(bundle.dev_install)
        .bind(installed_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("bundle", &bundle.name));
        }
        tx.commit().await?;
        Ok(installed(project_id, bundle, installed_at))
    }

    /// One installed bundle, or `not_found`.
    pub async fn get(&self, project_id: &str, name: &str) -> Result<InstalledBundle> {
        sqlx::query(concat!(select!(), " WHERE project_id = $1 AND name = $2"))
            .bind(project_id)
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| InstalledBundle::from_row(&row))
            .transpose()?
            .ok_or_else(|| StorageError::not_found("bundle", name))
    }

    /// The bundles of a project, by name.
    pub async fn list(&self, project_id: &str) -> Result<Vec<InstalledBundle>> {
        sqlx::query(concat!(select!(), " WHERE project_id = $1 ORDER BY name"))
            .bind(project_id)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(InstalledBundle::from_row)
            .collect()
    }

    /// Uninstalls a bundle and, through the foreign key, every grant made to it.
    pub async fn remove(&self, project_id: &str, name: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM installed_bundles WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("bundle", name));
        }
        tx.commit().await?;
        Ok(())
    }
}

fn installed(project_id: &str, bundle: &NewBundle, installed_at: i64) -> InstalledBundle {
    InstalledBundle {
        project_id: project_id.to_owned(),
        name: bundle.name.clone(),
        version: bundle.version.clone(),
        manifest: bundle.manifest.clone(),
        component_digests: bundle.component_digests.clone(),
        source_dir: bundle.source_dir.clone(),
        dev_install: bundle.dev_install,
        installed_at,
    }
}
