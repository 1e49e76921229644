//! The store: one SQLite file (WAL) holding each series' datapoints at four resolutions, written
//! in batches, and read back as GetMetricStatistics and ListMetrics answer.
//!
//! A series is a namespace, a metric name, a set of dimensions and a unit: CloudWatch treats
//! each combination of dimensions as its own metric, and aggregates data of different units
//! separately. Each stored datapoint is the aggregate of one bucket (a second at the raw level,
//! then 60 s, 300 s and 3600 s): SampleCount, Sum, Minimum, Maximum and the digest percentiles
//! are computed from ([`crate::stats`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime};

use haven_sqlite::Migrations;
use rusqlite::{Connection, OptionalExtension, params};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::error::{Error, Result, invalid};
use crate::rollup::Retention;
use crate::stats::{Agg, Digest, Stat, StatisticSet, Unit};
use crate::time;

/// The resolutions, finest first: raw seconds, then CloudWatch's three rollups.
pub(crate) const LEVELS: [i64; 4] = [1, 60, 300, 3600];

/// GetMetricStatistics' limit on datapoints per call.
pub const MAX_DATAPOINTS: u64 = 1440;

/// ListMetrics leaves out metrics without data for two weeks.
const LIST_METRICS_WINDOW: i64 = 14 * 86_400;

/// The file's schema versions ([`haven_sqlite`]): version 1 is the schema from before versions
/// existed, idempotent so that it adopts such a file.
const MIGRATIONS: &Migrations = &[SCHEMA_V1];

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dims TEXT NOT NULL,
    unit TEXT NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    total_count REAL NOT NULL DEFAULT 0,
    total_sum REAL NOT NULL DEFAULT 0,
    UNIQUE (namespace, name, dims, unit)
);
CREATE TABLE IF NOT EXISTS points (
    series INTEGER NOT NULL,
    res INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    count REAL NOT NULL,
    sum REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    digest BLOB,
    PRIMARY KEY (series, res, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollups (
    res INTEGER PRIMARY KEY,
    done_until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    reason_data TEXT,
    state_at_ms INTEGER NOT NULL,
    evaluated_at INTEGER
);
CREATE TABLE IF NOT EXISTS alarm_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    reason TEXT,
    reason_data TEXT,
    data TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS alarm_history_by_alarm ON alarm_history(alarm, id);
CREATE INDEX IF NOT EXISTS alarm_history_unpublished ON alarm_history(published) WHERE published = 0;
";

/// One value (or statistic set) to record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub dims: &'a [(&'a str, &'a str)],
    pub unit: Unit,
    pub value: Observation,
    pub at: SystemTime,
}

impl<'a> Sample<'a> {
    pub fn new(
        namespace: &'a str,
        name: &'a str,
        dims: &'a [(&'a str, &'a str)],
        unit: Unit,
        value: impl Into<Observation>,
        at: SystemTime,
    ) -> Self {
        Self {
            namespace,
            name,
            dims,
            unit,
            value: value.into(),
            at,
        }
    }
}

/// A raw value, or a statistic set summarising several (PutMetricData's `Value` and
/// `StatisticValues`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    Value(f64),
    Set(StatisticSet),
}

impl From<f64> for Observation {
    fn from(v: f64) -> Self {
        Self::Value(v)
    }
}

impl From<StatisticSet> for Observation {
    fn from(s: StatisticSet) -> Self {
        Self::Set(s)
    }
}

/// A GetMetricStatistics request.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub namespace: String,
    pub name: String,
    /// Exactly the dimensions the metric was published with (CloudWatch does not aggregate
    /// across dimensions of a metric).
    pub dims: Vec<(String, String)>,
    /// `None`: every unit, each aggregated separately.
    pub unit: Option<Unit>,
    pub stats: Vec<Stat>,
    pub period: Duration,
    /// Inclusive, rounded down as CloudWatch rounds it.
    pub start: SystemTime,
    /// Exclusive.
    pub end: SystemTime,
}

