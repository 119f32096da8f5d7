//! Users and their roles. Tokens live in [`crate::tokens`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::{Database, new_id, now_millis};
use crate::error::{Result, StorageError};

/// What a user may do server-wide. Admins see every project and every event; members only the
/// projects they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages users, projects and the event log.
    Admin,
    /// Works inside the projects it is a member of.
    Member,
}

impl Role {
    /// The spelling stored in the `role` column and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => Err(StorageError::invalid(
                "role",
                format!("`{other}` is not one of admin, member"),
            )),
        }
    }
}

/// A row of `users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Explicit id, `usr_` + 16 hex digits.
    pub id: String,
    /// Unique, human-chosen name.
    pub name: String,
    /// Server-wide role.
    pub role: Role,
    /// Unix millis.
    pub created_at: i64,
}

impl User {
    pub(crate) fn from_row(row: &SqliteRow) -> Result<Self> {
        let role: String = row.try_get("role")?;
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: role.parse().map_err(|_| StorageError::Corrupt {
                what: "users.role",
                reason: format!("unknown role `{role}`"),
            })?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// The `users` repository. Obtain it with [`Database::users`].
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    db: &'a Database,
}

impl Database {
    /// The users repository.
    pub fn users(&self) -> Users<'_> {
        Users { db: self }
    }
}

pub(crate) fn check_name(field: &'static str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(StorageError::invalid(field, "must not be empty"));
    }
    Ok(())
}

impl Users<'_> {
    /// Creates a user. `conflict` if the name is taken.
    pub async fn create(&self, name: &str, role: Role) -> Result<User> {
        check_name("name", name)?;
        let mut tx = self.db.begin_write().await?;
        let user = insert_user(&mut tx, name, role).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// The user with this id, or `not_found`.
    pub async fn get(&self, id: &str) -> Result<User> {
        sqlx::query("SELECT id, name, role, created_at FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| User::from_row(&row))
            .transpose()?
            .ok_or_else(|| StorageError::not_found("user", id))
    }

    /// The user with this name, or `not_found`.
    pub async fn get_by_name(&self, name: &str) -> Result<User> {
        sqlx::query("SELECT id, name, role, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?
            .map(|row| User::from_row(&row))
            .transpose()?
            .ok_or_else(|| StorageError::not_found("user", name))
    }

    /// Every user, by name.
    pub async fn list(&self) -> Result<Vec<User>> {
        sqlx::query("SELECT id, name, role, created_at FROM users ORDER BY name")
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(User::from_row)
            .collect()
    }

    /// Deletes a user with their tokens and memberships. `not_found` if absent.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::not_found("user", id));
        }
        tx.commit().await?;
        Ok(())
    }
}

pub(crate) async fn insert_user(
    conn: &mut sqlx::SqliteConnection,
    name: &str,
    role: Role,
) -> Result<User> {
    let user = User {
        id: new_id("usr")?,
        name: name.to_owned(),
        role,
        created_at: now_millis(),
    };
    sqlx::query("INSERT INTO users (id, name, role, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&user.id)
        .bind(&user.name)
        .bind(user.role.as_str())
        .bind(user.created_at)
        .execute(conn)
        .await
        .map_err(|e| StorageError::from_write(e, "user", name, None))?;
    Ok(user)
}
