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
//! the alarm's topic; transitions stay pending until [`MetricStore::mark_published`], so a crash
//! between recording and publishing loses none.

use std::time::{Duration, SystemTime};

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result, invalid};
use crate::stats::{Agg, Stat, Unit};
use crate::store::{MetricStore, canonical_dims, check_namespace, whole_seconds};
use crate::time;

/// How many periods beyond Evaluation Periods an evaluation retrieves.
pub const EXTRA_PERIODS: u32 = 2;

/// CloudWatch's initial state reason.
const INITIAL_REASON: &str = "Unchecked: Initial alarm creation";

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

    fn parse(s: &str) -> Self {
        match s {
            "OK" => Self::Ok,
            "ALARM" => Self::Alarm,
            _ => Self::InsufficientData,
        }
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmStatus {
    pub spec: AlarmSpec,
    pub state: StateValue,
    pub reason: String,
    pub reason_data: Option<Value>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: SystemTime,
}

/// A state change, to publish to the alarm's topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Its history entry: [`MetricStore::mark_published`] takes it.
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
    #[serde(serialize_with = "rfc3339")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
}

/// An alarm history item (DescribeAlarmHistory).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryItem {
    pub alarm: String,
    #[serde(serialize_with = "rfc3339")]
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

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&time::rfc3339(*t))
}

/// A double as Java prints it, as CloudWatch's reasons do: `80.0`, `93.1`, `1.0E7`.
pub(crate) fn java_double(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        return format!("{v:?}");
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((mantissa, exp)) if mantissa.contains('.') => format!("{mantissa}E{exp}"),
        Some((mantissa, exp)) => format!("{mantissa}.0E{exp}"),
        None => s,
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn was(n: usize) -> &'static str {
    if n == 1 { "was" } else { "were" }
}

/// One period of an evaluation range.
#[derive(Debug, Clone, PartialEq)]
struct Slot {
    start: i64,
    value: Option<f64>,
    samples: f64,
}

/// The outcome of one evaluation: a state, or `None` to keep the current one.
#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    state: StateValue,
    reason: String,
    /// Indices of the evaluated slots (real and filled), oldest first.
    evaluated: Vec<usize>,
}

/// CloudWatch's decision for an evaluation range (oldest slot first), as the module doc says.
fn decide(spec: &AlarmSpec, range: &[Slot]) -> Option<Outcome> {
    let n = spec.evaluation_periods as usize;
    let m = spec.datapoints_to_alarm as usize;
    let real: Vec<usize> = (0..range.len())
        .filter(|&i| range[i].value.is_some())
        .collect();
    let breaching = |i: &usize| range[*i].value.is_some_and(|v| spec.breaches(v));

    if real.len() >= n {
        let eval = &real[real.len() - n..];
        let alarm = eval.iter().filter(|i| breaching(i)).count() >= m;
        return Some(crossed(spec, range, eval, alarm, None, eval.to_vec()));
    }

    let fill = n - real.len();
    // Real datapoints, then the most recent missing ones: missing data is used as few times as
    // possible.
    let mut evaluated: Vec<usize> = (0..range.len())
        .rev()
        .filter(|&i| range[i].value.is_none())
        .take(fill)
        .chain(real.iter().copied())
        .collect();
    evaluated.sort_unstable();

    if real.is_empty() {
        let reason = |treated: &str| {
            format!(
                "Threshold Crossed: no datapoints were received for {} and {} {} treated as [{treated}].",
                plural(n, "period", "periods"),
                plural(n, "missing datapoint", "missing datapoints"),
                was(n)
            )
        };
        let (state, reason) = match spec.missing_data {
            MissingData::Ignore => return None,
            MissingData::Missing => (
                StateValue::InsufficientData,
                format!(
                    "Insufficient Data: {} {} unknown.",
                    plural(n, "datapoint", "datapoints"),
                    was(n)
                ),
            ),
            MissingData::Breaching => (StateValue::Alarm, reason("Breaching")),
            MissingData::NotBreaching => (StateValue::Ok, reason("NonBreaching")),
        };
        return Some(Outcome {
            state,
            reason,
            evaluated,
        });
    }

    let b = real.iter().filter(|i| breaching(i)).count();
    let nb = real.len() - b;
    match spec.missing_data {
        MissingData::Breaching => Some(crossed(
            spec,
            range,
            &real,
            b + fill >= m,
            Some((fill, "Breaching")),
            evaluated,
        )),
        MissingData::NotBreaching => Some(crossed(
            spec,
            range,
            &real,
            b >= m,
            Some((fill, "NonBreaching")),
            evaluated,
        )),
        MissingData::Missing | MissingData::Ignore => {
            if b >= m || nb > 0 {
                return Some(crossed(spec, range, &real, b >= m, None, evaluated));
            }
            if spec.missing_data == MissingData::Ignore {
                return None;
            }
            // Every real datapoint is breaching, but fewer than M: ALARM once the oldest is at
            // least M periods old, else not enough data yet.
            let oldest_age = range.len() - real[0];
            if oldest_age >= m {
                Some(crossed(spec, range, &real, true, None, evaluated))
            } else {
                Some(Outcome {
                    state: StateValue::InsufficientData,
                    reason: format!(
                        "Insufficient Data: {} {} unknown.",
                        plural(fill, "datapoint", "datapoints"),
                        was(fill)
                    ),
                    evaluated,
                })
            }
        }
    }
}

