//! The one `wit_bindgen::generate!` site of the SDK: Rust bindings for the `stockade:plugin`
//! world in `wit/plugin.wit`.
//!
//! The generated canonical-ABI glue is `unsafe`, yet this crate forbids `unsafe_code`: rustc
//! does not report that lint inside expansions of macros defined in another crate (here
//! `generate!`, and in a plugin's crate the `export!` it generates), so no `allow` is needed and
//! none is written. Should a future rustc report it there, allow it on this module only.
//! Nothing here is part of the SDK's stable API: plugin authors use [`crate::Tools`],
//! [`crate::ToolError`] and [`crate::log`], and [`crate::export_plugin!`] reaches in here.

wit_bindgen::generate!({
    path: "../wit",
    world: "plugin",
    // The export macro is used from the plugin author's crate through `export_plugin!`, so it
    // must be `#[macro_export]` and find these bindings by an absolute path.
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "::stockade_plugin_sdk::__bindings",
    runtime_path: "::stockade_plugin_sdk::__bindings::__wit_bindgen::rt",
});

/// The `wit-bindgen` runtime, re-exported so that code generated into a plugin author's crate
/// does not need its own `wit-bindgen` dependency.
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;
