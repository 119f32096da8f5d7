//! The error types of this crate.
//!
//! Every variant has a stable machine [`code`](SecretError::code); the server maps codes to HTTP
//! statuses (suggested: `sealed` and `key_rotated` → 503, `secret_not_found` → 404,
//! `invalid_input` → 400, `secret_corrupt` → 500, storage codes as the server already does).
//! Messages name the secret and say how to fix the problem; they never contain a value or key.

use std::path::PathBuf;

use stockade_storage::StorageError;

/// What went wrong in a secret operation.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The store has no usable master key; the message says why and how to fix it. Nothing was
    /// read or written.
    #[error("secrets are sealed: {0}")]
    Sealed(String),

    /// No secret with this name in this scope.
    #[error("secret `{name}` not found in scope `{scope}`")]
    NotFound {
        /// The scope, as stored (`global`, `project:<id>`).
        scope: String,
        /// The name.
        name: String,
    },

    /// The stored row does not decrypt under the key its version names: it was altered, moved
    /// from another row, truncated, or its key version was changed. No plaintext is returned.
    #[error("secret `{name}` in scope `{scope}` is corrupt: {reason}; delete it and set it again")]
    Decrypt {
        /// The scope of the row.
        scope: String,
        /// The name of the row.
        name: String,
        /// What failed (never any of the row's bytes).
        reason: String,
    },

    /// The caller passed a name, scope or value this store refuses.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },

    /// A key given to [`rotate`](crate::rotate) does not match the key versions in the
    /// database. Nothing was changed.
    #[error("{0}")]
    KeyMismatch(String),

    /// The master key this store was opened with is no longer the active one (a rotation
    /// finished or is under way in another process). Nothing was written.
    #[error(
        "the master key was rotated: this server holds key version {held}, but {what}; \
         restart it with the new master key{finish}"
    )]
    KeyRotated {
        /// The version this store holds.
        held: i64,
        /// What was found instead.
        what: String,
        /// Extra advice (finishing an interrupted rotation), possibly empty.
        finish: &'static str,
    },

    /// There is nothing to rotate: no key version exists yet.
    #[error(
        "no master key version exists yet, so there is nothing to rotate: start the server \
         once with the master key to initialise the secrets store"
    )]
    NotInitialized,

    /// Another process changed the key versions while this rotation ran; rerun it.
    #[error("the key versions changed while rotating ({0}); rerun the rotation")]
    RotationConflict(String),

    /// The master key could not be loaded.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),

    /// The operating system's random number generator failed (nonces need it).
    #[error("random number generator unavailable: {0}")]
    Entropy(String),

    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl SecretError {
    /// The stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Sealed(_) => "sealed",
            Self::NotFound { .. } => "secret_not_found",
            Self::Decrypt { .. } => "secret_corrupt",
            Self::InvalidInput { .. } => "invalid_input",
            Self::KeyMismatch(_) => "key_mismatch",
            Self::KeyRotated { .. } => "key_rotated",
            Self::NotInitialized => "secrets_uninitialized",
            Self::RotationConflict(_) => "rotation_conflict",
            Self::MasterKey(e) => e.code(),
            Self::Entropy(_) => "entropy_unavailable",
            Self::Storage(e) => e.code(),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn corrupt(scope: &str, name: &str, reason: impl Into<String>) -> Self {
        Self::Decrypt {
            scope: scope.to_owned(),
            name: name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Why a master key could not be loaded. None of these messages contains key material.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The configured file (or credential) could not be read.
    #[error("cannot read the master key from {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file is readable by its group or by others.
    #[error(
        "the master key file {} is readable by group or others (mode {mode:04o}); \
         run `chmod 600 {}` so only the server's user can read it",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },

    /// The text is not a key in a supported encoding.
    #[error(
        "the master key from {origin} is not 32 bytes written as 64 hex digits or 44 base64 \
         characters ({reason}); generate one with `stockade admin generate-master-key`"
    )]
    Encoding {
        /// Where it came from (a path, `STOCKADE_MASTER_KEY`).
        origin: String,
        /// What is wrong, without echoing the text.
        reason: String,
    },

    /// The operating system's random number generator failed.
    #[error("random number generator unavailable: {0}")]
    Entropy(String),
}

impl MasterKeyError {
    /// The stable machine code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unreadable { .. } => "master_key_unreadable",
            Self::Permissions { .. } => "master_key_permissions",
            Self::Encoding { .. } => "master_key_encoding",
            Self::Entropy(_) => "entropy_unavailable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases: [(SecretError, &str); 8] = [
            (SecretError::Sealed("x".into()), "sealed"),
            (
                SecretError::NotFound {
                    scope: "global".into(),
                    name: "n".into(),
                },
                "secret_not_found",
            ),
            (SecretError::corrupt("global", "n", "r"), "secret_corrupt"),
            (SecretError::invalid("name", "r"), "invalid_input"),
            (SecretError::KeyMismatch("x".into()), "key_mismatch"),
            (
                SecretError::KeyRotated {
                    held: 1,
                    what: "x".into(),
                    finish: "",
                },
                "key_rotated",
            ),
            (SecretError::NotInitialized, "secrets_uninitialized"),
            (
                SecretError::MasterKey(MasterKeyError::Permissions {
                    path: "/k".into(),
                    mode: 0o644,
                }),
                "master_key_permissions",
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error}");
        }
    }

    #[test]
    fn permission_message_says_how_to_fix_it() {
        let e = MasterKeyError::Permissions {
            path: "/etc/stockade/key".into(),
            mode: 0o644,
        };
        let shown = e.to_string();
        assert!(shown.contains("0644"), "{shown}");
        assert!(shown.contains("chmod 600 /etc/stockade/key"), "{shown}");
    }
}
