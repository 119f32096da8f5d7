//! Webhook signatures: HMAC-SHA256, a timestamp tolerance and a replay cache.
//!
//! A sender signs `"{timestamp}.{body}"` with the shared secret and sends
//!
//! ```text
//! X-Stockade-Timestamp: 1767225600
//! X-Stockade-Signature: sha256=<64 hex digits>
//! ```
//!
//! [`WebhookVerifier::verify`] accepts a request only if: both headers appear exactly once; the
//! timestamp is decimal digits; the signature is `sha256=` and exactly 32 bytes of hex (either
//! case); the MAC verifies, compared by `Mac::verify_slice` on the decoded bytes (never a string
//! compare, which in a zip-style loop accepts an empty signature); the timestamp is within
//! ±300 s of now; and the same signed message has not been accepted before. The MAC is checked
//! before the timestamp and the replay cache, so only authentic messages reach the cache and an
//! unauthenticated sender learns nothing but `signature_invalid`.
//!
//! The replay cache is shared by every secret the verifier is used with (a MAC is bound to its
//! secret), holds at most [`DEFAULT_REPLAY_CAPACITY`] live entries, and fails closed when full.
//! [`sign`] produces the header value, for senders and tests.

mod replay;

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

use replay::{Refusal, ReplayCache};

/// The header carrying the Unix time, in seconds, at which the sender signed.
pub const TIMESTAMP_HEADER: &str = "x-stockade-timestamp";
/// The header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-stockade-signature";
/// How far the timestamp may be from now, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Most signatures remembered at once. At the webhook rate limit of 600/min per client, a
/// 10-minute window holds 6,000 per client; this is room for a few dozen busy senders.
pub const DEFAULT_REPLAY_CAPACITY: usize = 200_000;

/// Shortest secret accepted: an HMAC key is only as strong as it is unguessable.
const MIN_SECRET_LEN: usize = 16;
/// `sha256=` followed by 64 hex digits.
const SIGNATURE_PREFIX: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;

/// A webhook's shared secret, kept as a keyed HMAC state. `Debug` never shows it.
#[derive(Clone)]
pub struct WebhookSecret {
    mac: HmacSha256,
}

impl WebhookSecret {
    /// Accepts a secret of at least 16 bytes.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, WebhookError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_SECRET_LEN {
            return Err(WebhookError::SecretTooShort {
                min: MIN_SECRET_LEN,
            });
        }
        // HMAC takes keys of any length; the error arm is unreachable but costs nothing.
        let mac = HmacSha256::new_from_slice(secret).map_err(|_| WebhookError::SecretTooShort {
            min: MIN_SECRET_LEN,
        })?;
        Ok(Self { mac })
    }

    fn mac_of(&self, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The `X-Stockade-Signature` value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &WebhookSecret, timestamp: u64, body: &[u8]) -> String {
    let tag = secret
        .mac_of(&timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{SIGNATURE_PREFIX}{}", hex::encode(tag))
}

/// Why a webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A required header is absent.
    #[error("missing {header} header")]
    MissingHeader {
        /// Which one.
        header: &'static str,
    },
    /// A header is malformed or repeated.
    #[error("malformed webhook signature: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The signature does not match the body and timestamp under this secret.
    #[error("webhook signature does not match")]
    Mismatch,
    /// Authentic, but signed too long ago or too far in the future.
    #[error("webhook timestamp is {skew_secs} s from now; at most {tolerance_secs} s is accepted")]
    TimestampOutOfRange {
        /// How far from now, in seconds.
        skew_secs: u64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// This exact signed message was already accepted.
    #[error("webhook already received (replay)")]
    Replayed,
    /// Too many recent webhooks are remembered to check this one for replay.
    #[error("replay cache is full; retry later")]
    ReplayCacheFull,
    /// The configured secret is too short.
    #[error("the webhook secret must be at least {min} bytes")]
    SecretTooShort {
        /// The minimum length.
        min: usize,
    },
}

impl WebhookError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader { .. } => "signature_missing",
            Self::Malformed { .. } | Self::Mismatch => "signature_invalid",
            Self::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            Self::Replayed => "replayed",
            Self::ReplayCacheFull => "replay_cache_full",
            Self::SecretTooShort { .. } => "webhook_secret_too_short",
        }
    }

    /// The HTTP status: 401 for a missing, invalid or stale signature, 409 for a replay, 503
    /// when the replay cache is full, 500 for a bad configured secret.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingHeader { .. }
            | Self::Malformed { .. }
            | Self::Mismatch
            | Self::TimestampOutOfRange { .. } => 401,
            Self::Replayed => 409,
            Self::ReplayCacheFull => 503,
            Self::SecretTooShort { .. } => 500,
        }
    }
}

