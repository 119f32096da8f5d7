//! The Stockade server.
//!
//! - [`Config`] is the typed configuration, layered defaults → file → env → flags.
//! - [`serve`] checks the bind policy, opens storage, and serves [`app`] until shutdown.

#![forbid(unsafe_code)]

mod app;
mod auth;
mod config;
mod error;
mod guard;
mod metrics;
mod registry;
mod routes;
mod serve;
mod snapshot;
mod workspaces;

pub use app::{AppState, app};
pub use config::{
    Config, ConfigError, DEFAULT_CONFIG_FILE, EventsConfig, Mode, Overrides, RateLimitConfig,
    RegistryConfig, WorkspacesConfig,
};
pub use error::ApiError;
pub use serve::{ServeError, serve, shutdown_signal};