impl Query {
    /// A query of the last hour at one-minute periods (CloudWatch's defaults) for `Average`.
    pub fn new(namespace: &str, name: &str, now: SystemTime) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dims: Vec::new(),
            unit: None,
            stats: vec![Stat::Average],
            period: Duration::from_secs(60),
            start: now - Duration::from_secs(3600),
            end: now,
        }
    }

    pub fn dim(mut self, name: &str, value: &str) -> Self {
        self.dims.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn stats(mut self, stats: &[Stat]) -> Self {
        self.stats = stats.to_vec();
        self
    }

    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    pub fn range(mut self, start: SystemTime, end: SystemTime) -> Self {
        self.start = start;
        self.end = end;
        self
    }
}

/// One period's statistics. Serializes as GetMetricStatistics' Datapoint:
/// `{"Timestamp": "...", "Average": 1.0, ..., "Unit": "Percent"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// The start of the period.
    pub timestamp: SystemTime,
    /// By statistic name (`Average`, `p99`); a percentile that cannot be given is left out.
    pub values: BTreeMap<String, f64>,
    pub unit: Unit,
}

impl Serialize for Datapoint {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.values.len() + 2))?;
        m.serialize_entry("Timestamp", &time::rfc3339(self.timestamp))?;
        for (k, v) in &self.values {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("Unit", &self.unit)?;
        m.end()
    }
}

/// A metric as ListMetrics returns it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Metric {
    pub namespace: String,
    pub name: String,
    pub dims: Vec<(String, String)>,
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Dimension<'a> {
            #[serde(rename = "Name")]
            name: &'a str,
            #[serde(rename = "Value")]
            value: &'a str,
        }
        let dims: Vec<Dimension<'_>> = self
            .dims
            .iter()
            .map(|(name, value)| Dimension { name, value })
            .collect();
        let mut st = s.serialize_struct("Metric", 3)?;
        st.serialize_field("Namespace", &self.namespace)?;
        st.serialize_field("MetricName", &self.name)?;
        st.serialize_field("Dimensions", &dims)?;
        st.end()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    namespace: String,
    name: String,
    /// Canonical: JSON of the dimensions sorted by name.
    dims: String,
    unit: Unit,
}

/// A region's metrics and alarms (the alarm half is in [`crate::alarm`]).
pub struct MetricStore {
    pub(crate) conn: Connection,
    pub(crate) retention: Retention,
    /// Series ids by key, so that recording a known series costs no lookup.
    series: HashMap<SeriesKey, i64>,
    /// `done_until[i]`: every bucket of `LEVELS[i]` that starts before it has been rolled up
    /// from `LEVELS[i - 1]` (index 0 unused).
    pub(crate) done_until: [i64; 4],
}