/// Verifies webhook requests and remembers them to refuse replays. Share one per server.
#[derive(Debug)]
pub struct WebhookVerifier {
    tolerance: Duration,
    replay: Mutex<ReplayCache>,
}

impl Default for WebhookVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl WebhookVerifier {
    /// A verifier with ±300 s tolerance and room for [`DEFAULT_REPLAY_CAPACITY`] signatures.
    pub fn new() -> Self {
        Self::with_limits(DEFAULT_TOLERANCE, DEFAULT_REPLAY_CAPACITY)
    }

    /// A verifier with another tolerance (whole seconds) and replay-cache capacity.
    pub fn with_limits(tolerance: Duration, replay_capacity: usize) -> Self {
        Self {
            tolerance,
            replay: Mutex::new(ReplayCache::new(replay_capacity)),
        }
    }

    /// Checks the request's signature headers against `body` under `secret` at time `now`,
    /// and records it so the same request is refused next time.
    pub fn verify(
        &self,
        secret: &WebhookSecret,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), WebhookError> {
        let timestamp_text = single_header(headers, TIMESTAMP_HEADER)?;
        let signature_text = single_header(headers, SIGNATURE_HEADER)?;
        let timestamp = parse_timestamp(timestamp_text)?;
        let signature = parse_signature(signature_text)?;

        // Sign over the header exactly as sent, so no re-formatting can make two spellings
        // of one timestamp verify differently.
        secret
            .mac_of(timestamp_text, body)
            .verify_slice(&signature)
            .map_err(|_| WebhookError::Mismatch)?;

        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let tolerance = self.tolerance.as_secs();
        let skew = now.abs_diff(timestamp);
        if skew > tolerance {
            return Err(WebhookError::TimestampOutOfRange {
                skew_secs: skew,
                tolerance_secs: tolerance,
            });
        }

        // The cache holds only whether a message was seen; it stays valid after a panic.
        let mut replay = self.replay.lock().unwrap_or_else(PoisonError::into_inner);
        replay
            .remember(timestamp, signature, now.saturating_sub(tolerance))
            .map_err(|refusal| match refusal {
                Refusal::Replayed => WebhookError::Replayed,
                Refusal::Full => WebhookError::ReplayCacheFull,
            })
    }
}

/// The header's value if it appears exactly once and is visible ASCII.
fn single_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, WebhookError> {
    let mut values = headers.get_all(name).iter();
    let value = values
        .next()
        .ok_or(WebhookError::MissingHeader { header: name })?;
    if values.next().is_some() {
        return Err(WebhookError::Malformed {
            reason: "header repeated",
        });
    }
    value.to_str().map_err(|_| WebhookError::Malformed {
        reason: "header is not visible ASCII",
    })
}

fn parse_timestamp(text: &str) -> Result<u64, WebhookError> {
    let malformed = WebhookError::Malformed {
        reason: "timestamp must be Unix seconds in decimal digits",
    };
    // `u64::from_str` alone would also accept a leading `+`.
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed);
    }
    text.parse().map_err(|_| malformed)
}

fn parse_signature(text: &str) -> Result<[u8; 32], WebhookError> {
    let hex_part = text
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(WebhookError::Malformed {
            reason: "signature must start with `sha256=`",
        })?;
    let mut tag = [0u8; 32];
    // Exactly 64 hex digits: an empty, truncated or padded signature is malformed.
    hex::decode_to_slice(hex_part, &mut tag).map_err(|_| WebhookError::Malformed {
        reason: "signature must be 64 hex digits",
    })?;
    Ok(tag)
}

#[cfg(test)]
mod tests;
