//! The write guard: who may use a mutating method (DESIGN.md, "Security requirements").
//!
//! | request                                                          | outcome                         |
//! |------------------------------------------------------------------|---------------------------------|
//! | GET, HEAD, OPTIONS                                               | allowed (`SafeMethod`)          |
//! | any other method under `/webhooks/...`                           | `Webhook`: verify its signature |
//! | from loopback, no forwarding headers                             | allowed without token           |
//! | non-loopback, no write token configured                          | 403 `write_forbidden`           |
//! | write token configured, valid `X-Stockade-Write-Token`           | allowed from any address        |
//! | write token configured, missing/invalid `X-Stockade-Write-Token` | 401 `write_unauthorized`        |
//!
//! "Loopback" is judged on the TCP peer, never on a header, and a request carrying any
//! forwarding header is *not* loopback even from 127.0.0.1: a reverse proxy on the same host
//! must not open writes to whoever it forwards. Every method other than GET/HEAD/OPTIONS is
//! treated as mutating, including TRACE, CONNECT and extension methods, so an unusual method
//! fails closed.
//!
//! The write token travels in its own header, `X-Stockade-Write-Token: <token>` (the raw token,
//! no scheme; [`WRITE_TOKEN_HEADER`]), not in `Authorization`: that header carries the user API
//! token (`Authorization: Bearer <api-token>`) for the authentication step that runs after this
//! guard, and a remote client has to be able to send both. The guard ignores `Authorization`
//! entirely: a user API token there neither opens writes nor blocks them, and the write token
//! sent as `Authorization: Bearer <token>` does not count. So a loopback request is allowed
//! whatever its `Authorization` header says.

mod token;

pub use token::{WRITE_TOKEN_HEADER, WriteToken, WriteTokenError, WriteTokenProblem};

use std::net::IpAddr;

use http::{HeaderMap, Method};

/// Header names that show a request was relayed. `x-forwarded*` is matched as a prefix so every
/// `X-Forwarded-*` variant counts; the rest are the common vendor spellings of the same idea,
/// because a proxy configured with one of them is just as much a proxy.
const FORWARDING_HEADERS: &[&str] = &[
    "forwarded",
    "x-real-ip",
    "via",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
];

/// Decides whether a request may use a mutating method.
#[derive(Debug, Clone)]
pub struct WriteGuard {
    token: Option<WriteToken>,
}

/// The outcome of [`WriteGuard::check`].
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardOutcome {
    /// The request may proceed to rate limiting and authentication.
    Allowed {
        /// Which row of the table allowed it.
        reason: AllowReason,
    },
    /// A mutating request to `/webhooks/...`: the write guard does not decide it. The server
    /// must verify its HMAC signature ([`crate::WebhookVerifier`]) before doing anything else;
    /// the webhook handler should not rely on having been reached only through this outcome.
    Webhook,
    /// The request is refused.
    Denied(GuardError),
}

/// Why [`WriteGuard::check`] allowed a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowReason {
    /// GET, HEAD or OPTIONS.
    SafeMethod,
    /// A loopback peer with no forwarding headers.
    Loopback,
    /// A valid write token.
    WriteToken,
}

/// Why a write was refused, with its HTTP status and stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Non-loopback and no write token is configured: nobody remote may write.
    #[error("{} and no write token is configured", if *.forwarded {
        "the request came through a proxy (it carries forwarding headers)"
    } else {
        "the request is not from loopback"
    })]
    Forbidden {
        /// The peer was loopback but the request carried forwarding headers.
        forwarded: bool,
    },
    /// A write token is configured and the request did not present it.
    #[error("a valid write token is required: {0}")]
    Unauthorized(WriteTokenProblem),
}

impl GuardError {
    /// The HTTP status: 403 or 401.
    pub fn status(&self) -> u16 {
        match self {
            Self::Forbidden { .. } => 403,
            Self::Unauthorized(_) => 401,
        }
    }

    /// The stable machine code: `write_forbidden` or `write_unauthorized`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Forbidden { .. } => "write_forbidden",
            Self::Unauthorized(_) => "write_unauthorized",
        }
    }
}

impl WriteGuard {
    /// A guard; without a token, only loopback may write.
    pub fn new(write_token: Option<WriteToken>) -> Self {
        Self { token: write_token }
    }

    /// Whether a write token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Applies the table above. `path` is the request path without the query string, as the
    /// router sees it; `peer` is the TCP peer address (never a header value).
    pub fn check(
        &self,
        method: &Method,
        path: &str,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> GuardOutcome {
        if !is_mutating(method) {
            return GuardOutcome::Allowed {
                reason: AllowReason::SafeMethod,
            };
        }
        if is_webhook_path(path) {
            return GuardOutcome::Webhook;
        }
        let forwarded = has_forwarding_headers(headers);
        if is_loopback(peer) && !forwarded {
            return GuardOutcome::Allowed {
                reason: AllowReason::Loopback,
            };
        }
        let Some(token) = &self.token else {
            return GuardOutcome::Denied(GuardError::Forbidden { forwarded });
        };
        match token::check_write_token(headers, token) {
            Ok(()) => GuardOutcome::Allowed {
                reason: AllowReason::WriteToken,
            },
            Err(problem) => GuardOutcome::Denied(GuardError::Unauthorized(problem)),
        }
    }
}

/// Whether the write guard applies to `method`: everything except GET, HEAD and OPTIONS.
pub fn is_mutating(method: &Method) -> bool {
    !(method == Method::GET || method == Method::HEAD || method == Method::OPTIONS)
}

/// Whether `path` is a webhook route: `/webhooks` or `/webhooks/...`.
///
/// Only clean paths count: a `.` or `..` segment, an empty segment, a backslash or any
/// percent-escape makes the answer `false`, so the request falls through to the ordinary write
/// guard. That way a path that some later layer might normalise onto a non-webhook route can
/// never skip the guard by starting with `/webhooks/`.
pub fn is_webhook_path(path: &str) -> bool {
    let rest = match path.strip_prefix("/webhooks") {
        Some("") => return true,
        Some(rest) => match rest.strip_prefix('/') {
            Some(rest) => rest,
            None => return false,
        },
        None => return false,
    };
    if rest.contains(['\\', '%']) {
        return false;
    }
    if rest.is_empty() {
        return true;
    }
    // A single trailing slash (`/webhooks/x/`) is harmless.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    rest.split('/').all(|seg| !matches!(seg, "" | "." | ".."))
}

/// Whether the request carries any header a proxy adds to say who the client was:
/// `Forwarded`, any `X-Forwarded*`, `X-Real-IP`, `Via` and common vendor equivalents.
pub fn has_forwarding_headers(headers: &HeaderMap) -> bool {
    // HeaderName is always lowercase, so these comparisons are case-insensitive on the wire.
    headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with("x-forwarded") || FORWARDING_HEADERS.contains(&name)
    })
}

/// Whether `addr` is a loopback address: 127.0.0.0/8, `::1`, or 127.0.0.0/8 mapped into IPv6
/// (`::ffff:127.0.0.1`, what a dual-stack socket reports for an IPv4 loopback client).
///
/// IPv4-compatible `::127.0.0.1` is deliberately not loopback (it is deprecated and never what
/// a socket reports); `Ipv6Addr::to_ipv4` would call it loopback, and would also turn `::1`
/// into `0.0.0.1` (DESIGN.md, "Known pitfalls").
pub fn is_loopback(addr: IpAddr) -> bool {
    addr.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests;
