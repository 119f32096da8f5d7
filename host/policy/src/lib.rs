//! Stockade's access policy: the pure decisions the HTTP server makes on every request.
//!
//! Nothing here does I/O, spawns tasks or reads a clock: the server passes in the peer address,
//! the headers and the current time, and gets back a decision with a stable machine code. That
//! keeps every rule testable as a table of hostile inputs, without a socket.
//!
//! The server applies them in this order (DESIGN.md, "The tool-call path"):
//!
//! ```text
//! request ─ WriteGuard::check ─┬─ Denied ─────────────── 401 write_unauthorized / 403 write_forbidden
//!                              ├─ Webhook ─ ClientResolver::resolve ─ RateLimiter::check (600/60 s)
//!                              │            ─ WebhookVerifier::verify (HMAC, timestamp, replay)
//!                              └─ Allowed ─ ClientResolver::resolve ─ RateLimiter::check (300/60 s)
//!                                           ─ authenticate ─ project membership
//!                                           ─ AgentProfile::validate(mode) ─ Allowlist::decide(tool)
//! ```
//!
//! - [`WriteGuard`] implements the write-guard table: loopback without forwarding headers may
//!   write, anyone else needs the [`WriteToken`] in the `X-Stockade-Write-Token` header
//!   ([`WRITE_TOKEN_HEADER`], separate from the `Authorization` header that carries user API
//!   tokens); safe methods are exempt and `/webhooks/...` is handed to the webhook verifier.
//!   Its [`GuardError`] carries the HTTP status and code.
//! - [`ClientResolver`] decides which address a request is charged to: the peer, or the
//!   right-most untrusted `X-Forwarded-For` entry when the peer is a trusted proxy.
//! - [`RateLimiter`] is a sharded sliding-window limiter keyed by that address; a refusal is a
//!   [`RetryAfter`] with whole seconds for the `Retry-After` header.
//! - [`WebhookVerifier`] checks `X-Stockade-Signature` (HMAC-SHA256 with a [`WebhookSecret`])
//!   and `X-Stockade-Timestamp`, and refuses replays; failures are [`WebhookError`]s.
//! - [`AgentProfile`] is an agent's configured `allow`/`deny` globs; validating it for a
//!   [`Mode`] yields an [`Allowlist`] whose [`Allowlist::decide`] returns a [`Verdict`] naming
//!   the rule that decided, for the event log.
//!
//! On the way out, every tool output, error message and log line passes through a [`Redactor`]:
//! stored secret values (in their common encodings) and known credential shapes become
//! `[REDACTED:...]` markers, and each [`Finding`] becomes an event. [`Redactor::redact_json`]
//! walks a JSON output's strings, keys and numbers.

#![forbid(unsafe_code)]

mod allowlist;
mod client;
mod rate_limit;
mod redact;
mod webhook;
mod write_guard;

pub use allowlist::{
    AgentProfile, Allowlist, AllowlistError, Denial, MAX_PATTERNS, Mode, PatternError, RuleList,
    ToolKind, ToolPattern, Verdict,
};
pub use client::{ClientResolver, MAX_FORWARDED_HOPS};
pub use rate_limit::{RateLimitError, RateLimiter, RetryAfter};
pub use redact::{
    Finding, MAX_REWRITES, MIN_SECRET_LEN, REDACTION_FAILED, Redacted, RedactedJson, Redactor,
    RefusedSecret, STORED_SECRET,
};
pub use webhook::{
    DEFAULT_REPLAY_CAPACITY, DEFAULT_TOLERANCE, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookError,
    WebhookSecret, WebhookVerifier, sign,
};
pub use write_guard::{
    AllowReason, GuardError, GuardOutcome, WRITE_TOKEN_HEADER, WriteGuard, WriteToken,
    WriteTokenError, WriteTokenProblem, has_forwarding_headers, is_loopback, is_mutating,
    is_webhook_path,
};
