//! The egress rules a project's agent workspaces are granted (the `workspace.shell` tool).

use sqlx::Row;

use crate::db::{Database, now_millis};
use crate::error::{Result, StorageError};

/// The `workspace_egress` repository. Obtain it with [`Database::workspace_egress`].
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceEgress<'a> {
    db: &'a Database,
}

impl Database {
    /// The workspace egress repository.
    pub fn workspace_egress(&self) -> WorkspaceEgress<'_> {
        WorkspaceEgress { db: self }
    }
}

impl WorkspaceEgress<'_> {
    /// Replaces the project's rules (a JSON array, validated by the server).
    pub async fn put(&self, project_id: &str, egress: &serde_json::Value) -> Result<()> {
        if !egress.is_array() {
            return Err(StorageError::invalid("egress", "must be a JSON array"));
        }
        sqlx::query(
            "INSERT INTO workspace_egress (project_id, egress, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (project_id) DO UPDATE SET egress = excluded.egress, \
             updated_at = excluded.updated_at",
        )
        .bind(project_id)
        .bind(egress.to_string())
        .bind(now_millis())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// The project's rules; an empty array when none were granted.
    pub async fn get(&self, project_id: &str) -> Result<serde_json::Value> {
        let row = sqlx::query("SELECT egress FROM workspace_egress WHERE project_id = $1")
            .bind(project_id)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Ok(serde_json::Value::Array(Vec::new()));
        };
        let text: String = row.try_get("egress")?;
        serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
            what: "workspace_egress.egress",
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rules_round_trip_and_default_to_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(&dir.path().join("t.db").to_string_lossy())
            .await
            .unwrap();
        let project = db.projects().create("p", "/tmp", None).await.unwrap();
        let repo = db.workspace_egress();
        assert_eq!(repo.get(&project.id).await.unwrap(), serde_json::json!([]));
        let rules = serde_json::json!(["https://example.com"]);
        repo.put(&project.id, &rules).await.unwrap();
        assert_eq!(repo.get(&project.id).await.unwrap(), rules);
        assert!(repo.put(&project.id, &serde_json::json!({})).await.is_err());
    }
}
