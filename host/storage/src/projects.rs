//! Projects and project membership.
//!
//! Whether a non-member gets a 404 is the server's decision; this module only answers
//! [`Projects::is_member`] and lists the projects a user can see.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::{Database, new_id, now_millis};
use crate::error::{Result, StorageError};
use crate::users::check_name;

/// A row of `projects`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Project {
    /// Explicit id, `prj_` + 16 hex digits.
    pub id: String,
    /// Unique name, used in URLs.
    pub name: String,
    /// The project root on the host (validated by the server before it gets here).
    pub root: String,
    /// Unix millis.
    pub created_at: i64,
}

impl Project {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            root: row.try_get("root")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// The `projects` and `project_members` repository. Obtain it with [`Database::projects`].
#[derive(Debug, Clone, Copy)]
pub struct Projects<'a> {
    db: &'a Database,
}

impl Database {
    /// The projects repository.
    pub fn projects(&self) -> Projects<'_> {
        Projects { db: self }
    }
}

impl Projects<'_> {
    /// Creates a project and, in the same transaction, makes `owner` (if given) its first
    /// member, so a creator is never locked out of a half-created project. `conflict` if the
    /// name is taken, `not_found` if the owner does not exist.
    pub async fn create(&self, name: &str, root: &str, owner: Option<&str>) -> Result<Project> {
        check_name("name", name)?;
        let project = Project {
            id: new_id("prj")?,
            name: name.to_owned(),
            root: root.to_owned(),
            created_at: now_millis(),
        };
        let mut tx = self.db.begin_write().await?;
        sqlx::query("INSERT INTO projects (id, name, root, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&project.id)
            .bind(&project.name)
            .bind(&project.root)
            .bind(project.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StorageError::from_write(e, "project", name, None))?;
        if let Some(owner) = owner {
            insert_member(&mut tx, &project.id, owner).await?;
        }
        tx.commit().await?;
        Ok(project)
    }

    /// The project with this id, or `not_found`.
    pub async fn get(&self, id: &str) -> Result<Project> {
        sqlx::query("SELECT id, name, root, created_at FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| Project::from_row(&row))
            .transpose()?
            .ok_or_else(|| StorageError::not_found("project", id))
    }

    /// The project with this name, or `not_found`.
    pub async fn get_by_name(&self, name: &str) -> Result<Project> {
        sqlx::query("SELECT id, name, root, created_at FROM projects WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| Project::from_row(&row))
            .transpose()?
            .ok_or_else(|| StorageError::not_found("project", name))
    }

    /// Every project, by name (what an admin sees).
    pub async fn list(&self) -> Result<Vec<Project>> {
        sqlx::query("SELECT id, name, root, created_at FROM projects ORDER BY name")
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(Project::from_row)
            .collect()
    }

    /// The projects `user_id` is a member of, by name (what a member sees).
    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<Project>> {
        sqlx::query(
            "SELECT p.id, p.name, p.root, p.created_at FROM projects p \
             JOIN project_members m ON m.project_id = p.id \
             WHERE m.user_id = $1 ORDER BY p.name",
        )
        .bind(user_id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(Project::from_row)
        .collect()
    }

    /// Deletes a project with its members, bundles, grants and agents (its events stay).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM projects WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("project", id));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Adds a member. `conflict` if already a member; `not_found` if either side is missing.
    pub async fn add_member(&self, project_id: &str, user_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        insert_member(&mut tx, project_id, user_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a member. `not_found` if they were not one.
    pub async fn remove_member(&self, project_id: &str, user_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done =
            sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("membership", user_id));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether `user_id` is a member of `project_id`. Admin visibility is the server's rule.
    pub async fn is_member(&self, project_id: &str, user_id: &str) -> Result<bool> {
        let found =
            sqlx::query("SELECT 1 FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(found.is_some())
    }

    /// The ids of the members of a project.
    pub async fn members(&self, project_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM project_members WHERE project_id = $1 ORDER BY user_id",
        )
        .bind(project_id)
        .fetch_all(self.db.pool())
        .await?)
    }
}

async fn insert_member(
    conn: &mut sqlx::SqliteConnection,
    project_id: &str,
    user_id: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO project_members (project_id, user_id, added_at) VALUES ($1, $2, $3)")
        .bind(project_id)
        .bind(user_id)
        .bind(now_millis())
        .execute(conn)
        .await
        .map_err(|e| {
            StorageError::from_write(e, "membership", user_id, Some(("user or project", user_id)))
        })?;
    Ok(())
}
