//! API tokens: issued once in plaintext, stored only as SHA-256 hashes.
//!
//! A token reads `stk_<id>_<secret>`: `id` is 8 hex digits that are public (shown in listings,
//! used to revoke) and `secret` is 32 random bytes in hex. The database keeps `id` and
//! `SHA-256(whole token)`, never the token, so a leaked database file or backup does not leak
//! credentials; 256 bits of randomness make a plain (unsalted, fast) hash sufficient.
//!
//! Authentication looks the presented token up *by its hash*. Timing differences in that lookup
//! reveal at most something about the hash of the guess, which does not help find a valid token,
//! so no constant-time comparison is needed here (unlike the write token and webhook MACs, which
//! the policy crate compares in constant time).

use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::db::{Database, now_millis, random_hex};
use crate::error::{Result, StorageError};
use crate::users::{Role, User, check_name, insert_user};

/// Every token starts with this, so secret scanners and the redactor can recognise one.
pub const TOKEN_PREFIX: &str = "stk_";

/// Longest input [`Tokens::authenticate`] will hash; anything longer is not a token.
const MAX_TOKEN_LEN: usize = 128;

/// A token as listed: everything except the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The public id (8 hex digits).
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// Free text chosen at creation (`bootstrap`, `ci`, ...).
    pub label: String,
    /// Unix millis.
    pub created_at: i64,
    /// Unix millis, if revoked.
    pub revoked_at: Option<i64>,
}

impl TokenInfo {
    /// The part that is safe to display: `stk_<id>`.
    pub fn display_prefix(&self) -> String {
        format!("{TOKEN_PREFIX}{}", self.id)
    }

    fn from_row(row: &SqliteRow) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            label: row.try_get("label")?,
            created_at: row.try_get("created_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

/// A freshly created token. The plaintext exists only here; show it once and drop it.
/// `Debug` prints the public prefix only.
#[derive(Clone)]
pub struct IssuedToken {
    /// The stored, non-secret part.
    pub info: TokenInfo,
    /// The full bearer token, `stk_<id>_<secret>`.
    pub plaintext: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("info", &self.info)
            .field(
                "plaintext",
                &format_args!("{}_<redacted>", self.info.display_prefix()),
            )
            .finish()
    }
}

/// The first admin and its token, returned by [`Tokens::bootstrap_admin`] exactly once.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The admin user.
    pub user: User,
    /// Its token, to print once.
    pub token: IssuedToken,
}

/// The `api_tokens` repository. Obtain it with [`Database::tokens`].
#[derive(Debug, Clone, Copy)]
pub struct Tokens<'a> {
    db: &'a Database,
}

impl Database {
    /// The API tokens repository.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens { db: self }
    }
}

/// Lowercase hex SHA-256 of the whole token: the only form that is stored.
pub fn token_hash(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

impl Tokens<'_> {
    /// Issues a token for `user_id` (`not_found` if there is no such user).
    pub async fn create(&self, user_id: &str, label: &str) -> Result<IssuedToken> {
        let mut tx = self.db.begin_write().await?;
        let token = insert_token(&mut tx, user_id, label).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// The user a valid, unrevoked token belongs to; `None` for anything else (malformed,
    /// unknown, revoked), so callers cannot tell those apart and neither can clients.
    pub async fn authenticate(&self, plaintext: &str) -> Result<Option<User>> {
        if !plaintext.starts_with(TOKEN_PREFIX) || plaintext.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        sqlx::query(
            "SELECT u.id, u.name, u.role, u.created_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash(plaintext))
        .fetch_optional(self.db.pool())
        .await?
        .map(|row| User::from_row(&row))
        .transpose()
    }

    /// Revokes a token by its public id. Revoking twice is not an error; an unknown id is
    /// `not_found`.
    pub async fn revoke(&self, token_id: &str) -> Result<()> {
        let mut tx = self.db.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM api_tokens WHERE id = $1")
            .bind(token_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StorageError::not_found("token", token_id));
        }
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(token_id)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tokens (never their secrets), optionally of one user, oldest first.
    pub async fn list(&self, user_id: Option<&str>) -> Result<Vec<TokenInfo>> {
        // Two statements rather than `$1 IS NULL OR ...`, which PostgreSQL cannot type.
        let rows = match user_id {
            Some(user_id) => {
                sqlx::query(
                    "SELECT id, user_id, label, created_at, revoked_at FROM api_tokens \
                     WHERE user_id = $1 ORDER BY created_at, id",
                )
                .bind(user_id)
                .fetch_all(self.db.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT id, user_id, label, created_at, revoked_at FROM api_tokens \
                     ORDER BY created_at, id",
                )
                .fetch_all(self.db.pool())
                .await?
            }
        };
        rows.iter().map(TokenInfo::from_row).collect()
    }

    /// Creates the first admin (named `name`) and a token for it, only if no user exists yet.
    /// Returns `None` when the server was already bootstrapped, so calling it on every start is
    /// safe. The check and the inserts share one write transaction, so two servers starting at
    /// once cannot both bootstrap.
    pub async fn bootstrap_admin(&self, name: &str) -> Result<Option<Bootstrap>> {
        check_name("name", name)?;
        let mut tx = self.db.begin_write().await?;
        let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if users > 0 {
            return Ok(None);
        }
        let user = insert_user(&mut tx, name, Role::Admin).await?;
        let token = insert_token(&mut tx, &user.id, "bootstrap").await?;
        tx.commit().await?;
        Ok(Some(Bootstrap { user, token }))
    }
}

async fn insert_token(
    conn: &mut sqlx::SqliteConnection,
    user_id: &str,
    label: &str,
) -> Result<IssuedToken> {
    // 32 bits of public id can collide; retry a few times rather than fail the request.
    for _ in 0..4 {
        let id = random_hex(4)?;
        let plaintext = format!("{TOKEN_PREFIX}{id}_{}", random_hex(32)?);
        let info = TokenInfo {
            id,
            user_id: user_id.to_owned(),
            label: label.to_owned(),
            created_at: now_millis(),
            revoked_at: None,
        };
        let inserted = sqlx::query(
            "INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&info.id)
        .bind(&info.user_id)
        .bind(token_hash(&plaintext))
        .bind(&info.label)
        .bind(info.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| StorageError::from_write(e, "token", &info.id, Some(("user", user_id))));
        match inserted {
            Ok(_) => return Ok(IssuedToken { info, plaintext }),
            Err(StorageError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StorageError::Conflict {
        what: "token",
        key: "id".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex_of_the_whole_token() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let token = IssuedToken {
            info: TokenInfo {
                id: "0011aabb".into(),
                user_id: "usr_x".into(),
                label: "t".into(),
                created_at: 0,
                revoked_at: None,
            },
            plaintext: "stk_0011aabb_supersecret".into(),
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("stk_0011aabb"), "{shown}");
    }
}
