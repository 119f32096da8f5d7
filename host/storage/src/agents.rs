//! Agent profiles: which tools an agent of a project may call.
//!
//! The globs are stored as JSON arrays; matching them (deny wins) and refusing `["*"]` in
//! production mode is the policy crate's and the server's job.

use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::{Database, now_millis};
use crate::error::{Result, StorageError};
use crate::users::check_name;

/// What the server hands over to create or replace an agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentSpec {
    /// `tools.allow` globs.
    pub allow: Vec<String>,
    /// `tools.deny` globs.
    pub deny: Vec<String>,
    /// Write tools are denied to read-only agents.
    pub read_only: bool,
}

/// A row of `agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    /// Project id.
    pub project_id: String,
    /// Unique within the project.
    pub name: String,
    /// `tools.allow` globs.
    pub allow: Vec<String>,
    /// `tools.deny` globs.
    pub deny: Vec<String>,
    /// Whether write tools are denied.
    pub read_only: bool,
    /// Unix millis.
    pub created_at: i64,
    /// Unix millis.
    pub updated_at: i64,
}

impl Agent {
    fn from_row(row: &SqliteRow) -> Result<Self> {
        let parse = |column: &'static str| -> Result<Vec<String>> {
            let text: String = row.try_get(column)?;
            serde_json::from_str(&text).map_err(|e| StorageError::Corrupt {
                what: column,
                reason: e.to_string(),
            })
        };
        Ok(Self {
            project_id: row.try_get("project_id")?,
            name: row.try_get("name")?,
            allow: parse("allow")?,
            deny: parse("deny")?,
            read_only: row.try_get("read_only")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// The `agents` repository. Obtain it with [`Database::agents`].
#[derive(Debug, Clone, Copy)]
pub struct Agents<'a> {
    db: &'a Database,
}

impl Database {
    /// The agents repository.
    pub fn agents(&self) -> Agents<'_> {
        Agents { db: self }
    }
}

macro_rules! select {
    () => {
        "SELECT project_id, name, allow, deny, read_only, created_at, updated_at FROM agents"
    };
}

fn to_json(field: &'static str, globs: &[String]) -> Result<String> {
    serde_json::to_string(globs).map_err(|e| StorageError::invalid(field, e.to_string()))
}

impl Agents<'_> {
    /// Creates an agent. `conflict` if the name is taken in this project, `not_found` if the
    /// project is missing.
    pub async fn create(&self, project_id: &str, name: &str, spec: &AgentSpec) -> Result<Agent> {
        check_name("name", name)?;
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO agents (project_id, name, allow, deny, read_only, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(project_id)
        .bind(name)
        .bind(to_json("allow", &spec.allow)?)
        .bind(to_json("deny", &spec.deny)?)
        .bind(spec.read_only)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| StorageError::from_write(e, "agent", name, Some(("project", project_id))))?;
        tx.commit().await?;
        Ok(agent(project_id, name, spec, now, now))
    }

    /// Replaces an agent's profile. `not_found` if it does not exist.
    pub async fn update(&self, project_id: &str, name: &str, spec: &AgentSpec) -> Result<Agent> {
        let now = now_millis();
        let mut tx = self.db.begin_write().await?;
        let created_at: Option<i64> = sqlx::query_scalar(
            "UPDATE agents SET allow = $3, deny = $4, read_only = $5, updated_at = $6 \
             WHERE project_id = $1 AND name = $2 RETURNING created_at",
        )
        .bind(project_id)
        .bind(name)
        .bind(to_json("allow", &spec.allow)?)
        .bind(to_json("deny", &spec.deny)?)
        .bind(spec.read_only)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let created_at = created_at.ok_or_else(|| StorageError::not_found("agent", name))?;
        tx.commit().await?;
        Ok(agent(project_id, name, spec, created_at, now))
    }

    /// One agent, or `not_found`.
    pub async fn get(&self, project_id: &str, name: &str) -> Result<Agent> {
        sqlx::query(concat!(select!(), " WHERE project_id = $1 AND name = $2"))
            .bind(project_id)
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| Agent::from_row(&row))
            .transpose()?
            .ok_or_else(|| StorageError::not_found("agent", name))
    }

    /// The agents of a project, by name.
    pub async fn list(&self, project_id: &str) -> Result<Vec<Agent>> {
        sqlx::query(concat!(select!(), " WHERE project_id = $1 ORDER BY name"))
            .bind(project_id)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(Agent::from_row)
            .collect()
    }

    /// Deletes an agent. `not_found` if it does not exist.
    pub async fn delete(&self, project_id: &str, name: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM agents WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("agent", name));
        }
        tx.commit().await?;
        Ok(())
    }
}

fn agent(project_id: &str, name: &str, spec: &AgentSpec, created_at: i64, now: i64) -> Agent {
    Agent {
        project_id: project_id.to_owned(),
        name: name.to_owned(),
        allow: spec.allow.clone(),
        deny: spec.deny.clone(),
        read_only: spec.read_only,
        created_at,
        updated_at: now,
    }
}
