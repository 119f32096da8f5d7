//! The one `bindgen!` site of the host: Rust types for `wit/plugin.wit` and the host side of
//! the `stockade:plugin/log` interface.

use crate::call::CallState;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    exports: { default: async },
});

use stockade::plugin::log::{Host, Level};
pub use stockade::plugin::types::{ToolDescriptor, ToolError};

/// Longest log message kept; the rest is cut so a plugin cannot flood the host's log.
const MAX_MESSAGE: usize = 4096;
/// Most fields kept per record.
const MAX_FIELDS: usize = 32;
/// Records kept per call; later ones are counted and dropped.
const MAX_RECORDS: u32 = 1000;

impl Host for CallState {
    fn log(&mut self, level: Level, message: String, fields: Vec<(String, String)>) {
        self.log_records += 1;
        if self.log_records > MAX_RECORDS {
            return;
        }
        let message = truncate(&message, MAX_MESSAGE);
        let fields: Vec<_> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{}={}", truncate(k, 64), truncate(v, 256)))
            .collect();
        let fields = fields.join(" ");
        let (component, tool) = (&*self.component, &*self.tool);
        match level {
            Level::Trace => tracing::trace!(target: "plugin", component, tool, fields, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", component, tool, fields, "{message}"),
            Level::Info => tracing::info!(target: "plugin", component, tool, fields, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", component, tool, fields, "{message}"),
            Level::Error => tracing::error!(target: "plugin", component, tool, fields, "{message}"),
        }
    }
}

impl stockade::plugin::types::Host for CallState {}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