/// "Threshold Crossed: ..." for a decision to ALARM (`alarm`) or OK from the real datapoints
/// `real` (oldest first) and, if they counted towards it, `fill` missing ones treated as the
/// treatment says.
fn crossed(
    spec: &AlarmSpec,
    range: &[Slot],
    real: &[usize],
    alarm: bool,
    fill: Option<(usize, &str)>,
    evaluated: Vec<usize>,
) -> Outcome {
    let n = spec.evaluation_periods as usize;
    let m = spec.datapoints_to_alarm as usize;
    // The datapoints that made the decision, newest first.
    let listed: Vec<&Slot> = real
        .iter()
        .rev()
        .map(|&i| &range[i])
        .filter(|s| s.value.is_some_and(|v| spec.breaches(v)) == alarm)
        .collect();
    let op = if alarm {
        spec.comparison.phrase().to_owned()
    } else {
        format!("not {}", spec.comparison.phrase())
    };
    let threshold = java_double(spec.threshold);
    let fill = fill.filter(|(count, treated)| *count > 0 && ((*treated == "Breaching") == alarm));
    let mut reason = String::from("Threshold Crossed: ");
    if !listed.is_empty() {
        let list: Vec<String> = listed
            .iter()
            .map(|s| {
                format!(
                    "{} ({})",
                    java_double(s.value.unwrap_or_default()),
                    time::reason_time(s.start)
                )
            })
            .collect();
        reason.push_str(&format!(
            "{} out of the last {} [{}] {} {op} the threshold ({threshold})",
            listed.len(),
            plural(n, "datapoint", "datapoints"),
            list.join(", "),
            was(listed.len()),
        ));
        if let Some((count, treated)) = fill {
            reason.push_str(&format!(
                " and {} {} treated as [{treated}]",
                plural(count, "missing datapoint", "missing datapoints"),
                was(count)
            ));
        }
    } else if let Some((count, treated)) = fill {
        reason.push_str(&format!(
            "{} {} treated as [{treated}]",
            plural(count, "missing datapoint", "missing datapoints"),
            was(count)
        ));
    } else {
        reason.push_str(&format!(
            "no datapoints were {op} the threshold ({threshold})"
        ));
    }
    let (minimum, transition) = if alarm {
        (m, "OK -> ALARM")
    } else {
        (n - m + 1, "ALARM -> OK")
    };
    reason.push_str(&format!(
        " (minimum {} for {transition} transition).",
        plural(minimum, "datapoint", "datapoints")
    ));
    Outcome {
        state: if alarm {
            StateValue::Alarm
        } else {
            StateValue::Ok
        },
        reason,
        evaluated,
    }
}

