//! Request counters and gauges, rendered in the Prometheus text format 0.0.4.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub struct Metrics {
    started: Instant,
    in_flight: AtomicU64,
    /// Answered requests by (path label, status code); BTreeMap keeps the output stable.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

/// Counts one request as in flight until dropped.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    pub fn new() -> Self {
        let requests = Mutex::new(BTreeMap::new());
        Metrics {
            started: Instant::now(),
            in_flight: AtomicU64::new(0),
            requests,
        }
    }

    pub fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self)
    }

    /// Counts an answered request. `path` comes from a fixed set, so series stay bounded.
    pub fn record(&self, path: &'static str, code: u16) {
        *self.requests().entry((path, code)).or_default() += 1;
    }

    fn requests(&self) -> MutexGuard<'_, BTreeMap<(&'static str, u16), u64>> {
        // A panicking holder cannot leave the map inconsistent, so poisoning is ignored.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The exposition text; written so `promtool check metrics` finds nothing to lint.
    pub fn render(&self, version: &str) -> String {
        // Writing to a String cannot fail, so the fmt::Results below are ignored.
        let mut out = String::new();
        out.push_str(
            "# HELP hello_requests_total HTTP requests answered, by path and status code.\n",
        );
        out.push_str("# TYPE hello_requests_total counter\n");
        for ((path, code), n) in self.requests().iter() {
            let _ = writeln!(
                out,
                "hello_requests_total{{path=\"{path}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP hello_in_flight_requests Requests being handled right now.\n");
        out.push_str("# TYPE hello_in_flight_requests gauge\n");
        let _ = writeln!(
            out,
            "hello_in_flight_requests {}",
            self.in_flight.load(Relaxed)
        );
        out.push_str("# HELP hello_uptime_seconds Seconds since the process started.\n");
        out.push_str("# TYPE hello_uptime_seconds gauge\n");
        let uptime = self.started.elapsed().as_secs_f64();
        let _ = writeln!(out, "hello_uptime_seconds {uptime:.3}");
        out.push_str("# HELP hello_build_info Build information; the value is always 1.\n");
        out.push_str("# TYPE hello_build_info gauge\n");
        let _ = writeln!(
            out,
            "hello_build_info{{version=\"{}\"}} 1",
            label_value(version)
        );
        out
    }
}

/// Escapes a label value as the text format requires.
fn label_value(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_gauges() {
        let metrics = Metrics::new();
        metrics.record("/", 200);
        metrics.record("/", 200);
        metrics.record("/status", 503);
        let _in_flight = metrics.start_request();
        let text = metrics.render("1.2.3");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "# HELP hello_requests_total HTTP requests answered, by path and status code."
        );
        assert_eq!(lines[1], "# TYPE hello_requests_total counter");
        assert_eq!(lines[2], r#"hello_requests_total{path="/",code="200"} 2"#);
        assert_eq!(
            lines[3],
            r#"hello_requests_total{path="/status",code="503"} 1"#
        );
        assert!(lines.contains(&"hello_in_flight_requests 1"));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("hello_uptime_seconds 0."))
        );
        assert_eq!(
            lines.last(),
            Some(&r#"hello_build_info{version="1.2.3"} 1"#)
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let metrics = Metrics::new();
        metrics.record("/health", 200);
        let text = metrics.render("1");
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
                assert!(
                    text.contains(&format!("# HELP {name} ")),
                    "{name} has no HELP"
                );
                declared.push(name.to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
            }
        }
        assert_eq!(declared.len(), 4);
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(label_value("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
