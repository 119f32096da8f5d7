//! Per-client rate limiting: `limit` requests per `window`, answered with 429 and
//! `Retry-After` when exceeded.
//!
//! The server keeps one [`RateLimiter`] per route class ([`RateLimiter::api`] for `/v1/*` and
//! `/metrics`, [`RateLimiter::webhooks`] for `/webhooks/*`) and calls
//! [`RateLimiter::check`] with the address from [`crate::ClientResolver`] and `Instant::now()`.
//! The counting is a sliding-window estimate, described in `rate_limit/window.rs`.
//!
//! Keys: IPv4 addresses are used as they are; IPv6 addresses are truncated to their /64 by
//! default, because one IPv6 host is normally given a whole /64 and could otherwise take a
//! fresh budget (and a fresh table slot) for every request.
//!
//! Memory is bounded: entries idle for two windows are swept (each shard at most once per
//! window, on access), and at most `max_keys` clients are tracked. When the table is full even
//! after a sweep, a **new** client is refused with a [`RetryAfter`] of one window and
//! [`RetryAfter::table_full`] set, while clients already tracked carry on. That fails closed:
//! an attacker with many addresses can delay newcomers during a flood, but can neither evict
//! an existing client's history to reset its budget nor grow memory without bound.

mod window;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use window::Window;

/// Shards, so concurrent requests from different clients rarely share a lock.
const SHARDS: usize = 16;

/// Default bound on tracked clients (about 64 bytes each, so a few MiB).
const DEFAULT_MAX_KEYS: usize = 65_536;

/// A thread-safe, memory-bounded per-client rate limiter.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    ipv6_prefix: u8,
    max_keys_per_shard: usize,
    /// Randomly seeded, so nobody can choose addresses that all land in one shard.
    hasher: RandomState,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<IpAddr, Window>,
    last_sweep: Option<Instant>,
}

/// A refused request: the client should retry after [`RetryAfter::secs`] seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit exceeded; retry after {} s", self.secs())]
pub struct RetryAfter {
    wait: Duration,
    table_full: bool,
}

impl RetryAfter {
    /// The exact wait until a request would be admitted (for a full table, one window).
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The wait in whole seconds for the `Retry-After` header: rounded up, at least 1.
    pub fn secs(&self) -> u64 {
        let secs = self.wait.as_secs() + u64::from(self.wait.subsec_nanos() > 0);
        secs.max(1)
    }

    /// Whether the refusal is because the limiter tracks as many clients as it may, rather
    /// than because this client sent too much. Worth a log line: it means a flood.
    pub fn table_full(&self) -> bool {
        self.table_full
    }

    /// The stable machine code: `rate_limited`.
    pub fn code(&self) -> &'static str {
        "rate_limited"
    }

    /// The HTTP status: 429.
    pub fn status(&self) -> u16 {
        429
    }
}

/// A rate limit configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    /// A limit of zero would refuse everything; disable the limiter instead.
    #[error("the rate limit must be at least 1 request per window")]
    ZeroLimit,
    /// A window shorter than a millisecond is not a rate.
    #[error("the rate limit window must be at least 1 ms")]
    WindowTooShort,
}

impl RateLimitError {
    /// The stable machine code: `invalid_rate_limit`.
    pub fn code(&self) -> &'static str {
        "invalid_rate_limit"
    }
}

impl RateLimiter {
    /// At most `limit` requests per client per `window`.
    pub fn new(limit: u32, window: Duration) -> Result<Self, RateLimitError> {
        if limit == 0 {
            return Err(RateLimitError::ZeroLimit);
        }
        if window < Duration::from_millis(1) {
            return Err(RateLimitError::WindowTooShort);
        }
        Ok(Self::build(limit, window))
    }

    /// The API and metrics limit: 300 requests per 60 s.
    pub fn api() -> Self {
        Self::build(300, Duration::from_secs(60))
    }

    /// The webhook limit: 600 requests per 60 s.
    pub fn webhooks() -> Self {
        Self::build(600, Duration::from_secs(60))
    }

    /// Builds a limiter from parameters already known to be valid.
    fn build(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            ipv6_prefix: 64,
            max_keys_per_shard: DEFAULT_MAX_KEYS.div_ceil(SHARDS),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    /// Tracks at most about `max_keys` clients (rounded up to a multiple of the shard count;
    /// at least one per shard). Default 65,536.
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys_per_shard = max_keys.div_ceil(SHARDS).max(1);
        self
    }

    /// Groups IPv6 clients by this prefix length (default 64; 128 keys every address apart).
    pub fn with_ipv6_prefix(mut self, prefix_len: u8) -> Self {
        self.ipv6_prefix = prefix_len.min(128);
        self
    }

    /// The configured limit per window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The configured window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts a request from `client` at `now`, or refuses it with the time to wait.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), RetryAfter> {
        let key = self.key(client);
        let shard = &self.shards[self.shard_index(key)];
        // The shard holds only counters, which stay consistent even if a holder panicked.
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        let due = shard
            .last_sweep
            .is_none_or(|at| now.saturating_duration_since(at) >= self.window);
        if due {
            shard.sweep(now, self.window);
        }
        if let Some(entry) = shard.entries.get_mut(&key) {
            return entry
                .admit(now, self.limit, self.window)
                .map_err(|wait| RetryAfter {
                    wait,
                    table_full: false,
                });
        }
        if shard.entries.len() >= self.max_keys_per_shard {
            shard.sweep(now, self.window);
            if shard.entries.len() >= self.max_keys_per_shard {
                return Err(RetryAfter {
                    wait: self.window,
                    table_full: true,
                });
            }
        }
        shard.entries.insert(key, Window::first(now));
        Ok(())
    }

    /// How many clients are tracked right now (including idle ones not yet swept).
    pub fn tracked_clients(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }

    /// The key a client is counted under.
    fn key(&self, client: IpAddr) -> IpAddr {
        match client.to_canonical() {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.ipv6_prefix))
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
            v4 => v4,
        }
    }

    fn shard_index(&self, key: IpAddr) -> usize {
        // The modulus is below SHARDS, so the narrowing is lossless.
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }
}

impl Shard {
    fn sweep(&mut self, now: Instant, window: Duration) {
        self.entries
            .retain(|_, entry| !entry.is_expired(now, window));
        self.last_sweep = Some(now);
    }
}

#[cfg(test)]
mod tests;
