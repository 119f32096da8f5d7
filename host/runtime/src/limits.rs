//! Per-call limits: defaults, per-tool overrides, and the store limiter that remembers refusals.

use std::time::Duration;

use stockade_registry_types::LimitOverrides;

/// Limits for one call. [`Limits::default`] is 64 MiB memory, 10 s deadline, 1 MiB output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Cap on each linear memory of the instance, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline for instantiation plus the call.
    pub deadline: Duration,
    /// Cap on the size of the output JSON, in bytes.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            deadline: Duration::from_secs(10),
            output_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// These limits with every field set in `overrides` replaced.
    pub fn with_overrides(self, overrides: &LimitOverrides) -> Self {
        Self {
            memory_bytes: overrides
                .memory_mib
                .map_or(self.memory_bytes, |mib| u64::from(mib) << 20),
            deadline: overrides
                .deadline_ms
                .map_or(self.deadline, Duration::from_millis),
            output_bytes: overrides
                .output_kib
                .map_or(self.output_bytes, |kib| u64::from(kib) << 10),
        }
    }
}

/// The store's resource limiter. It records that it refused a memory growth so the caller gets
/// `memory_limit` whether the guest trapped (ordinary Rust allocation) or reported an error
/// (fallible allocation).
#[derive(Debug)]
pub(crate) struct CallLimiter {
    memory_bytes: usize,
    pub(crate) memory_refused: bool,
}

/// Table growth is bounded separately: plugins have no reason for huge tables.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl CallLimiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            memory_bytes: usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX),
            memory_refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let limits = Limits::default().with_overrides(&LimitOverrides {
            deadline_ms: Some(250),
            ..LimitOverrides::default()
        });
        assert_eq!(limits.deadline, Duration::from_millis(250));
        assert_eq!(limits.memory_bytes, 64 << 20);
        assert_eq!(limits.output_bytes, 1 << 20);
    }
}
