//! Metric alarms with CloudWatch's semantics ("Using Amazon CloudWatch alarms", "Configuring how
//! CloudWatch alarms treat missing data"), their states and history kept in the store.
//!
//! Evaluation, as documented:
//! - An alarm is evaluated every minute for periods of a minute or more, every 10 s for periods
//!   of 10 to 59 s, and (locally) every period below that. Each evaluation looks at periods that
//!   end at the evaluation instant: at the end of minute 6 a 5-minute alarm sees minutes 2-6.
//! - It retrieves more periods than Evaluation Periods (N), the *evaluation range*: here N + 2,
//!   as in the documentation's examples (5 for N = 3); the exact number is not documented.
//! - With N or more real datapoints in the range, the N most recent are evaluated and missing
//!   data treatment plays no part. With fewer, every real datapoint is evaluated and the rest of
//!   the N are missing datapoints, filled as the treatment says: `breaching` and `notBreaching`
//!   fill them; `missing` and `ignore` evaluate the real ones alone. M (Datapoints to Alarm) or
//!   more breaching: ALARM; else OK.
//! - No real datapoint at all: `missing` goes to INSUFFICIENT_DATA, `ignore` keeps the state,
//!   `breaching` goes to ALARM, `notBreaching` to OK.
//! - Fewer real datapoints than N, none of them non-breaching, fewer than M of them breaching:
//!   `ignore` keeps the state; `missing` goes to ALARM when the oldest breaching datapoint is at
//!   least M periods old and everything newer is breaching or missing ("avoiding premature
//!   transitions to alarm state"), else to INSUFFICIENT_DATA, as the documentation's `- - - - X`
//!   row shows.
//!
//! Percentile alarms always evaluate, whatever the sample count (EvaluateLowSampleCountPercentile
//! `evaluate`); a period whose percentile cannot be given (negative values, statistic sets of
//! unknown values) counts as missing.
//!
//! Every state change is recorded in the history and returned as a [`Transition`] to publish to
//! the alarm's topic; transitions stay pending until [`crate::MetricStore::mark_published`], so a crash
//! between recording and publishing loses none.
//!
//! This module holds the alarms' types; `eval` decides (pure functions of an evaluation range),
//! `sql` keeps definitions, states and history in the store.

mod eval;
mod sql;

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, invalid};
use crate::stats::{Stat, Unit};
use crate::store::{canonical_dims, check_namespace, whole_seconds};
use crate::time;

pub use eval::decide_state;
pub(crate) use eval::java_double;

/// How many periods beyond Evaluation Periods an evaluation retrieves.
pub const EXTRA_PERIODS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    GreaterThanThreshold,
    GreaterThanOrEqualToThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

impl Comparison {
    pub fn breaches(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::GreaterThanThreshold => value > threshold,
            Self::GreaterThanOrEqualToThreshold => value >= threshold,
            Self::LessThanThreshold => value < threshold,
            Self::LessThanOrEqualToThreshold => value <= threshold,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreaterThanThreshold => "GreaterThanThreshold",
            Self::GreaterThanOrEqualToThreshold => "GreaterThanOrEqualToThreshold",
            Self::LessThanThreshold => "LessThanThreshold",
            Self::LessThanOrEqualToThreshold => "LessThanOrEqualToThreshold",
        }
    }

    /// As CloudWatch's reasons say it.
    fn phrase(self) -> &'static str {
        match self {
            Self::GreaterThanThreshold => "greater than",
            Self::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Self::LessThanThreshold => "less than",
            Self::LessThanOrEqualToThreshold => "less than or equal to",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::GreaterThanThreshold => ">",
            Self::GreaterThanOrEqualToThreshold => ">=",
            Self::LessThanThreshold => "<",
            Self::LessThanOrEqualToThreshold => "<=",
        }
    }
}

/// TreatMissingData.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MissingData {
    Missing,
    NotBreaching,
    Breaching,
    Ignore,
}

impl MissingData {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::NotBreaching => "notBreaching",
            Self::Breaching => "breaching",
            Self::Ignore => "ignore",
        }
    }
}

/// An alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateValue {
    Ok,
    Alarm,
    InsufficientData,
}

