//! The write token and the `X-Stockade-Write-Token` header that presents it.

use std::fmt;

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The request header that carries the write token: the raw token, no scheme. It is separate
/// from `Authorization`, which carries a user API token for the authentication step, so a
/// remote client can send both.
pub const WRITE_TOKEN_HEADER: &str = "x-stockade-write-token";

/// Shortest write token accepted; a guessable token would make the guard decorative.
const MIN_TOKEN_LEN: usize = 16;

/// The operator's write token. Only its SHA-256 digest is kept, so neither `Debug` nor a memory
/// dump of this value reveals the token.
#[derive(Clone)]
pub struct WriteToken {
    digest: [u8; 32],
}

/// Why a configured write token is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteTokenError {
    /// Shorter than 16 characters.
    #[error("the write token must be at least {min} characters long")]
    TooShort {
        /// The minimum length.
        min: usize,
    },
    /// Contains whitespace, control or non-ASCII characters, which a client could not send
    /// back unchanged in an `X-Stockade-Write-Token` header.
    #[error("the write token may contain only visible ASCII characters (no spaces)")]
    InvalidCharacters,
}

impl WriteTokenError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "write_token_too_short",
            Self::InvalidCharacters => "write_token_invalid",
        }
    }
}

impl WriteToken {
    /// Accepts a token of at least 16 visible ASCII characters.
    pub fn new(token: &str) -> Result<Self, WriteTokenError> {
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(WriteTokenError::InvalidCharacters);
        }
        if token.len() < MIN_TOKEN_LEN {
            return Err(WriteTokenError::TooShort { min: MIN_TOKEN_LEN });
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Whether `presented` is the token. Both sides are hashed first, so the constant-time
    /// compare always runs over 32 bytes and neither the length nor a common prefix leaks.
    pub fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.ct_eq(&presented).into()
    }
}

impl fmt::Debug for WriteToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteToken(<redacted>)")
    }
}

/// Why a request's write token was not accepted. Recorded in the event log; the client sees
/// only `write_unauthorized`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTokenProblem {
    /// No `X-Stockade-Write-Token` header.
    Missing,
    /// More than one `X-Stockade-Write-Token` header: refused rather than guessing which one
    /// counts.
    Multiple,
    /// The value has whitespace inside it, or bytes that are not visible ASCII.
    Malformed,
    /// The header is present but empty (or only spaces and tabs).
    Empty,
    /// A well-formed token that is not the write token.
    Mismatch,
}

impl WriteTokenProblem {
    /// A stable machine reason for logs and events.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Multiple => "multiple_write_token_headers",
            Self::Malformed => "malformed",
            Self::Empty => "empty",
            Self::Mismatch => "mismatch",
        }
    }
}

impl fmt::Display for WriteTokenProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "no X-Stockade-Write-Token header",
            Self::Multiple => "more than one X-Stockade-Write-Token header",
            Self::Malformed => "X-Stockade-Write-Token has whitespace or non-visible-ASCII bytes",
            Self::Empty => "empty X-Stockade-Write-Token header",
            Self::Mismatch => "X-Stockade-Write-Token is not the write token",
        })
    }
}

/// Checks the request's `X-Stockade-Write-Token: <token>` against `token`.
///
/// The value is the raw token, with no scheme. Only spaces and tabs around it are trimmed (hyper
/// already strips them; a `HeaderMap` built by hand may not have); whitespace inside the value
/// makes it malformed, and anything else after the token is part of the presented value and
/// makes it wrong rather than being trimmed away. `Authorization` is not looked at.
pub(super) fn check_write_token(
    headers: &HeaderMap,
    token: &WriteToken,
) -> Result<(), WriteTokenProblem> {
    let mut values = headers.get_all(WRITE_TOKEN_HEADER).iter();
    let value = values.next().ok_or(WriteTokenProblem::Missing)?;
    if values.next().is_some() {
        return Err(WriteTokenProblem::Multiple);
    }
    let value = value.to_str().map_err(|_| WriteTokenProblem::Malformed)?;
    let presented = value.trim_matches([' ', '\t']);
    if presented.is_empty() {
        return Err(WriteTokenProblem::Empty);
    }
    if !presented.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WriteTokenProblem::Malformed);
    }
    if token.matches(presented) {
        Ok(())
    } else {
        Err(WriteTokenProblem::Mismatch)
    }
}
