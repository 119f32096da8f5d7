//! [`ToolError`]: how a tool says why a call failed.

use std::fmt;
use std::io;

/// Why a tool call failed, in a form the caller (an agent) can act on.
///
/// This mirrors the WIT variant `tool-error` of `stockade:plugin`. Each kind carries a message
/// for a human or an agent; the host reports the kind as a stable error code. Return it from a
/// tool function; the SDK hands it to the host as the call's `result` error, never as a trap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolError {
    /// The input does not match the tool's schema. The message names the field.
    InvalidInput(String),
    /// The tool, or the thing it was asked about (a file, a record), does not exist.
    NotFound(String),
    /// The operation is outside what this call was granted.
    Denied(String),
    /// The tool ran and failed for another reason.
    Failed(String),
}

impl ToolError {
    /// The input is wrong. Name the field, e.g. `invalid_input("path: must be relative")`.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// The thing the tool was asked about does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// The operation is outside what this call was granted.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(message.into())
    }

    /// The tool failed for another reason.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// Maps an I/O error to the kind a caller can act on, prefixing `context` (what the tool
    /// was doing, e.g. `"read src/main.rs"`) to the message.
    ///
    /// [`io::ErrorKind::NotFound`] becomes [`ToolError::NotFound`],
    /// [`io::ErrorKind::PermissionDenied`] (which is also what a sandbox refusal looks like from
    /// inside the guest) becomes [`ToolError::Denied`], and everything else
    /// [`ToolError::Failed`].
    ///
    /// ```
    /// use stockade_plugin_sdk::ToolError;
    ///
    /// let err = std::io::Error::from(std::io::ErrorKind::NotFound);
    /// let mapped = ToolError::from_io(err, "read notes.txt");
    /// assert!(matches!(mapped, ToolError::NotFound(m) if m.starts_with("read notes.txt: ")));
    /// ```
    pub fn from_io(error: io::Error, context: impl fmt::Display) -> Self {
        let message = format!("{context}: {error}");
        match error.kind() {
            io::ErrorKind::NotFound => Self::NotFound(message),
            io::ErrorKind::PermissionDenied => Self::Denied(message),
            _ => Self::Failed(message),
        }
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Self::InvalidInput(m) | Self::NotFound(m) | Self::Denied(m) | Self::Failed(m) => m,
        }
    }

    /// The kind as the WIT case name: `invalid-input`, `not-found`, `denied` or `failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "invalid-input",
            Self::NotFound(_) => "not-found",
            Self::Denied(_) => "denied",
            Self::Failed(_) => "failed",
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for ToolError {}

/// Extension for `Result<T, io::Error>`: attach context and map the error kind in one step.
///
/// ```
/// use stockade_plugin_sdk::{IoResultExt, ToolError};
///
/// fn read(path: &str) -> Result<String, ToolError> {
///     std::fs::read_to_string(path).tool_context(|| format!("read {path}"))
/// }
/// assert!(matches!(read("/definitely/not/here"), Err(ToolError::NotFound(_))));
/// ```
pub trait IoResultExt<T> {
    /// Maps the error with [`ToolError::from_io`], computing the context only on error.
    fn tool_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T, ToolError>;
}

impl<T> IoResultExt<T> for Result<T, io::Error> {
    fn tool_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T, ToolError> {
        self.map_err(|error| ToolError::from_io(error, context()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_actionable_kinds() {
        let cases = [
            (io::ErrorKind::NotFound, "not-found"),
            (io::ErrorKind::PermissionDenied, "denied"),
            (io::ErrorKind::AlreadyExists, "failed"),
            (io::ErrorKind::InvalidData, "failed"),
        ];
        for (kind, expected) in cases {
            let err = ToolError::from_io(io::Error::new(kind, "boom"), "open a.txt");
            assert_eq!(err.kind(), expected, "{kind:?}");
            assert_eq!(err.message(), "open a.txt: boom");
        }
    }
}
