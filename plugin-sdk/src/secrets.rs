//! Secrets the operator lets a tool read.
//!
//! Most tools never need this: a grant can have the host put a secret into outbound requests
//! (write `{{secret:NAME}}` in a header value, e.g. `Authorization: Bearer
//! {{secret:github_token}}`), and the plugin never holds the value. Read a secret only when the
//! plugin must use it itself, such as to sign a request.
//!
//! A read works when the tool lists the name in its bundle manifest and the operator granted it
//! for reading:
//!
//! ```toml
//! [tools.sign]
//! component = "signer"
//! secrets = ["signing_key"]
//! ```
//!
//! Every read is recorded in the host's event log, and the host scrubs stored secret values
//! from the tool's output, error messages and log records: returning or logging the value does
//! not get it out.
//!
//! ```
//! use stockade_plugin_sdk::{ToolError, secrets};
//!
//! fn signing_key() -> Result<String, ToolError> {
//!     secrets::get("signing_key").map_err(|err| ToolError::denied(err.to_string()))
//! }
//! ```
//!
//! Built for anything but WebAssembly (a plugin's native unit tests), every read is refused,
//! because there is no host to ask.

/// Why a read was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// This tool may not read the secret (not requested, not granted, or not stored).
    NotGranted(String),
}

impl std::fmt::Display for SecretError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotGranted(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for SecretError {}

/// The value of the secret `name`, if this call may read it.
pub fn get(name: &str) -> Result<String, SecretError> {
    read(name)
}

#[cfg(target_family = "wasm")]
fn read(name: &str) -> Result<String, SecretError> {
    use crate::__bindings::stockade::plugin::secrets as wit;

    wit::get(name).map_err(|err| match err {
        wit::SecretError::NotGranted(message) => SecretError::NotGranted(message),
    })
}

#[cfg(not(target_family = "wasm"))]
fn read(name: &str) -> Result<String, SecretError> {
    Err(SecretError::NotGranted(format!(
        "secret `{name}`: no host outside WebAssembly"
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn natively_every_read_is_refused() {
        assert!(matches!(
            super::get("token"),
            Err(super::SecretError::NotGranted(message)) if message.contains("token")
        ));
    }
}
