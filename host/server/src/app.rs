//! The HTTP application: shared state and the router. Tests drive [`app`] without a socket.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Router, middleware};

use crate::config::Config;
use crate::error::ApiError;
use crate::guard::{Guards, guard};
use crate::serve::ServeError;

/// Everything request handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The effective configuration.
    pub config: Config,
    /// The address the server listens on (its own address is never an egress target).
    pub local_addr: SocketAddr,
    /// Write guard, client identity, rate limiters.
    pub guards: Guards,
}

impl AppState {
    /// Builds the state: storage, runtime, policy.
    pub async fn new(
        config: Config,
        write_token: Option<String>,
        local_addr: SocketAddr,
    ) -> Result<Self, ServeError> {
        let guards = Guards::new(&config, write_token.as_deref())?;
        Ok(Self {
            config,
            local_addr,
            guards,
        })
    }

    /// Flushes what must not be lost (pending events) before the process exits.
    pub async fn shutdown(&self) {}
}

/// The router with every route and middleware.
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
