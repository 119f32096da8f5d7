//! One client's sliding-window counter.
//!
//! Two fixed windows are kept, the current one and the one before it. The number of requests
//! "in the last window" is estimated as `previous * (unelapsed fraction of current) + current`,
//! which, unlike a plain fixed window, does not let a client send `2 * limit` requests around a
//! window boundary, and unlike a request log costs two counters per client. A request is
//! admitted when the estimate including it stays within the limit. All arithmetic is in
//! integer nanoseconds, so the wait returned for a refusal is exact: a request at
//! `now + wait` is admitted and one a nanosecond earlier is not.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    start: Instant,
    previous: u32,
    current: u32,
}

impl Window {
    /// A window starting at `now`, with its first request counted.
    pub(super) fn first(now: Instant) -> Self {
        Self {
            start: now,
            previous: 0,
            current: 1,
        }
    }

    /// Whether both counters would be zero at `now`, so the entry can be forgotten.
    pub(super) fn is_expired(&self, now: Instant, window: Duration) -> bool {
        now.saturating_duration_since(self.start) >= window.saturating_mul(2)
    }

    /// Counts a request at `now` if it fits, or returns how long until one would.
    pub(super) fn admit(
        &mut self,
        now: Instant,
        limit: u32,
        window: Duration,
    ) -> Result<(), Duration> {
        self.roll(now, window);
        let w = window.as_nanos();
        // `roll` leaves `now` inside the current window; a `now` earlier than `start` (a caller
        // passing instants out of order) is treated as the start.
        let e = now.saturating_duration_since(self.start).as_nanos().min(w);
        let (p, c, l) = (
            u128::from(self.previous),
            u128::from(self.current),
            u128::from(limit),
        );
        if p * (w - e) + (c + 1) * w <= l * w {
            self.current += 1;
            return Ok(());
        }
        let wait = if c < l {
            // There is room in the current count; wait for the previous window's weight to
            // shrink: the smallest e' with p * (w - e') <= (l - c - 1) * w. p > 0 here, or the
            // request would have been admitted. At the window's end the previous count drops
            // out entirely and c + 1 <= l fits.
            let target = w - ((l - c - 1) * w / p);
            target.min(w) - e
        } else {
            // The current window is full: in the next one the previous count is l, and a
            // request fits once l * (w - e'') + w <= l * w, i.e. e'' >= w / l, rounded up.
            (w - e) + w.div_ceil(l)
        };
        Err(nanos(wait))
    }

    /// Moves the window forward so that `now` falls inside the current one.
    fn roll(&mut self, now: Instant, window: Duration) {
        let elapsed = now.saturating_duration_since(self.start);
        if elapsed < window {
            return;
        }
        if elapsed < window.saturating_mul(2) {
            self.previous = self.current;
            self.current = 0;
            self.start = self.start.checked_add(window).unwrap_or(now);
        } else {
            // No request in the last full window: start afresh, aligned to now.
            *self = Self {
                start: now,
                previous: 0,
                current: 0,
            };
        }
    }
}

fn nanos(n: u128) -> Duration {
    let secs = u64::try_from(n / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below 10^9, so it fits in a u32.
    let sub = u32::try_from(n % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}
