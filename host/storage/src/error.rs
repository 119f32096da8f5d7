//! The one error type of this crate.
//!
//! Every variant has a stable machine [`code`](StorageError::code) that the HTTP layer maps to a
//! status and echoes to clients, so renaming a variant never changes what clients see.

use std::sync::Arc;

/// What went wrong in a storage operation.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The addressed row does not exist.
    #[error("{what} `{key}` not found")]
    NotFound {
        /// The kind of thing that was looked up (`user`, `project`, ...).
        what: &'static str,
        /// The key it was looked up by.
        key: String,
    },

    /// A uniqueness rule would be broken (a second project with the same name, ...).
    #[error("{what} `{key}` already exists")]
    Conflict {
        /// The kind of thing that already exists.
        what: &'static str,
        /// The key that collided.
        key: String,
    },

    /// The caller passed a value this layer refuses to store.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A JSON column holds something that does not parse: the row was edited outside Stockade.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// The column or row kind.
        what: &'static str,
        /// What did not parse.
        reason: String,
    },

    /// Creating the data directory or the database file failed.
    #[error("cannot prepare database location {path}: {source}")]
    Io {
        /// The path that could not be created.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Applying the embedded migrations failed; the server must not start on a half-known schema.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),

    /// The operating system's random number generator failed (ids and tokens need it).
    #[error("random number generator unavailable: {0}")]
    Entropy(String),

    /// Retention found a row that does not verify and refused to prune (deleting it would
    /// destroy the evidence).
    #[error("event chain is broken at seq {seq}: {problem}")]
    ChainBroken {
        /// The first bad row.
        seq: i64,
        /// What is wrong with it.
        problem: crate::events::Problem,
    },

    /// The event log writer has shut down (or crashed); the event was not recorded.
    #[error("event log is closed; the event was not recorded")]
    EventLogClosed,

    /// The batch holding this event failed to commit; the event was not recorded.
    #[error("event log write failed; the event was not recorded: {0}")]
    EventLogWrite(#[source] Arc<dyn std::error::Error + Send + Sync>),

    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StorageError {
    /// The stable machine code for this error (`not_found`, `conflict`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::InvalidInput { .. } => "invalid_input",
            Self::Corrupt { .. } => "storage_corrupt",
            Self::Io { .. } => "storage_io",
            Self::Migration(_) => "migration_failed",
            Self::Entropy(_) => "entropy_unavailable",
            Self::ChainBroken { .. } => "chain_broken",
            Self::EventLogClosed => "event_log_closed",
            Self::EventLogWrite(_) => "event_log_write_failed",
            Self::Database(_) => "database",
        }
    }

    pub(crate) fn not_found(what: &'static str, key: impl Into<String>) -> Self {
        Self::NotFound {
            what,
            key: key.into(),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// Maps a unique violation to [`StorageError::Conflict`] and a foreign-key violation to
    /// [`StorageError::NotFound`] of the referenced thing; everything else stays a database error.
    pub(crate) fn from_write(
        err: sqlx::Error,
        what: &'static str,
        key: &str,
        referenced: Option<(&'static str, &str)>,
    ) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return Self::Conflict {
                    what,
                    key: key.to_owned(),
                };
            }
            if db.is_foreign_key_violation()
                && let Some((what, key)) = referenced
            {
                return Self::not_found(what, key);
            }
        }
        Self::Database(err)
    }
}

/// Shorthand used across the crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(StorageError::not_found("user", "u").code(), "not_found");
        assert_eq!(
            StorageError::Conflict {
                what: "project",
                key: "p".into()
            }
            .code(),
            "conflict"
        );
        assert_eq!(
            StorageError::invalid("kind", "empty").code(),
            "invalid_input"
        );
        assert_eq!(StorageError::EventLogClosed.code(), "event_log_closed");
        assert_eq!(
            StorageError::EventLogWrite(Arc::new(sqlx::Error::PoolClosed)).code(),
            "event_log_write_failed"
        );
    }
}
