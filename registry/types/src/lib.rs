//! Wire types shared by the registry, the host and the author tools.
//!
//! This crate is data only: the types, their serialized form and the syntactic checks that make
//! a value well formed (a tool name is an identifier, a mount is an absolute normalized path).
//! Decisions that use these values, such as whether a grant fits a request, live in the host.
//!
//! - [`BundleManifest`] is `bundle.toml`: the bundle's name and [`semver`] version, its
//!   components ([`ComponentSpec`]) and, per tool, the capabilities it requests ([`ToolSpec`]).
//! - [`BundleManifest::from_toml`] parses it, rejecting unknown fields with the line and column.

#![forbid(unsafe_code)]

mod manifest;
mod names;

pub use manifest::{
    Access, BundleInfo, BundleManifest, ComponentSpec, DirRequest, LimitOverrides, ManifestError,
    ToolSpec,
};
pub use names::{
    BundleName, ComponentId, MountPath, NameError, RelativeFile, SecretName, ToolName,
};
