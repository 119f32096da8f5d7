//! The SDK for writing Stockade tool plugins in Rust.
//!
//! A plugin is a WebAssembly component (`wasm32-wasip2`) implementing the `stockade:plugin`
//! world: it describes its tools and runs one tool per call, in a fresh sandboxed instance that
//! sees only what the operator granted to that tool. With this crate a plugin is ordinary Rust:
//!
//! - each tool is a function from a typed input (`#[derive(Deserialize, JsonSchema)]`) to
//!   `Result<impl Serialize, ToolError>`;
//! - [`Tools`] registers the functions by name with a description; the SDK derives each
//!   input's JSON Schema (draft 2020-12) for `describe` and answers bad input with
//!   [`ToolError::InvalidInput`] naming the field, before your function runs;
//! - [`export_plugin!`] exports the set as the component's `tools` interface;
//! - [`ToolError`] says why a call failed ([`ToolError::from_io`] and [`IoResultExt`] map
//!   `std::io` errors), and [`log`] writes to the host's log;
//! - [`secrets::get`] reads a secret the operator granted for reading (prefer host-side
//!   injection into outbound requests, which keeps the value out of the plugin).
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//! use stockade_plugin_sdk::{IoResultExt, ToolError, Tools, log};
//!
//! /// Input of `greet`. Doc comments become descriptions in the JSON Schema.
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Greet {
//!     /// Who to greet.
//!     name: String,
//! }
//!
//! fn greet(input: Greet) -> Result<String, ToolError> {
//!     Ok(format!("hello {}", input.name))
//! }
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct CountLines {
//!     /// File to count, relative to the project directory (preopened at `/project`).
//!     path: String,
//! }
//!
//! #[derive(Serialize)]
//! struct LineCount {
//!     lines: usize,
//! }
//!
//! fn count_lines(input: CountLines) -> Result<LineCount, ToolError> {
//!     let text = std::fs::read_to_string(format!("/project/{}", input.path))
//!         .tool_context(|| format!("read {}", input.path))?;
//!     log::info("counted lines");
//!     Ok(LineCount { lines: text.lines().count() })
//! }
//!
//! fn tools() -> Tools {
//!     Tools::new()
//!         .tool("greet", "Greets someone by name.", greet)
//!         .tool("count_lines", "Counts the lines of a text file in the project.", count_lines)
//! }
//!
//! stockade_plugin_sdk::export_plugin!(tools);
//!
//! // The same dispatch the host reaches, callable natively from unit tests:
//! assert_eq!(tools().call("greet", r#"{"name": "ada"}"#), Ok(r#""hello ada""#.to_owned()));
//! assert_eq!(
//!     tools().call("greet", r#"{"name": 3}"#),
//!     Err(ToolError::invalid_input("name: invalid type: integer `3`, expected a string")),
//! );
//! ```
//!
//! The plugin crate is a `cdylib` built with `cargo build --target wasm32-wasip2 --release`;
//! see the README for building and running it under `stockade plugin run`.
//!
//! The derive macros expand to paths of the `serde` and `schemars` crates, so a plugin
//! depends on both itself (same versions as this SDK: serde 1, schemars 1). They are also
//! re-exported here ([`serde`], [`schemars`], [`serde_json`]) for code that needs their
//! functions without naming the dependencies.

#![deny(missing_docs)]
// The generated bindings need no exception: see `bindings.rs`.
#![forbid(unsafe_code)]

// Lets the generated bindings and the export macro use one absolute path,
// `::stockade_plugin_sdk::__bindings`, both inside this crate and in a plugin author's crate.
extern crate self as stockade_plugin_sdk;

mod error;
mod input;
pub mod log;
pub mod secrets;
mod tools;

pub use error::{IoResultExt, ToolError};
pub use tools::{ToolDescriptor, Tools};

pub use schemars;
pub use serde;
pub use serde_json;

/// Generated bindings, the one `generate!` site. Not part of the public API.
#[doc(hidden)]
#[allow(missing_docs, unused_qualifications, missing_debug_implementations)]
#[path = "bindings.rs"]
pub mod __bindings;

/// Glue between [`Tools`] and the generated `tools` interface, used by [`export_plugin!`].
/// Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__bindings::exports::stockade::plugin::tools::{
        Guest, ToolDescriptor, ToolError,
    };

    /// `describe` of the exported interface.
    pub fn describe(tools: &crate::Tools) -> Vec<ToolDescriptor> {
        tools
            .describe()
            .into_iter()
            .map(|tool| ToolDescriptor {
                name: tool.name,
                description: tool.description,
                input_schema: tool.input_schema,
            })
            .collect()
    }

    /// `call` of the exported interface.
    pub fn call(tools: &crate::Tools, tool: &str, input: &str) -> Result<String, ToolError> {
        tools.call(tool, input).map_err(|err| match err {
            crate::ToolError::InvalidInput(m) => ToolError::InvalidInput(m),
            crate::ToolError::NotFound(m) => ToolError::NotFound(m),
            crate::ToolError::Denied(m) => ToolError::Denied(m),
            crate::ToolError::Failed(m) => ToolError::Failed(m),
        })
    }
}

/// Exports a plugin's tools as the component's `stockade:plugin/tools` interface.
///
/// Pass the path of a function `fn() -> Tools`. Use it once, in the plugin's crate root; the
/// crate must be a `cdylib` to become a component. Built for a native target the macro only
/// type-checks the glue and exports nothing, so the crate's unit tests build.
///
/// The expansion contains `unsafe` canonical-ABI export functions, yet the plugin crate may
/// `#![forbid(unsafe_code)]`: rustc does not apply that lint to code expanded from another
/// crate's macro, and the macro deliberately emits no `#[allow(unsafe_code)]`, which a
/// `forbid` would reject as an error.
///
/// ```
/// #![forbid(unsafe_code)]
/// use stockade_plugin_sdk::{ToolError, Tools};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Noop {}
///
/// fn tools() -> Tools {
///     Tools::new().tool("noop", "Does nothing.", |_: Noop| Ok(serde_json::json!({})))
/// }
///
/// stockade_plugin_sdk::export_plugin!(tools);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    ($tools:path) => {
        #[allow(dead_code)]
        const _: () = {
            struct StockadePlugin;

            impl $crate::__private::Guest for StockadePlugin {
                fn describe() -> ::std::vec::Vec<$crate::__private::ToolDescriptor> {
                    $crate::__private::describe(&$tools())
                }

                fn call(
                    tool: ::std::string::String,
                    input: ::std::string::String,
                ) -> ::std::result::Result<::std::string::String, $crate::__private::ToolError>
                {
                    $crate::__private::call(&$tools(), &tool, &input)
                }
            }

            // A native build (a plugin's unit tests, clippy) has no host to export to, and the
            // export symbols' names (`stockade:plugin/tools@0.1.0#call`) break native linkers.
            // The impl above is still type-checked there.
            #[cfg(target_family = "wasm")]
    $crate::__bindings::export!(StockadePlugin with_types_in $crate::__bindings);
        };
    };
}
