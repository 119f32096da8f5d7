//! `/metrics` in the Prometheus text format: requests, tool calls, durations, denials.
//! A handful of atomic counters and one fixed-bucket histogram; nothing on the hot path locks.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the tool-call duration histogram buckets.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5, 10.0,
];

/// Counters exported at `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    requests_2xx: AtomicU64,
    requests_4xx: AtomicU64,
    requests_5xx: AtomicU64,
    requests_other: AtomicU64,
    denied_write: AtomicU64,
    denied_rate: AtomicU64,
    denied_auth: AtomicU64,
    denied_tool: AtomicU64,
    calls_ok: AtomicU64,
    calls_failed: AtomicU64,
    call_buckets: [AtomicU64; BUCKETS.len()],
    call_count: AtomicU64,
    call_sum_micros: AtomicU64,
}

/// Why a request was refused before reaching a tool.
#[derive(Debug, Clone, Copy)]
pub enum Denial {
    /// Write guard.
    Write,
    /// Rate limit.
    Rate,
    /// Missing or invalid API token.
    Auth,
    /// Agent allowlist.
    Tool,
}

impl Metrics {
    /// Counts a finished request by status class.
    pub fn request(&self, status: u16) {
        let counter = match status {
            200..=299 => &self.requests_2xx,
            400..=499 => &self.requests_4xx,
            500..=599 => &self.requests_5xx,
            _ => &self.requests_other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a refusal.
    pub fn denied(&self, why: Denial) {
        let counter = match why {
            Denial::Write => &self.denied_write,
            Denial::Rate => &self.denied_rate,
            Denial::Auth => &self.denied_auth,
            Denial::Tool => &self.denied_tool,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a tool call that ran.
    pub fn call(&self, ok: bool, duration: Duration) {
        let counter = if ok {
            &self.calls_ok
        } else {
            &self.calls_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let secs = duration.as_secs_f64();
        for (bucket, bound) in self.call_buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.call_count.fetch_add(1, Ordering::Relaxed);
        self.call_sum_micros.fetch_add(
            u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP stockade_http_requests_total HTTP requests by status class."
        );
        let _ = writeln!(out, "# TYPE stockade_http_requests_total counter");
        for (class, counter) in [
            ("2xx", &self.requests_2xx),
            ("4xx", &self.requests_4xx),
            ("5xx", &self.requests_5xx),
            ("other", &self.requests_other),
        ] {
            let _ = writeln!(
                out,
                "stockade_http_requests_total{{class=\"{class}\"}} {}",
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP stockade_denials_total Requests refused, by the check that refused them."
        );
        let _ = writeln!(out, "# TYPE stockade_denials_total counter");
        for (reason, counter) in [
            ("write_guard", &self.denied_write),
            ("rate_limit", &self.denied_rate),
            ("auth", &self.denied_auth),
            ("tool_not_allowed", &self.denied_tool),
        ] {
            let _ = writeln!(
                out,
                "stockade_denials_total{{reason=\"{reason}\"}} {}",
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP stockade_tool_calls_total Tool calls that ran, by outcome."
        );
        let _ = writeln!(out, "# TYPE stockade_tool_calls_total counter");
        let _ = writeln!(
            out,
            "stockade_tool_calls_total{{outcome=\"ok\"}} {}",
            get(&self.calls_ok)
        );
        let _ = writeln!(
            out,
            "stockade_tool_calls_total{{outcome=\"error\"}} {}",
            get(&self.calls_failed)
        );
        let _ = writeln!(
            out,
            "# HELP stockade_tool_call_duration_seconds Time in the plugin runtime per call."
        );
        let _ = writeln!(out, "# TYPE stockade_tool_call_duration_seconds histogram");
        for (bucket, bound) in self.call_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "stockade_tool_call_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                get(bucket)
            );
        }
        let count = get(&self.call_count);
        let _ = writeln!(
            out,
            "stockade_tool_call_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "stockade_tool_call_duration_seconds_sum {}",
            get(&self.call_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "stockade_tool_call_duration_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.request(200);
        metrics.request(404);
        metrics.denied(Denial::Rate);
        metrics.call(true, Duration::from_micros(800));
        metrics.call(false, Duration::from_millis(20));
        let text = metrics.render();
        for line in [
            "stockade_http_requests_total{class=\"2xx\"} 1",
            "stockade_http_requests_total{class=\"4xx\"} 1",
            "stockade_denials_total{reason=\"rate_limit\"} 1",
            "stockade_tool_calls_total{outcome=\"ok\"} 1",
            "stockade_tool_calls_total{outcome=\"error\"} 1",
            "stockade_tool_call_duration_seconds_bucket{le=\"0.0005\"} 0",
            "stockade_tool_call_duration_seconds_bucket{le=\"0.001\"} 1",
            "stockade_tool_call_duration_seconds_bucket{le=\"0.025\"} 2",
            "stockade_tool_call_duration_seconds_bucket{le=\"+Inf\"} 2",
            "stockade_tool_call_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
