//! The one error type of a refused destination: a stable machine code and one human sentence.
//!
//! The code is what the runtime maps to a wasi:http `ErrorCode` or a wasi:sockets error and what
//! the event log and the HTTP API report; it never changes once published. The reason names the
//! destination and why, for the operator reading the log. Reasons never repeat a URL as given:
//! it may carry credentials or tokens in its userinfo, path or query.

use std::fmt;

/// Why a destination was refused, as a stable snake_case code ([`DenialCode::as_str`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenialCode {
    /// The URL could not be parsed, has no host, or uses a spelling this crate refuses
    /// (control characters, backslashes, port 0).
    InvalidUrl,
    /// A host name (from wasi:sockets name lookup) is not a valid DNS name.
    InvalidName,
    /// No rule grants the destination's scheme (or the scheme can never be granted for URLs).
    SchemeNotGranted,
    /// The URL carries user information (`user:password@` before the host).
    UserinfoNotAllowed,
    /// The host name is on the denylist ([`crate::denied_name`]), whatever the grants say.
    NameDenied,
    /// No rule of the scheme matches the host.
    HostNotGranted,
    /// Rules match the host, but none grants the port.
    PortNotGranted,
    /// An address of the destination is in a denied range ([`crate::denied_range`]) and no
    /// IP or CIDR rule opens it.
    AddressDenied,
    /// An address of the destination is one of this server's own listen addresses.
    OwnAddress,
    /// Name resolution failed.
    ResolveFailed,
    /// Name resolution returned no address.
    NoAddress,
}

impl DenialCode {
    /// The stable machine code, e.g. `address_denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::InvalidName => "invalid_name",
            Self::SchemeNotGranted => "scheme_not_granted",
            Self::UserinfoNotAllowed => "userinfo_not_allowed",
            Self::NameDenied => "name_denied",
            Self::HostNotGranted => "host_not_granted",
            Self::PortNotGranted => "port_not_granted",
            Self::AddressDenied => "address_denied",
            Self::OwnAddress => "own_address",
            Self::ResolveFailed => "resolve_failed",
            Self::NoAddress => "no_address",
        }
    }
}

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused destination.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Denial {
    /// The stable code.
    pub code: DenialCode,
    /// One sentence naming the destination and why, e.g.
    /// `127.0.0.1 is in a denied range (loopback 127.0.0.0/8)`.
    pub reason: String,
}

impl Denial {
    /// A denial with `code` and `reason`.
    pub fn new(code: DenialCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }
}
