//! The Stockade private bundle registry.
//!
//! - [`store::Store`]: SQLite (`registry.db`, migrations in `migrations/`) for versions,
//!   approvals, yanks and revocation lists, plus a content-addressed blob store
//!   (`blobs/sha256/<hex>`, written through `tmp/` + fsync + rename).
//! - [`app`] is the HTTP router (see [`routes`] for the endpoint table): the OCI distribution
//!   pull API, so standard clients such as skopeo can read it, and the publishing and operator
//!   API under `/stockade/v1`. Only approved versions are visible to pulls.
//! - [`operator`]: approve and revoke against a data directory with an operator key.
//! - [`mirror`]: copy exactly the approved entries of a list from an upstream, fail closed.
//! - [`cli`]: the `stockade-registry` command line; `main.rs` only calls [`cli::run`].
//!
//! Formats (artifact layout, signatures, approvals, revocation lists, lock file, error codes)
//! are defined and documented in `stockade-bundle`.

#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod error;
pub mod mirror;
pub mod operator;
pub mod routes;
pub mod store;

use std::net::SocketAddr;

pub use config::{AppState, Config};
pub use routes::app;

/// Opens the store, binds `config.listen` and serves until Ctrl-C. `ready` gets the bound
/// address (useful with port 0).
pub async fn serve(config: Config, ready: impl FnOnce(SocketAddr)) -> anyhow::Result<()> {
    config.check()?;
    let store = store::Store::open(&config.data).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    ready(addr);
    tracing::info!(%addr, data = %config.data.display(), "registry listening");
    axum::serve(listener, app(AppState::new(store, config)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
