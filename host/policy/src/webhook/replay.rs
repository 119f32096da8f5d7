//! Signatures seen recently, so a captured webhook cannot be delivered twice.

use std::collections::BTreeSet;

/// Remembers `(timestamp, MAC)` of every accepted webhook until its timestamp falls out of the
/// tolerance window, after which the timestamp check refuses it anyway. Ordered by timestamp so
/// forgetting is one `split_off`. The MAC covers the timestamp and the body, so an equal pair
/// is the same message, and MACs under different secrets never collide in practice.
#[derive(Debug)]
pub(super) struct ReplayCache {
    seen: BTreeSet<(u64, [u8; 32])>,
    capacity: usize,
}

/// Why [`ReplayCache::remember`] refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Seen before.
    Replayed,
    /// Full of entries still inside the tolerance window.
    Full,
}

impl ReplayCache {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            seen: BTreeSet::new(),
            capacity,
        }
    }

    /// Forgets entries with a timestamp before `oldest_valid`, then records `(timestamp, mac)`
    /// unless it is already there or the cache is full.
    pub(super) fn remember(
        &mut self,
        timestamp: u64,
        mac: [u8; 32],
        oldest_valid: u64,
    ) -> Result<(), Refusal> {
        self.seen = self.seen.split_off(&(oldest_valid, [0; 32]));
        if self.seen.contains(&(timestamp, mac)) {
            return Err(Refusal::Replayed);
        }
        // Full means refusing: evicting a live entry would let that message be replayed.
        if self.seen.len() >= self.capacity {
            return Err(Refusal::Full);
        }
        self.seen.insert((timestamp, mac));
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.seen.len()
    }
}
