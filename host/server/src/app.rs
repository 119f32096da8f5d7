//! The HTTP application: shared state and the router. Tests drive [`app`] without a socket.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::config::Config;
use crate::serve::ServeError;

/// Everything request handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The effective configuration.
    pub config: Config,
    /// The address the server listens on (its own address is never an egress target).
    pub local_addr: SocketAddr,
    write_token: Option<String>,
}

impl AppState {
    /// Builds the state: storage, runtime, policy.
    pub async fn new(
        config: Config,
        write_token: Option<String>,
        local_addr: SocketAddr,
    ) -> Result<Self, ServeError> {
        Ok(Self {
            config,
            local_addr,
            write_token,
        })
    }

    /// Flushes what must not be lost (pending events) before the process exits.
    pub async fn shutdown(&self) {}

    /// Whether a write token is configured.
    pub fn has_write_token(&self) -> bool {
        self.write_token.is_some()
    }
}

/// The router with every route and middleware.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}
