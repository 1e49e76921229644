//! The Prometheus text exposition (format 0.0.4) a region serves at `/metrics`, clean under
//! `promtool check metrics`.
//!
//! Each series becomes one sample of a family named by [`crate::catalog`] (or, for metrics it does
//! not know, `<namespace>_<metric>` in snake case with a base-unit suffix), labelled with its
//! dimensions in snake case:
//! - gauges give the latest second's Average, if that second is less than [`STALE_AFTER`] old
//!   (a stopped service's last CPU reading is not a current value);
//! - counters give the running total of every value recorded (kept with the series, so it
//!   survives restarts and compaction);
//! - summaries give the 0.5, 0.9 and 0.99 quantiles of the last minute with the running `_sum`
//!   and `_count`.
//!
//! Alarms add `aws_cloudwatch_alarm_state{alarm_name, state}`, 1 for the current state.

use std::collections::BTreeMap;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use crate::catalog::{self, Kind};
use crate::error::Result;
use crate::stats::{Agg, Stat, Unit};
use crate::store::{LEVELS, MetricStore, parse_dims};
use crate::time;

/// A gauge whose latest value is older than this is left out (Prometheus' own staleness).
pub const STALE_AFTER: i64 = 300;
/// Summaries' quantiles cover this many seconds.
const SUMMARY_WINDOW: i64 = 60;
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

struct Family {
    kind: Kind,
    help: String,
    /// Rendered sample lines by label set, so that each label set appears once.
    samples: BTreeMap<String, Vec<String>>,
}