impl MetricStore {
    /// Opens (creating if need be) the file with AWS's retention.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Retention::default())
    }

    pub fn open_with(path: &Path, retention: Retention) -> Result<Self> {
        retention.validate()?;
        Self::with(haven_sqlite::open(path, MIGRATIONS)?, retention)
    }

    /// A store that lives and dies with the value (tests, dry runs).
    pub fn open_in_memory(retention: Retention) -> Result<Self> {
        retention.validate()?;
        let mut conn = Connection::open_in_memory()?;
        haven_sqlite::migrate(&mut conn, Path::new(":memory:"), MIGRATIONS)?;
        Self::with(conn, retention)
    }

    /// Opens an existing file for reading only, as a command beside a running region does. It
    /// knows the rollups done when it opened: a long-lived reader reopens now and then.
    pub fn open_read_only(path: &Path, retention: Retention) -> Result<Self> {
        retention.validate()?;
        Self::with(haven_sqlite::open_read_only(path, MIGRATIONS)?, retention)
    }

    fn with(conn: Connection, retention: Retention) -> Result<Self> {
        // Room for every statement the store prepares, so none is parsed twice.
        conn.set_prepared_statement_cache_capacity(64);
        let done_until = load_done_until(&conn)?;
        Ok(Self {
            conn,
            retention,
            series: HashMap::new(),
            done_until,
        })
    }

    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Records one value (PutMetricData with one datum at one-second storage resolution).
    pub fn put(
        &mut self,
        namespace: &str,
        name: &str,
        dims: &[(&str, &str)],
        unit: Unit,
        value: f64,
        at: SystemTime,
    ) -> Result<()> {
        self.put_many(&[Sample::new(namespace, name, dims, unit, value, at)])
    }

    /// Records many samples in one transaction: all of them or, on any invalid one, none.
    /// Samples of one series in one second merge into that second's datapoint.
    pub fn put_many(&mut self, samples: &[Sample<'_>]) -> Result<()> {
        let mut prepared = Vec::with_capacity(samples.len());
        for s in samples {
            prepared.push((series_key(s)?, time::secs(s.at), observation(&s.value)?));
        }
        let result = self.write(prepared);
        if result.is_err() {
            // Ids of series inserted by the rolled-back transaction must not be reused.
            self.series.clear();
        }
        result
    }

    fn write(&mut self, prepared: Vec<(SeriesKey, i64, Agg)>) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        let mut points: BTreeMap<(i64, i64), Agg> = BTreeMap::new();
        let mut totals: HashMap<i64, Totals> = HashMap::new();
        for (key, ts, agg) in prepared {
            let id = series_id(&tx, &mut self.series, key, ts)?;
            let t = totals.entry(id).or_insert(Totals {
                count: 0.0,
                sum: 0.0,
                first: ts,
                last: ts,
            });
            t.count += agg.count;
            t.sum += agg.sum;
            t.first = t.first.min(ts);
            t.last = t.last.max(ts);
            match points.entry((id, ts)) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&agg),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(agg);
                }
            }
        }
        for ((id, ts), agg) in &points {
            upsert(&tx, *id, LEVELS[0], *ts, agg)?;
            // Late data for buckets already rolled up goes straight into the rollups too.
            for (level, step) in LEVELS.iter().enumerate().skip(1) {
                if *ts < self.done_until[level] {
                    upsert(&tx, *id, *step, time::floor(*ts, *step), agg)?;
                }
            }
        }
        let mut update = tx.prepare_cached(
            "UPDATE series SET total_count = total_count + ?2, total_sum = total_sum + ?3,
                    first_ts = min(first_ts, ?4), last_ts = max(last_ts, ?5)
             WHERE id = ?1",
        )?;
        for (id, t) in &totals {
            update.execute(params![id, t.count, t.sum, t.first, t.last])?;
        }
        drop(update);
        tx.commit()?;
        Ok(())
    }

    /// GetMetricStatistics: the query's statistics for each period with data, oldest first.
    ///
    /// As CloudWatch does, relative to `now`: the start is rounded down (to the period below a
    /// minute; to the minute, 5 minutes or hour by the start's age), and a period that the
    /// start's age does not allow (a multiple of 60 s past the raw retention, of 300 s past the
    /// minute retention, of 3600 s past the five-minute retention) returns no datapoints.
    /// Periods of any whole number of seconds are accepted, unlike CloudWatch's 1, 5, 10, 20, 30
    /// and multiples of 60, because local alarm periods are free.
    pub fn get_statistics(&self, q: &Query, now: SystemTime) -> Result<Vec<Datapoint>> {
        let period = whole_seconds("period", q.period)?;
        if q.stats.is_empty() {
            return Err(invalid("statistics", "give at least one statistic"));
        }
        let start = time::secs(q.start);
        let end = ceil_secs(q.end);
        if start >= end {
            return Err(invalid(
                "start time",
                "it must be earlier than the end time",
            ));
        }
        let now = time::secs(now);
        let Some(start) = round_start(period, start, now - start, &self.retention) else {
            return Ok(Vec::new());
        };
        let periods = u64::try_from((end - start + period - 1) / period).unwrap_or(u64::MAX);
        if periods > MAX_DATAPOINTS {
            return Err(Error::TooManyDatapoints {
                requested: periods,
                max: MAX_DATAPOINTS,
            });
        }
        let level = self.level_for(period, start, now - start);
        let dims = canonical_dims(&q.dims)?;
        let mut out = Vec::new();
        for (id, unit) in self.series_ids(&q.namespace, &q.name, &dims, q.unit)? {
            let mut rows = Vec::new();
            self.read_points(id, level, start, end, &mut rows)?;
            let mut buckets: BTreeMap<i64, Agg> = BTreeMap::new();
            for (ts, agg) in rows {
                let k = (ts - start) / period;
                match buckets.entry(k) {
                    std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&agg),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(agg);
                    }
                }
            }
            for (k, agg) in buckets {
                let values = q
                    .stats
                    .iter()
                    .filter_map(|s| agg.stat(s).map(|v| (s.name(), v)))
                    .collect();
                out.push(Datapoint {
                    timestamp: time::from_secs(start + k * period),
                    values,
                    unit,
                });
            }
        }
        out.sort_by(|a, b| a.timestamp.cmp(&b.timestamp).then(a.unit.cmp(&b.unit)));
        Ok(out)
    }

    /// ListMetrics: metrics (each set of dimensions once, whatever its units) with data in the
    /// two weeks before `now`, sorted.
    pub fn list_metrics(&self, namespace: Option<&str>, now: SystemTime) -> Result<Vec<Metric>> {
        let since = time::secs(now) - LIST_METRICS_WINDOW;
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT namespace, name, dims FROM series
             WHERE last_ts >= ?1 AND (?2 IS NULL OR namespace = ?2)
             ORDER BY namespace, name, dims",
        )?;
        let rows = stmt.query_map(params![since, namespace], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (namespace, name, dims) = row?;
            out.push(Metric {
                namespace,
                name,
                dims: parse_dims(&dims),
            });
        }
        Ok(out)
    }

    /// The coarsest level whose buckets tile the periods (the period and start are multiples of
    /// its step) and which still holds data as old as `age`.
    pub(crate) fn level_for(&self, period: i64, start: i64, age: i64) -> usize {
        let fits = |l: usize| period % LEVELS[l] == 0 && start.rem_euclid(LEVELS[l]) == 0;
        (0..LEVELS.len())
            .rev()
            .find(|&l| fits(l) && age <= self.retention.of_level(l))
            .or_else(|| (0..LEVELS.len()).rev().find(|&l| fits(l)))
            .unwrap_or(0)
    }

    /// The series of a metric: one per unit, or the one of `unit`.
    pub(crate) fn series_ids(
        &self,
        namespace: &str,
        name: &str,
        dims: &str,
        unit: Option<Unit>,
    ) -> Result<Vec<(i64, Unit)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, unit FROM series
             WHERE namespace = ?1 AND name = ?2 AND dims = ?3 AND (?4 IS NULL OR unit = ?4)
             ORDER BY unit",
        )?;
        let rows = stmt.query_map(
            params![namespace, name, dims, unit.map(Unit::as_str)],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )?;
        let mut out = Vec::new();
        for row in rows {
            let (id, unit) = row?;
            out.push((id, unit.parse().unwrap_or(Unit::None)));
        }
        Ok(out)
    }

    /// The series' datapoints of `[from, to)` at `level`; buckets not yet rolled up to it come
    /// from the finer levels, so the newest data is always there.
    pub(crate) fn read_points(
        &self,
        series: i64,
        level: usize,
        from: i64,
        to: i64,
        out: &mut Vec<(i64, Agg)>,
    ) -> Result<()> {
        let done = if level == 0 {
            to
        } else {
            to.min(self.done_until[level])
        };
        if from < done {
            self.read_level(series, level, from..done, out)?;
        }
        if level > 0 && to > done {
            self.read_points(series, level - 1, from.max(done), to, out)?;
        }
        Ok(())
    }
}

