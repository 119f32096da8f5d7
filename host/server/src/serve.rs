//! Starting and stopping the server: bind policy, write token, listener, graceful shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;

use crate::app::{AppState, app};
use crate::config::Config;

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A non-loopback bind without a write token and without the explicit override.
    #[error(
        "refusing to listen on {0} without a write token: anyone who can reach it could change \
         this server. Set `write_token_file` (or --write-token-file), bind a loopback address, \
         or pass --insecure-public-bind to accept the risk"
    )]
    PublicBindWithoutToken(SocketAddr),
    /// The write token file is missing, empty or unreadable.
    #[error("write token file {path}: {message}")]
    WriteToken {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Startup failed for another reason (data directory, storage, runtime).
    #[error("{0}")]
    Startup(String),
}

/// The write token, if configured. Never printed.
pub(crate) fn load_write_token(config: &Config) -> Result<Option<String>, ServeError> {
    let Some(path) = &config.write_token_file else {
        return Ok(None);
    };
    let err = |message: String| ServeError::WriteToken {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let token = text.trim();
    if token.len() < 16 {
        return Err(err("the token must be at least 16 characters".into()));
    }
    warn_if_readable_by_others(path);
    Ok(Some(token.to_owned()))
}

fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "write token file is readable by group or others; chmod 600 it");
    }
}

/// Applies the bind policy: loopback is always fine; anything else needs a write token or the
/// explicit, loudly logged override.
pub(crate) fn check_bind(config: &Config, has_token: bool) -> Result<(), ServeError> {
    if config.bind.ip().is_loopback() || has_token {
        return Ok(());
    }
    if config.insecure_public_bind {
        tracing::warn!(
            bind = %config.bind,
            "INSECURE: listening on a non-loopback address without a write token; \
             writes are refused from non-loopback clients, but reads are open to the network"
        );
        return Ok(());
    }
    Err(ServeError::PublicBindWithoutToken(config.bind))
}

/// Binds the listener and serves until `shutdown` resolves, then drains in-flight requests.
/// `ready` receives the bound address (useful with port 0).
pub async fn serve(
    config: Config,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let token = load_write_token(&config)?;
    check_bind(&config, token.is_some())?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        ServeError::Startup(format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.bind,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.bind,
        source,
    })?;
    let state = Arc::new(AppState::new(config, token, local).await?);
    state.refresh_redactor().await;
    tracing::info!(addr = %local, mode = ?state.config.mode, "stockade listening");
    ready(local);
    let retention = tokio::spawn(retention_loop(state.clone()));
    let revocations = tokio::spawn(revocation_loop(state.clone()));
    axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| ServeError::Startup(e.to_string()))?;
    retention.abort();
    revocations.abort();
    state.shutdown().await;
    tracing::info!("stockade stopped");
    Ok(())
}

/// How often old events are pruned.
const RETENTION_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// Prunes events older than `events.retention_days` at start and then periodically. Pruning
/// writes a checkpoint, so `stockade audit verify` still verifies what remains.
async fn retention_loop(state: Arc<AppState>) {
    let keep_ms = i64::from(state.config.events.retention_days) * 86_400_000;
    loop {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        match state.db.events().prune_before(now_ms - keep_ms).await {
            Ok(report) if report.deleted > 0 => {
                tracing::info!(deleted = report.deleted, "pruned events past retention");
            }
            Ok(_) => {}
            Err(err) => tracing::error!(%err, "event retention failed"),
        }
        tokio::time::sleep(RETENTION_INTERVAL).await;
    }
}

/// Syncs the registry's revocation list at start and every `registry.revocation_sync_secs`
/// (nothing to do without a registry). A failed sync keeps the last verified list.
async fn revocation_loop(state: Arc<AppState>) {
    if !state.registry.configured() {
        return;
    }
    let every = Duration::from_secs(state.config.registry.revocation_sync_secs.max(1));
    loop {
        match state.sync_revocations().await {
            Ok(revoked) => tracing::debug!(revoked, "revocation list synced"),
            Err(err) => tracing::warn!(
                code = err.code(),
                message = err.message(),
                "revocation list sync failed; keeping the last verified list"
            ),
        }
        tokio::time::sleep(every).await;
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_policy() {
        let cases: &[(&str, &str, bool, bool, bool)] = &[
            // name, bind, token, override, allowed
            ("loopback v4", "127.0.0.1:7878", false, false, true),
            ("loopback v6", "[::1]:7878", false, false, true),
            ("any address, no token", "0.0.0.0:7878", false, false, false),
            ("public v6, no token", "[::]:7878", false, false, false),
            ("any address with token", "0.0.0.0:7878", true, false, true),
            (
                "any address with override",
                "0.0.0.0:7878",
                false,
                true,
                true,
            ),
        ];
        for (name, bind, token, insecure, allowed) in cases {
            let config = Config {
                bind: bind.parse().unwrap(),
                insecure_public_bind: *insecure,
                ..Config::default()
            };
            assert_eq!(check_bind(&config, *token).is_ok(), *allowed, "{name}");
        }
    }
}