impl MetricStore {
    /// Every series' current value as Prometheus text.
    pub fn prometheus_text(&self, now: SystemTime) -> Result<String> {
        let now = time::secs(now);
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, namespace, name, dims, unit, last_ts, total_count, total_sum
             FROM series ORDER BY namespace, name, dims, unit",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, f64>(6)?,
                r.get::<_, f64>(7)?,
            ))
        })?;
        for row in rows {
            let (id, namespace, name, dims, unit, last_ts, total_count, total_sum) = row?;
            let unit: Unit = unit.parse().unwrap_or(Unit::None);
            let (metric, kind, help, scale) = match catalog::lookup(&namespace, &name) {
                Some(k) if k.unit == unit => {
                    (k.prometheus.to_owned(), k.kind, k.help.to_owned(), 1.0)
                }
                _ => {
                    let (suffix, scale) = unit_suffix(unit);
                    (
                        generic_name(&namespace, &name, suffix),
                        Kind::Gauge,
                        if suffix.is_empty() {
                            format!("{namespace} {name} ({unit}), latest value.")
                        } else {
                            format!("{namespace} {name} ({unit}), latest value in {suffix}.")
                        },
                        scale,
                    )
                }
            };
            let labels = labels(&parse_dims(&dims), &[]);
            let lines = match kind {
                Kind::Counter => vec![format!("{metric}{labels} {}", number(total_sum * scale))],
                Kind::Gauge => {
                    if now - last_ts > STALE_AFTER {
                        continue;
                    }
                    let Some(latest) = self.latest(id)? else {
                        continue;
                    };
                    let Some(v) = latest.stat(&Stat::Average) else {
                        continue;
                    };
                    vec![format!("{metric}{labels} {}", number(v * scale))]
                }
                Kind::Summary => {
                    let mut window = Vec::new();
                    self.read_points(id, 0, now - SUMMARY_WINDOW, now + 1, &mut window)?;
                    let merged = window.into_iter().map(|(_, a)| a).reduce(|mut a, b| {
                        a.merge(&b);
                        a
                    });
                    let dims = parse_dims(&dims);
                    let mut lines: Vec<String> = QUANTILES
                        .iter()
                        .map(|q| {
                            let v = merged
                                .as_ref()
                                .and_then(|a| a.stat(&Stat::Percentile(q * 100.0)))
                                .map_or(f64::NAN, |v| v * scale);
                            format!(
                                "{metric}{} {}",
                                labels_with(&dims, "quantile", &q.to_string()),
                                number(v)
                            )
                        })
                        .collect();
                    lines.push(format!(
                        "{metric}_sum{labels} {}",
                        number(total_sum * scale)
                    ));
                    lines.push(format!("{metric}_count{labels} {}", number(total_count)));
                    lines
                }
            };
            let family = families.entry(metric).or_insert_with(|| Family {
                kind,
                help,
                samples: BTreeMap::new(),
            });
            // Two units of one metric map to one family and label set: keep the first, since
            // a family must not repeat a label set, nor change its type.
            if family.kind == kind && !family.samples.contains_key(&labels) {
                family.samples.insert(labels, lines);
            }
        }
        drop(stmt);
        self.alarm_family(&mut families)?;

        let mut out = String::new();
        for (name, family) in &families {
            if family.samples.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "# HELP {name} {}\n# TYPE {name} {}\n",
                escape_help(&family.help),
                family.kind.as_str()
            ));
            for lines in family.samples.values() {
                for line in lines {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        Ok(out)
    }

    fn latest(&self, series: i64) -> Result<Option<Agg>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT count, sum, min, max FROM points WHERE series = ?1 AND res = ?2
                 ORDER BY ts DESC LIMIT 1",
            )?
            .query_row(params![series, LEVELS[0]], |r| {
                Ok(Agg {
                    count: r.get(0)?,
                    sum: r.get(1)?,
                    min: r.get(2)?,
                    max: r.get(3)?,
                    digest: None,
                })
            })
            .optional()?;
        Ok(row)
    }

    fn alarm_family(&self, families: &mut BTreeMap<String, Family>) -> Result<()> {
        let alarms = self.describe_alarms()?;
        if alarms.is_empty() {
            return Ok(());
        }
        let mut samples = BTreeMap::new();
        for a in alarms {
            for state in ["OK", "ALARM", "INSUFFICIENT_DATA"] {
                let labels = labels(
                    &[],
                    &[("alarm_name", a.spec.name.as_str()), ("state", state)],
                );
                let v = u8::from(a.state.as_str() == state);
                samples.insert(
                    labels.clone(),
                    vec![format!("aws_cloudwatch_alarm_state{labels} {v}")],
                );
            }
        }
        families.insert(
            "aws_cloudwatch_alarm_state".into(),
            Family {
                kind: Kind::Gauge,
                help: "CloudWatch alarm state: 1 for the alarm's current state (OK, ALARM or \
                       INSUFFICIENT_DATA), 0 for the others."
                    .into(),
                samples,
            },
        );
        Ok(())
    }
}