/// The state CloudWatch's rules give `spec` for an evaluation range of per-period values
/// (oldest first, `None` for a period without data), starting from `current`. The documented
/// tables of "How alarm state is evaluated when data is missing" are tests of this.
pub fn decide_state(spec: &AlarmSpec, range: &[Option<f64>], current: StateValue) -> StateValue {
    let period = spec.period_secs();
    let slots: Vec<Slot> = range
        .iter()
        .enumerate()
        .map(|(i, v)| Slot {
            start: i64::try_from(i).unwrap_or(0) * period,
            value: *v,
            samples: if v.is_some() { 1.0 } else { 0.0 },
        })
        .collect();
    decide(spec, &slots).map_or(current, |o| o.state)
}

/// How often an alarm of `period` seconds is evaluated: each minute for periods of a minute or
/// more, each 10 s for 10-59 s, each period below that.
fn cadence(period: i64) -> i64 {
    if period >= 60 {
        60
    } else if period >= 10 {
        10
    } else {
        period
    }
}

/// CloudWatch's StateReasonData.
fn reason_data(spec: &AlarmSpec, range: &[Slot], evaluated: &[usize], now_ms: i64) -> Value {
    let start = evaluated.first().map_or(0, |&i| range[i].start);
    let recent: Vec<f64> = evaluated.iter().filter_map(|&i| range[i].value).collect();
    let points: Vec<Value> = evaluated
        .iter()
        .rev()
        .map(|&i| {
            let s = &range[i];
            let ts = time::cloudwatch_millis(s.start.saturating_mul(1000));
            match s.value {
                Some(v) => json!({"timestamp": ts, "sampleCount": s.samples, "value": v}),
                None => json!({"timestamp": ts}),
            }
        })
        .collect();
    let mut data = serde_json::Map::new();
    data.insert("version".into(), json!("1.0"));
    data.insert("queryDate".into(), json!(time::cloudwatch_millis(now_ms)));
    data.insert(
        "startDate".into(),
        json!(time::cloudwatch_millis(start.saturating_mul(1000))),
    );
    let key = if spec.stat.is_percentile() {
        "extendedStatistic"
    } else {
        "statistic"
    };
    data.insert(key.into(), json!(spec.stat.name()));
    if let Some(unit) = spec.unit {
        data.insert("unit".into(), json!(unit.as_str()));
    }
    data.insert("period".into(), json!(spec.period_secs()));
    data.insert("recentDatapoints".into(), json!(recent));
    data.insert("threshold".into(), json!(spec.threshold));
    data.insert("evaluatedDatapoints".into(), Value::Array(points));
    Value::Object(data)
}

/// The row of an alarm as stored.
struct Row {
    spec: AlarmSpec,
    state: StateValue,
    reason: String,
    reason_data: Option<String>,
    state_at_ms: i64,
    evaluated_at: Option<i64>,
}

