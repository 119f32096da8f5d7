//! The Stockade plugin runtime: runs one tool call in a fresh, sandboxed WebAssembly instance.
//!
//! - [`Runtime`] owns the one wasmtime `Engine` (pooling allocator, epoch interruption), the
//!   [`Linker`](wasmtime::component::Linker) with WASI P2 and the `stockade:plugin/log` and
//!   `stockade:plugin/secrets` host interfaces, the on-disk cache of compiled components and the epoch ticker.
//! - [`Runtime::load`] turns component bytes into a [`LoadedComponent`]: compiled (or loaded from
//!   the cache after verifying it), pre-instantiated, and described (its tools and schemas).
//! - [`Runtime::call`] runs one [`ToolCall`] in a fresh `Store` that carries exactly the
//!   [`ToolGrants`] of the tool being called and its [`Limits`]; a trap or limit hit ends that
//!   call only, with a stable [`CallError::code`].
//! - [`Bundle`] ties a [`BundleManifest`](stockade_registry_types::BundleManifest) to its loaded
//!   components and refuses grants that exceed what a tool requested.
//!
//! ```text
//! Bundle::call ─ grants within request? ─ Runtime::call ─ fresh Store(grants, limits)
//!   ─ InstancePre::instantiate ─ tools.call under epoch deadline ─ output size check
//! ```

#![deny(unsafe_code)]

mod bindings;
mod bundle;
mod cache;
mod call;
mod egress;
mod engine;
mod error;
mod grants;
mod limits;
mod readable;

pub use bindings::ToolDescriptor;
pub use bundle::{Bundle, BundleError, BundleTool, locate_component};
pub use cache::CacheOutcome;
pub use call::{CallOutput, ToolCall};
pub use egress::{
    AgentRate, Egress, EgressLimits, EgressLog, EgressOutcome, EgressRecord, MAX_SECRET_NAME,
    SecretInjection, codes as egress_codes,
};
pub use engine::{LoadedComponent, Runtime, RuntimeConfig, RuntimeError};
pub use error::CallError;
pub use grants::{DirGrant, GrantError, ToolGrants};
pub use limits::Limits;
pub use readable::{LogFilter, LogScrubber, ReadableSecrets};
