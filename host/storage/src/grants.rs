//! Grants: what one tool of one installed bundle may touch in one project.
//!
//! The documents are stored as JSON text. Whether a grant stays within what the manifest
//! requested is the server's check; this layer only insists on the outer JSON shape so a row can
//! always be read back.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::{Database, now_millis};
use crate::error::{Result, StorageError};
use crate::users::check_name;

/// A row of `grants`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    /// Project id.
    pub project_id: String,
    /// Installed bundle name.
    pub bundle: String,
    /// Tool name within the bundle.
    pub tool: String,
    /// JSON array of `{mount, host_path, access}`.
    pub dirs: Value,
    /// JSON array of egress rule strings.
    pub egress: Value,
    /// JSON array of secret grants (`{name, destinations}`).
    pub secrets: Value,
    /// JSON object of limit overrides, or `null`.
    pub limits: Value,
    /// Unix millis of the first grant.
    pub created_at: i64,
    /// Unix millis of the last change.
    pub updated_at: i64,
}

impl Grant {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        let parse = |column: &'static str| -> Result<Value> {
            let text: String = row.try_get(column)?;
            serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
                what: column,
                reason: e.to_string(),
            })
        };
        Ok(Self {
            project_id: row.try_get("project_id")?,
            bundle: row.try_get("bundle")?,
            tool: row.try_get("tool")?,
            dirs: parse("dirs")?,
            egress: parse("egress")?,
            secrets: parse("secrets")?,
            limits: parse("limits")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The JSON documents of one grant, as [`Grants::put`] stores them.
#[derive(Debug, Clone, Copy)]
pub struct GrantDocs<'a> {
    /// JSON array of directory grants.
    pub dirs: &'a Value,
    /// JSON array of egress rule strings.
    pub egress: &'a Value,
    /// JSON array of secret grants.
    pub secrets: &'a Value,
    /// JSON object of limit overrides, or `null`.
    pub limits: &'a Value,
}

/// The `grants` repository. Obtain it with [`Database::grants`].
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    db: &'a Database,
}

impl Database {
    /// The grants repository.
    pub fn grants(&self) -> Grants<'_> {
        Grants { db: self }
    }
}

macro_rules! select {
    () => {
        "SELECT project_id, bundle, tool, dirs, egress, secrets, limits, created_at, updated_at \
         FROM grants"
    };
}

impl Grants<'_> {
    /// Creates or replaces the grant of `tool` (a grant is a whole document, so replacing is the
    /// natural edit). `not_found` if the bundle is not installed in the project.
    pub async fn put(
        &self,
        project_id: &str,
        bundle: &str,
        tool: &str,
        docs: GrantDocs<'_>,
    ) -> Result<Grant> {
        let GrantDocs {
            dirs,
            egress,
            secrets,
            limits,
        } = docs;
        check_name("tool", tool)?;
        if !dirs.is_array() {
            return Err(StorageError::invalid("dirs", "must be a JSON array"));
        }
        if !egress.is_array() {
            return Err(StorageError::invalid("egress", "must be a JSON array"));
        }
        if !secrets.is_array() {
            return Err(StorageError::invalid("secrets", "must be a JSON array"));
        }
        if !(limits.is_object() || limits.is_null()) {
            return Err(StorageError::invalid(
                "limits",
                "must be a JSON object or null",
            ));
        }
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        let created_at: i64 = sqlx::query_scalar(
            "INSERT INTO grants (project_id, bundle, tool, dirs, egress, secrets, limits, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) \
             ON CONFLICT (project_id, bundle, tool) DO UPDATE \
             SET dirs = excluded.dirs, egress = excluded.egress, secrets = excluded.secrets, \
             limits = excluded.limits, updated_at = excluded.updated_at \
             RETURNING created_at",
        )
        .bind(project_id)
        .bind(bundle)
        .bind(tool)
        .bind(dirs.to_string())
        .bind(egress.to_string())
        .bind(secrets.to_string())
        .bind(limits.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StorageError::from_write(e, "grant", tool, Some(("bundle", bundle))))?;
        tx.commit().await?;
        Ok(Grant {
            project_id: project_id.to_owned(),
            bundle: bundle.to_owned(),
            tool: tool.to_owned(),
            dirs: dirs.clone(),
            egress: egress.clone(),
            secrets: secrets.clone(),
            limits: limits.clone(),
            created_at,
            updated_at: now,
        })
    }

    /// The grant of one tool, or `not_found` (no grant means the tool gets nothing).
    pub async fn get(&self, project_id: &str, bundle: &str, tool: &str) -> Result<Grant> {
        sqlx::query(concat!(
            select!(),
            " WHERE project_id = $1 AND bundle = $2 AND tool = $3"
        ))
        .bind(project_id)
        .bind(bundle)
        .bind(tool)
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| Grant::from_row(&row))
        .transpose()?
        .ok_or_else(|| StorageError::not_found("grant", tool))
    }

    /// The grants of a project, by bundle then tool.
    pub async fn list(&self, project_id: &str) -> Result<Vec<Grant>> {
        sqlx::query(concat!(
            select!(),
            " WHERE project_id = $1 ORDER BY bundle, tool"
        ))
        .bind(project_id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(Grant::from_row)
        .collect()
    }

    /// Revokes the grant of one tool. `not_found` if there was none.
    pub async fn delete(&self, project_id: &str, bundle: &str, tool: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM grants WHERE project_id = $1 AND bundle = $2 AND tool = $3")
                .bind(project_id)
                .bind(bundle)
                .bind(tool)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("grant", tool));
        }
        tx.commit().await?;
        Ok(())
    }
}