impl MetricStore {
    /// PutMetricAlarm: creates the alarm in INSUFFICIENT_DATA, or updates its definition and
    /// keeps its state (it is evaluated again at the next evaluation). A definition equal to the
    /// stored one changes nothing.
    pub fn put_metric_alarm(&mut self, spec: &AlarmSpec, now: SystemTime) -> Result<()> {
        spec.validate()?;
        let json = serde_json::to_string(spec).map_err(|source| Error::CorruptAlarm {
            name: spec.name.clone(),
            source,
        })?;
        let now_ms = time::millis(now);
        let tx = self.conn.unchecked_transaction()?;
        let existing: Option<String> = tx
            .query_row(
                "SELECT spec FROM alarms WHERE name = ?1",
                params![spec.name],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(old) if old == json => return Ok(()),
            Some(_) => {
                tx.execute(
                    "UPDATE alarms SET spec = ?2, evaluated_at = NULL WHERE name = ?1",
                    params![spec.name, json],
                )?;
                config_history(&tx, spec, "Update", now_ms)?;
            }
            None => {
                tx.execute(
                    "INSERT INTO alarms (name, spec, state, reason, state_at_ms)
                     VALUES (?1, ?2, 'INSUFFICIENT_DATA', ?3, ?4)",
                    params![spec.name, json, INITIAL_REASON, now_ms],
                )?;
                config_history(&tx, spec, "Create", now_ms)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes the stored alarms exactly `specs`: puts each, deletes the others (a region at start
    /// applies the spec's alarms with this).
    pub fn sync_alarms(&mut self, specs: &[AlarmSpec], now: SystemTime) -> Result<()> {
        for spec in specs {
            spec.validate()?;
        }
        for spec in specs {
            self.put_metric_alarm(spec, now)?;
        }
        let stale: Vec<String> = self
            .describe_alarms()?
            .into_iter()
            .map(|a| a.spec.name)
            .filter(|name| !specs.iter().any(|s| &s.name == name))
            .collect();
        let stale: Vec<&str> = stale.iter().map(String::as_str).collect();
        self.delete_alarms(&stale, now)
    }

    /// DeleteAlarms. Their history stays until it ages out.
    pub fn delete_alarms(&mut self, names: &[&str], now: SystemTime) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for name in names {
            let deleted = tx.execute("DELETE FROM alarms WHERE name = ?1", params![name])?;
            if deleted > 0 {
                tx.execute(
                    "INSERT INTO alarm_history (alarm, at_ms, kind, summary, data)
                     VALUES (?1, ?2, 'ConfigurationUpdate', ?3, ?4)",
                    params![
                        name,
                        time::millis(now),
                        format!("Alarm \"{name}\" deleted"),
                        json!({"version": "1.0", "type": "Delete"}).to_string()
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// DescribeAlarms: every alarm, by name.
    pub fn describe_alarms(&self) -> Result<Vec<AlarmStatus>> {
        self.rows(None)?.into_iter().map(status).collect()
    }

    pub fn alarm(&self, name: &str) -> Result<Option<AlarmStatus>> {
        self.rows(Some(name))?
            .into_iter()
            .next()
            .map(status)
            .transpose()
    }

    /// Evaluates every alarm due at `now` (at most once per evaluation instant), records state
    /// changes and returns them, by alarm name.
    ///
    /// A caller that comes late (a busy machine, a region restarted) has the instants it missed
    /// evaluated first, in order, back to the start of the newest range: a breach that lasted one
    /// period is not skipped because nobody looked while it lasted.
    pub fn evaluate_alarms(&mut self, now: SystemTime) -> Result<Vec<Transition>> {
        let now_s = time::secs(now);
        let now_ms = time::millis(now);
        let rows = self.rows(None)?;
        let tx = self.conn.unchecked_transaction()?;
        let mut out = Vec::new();
        for mut row in rows {
            let period = row.spec.period_secs();
            let cadence = cadence(period);
            let t = time::floor(now_s, cadence);
            if row.evaluated_at.is_some_and(|e| t <= e) {
                continue;
            }
            let lookback = i64::from(row.spec.evaluation_periods + EXTRA_PERIODS) * period;
            let first = row
                .evaluated_at
                .map_or(t, |e| (e + cadence).max(t - time::floor(lookback, cadence)));
            tx.execute(
                "UPDATE alarms SET evaluated_at = ?2 WHERE name = ?1",
                params![row.spec.name, t],
            )?;
            let mut at = first;
            while at <= t {
                let range = self.range(&row.spec, at, now_s)?;
                at += cadence;
                let Some(outcome) = decide(&row.spec, &range) else {
                    continue;
                };
                if outcome.state == row.state {
                    continue;
                }
                let data = reason_data(&row.spec, &range, &outcome.evaluated, now_ms);
                out.push(record_transition(
                    &tx,
                    &row,
                    outcome.state,
                    &outcome.reason,
                    data,
                    now_ms,
                )?);
                row.state = outcome.state;
                row.reason = outcome.reason;
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// SetAlarmState: sets the state until the next evaluation says otherwise. `None` when the
    /// alarm is already in that state.
    pub fn set_alarm_state(
        &mut self,
        name: &str,
        state: StateValue,
        reason: &str,
        now: SystemTime,
    ) -> Result<Option<Transition>> {
        let row = self
            .rows(Some(name))?
            .into_iter()
            .next()
            .ok_or_else(|| Error::UnknownAlarm(name.to_owned()))?;
        if row.state == state {
            return Ok(None);
        }
        let tx = self.conn.unchecked_transaction()?;
        let t = record_transition(&tx, &row, state, reason, Value::Null, time::millis(now))?;
        tx.commit()?;
        Ok(Some(t))
    }

    /// DescribeAlarmHistory for one alarm: its newest `limit` items, newest first.
    pub fn alarm_history(&self, name: &str, limit: u32) -> Result<Vec<HistoryItem>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT alarm, at_ms, kind, summary, from_state, to_state, reason, data
             FROM alarm_history WHERE alarm = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![name, limit], |r| {
            Ok(HistoryItem {
                alarm: r.get(0)?,
                at: time::from_millis(r.get(1)?),
                kind: if r.get::<_, String>(2)? == "StateUpdate" {
                    HistoryKind::StateUpdate
                } else {
                    HistoryKind::ConfigurationUpdate
                },
                summary: r.get(3)?,
                from: r
                    .get::<_, Option<String>>(4)?
                    .map(|s| StateValue::parse(&s)),
                to: r
                    .get::<_, Option<String>>(5)?
                    .map(|s| StateValue::parse(&s)),
                reason: r.get(6)?,
                data: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or(Value::Null),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// State changes not yet marked published, oldest first (after a crash: those to publish
    /// again).
    pub fn pending_transitions(&self) -> Result<Vec<Transition>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.id, h.alarm, h.at_ms, h.from_state, h.to_state, h.reason, h.reason_data,
                    a.spec
             FROM alarm_history h JOIN alarms a ON a.name = h.alarm
             WHERE h.published = 0 ORDER BY h.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, alarm, at_ms, from, to, reason, reason_data, spec) = row?;
            let spec: AlarmSpec =
                serde_json::from_str(&spec).map_err(|source| Error::CorruptAlarm {
                    name: alarm.clone(),
                    source,
                })?;
            out.push(Transition {
                id,
                alarm,
                description: spec.description.clone(),
                condition: spec.condition(),
                dims: spec.dims.clone(),
                from: StateValue::parse(from.as_deref().unwrap_or_default()),
                to: StateValue::parse(to.as_deref().unwrap_or_default()),
                reason: reason.unwrap_or_default(),
                reason_data: reason_data
                    .and_then(|d| serde_json::from_str(&d).ok())
                    .unwrap_or(Value::Null),
                at: time::from_millis(at_ms),
                actions_topic: spec.actions_topic.clone(),
            });
        }
        Ok(out)
    }

    /// Records that a transition reached its topic.
    pub fn mark_published(&mut self, id: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE alarm_history SET published = 1 WHERE id = ?1",
            params![id],
        )?;
        Ok(())
    }

    fn rows(&self, name: Option<&str>) -> Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, spec, state, reason, reason_data, state_at_ms, evaluated_at
             FROM alarms WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map(params![name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, spec, state, reason, reason_data, state_at_ms, evaluated_at) = row?;
            let spec = serde_json::from_str(&spec)
                .map_err(|source| Error::CorruptAlarm { name, source })?;
            out.push(Row {
                spec,
                state: StateValue::parse(&state),
                reason,
                reason_data,
                state_at_ms,
                evaluated_at,
            });
        }
        Ok(out)
    }

    /// The evaluation range ending at `t`: N + 2 periods, oldest first, each with the alarm's
    /// statistic over the alarm's metric (every unit unless the alarm names one).
    fn range(&self, spec: &AlarmSpec, t: i64, now: i64) -> Result<Vec<Slot>> {
        let period = spec.period_secs();
        let count = (spec.evaluation_periods + EXTRA_PERIODS) as usize;
        let start = t - period * count as i64;
        let dims = canonical_dims(&spec.dims)?;
        let level = self.level_for(period, start, now - start);
        let mut aggs: Vec<Option<Agg>> = vec![None; count];
        for (id, _) in self.series_ids(&spec.namespace, &spec.metric, &dims, spec.unit)? {
            let mut rows = Vec::new();
            self.read_points(id, level, start, t, &mut rows)?;
            for (ts, agg) in rows {
                let Some(slot) = aggs.get_mut(usize::try_from((ts - start) / period).unwrap_or(0))
                else {
                    continue;
                };
                match slot {
                    Some(a) => a.merge(&agg),
                    None => *slot = Some(agg),
                }
            }
        }
        Ok(aggs
            .into_iter()
            .enumerate()
            .map(|(k, agg)| Slot {
                start: start + k as i64 * period,
                value: agg.as_ref().and_then(|a| a.stat(&spec.stat)),
                samples: agg.as_ref().map_or(0.0, |a| a.count),
            })
            .collect())
    }
}

fn status(row: Row) -> Result<AlarmStatus> {
    Ok(AlarmStatus {
        state: row.state,
        reason: row.reason,
        reason_data: row
            .reason_data
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok()),
        updated_at: time::from_millis(row.state_at_ms),
        spec: row.spec,
    })
}

fn config_history(
    conn: &rusqlite::Connection,
    spec: &AlarmSpec,
    kind: &str,
    now_ms: i64,
) -> Result<()> {
    let verb = if kind == "Create" {
        "created"
    } else {
        "updated"
    };
    conn.execute(
        "INSERT INTO alarm_history (alarm, at_ms, kind, summary, data)
         VALUES (?1, ?2, 'ConfigurationUpdate', ?3, ?4)",
        params![
            spec.name,
            now_ms,
            format!("Alarm \"{}\" {verb}", spec.name),
            json!({"version": "1.0", "type": kind, "alarm": spec}).to_string()
        ],
    )?;
    Ok(())
}

fn record_transition(
    conn: &rusqlite::Connection,
    row: &Row,
    to: StateValue,
    reason: &str,
    reason_data: Value,
    now_ms: i64,
) -> Result<Transition> {
    let data_text = (!reason_data.is_null()).then(|| reason_data.to_string());
    conn.execute(
        "UPDATE alarms SET state = ?2, reason = ?3, reason_data = ?4, state_at_ms = ?5
         WHERE name = ?1",
        params![row.spec.name, to.as_str(), reason, data_text, now_ms],
    )?;
    let history = json!({
        "version": "1.0",
        "oldState": {"stateValue": row.state.as_str(), "stateReason": row.reason},
        "newState": {
            "stateValue": to.as_str(),
            "stateReason": reason,
            "stateReasonData": reason_data,
        },
    });
    conn.execute(
        "INSERT INTO alarm_history
             (alarm, at_ms, kind, summary, from_state, to_state, reason, reason_data, data,
              published)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            row.spec.name,
            now_ms,
            HistoryKind::StateUpdate.as_str(),
            format!(
                "Alarm updated from {} to {}",
                row.state.as_str(),
                to.as_str()
            ),
            row.state.as_str(),
            to.as_str(),
            reason,
            data_text,
            history.to_string(),
            // Nothing to publish without a topic.
            row.spec.actions_topic.is_none(),
        ],
    )?;
    Ok(Transition {
        id: conn.last_insert_rowid(),
        alarm: row.spec.name.clone(),
        description: row.spec.description.clone(),
        condition: row.spec.condition(),
        dims: row.spec.dims.clone(),
        from: row.state,
        to,
        reason: reason.to_owned(),
        reason_data,
        at: time::from_millis(now_ms),
        actions_topic: row.spec.actions_topic.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_doubles_as_java_does() {
        assert_eq!(java_double(80.0), "80.0");
        assert_eq!(java_double(93.1), "93.1");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.0166666666666666), "1.0166666666666666");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e-4), "1.5E-4");
    }
}
