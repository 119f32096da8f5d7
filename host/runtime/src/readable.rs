//! Secrets a tool may read itself (`stockade:plugin/secrets`), the record of what it read, and
//! the scrubber every plugin log record passes through before it reaches the host's log.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use zeroize::Zeroizing;

/// The secrets one call may read by name, and the names it did read.
///
/// Cloning shares the record of reads, so the caller keeps a clone, hands one to the call and
/// reads [`ReadableSecrets::reads`] afterwards (for the event log). Values are wiped from
/// memory when the last clone is dropped.
#[derive(Clone, Default)]
pub struct ReadableSecrets {
    values: Arc<Vec<(String, Zeroizing<String>)>>,
    reads: Arc<Mutex<Vec<String>>>,
}

impl ReadableSecrets {
    /// No readable secrets: every `get` is `not-granted`.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds the secret `name` with its current `value`.
    pub fn with(mut self, name: impl Into<String>, value: String) -> Self {
        Arc::make_mut(&mut self.values).push((name.into(), Zeroizing::new(value)));
        self
    }

    /// The names this call may read, in grant order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.iter().map(|(name, _)| name.as_str())
    }

    /// Whether nothing is readable.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of `name` if it is readable; a successful read is recorded once per name.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        let (_, value) = self.values.iter().find(|(n, _)| n == name)?;
        let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
        if !reads.iter().any(|read| read == name) {
            reads.push(name.to_owned());
        }
        Some(value.to_string())
    }

    /// The names the plugin read during the call, each once, in the order first read.
    pub fn reads(&self) -> Vec<String> {
        self.reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for ReadableSecrets {
    /// Names only: values never reach a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadableSecrets")
            .field("names", &self.names().collect::<Vec<_>>())
            .field("reads", &self.reads())
            .finish()
    }
}

impl PartialEq for ReadableSecrets {
    /// Same names and the same shared read record (values are not compared).
    fn eq(&self, other: &Self) -> bool {
        self.names().eq(other.names()) && Arc::ptr_eq(&self.reads, &other.reads)
    }
}

impl Eq for ReadableSecrets {}

/// Cleans a plugin's log text before the host logs it.
///
/// The server implements this with its redactor (stored secret values and secret-shaped
/// strings) and records each scrub in the event log.
pub trait LogScrubber: Send + Sync + 'static {
    /// `text` with anything secret replaced, or `None` when there is nothing to replace.
    fn scrub(&self, text: &str) -> Option<String>;
}

/// The [`LogScrubber`] a call's log records pass through; none by default.
#[derive(Clone, Default)]
pub struct LogFilter(Option<Arc<dyn LogScrubber>>);

impl LogFilter {
    /// Every record passes through `scrubber`.
    pub fn new(scrubber: Arc<dyn LogScrubber>) -> Self {
        Self(Some(scrubber))
    }

    /// `text`, scrubbed.
    pub(crate) fn apply<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        match self.0.as_ref().and_then(|scrubber| scrubber.scrub(text)) {
            Some(clean) => clean.into(),
            None => text.into(),
        }
    }
}

impl fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "LogFilter(scrubbing)"
        } else {
            "LogFilter(none)"
        })
    }
}

impl PartialEq for LogFilter {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for LogFilter {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_names_are_readable_and_reads_are_recorded_once() {
        let secrets = ReadableSecrets::none().with("token", "s3cr3t-value".into());
        let kept = secrets.clone();
        assert_eq!(secrets.get("other"), None);
        assert_eq!(secrets.get("token").as_deref(), Some("s3cr3t-value"));
        assert_eq!(secrets.get("token").as_deref(), Some("s3cr3t-value"));
        assert_eq!(kept.reads(), ["token"]);
        assert!(!format!("{kept:?}").contains("s3cr3t"));
    }

    struct KeyScrubber;
    impl LogScrubber for KeyScrubber {
        fn scrub(&self, text: &str) -> Option<String> {
            text.contains("key")
                .then(|| text.replace("key", "[REDACTED]"))
        }
    }

    #[test]
    fn the_filter_replaces_only_what_the_scrubber_finds() {
        let filter = LogFilter::new(Arc::new(KeyScrubber));
        assert_eq!(filter.apply("my key"), "my [REDACTED]");
        assert_eq!(filter.apply("plain"), "plain");
        assert_eq!(LogFilter::default().apply("my key"), "my key");
    }
}