impl MetricStore {
    /// The datapoints of exactly one level in `[from, to)`, oldest first.
    pub(crate) fn read_level(
        &self,
        series: i64,
        level: usize,
        span: std::ops::Range<i64>,
        out: &mut Vec<(i64, Agg)>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT ts, count, sum, min, max, digest FROM points
             WHERE series = ?1 AND res = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts",
        )?;
        let rows = stmt.query_map(params![series, LEVELS[level], span.start, span.end], |r| {
            Ok((r.get::<_, i64>(0)?, StoredAgg::read(r, 1)?))
        })?;
        for row in rows {
            let (ts, agg) = row?;
            out.push((ts, agg.decode()?));
        }
        Ok(())
    }

    /// Forgets cached series ids (after series were deleted).
    pub(crate) fn forget_series(&mut self) {
        self.series.clear();
    }
}

/// A datapoint's columns as stored (`count, sum, min, max, digest`), its digest still encoded.
struct StoredAgg {
    count: f64,
    sum: f64,
    min: f64,
    max: f64,
    digest: Option<Vec<u8>>,
}

impl StoredAgg {
    /// The five columns from `first` on.
    fn read(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            count: r.get(first)?,
            sum: r.get(first + 1)?,
            min: r.get(first + 2)?,
            max: r.get(first + 3)?,
            digest: r.get(first + 4)?,
        })
    }

    fn decode(self) -> Result<Agg> {
        Ok(Agg {
            count: self.count,
            sum: self.sum,
            min: self.min,
            max: self.max,
            digest: self.digest.as_deref().map(Digest::decode).transpose()?,
        })
    }
}