/// `CPUUtilization` → `cpu_utilization`, `HTTPCode_Target_5XX_Count` → `http_code_target_5xx_count`:
/// a word starts at an upper-case letter after a lower-case one, or before an upper-case letter
/// followed by a lower-case one; anything outside `[a-z0-9]` separates words.
pub fn snake_case(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_ascii_lowercase())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(*c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// The suffix naming a unit in base units, and the factor converting values to them.
fn unit_suffix(unit: Unit) -> (&'static str, f64) {
    match unit {
        Unit::Seconds => ("seconds", 1.0),
        Unit::Milliseconds => ("seconds", 1e-3),
        Unit::Microseconds => ("seconds", 1e-6),
        Unit::Bytes => ("bytes", 1.0),
        Unit::Kilobytes => ("bytes", 1e3),
        Unit::Megabytes => ("bytes", 1e6),
        Unit::Gigabytes => ("bytes", 1e9),
        Unit::Terabytes => ("bytes", 1e12),
        Unit::Bits => ("bits", 1.0),
        Unit::Kilobits => ("bits", 1e3),
        Unit::Megabits => ("bits", 1e6),
        Unit::Gigabits => ("bits", 1e9),
        Unit::Terabits => ("bits", 1e12),
        Unit::BytesPerSecond => ("bytes_per_second", 1.0),
        Unit::KilobytesPerSecond => ("bytes_per_second", 1e3),
        Unit::MegabytesPerSecond => ("bytes_per_second", 1e6),
        Unit::GigabytesPerSecond => ("bytes_per_second", 1e9),
        Unit::TerabytesPerSecond => ("bytes_per_second", 1e12),
        Unit::BitsPerSecond => ("bits_per_second", 1.0),
        Unit::KilobitsPerSecond => ("bits_per_second", 1e3),
        Unit::MegabitsPerSecond => ("bits_per_second", 1e6),
        Unit::GigabitsPerSecond => ("bits_per_second", 1e9),
        Unit::TerabitsPerSecond => ("bits_per_second", 1e12),
        Unit::CountPerSecond => ("per_second", 1.0),
        Unit::Percent => ("percent", 1.0),
        Unit::Count | Unit::None => ("", 1.0),
    }
}

/// `<namespace>_<metric>_<unit>` for a metric the catalog does not know, e.g. `MyApp/Queue`
/// `Latency` in Milliseconds → `myapp_queue_latency_seconds`.
fn generic_name(namespace: &str, name: &str, suffix: &str) -> String {
    let mut n = format!("{}_{}", snake_case(namespace), snake_case(name));
    if n.starts_with(|c: char| c.is_ascii_digit()) {
        n.insert(0, '_');
    }
    // promtool: gauges must not look like a histogram's or summary's parts, nor counters.
    for reserved in ["_count", "_sum", "_bucket", "_total"] {
        if n.ends_with(reserved) {
            n.push_str("_value");
        }
    }
    if !suffix.is_empty() && !n.ends_with(suffix) {
        n.push('_');
        n.push_str(suffix);
    }
    n
}

/// `{cluster_name="c",service_name="s"}` from the dimensions and extra labels; `""` if none.
fn labels(dims: &[(String, String)], extra: &[(&str, &str)]) -> String {
    let mut seen = Vec::new();
    let mut parts = Vec::new();
    let all = dims
        .iter()
        .map(|(k, v)| (label_name(k), v.as_str()))
        .chain(extra.iter().map(|(k, v)| ((*k).to_owned(), *v)));
    for (k, v) in all {
        // Two dimensions that snake-case alike would repeat a label: keep the first.
        if seen.contains(&k) {
            continue;
        }
        parts.push(format!("{k}=\"{}\"", escape_label(v)));
        seen.push(k);
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn labels_with(dims: &[(String, String)], k: &str, v: &str) -> String {
    labels(dims, &[(k, v)])
}

/// A dimension name as a label name: snake case, never empty, never a reserved `__` name, and
/// never `quantile` (a summary's own label).
fn label_name(dim: &str) -> String {
    let mut n = snake_case(dim);
    if n.is_empty() || n.starts_with(|c: char| c.is_ascii_digit()) {
        n.insert(0, '_');
    }
    while n.starts_with("__") {
        n.remove(0);
    }
    if n == "quantile" {
        n.push_str("_dimension");
    }
    n
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases_aws_names() {
        assert_eq!(snake_case("CPUUtilization"), "cpu_utilization");
        assert_eq!(
            snake_case("HTTPCode_Target_5XX_Count"),
            "http_code_target_5xx_count"
        );
        assert_eq!(snake_case("UnHealthyHostCount"), "un_healthy_host_count");
        assert_eq!(snake_case("AWS/ApplicationELB"), "aws_application_elb");
        assert_eq!(snake_case("ClusterName"), "cluster_name");
        assert_eq!(snake_case("My App/Queue"), "my_app_queue");
    }

    #[test]
    fn names_unknown_metrics_in_base_units() {
        assert_eq!(
            generic_name("MyApp", "Latency", "seconds"),
            "my_app_latency_seconds"
        );
        assert_eq!(
            generic_name("MyApp", "QueueCount", ""),
            "my_app_queue_count_value"
        );
        assert_eq!(label_name("__x"), "x");
        assert_eq!(label_name("9lives"), "_9lives");
        assert_eq!(label_name("quantile"), "quantile_dimension");
    }
}
