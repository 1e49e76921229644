//! The CloudWatch twin's metrics and alarms, kept in a region's SQLite file.
//!
//! - [`MetricStore::put_many`] records samples (raw values or statistic sets) with AWS's
//!   namespaces, names, dimensions and units at one-second resolution, in one transaction.
//! - [`MetricStore::compact`] rolls them up to 60 s, 300 s and 3600 s and applies CloudWatch's
//!   retention ([`Retention`]: 3 h, 15 d, 63 d, 455 d by default).
//! - [`MetricStore::get_statistics`] answers as GetMetricStatistics does (statistics, percentiles,
//!   periods aligned to the rounded start time) and [`MetricStore::list_metrics`] as ListMetrics.
//! - [`MetricStore::put_metric_alarm`] and [`MetricStore::evaluate_alarms`] give alarms
//!   CloudWatch's semantics (see [`alarm`]), with states and history in the same file.
//! - [`MetricStore::prometheus_text`] is the region's `/metrics`.
//!
//! One store per region process: it owns its connection; other processes open the file
//! read-only ([`MetricStore::open_read_only`]).

pub mod alarm;
pub mod catalog;
mod error;
pub mod prometheus;
mod rollup;
mod stats;
mod store;
mod time;

pub use alarm::{
    AlarmSpec, AlarmStatus, Comparison, HistoryItem, HistoryKind, MissingData, StateValue,
    Transition, decide_state,
};
pub use error::{Error, Result};
pub use rollup::{Compaction, Retention};
pub use stats::{EXACT_VALUES, RELATIVE_ACCURACY, Stat, StatisticSet, Unit};
pub use store::{Datapoint, MAX_DATAPOINTS, Metric, MetricStore, Observation, Query, Sample};
pub use time::rfc3339;
