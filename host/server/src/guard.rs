//! The first two steps of every request: the write guard, then the per-client rate limit.
//! Both run before authentication so that refused requests cost almost nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use stockade_policy::{ClientResolver, GuardOutcome, RateLimiter, WriteGuard, WriteToken};

use crate::app::AppState;
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::Denial;
use crate::serve::ServeError;

/// The write guard, client identity and the two rate limiters.
#[derive(Debug)]
pub struct Guards {
    write: WriteGuard,
    clients: ClientResolver,
    api: RateLimiter,
    webhooks: RateLimiter,
}

impl Guards {
    /// Builds the guards from the configuration and the write token, if any.
    pub fn new(config: &Config, write_token: Option<&str>) -> Result<Self, ServeError> {
        let token = write_token
            .map(WriteToken::new)
            .transpose()
            .map_err(|err| ServeError::Startup(format!("write token: {err}")))?;
        let window = Duration::from_secs(60);
        let limiter = |per_minute: u32| {
            RateLimiter::new(per_minute, window)
                .map_err(|err| ServeError::Startup(format!("rate limit: {err}")))
        };
        Ok(Self {
            write: WriteGuard::new(token),
            clients: ClientResolver::new(config.trusted_proxies.clone()),
            api: limiter(config.rate_limit.api_per_minute)?,
            webhooks: limiter(config.rate_limit.webhooks_per_minute)?,
        })
    }

    /// Whether a write token is configured.
    pub fn has_write_token(&self) -> bool {
        self.write.has_token()
    }
}

/// Middleware: write guard, then rate limit (API and metrics, or webhooks).
pub async fn guard(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let guards = &state.guards;
    let path = request.uri().path();
    match guards
        .write
        .check(request.method(), path, peer.ip(), request.headers())
    {
        GuardOutcome::Allowed { .. } | GuardOutcome::Webhook => {}
        GuardOutcome::Denied(err) => {
            tracing::info!(peer = %peer, method = %request.method(), path, code = err.code(), "write refused");
            state.metrics.denied(Denial::Write);
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::FORBIDDEN);
            return ApiError::new(status, err.code(), err.to_string()).into_response();
        }
    }
    let limiter = if path.starts_with("/webhooks/") {
        Some(&guards.webhooks)
    } else if path.starts_with("/v1/") || path == "/metrics" {
        Some(&guards.api)
    } else {
        None
    };
    if let Some(limiter) = limiter {
        let client = guards.clients.resolve(peer.ip(), request.headers());
        if let Err(retry) = limiter.check(client, Instant::now()) {
            state.metrics.denied(Denial::Rate);
            return ApiError::rate_limited(retry.secs()).into_response();
        }
    }
    let response = next.run(request).await;
    state.metrics.request(response.status().as_u16());
    response
}
