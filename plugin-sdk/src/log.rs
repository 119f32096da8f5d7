//! Structured logging into the host's log.
//!
//! Records go to the host through the `stockade:plugin/log` import, which tags them with the
//! plugin, tool and call. The host truncates long messages and drops records past a per-call
//! limit, so log what helps an operator, not every step. Do not log secrets or file contents.
//!
//! ```
//! use stockade_plugin_sdk::log;
//!
//! fn note_search(pattern: &str, files: usize) {
//!     log::info("search finished");
//!     log::log(log::Level::Debug, "search finished", &[("pattern", pattern), ("files", &files.to_string())]);
//! }
//! ```
//!
//! Built for anything but WebAssembly (a plugin's native unit tests), records are written to
//! standard error instead, because there is no host to receive them.

/// Severity of a log record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Information useful when debugging the plugin.
    Debug,
    /// Normal operation worth recording.
    Info,
    /// Something unexpected that the tool recovered from.
    Warn,
    /// Something failed.
    Error,
}

/// Emits one record with key/value `fields`.
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    emit(level, message, fields);
}

/// Emits a record at [`Level::Trace`].
pub fn trace(message: &str) {
    emit(Level::Trace, message, &[]);
}

/// Emits a record at [`Level::Debug`].
pub fn debug(message: &str) {
    emit(Level::Debug, message, &[]);
}

/// Emits a record at [`Level::Info`].
pub fn info(message: &str) {
    emit(Level::Info, message, &[]);
}

/// Emits a record at [`Level::Warn`].
pub fn warn(message: &str) {
    emit(Level::Warn, message, &[]);
}

/// Emits a record at [`Level::Error`].
pub fn error(message: &str) {
    emit(Level::Error, message, &[]);
}

#[cfg(target_family = "wasm")]
fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
    use crate::__bindings::stockade::plugin::log as wit;

    let level = match level {
        Level::Trace => wit::Level::Trace,
        Level::Debug => wit::Level::Debug,
        Level::Info => wit::Level::Info,
        Level::Warn => wit::Level::Warn,
        Level::Error => wit::Level::Error,
    };
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    wit::log(level, message, &fields);
}

/// The generated import is a stub that panics outside WebAssembly, which would make every tool
/// that logs untestable natively.
#[cfg(not(target_family = "wasm"))]
fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
    use std::fmt::Write as _;

    let mut line = format!("[{level:?}] {message}");
    for (key, value) in fields {
        let _ = write!(line, " {key}={value:?}");
    }
    eprintln!("{line}");
}