struct Totals {
    count: f64,
    sum: f64,
    first: i64,
    last: i64,
}

fn load_done_until(conn: &Connection) -> Result<[i64; 4]> {
    let mut done = [i64::MIN; 4];
    let mut stmt = conn.prepare("SELECT res, done_until FROM rollups")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (res, until) = row?;
        if let Some(l) = LEVELS.iter().position(|s| *s == res) {
            done[l] = until;
        }
    }
    Ok(done)
}

fn ceil_secs(t: SystemTime) -> i64 {
    let s = time::secs(t);
    if time::millis(t) > s * 1000 { s + 1 } else { s }
}

pub(crate) fn whole_seconds(what: &'static str, d: Duration) -> Result<i64> {
    if d.subsec_nanos() != 0 || d.as_secs() == 0 {
        return Err(invalid(
            what,
            "it must be a whole number of seconds, at least 1",
        ));
    }
    i64::try_from(d.as_secs()).map_err(|_| invalid(what, "it is too long"))
}

/// CloudWatch's rounding of a query's start (GetMetricStatistics' StartTime), or `None` when the
/// period is not allowed for data that old (CloudWatch then returns no datapoints).
fn round_start(period: i64, start: i64, age: i64, r: &Retention) -> Option<i64> {
    if age <= r.of_level(0) {
        // "If you set Period to 5, 10, 20, or 30, the start time of your request is rounded
        // down to the nearest time that corresponds to even 5-, 10-, 20-, or 30-second
        // divisions of a minute"; otherwise to the whole minute.
        return Some(if period < 60 {
            time::floor(start, period)
        } else {
            time::floor(start, 60)
        });
    }
    let step = if age <= r.of_level(1) {
        60
    } else if age <= r.of_level(2) {
        300
    } else {
        3600
    };
    (period % step == 0).then(|| time::floor(start, step))
}

/// Validates a sample and builds its series key, with CloudWatch's limits on names.
fn series_key(s: &Sample<'_>) -> Result<SeriesKey> {
    check_namespace(s.namespace)?;
    check_name("metric name", s.name)?;
    let dims: Vec<(String, String)> = s
        .dims
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Ok(SeriesKey {
        namespace: s.namespace.to_owned(),
        name: s.name.to_owned(),
        dims: canonical_dims(&dims)?,
        unit: s.unit,
    })
}

pub(crate) fn check_namespace(ns: &str) -> Result<()> {
    check_name("namespace", ns)?;
    // "alphanumeric characters (0-9A-Za-z), period (.), hyphen (-), underscore (_), forward
    // slash (/), hash (#), and colon (:)".
    if let Some(c) = ns
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ".-_/#:".contains(*c)))
    {
        return Err(invalid(
            "namespace",
            format!("`{ns}` contains `{c}`; use 0-9A-Za-z . - _ / # :"),
        ));
    }
    Ok(())
}

fn check_name(what: &'static str, s: &str) -> Result<()> {
    if s.trim().is_empty() || s.chars().count() > 255 {
        return Err(invalid(
            what,
            format!("`{s}` must have 1 to 255 characters"),
        ));
    }
    Ok(())
}

