//! How a call can fail. Every variant has a stable machine code for APIs and the event log.

use std::time::Duration;

use crate::grants::GrantError;

/// Why a tool call did not produce output.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin rejected the input (`tool-error::invalid-input`).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The plugin reported that something does not exist (`tool-error::not-found`).
    #[error("not found: {0}")]
    NotFound(String),
    /// The plugin reported an operation outside its grant (`tool-error::denied`).
    #[error("denied: {0}")]
    Denied(String),
    /// The plugin ran and reported a failure (`tool-error::failed`).
    #[error("tool failed: {0}")]
    ToolFailed(String),
    /// The tool is not offered by this component or bundle.
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    /// A grant is not within what the manifest requests for this tool.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The call ran past its wall-clock deadline and was stopped.
    #[error("deadline of {} ms exceeded", .0.as_millis())]
    DeadlineExceeded(Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("memory limit of {} MiB reached", .0 >> 20)]
    MemoryLimit(u64),
    /// The output is larger than the cap.
    #[error("output of {size} bytes exceeds the limit of {limit} bytes")]
    OutputTooLarge {
        /// Output size in bytes.
        size: u64,
        /// The cap in bytes.
        limit: u64,
    },
    /// The plugin trapped (a bug in the plugin, a stack overflow, a panic).
    #[error("plugin trapped: {0}")]
    PluginTrapped(String),
    /// The output is not valid JSON.
    #[error("plugin returned invalid JSON: {0}")]
    InvalidOutput(String),
    /// Every instance slot is in use; retry later.
    #[error("no instance slot available: {0}")]
    Capacity(String),
    /// A limit override is outside what this runtime supports.
    #[error("limit out of range: {0}")]
    LimitOutOfRange(String),
    /// The plugin's outbound request was refused by egress policy or one of its caps, and the
    /// call failed. `code` is `egress_denied` for policy refusals, or the cap's own code
    /// (`egress_rate_limited`, `egress_too_many_requests`, `egress_request_too_large`,
    /// `egress_response_too_large`).
    #[error("{reason}")]
    Egress {
        /// The stable code.
        code: &'static str,
        /// What was refused and why.
        reason: String,
    },
    /// A host-side failure unrelated to the plugin.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CallError {
    /// The stable machine code of this error, as used in API responses and events.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "invalid_input",
            Self::NotFound(_) => "not_found",
            Self::Denied(_) => "denied",
            Self::ToolFailed(_) => "tool_failed",
            Self::UnknownTool(_) => "unknown_tool",
            Self::Grant(err) => err.code(),
            Self::DeadlineExceeded(_) => "deadline_exceeded",
            Self::MemoryLimit(_) => "memory_limit",
            Self::OutputTooLarge { .. } => "output_too_large",
            Self::PluginTrapped(_) => "plugin_trapped",
            Self::InvalidOutput(_) => "invalid_output",
            Self::Capacity(_) => "capacity_exhausted",
            Self::LimitOutOfRange(_) => "limit_out_of_range",
            Self::Egress { code, .. } => code,
            Self::Internal(_) => "internal",
        }
    }
}
