//! The one `bindgen!` site of the host: Rust types for `wit/plugin.wit` and the host side of
//! the `stockade:plugin/log` and `stockade:plugin/secrets` interfaces.

use crate::call::CallState;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    exports: { default: async },
});

use stockade::plugin::log::{Host, Level};
use stockade::plugin::secrets::SecretError;
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
        // Scrubbed after truncation, so a secret cut in half cannot slip through unrecognised
        // at the end of a record: the scrubber sees exactly the text that is logged.
        let message = self.log_filter.apply(truncate(&message, MAX_MESSAGE));
        let fields: Vec<_> = fields
            .iter()
            .take(MAX_FIELDS)
            .map(|(k, v)| format!("{}={}", truncate(k, 64), truncate(v, 256)))
            .collect();
        let fields = self.log_filter.apply(&fields.join(" ")).into_owned();
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

impl stockade::plugin::secrets::Host for CallState {
    /// The value when this call's grant lets the tool read `name`; anything else, including a
    /// granted name with no stored value (the grant is resolved before the call), is refused
    /// with the same answer, so a plugin cannot probe which secrets exist.
    fn get(&mut self, name: String) -> Result<String, SecretError> {
        self.secrets.get(&name).ok_or_else(|| {
            SecretError::NotGranted(format!(
                "secret `{}` is not granted to tool `{}` for reading",
                truncate(&name, 128),
                self.tool
            ))
        })
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
