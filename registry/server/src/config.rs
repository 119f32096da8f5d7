//! Server configuration and the shared state handlers see.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, bail};
use axum::http::HeaderMap;
use sha2::{Digest as _, Sha256};
use stockade_bundle::KeyRing;
use subtle::ConstantTimeEq as _;

use crate::error::ApiError;
use crate::store::Store;

/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5050";
/// Default cap on one uploaded blob: 64 MiB.
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 64 << 20;

/// A bearer token. Never printed.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(redacted)")
    }
}

impl Token {
    /// A token from its text (surrounding whitespace trimmed); at least 16 characters.
    pub fn new(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        if text.len() < 16 {
            bail!("a token must be at least 16 characters");
        }
        Ok(Token(text.to_owned()))
    }

    /// Reads a token file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::new(&text).with_context(|| path.display().to_string())
    }

    /// Constant-time comparison (of SHA-256 digests, so lengths do not leak either).
    fn matches(&self, given: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(given.as_bytes());
        a.ct_eq(&b).into()
    }
}

/// Everything `serve` needs. Defaults: listen [`DEFAULT_LISTEN`], no tokens (publishing and
/// operator endpoints refuse every request), no keys, blobs up to [`DEFAULT_MAX_BLOB_BYTES`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory: `registry.db`, `blobs/`, `tmp/`.
    pub data: PathBuf,
    /// Listen address; a non-loopback one needs both tokens.
    pub listen: SocketAddr,
    /// Bearer token for blob uploads and publishing.
    pub publish_token: Option<Token>,
    /// Bearer token for approvals, yanks and revocation lists.
    pub admin_token: Option<Token>,
    /// Operator keys: approvals and revocation lists submitted over HTTP must be signed by one.
    pub operator_keys: KeyRing,
    /// Publisher keys: when not empty, a publish must be signed by one of them.
    pub publisher_keys: KeyRing,
    /// Largest blob accepted.
    pub max_blob_bytes: u64,
}

impl Config {
    /// Defaults for a data directory.
    pub fn new(data: PathBuf) -> Self {
        Config {
            data,
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5050))),
            publish_token: None,
            admin_token: None,
            operator_keys: KeyRing::default(),
            publisher_keys: KeyRing::default(),
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
        }
    }

    /// Refuses a non-loopback listen address unless both tokens are set.
    pub fn check(&self) -> anyhow::Result<()> {
        if !self.listen.ip().is_loopback()
            && (self.publish_token.is_none() || self.admin_token.is_none())
        {
            bail!(
                "refusing to listen on {} (not loopback) without --publish-token-file and --admin-token-file",
                self.listen
            );
        }
        Ok(())
    }
}

/// Who a request must come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holder of the publish token.
    Publisher,
    /// Holder of the admin (operator) token.
    Admin,
}

/// Shared handler state.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database and blobs.
    pub store: Store,
    /// Configuration.
    pub config: Arc<Config>,
    /// Open upload sessions (`POST .../uploads/` without a digest).
    pub uploads: Arc<Mutex<HashSet<String>>>,
}

impl AppState {
    /// State over an opened store.
    pub fn new(store: Store, config: Config) -> Self {
        AppState {
            store,
            config: Arc::new(config),
            uploads: Arc::default(),
        }
    }

    /// Checks `Authorization: Bearer <token>` for `role`.
    pub fn authorize(&self, headers: &HeaderMap, role: Role) -> Result<(), ApiError> {
        let token = match role {
            Role::Publisher => &self.config.publish_token,
            Role::Admin => &self.config.admin_token,
        };
        let Some(token) = token else {
            return Err(ApiError::unauthorized(format!(
                "no {role:?} token is configured on this registry"
            )));
        };
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match given {
            Some(given) if token.matches(given) => Ok(()),
            _ => Err(ApiError::unauthorized(format!(
                "a {role:?} bearer token is required"
            ))),
        }
    }
}