impl StateValue {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// The state a stored spelling names; an unknown one is `None`, never a guess.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Ok, Self::Alarm, Self::InsufficientData]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A metric alarm (PutMetricAlarm's parameters that the twin uses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmSpec {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub namespace: String,
    pub metric: String,
    #[serde(default)]
    pub dims: Vec<(String, String)>,
    /// `None`: data of every unit the metric was published with.
    #[serde(default)]
    pub unit: Option<Unit>,
    pub stat: Stat,
    #[serde(with = "seconds")]
    pub period: Duration,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub threshold: f64,
    pub comparison: Comparison,
    pub missing_data: MissingData,
    /// The topic every state change is published to.
    #[serde(default)]
    pub actions_topic: Option<String>,
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

impl AlarmSpec {
    /// PutMetricAlarm's checks: 1 <= M <= N, a whole-second period, N periods at most a day,
    /// names CloudWatch accepts.
    pub fn validate(&self) -> Result<()> {
        if self.name.trim().is_empty()
            || self.name.chars().count() > 255
            || self.name.chars().any(|c| c.is_ascii_control())
        {
            return Err(invalid(
                "alarm name",
                format!(
                    "`{}` must have 1 to 255 characters and no control characters",
                    self.name
                ),
            ));
        }
        check_namespace(&self.namespace)?;
        if self.metric.trim().is_empty() || self.metric.chars().count() > 255 {
            return Err(invalid("metric name", "it must have 1 to 255 characters"));
        }
        canonical_dims(&self.dims)?;
        let period = whole_seconds("period", self.period)?;
        if self.evaluation_periods == 0 {
            return Err(invalid("evaluation periods", "it must be at least 1"));
        }
        if self.datapoints_to_alarm == 0 || self.datapoints_to_alarm > self.evaluation_periods {
            return Err(invalid(
                "datapoints to alarm",
                format!(
                    "{} must be from 1 to the evaluation periods ({})",
                    self.datapoints_to_alarm, self.evaluation_periods
                ),
            ));
        }
        if period.saturating_mul(i64::from(self.evaluation_periods)) > 86_400 {
            return Err(invalid(
                "evaluation periods",
                "evaluation periods times the period can't exceed one day",
            ));
        }
        if !self.threshold.is_finite() {
            return Err(invalid("threshold", "it must be a finite number"));
        }
        Ok(())
    }

    /// `Average CPUUtilization > 80 for 3 of 3 periods of 1m`.
    pub fn condition(&self) -> String {
        format!(
            "{} {} {} {} for {} of {} periods of {}",
            self.stat,
            self.metric,
            self.comparison.symbol(),
            java_double(self.threshold),
            self.datapoints_to_alarm,
            self.evaluation_periods,
            time::short_duration(i64::try_from(self.period.as_secs()).unwrap_or(i64::MAX))
        )
    }

    fn period_secs(&self) -> i64 {
        i64::try_from(self.period.as_secs())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    fn breaches(&self, v: f64) -> bool {
        self.comparison.breaches(v, self.threshold)
    }
}

/// An alarm and its current state (DescribeAlarms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmStatus {
    pub spec: AlarmSpec,
    pub state: StateValue,
    pub reason: String,
    pub reason_data: Option<Value>,
    #[serde(with = "rfc3339")]
    pub updated_at: SystemTime,
}

/// A state change, to publish to the alarm's topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Its history entry: [`crate::MetricStore::mark_published`] takes it.
    pub id: i64,
    pub alarm: String,
    pub description: Option<String>,
    /// The alarm's condition, e.g. `Average CPUUtilization > 80 for 3 of 3 periods of 1m`.
    pub condition: String,
    pub dims: Vec<(String, String)>,
    pub from: StateValue,
    pub to: StateValue,
    /// CloudWatch's reason, e.g. `Threshold Crossed: 3 out of the last 3 datapoints [...] ...`.
    pub reason: String,
    /// CloudWatch's StateReasonData.
    pub reason_data: Value,
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    pub actions_topic: Option<String>,
}

impl Transition {
    /// The value of one of the alarm's dimensions, e.g. `ServiceName`.
    pub fn dim(&self, name: &str) -> Option<&str> {
        self.dims
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// DescribeAlarmHistory's item types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HistoryKind {
    ConfigurationUpdate,
    StateUpdate,
}

impl HistoryKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::ConfigurationUpdate => "ConfigurationUpdate",
            Self::StateUpdate => "StateUpdate",
        }
    }

    /// The kind a stored spelling names; an unknown one is `None`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::ConfigurationUpdate, Self::StateUpdate]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// An alarm history item (DescribeAlarmHistory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub alarm: String,
    #[serde(with = "rfc3339")]
    pub at: SystemTime,
    pub kind: HistoryKind,
    /// `Alarm updated from OK to ALARM`, `Alarm "x" created`.
    pub summary: String,
    pub from: Option<StateValue>,
    pub to: Option<StateValue>,
    pub reason: Option<String>,
    /// CloudWatch's HistoryData.
    pub data: Value,
}

/// Times as CloudWatch prints them, read back by the CLI.
mod rfc3339 {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let text = String::deserialize(d)?;
        haven_time::parse_rfc3339(&text)
            .map(haven_time::from_unix_millis)
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not an RFC 3339 UTC time")))
    }
}