/// The dimensions as stored: sorted by name, as JSON (`[["ClusterName","c"],...]`). At most 30,
/// each name and value 1 to 255 characters, no name twice.
pub(crate) fn canonical_dims(dims: &[(String, String)]) -> Result<String> {
    if dims.len() > 30 {
        return Err(invalid("dimensions", "a metric has at most 30 dimensions"));
    }
    let mut sorted: Vec<(&str, &str)> =
        dims.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(invalid(
                "dimensions",
                format!("dimension `{}` is given twice", pair[0].0),
            ));
        }
    }
    for (k, v) in &sorted {
        check_name("dimension name", k)?;
        if v.is_empty() || v.chars().count() > 255 {
            return Err(invalid(
                "dimension value",
                format!("the value of `{k}` must have 1 to 255 characters"),
            ));
        }
    }
    serde_json::to_string(&sorted).map_err(|e| invalid("dimensions", e.to_string()))
}

pub(crate) fn parse_dims(json: &str) -> Vec<(String, String)> {
    // Written by canonical_dims only; an unreadable value would mean a foreign writer.
    serde_json::from_str(json).unwrap_or_default()
}

/// CloudWatch rejects NaN and infinities, and values outside ±2^360 or closer to zero than
/// 2^-260.
fn check_value(v: f64) -> Result<()> {
    let max = 2f64.powi(360);
    let min = 2f64.powi(-260);
    if !v.is_finite() || v.abs() > max || (v != 0.0 && v.abs() < min) {
        return Err(invalid(
            "value",
            format!(
                "{v} is not a value CloudWatch accepts (finite, within ±2^360, 0 or beyond ±2^-260)"
            ),
        ));
    }
    Ok(())
}

fn observation(o: &Observation) -> Result<Agg> {
    match o {
        Observation::Value(v) => {
            check_value(*v)?;
            Ok(Agg::value(*v))
        }
        Observation::Set(s) => {
            for v in [s.sample_count, s.sum, s.minimum, s.maximum] {
                check_value(v)?;
            }
            if s.sample_count <= 0.0 || s.minimum > s.maximum {
                return Err(invalid(
                    "statistic set",
                    "SampleCount must be positive and Minimum at most Maximum",
                ));
            }
            Ok(Agg::set(s))
        }
    }
}

fn series_id(
    conn: &Connection,
    cache: &mut HashMap<SeriesKey, i64>,
    key: SeriesKey,
    ts: i64,
) -> Result<i64> {
    if let Some(id) = cache.get(&key) {
        return Ok(*id);
    }
    let found = conn
        .prepare_cached(
            "SELECT id FROM series WHERE namespace = ?1 AND name = ?2 AND dims = ?3 AND unit = ?4",
        )?
        .query_row(
            params![key.namespace, key.name, key.dims, key.unit.as_str()],
            |r| r.get::<_, i64>(0),
        )
        .optional()?;
    let id = match found {
        Some(id) => id,
        None => {
            conn.prepare_cached(
                "INSERT INTO series (namespace, name, dims, unit, first_ts, last_ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?
            .execute(params![
                key.namespace,
                key.name,
                key.dims,
                key.unit.as_str(),
                ts
            ])?;
            conn.last_insert_rowid()
        }
    };
    cache.insert(key, id);
    Ok(id)
}

/// Adds `agg` to the datapoint of `(series, res, ts)`, creating it if need be.
pub(crate) fn upsert(conn: &Connection, series: i64, res: i64, ts: i64, agg: &Agg) -> Result<()> {
    let digest = agg.digest.as_ref().map(Digest::encode);
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO points (series, res, ts, count, sum, min, max, digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            series, res, ts, agg.count, agg.sum, agg.min, agg.max, digest
        ])?;
    if inserted == 1 {
        return Ok(());
    }
    let mut merged = conn
        .prepare_cached(
            "SELECT count, sum, min, max, digest FROM points
             WHERE series = ?1 AND res = ?2 AND ts = ?3",
        )?
        .query_row(params![series, res, ts], |r| StoredAgg::read(r, 0))?
        .decode()?;
    merged.merge(agg);
    conn.prepare_cached(
        "UPDATE points SET count = ?4, sum = ?5, min = ?6, max = ?7, digest = ?8
         WHERE series = ?1 AND res = ?2 AND ts = ?3",
    )?
    .execute(params![
        series,
        res,
        ts,
        merged.count,
        merged.sum,
        merged.min,
        merged.max,
        merged.digest.as_ref().map(Digest::encode)
    ])?;
    Ok(())
}
