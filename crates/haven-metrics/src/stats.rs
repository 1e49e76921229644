//! Statistics: CloudWatch's units and statistic names, the aggregate each stored datapoint holds
//! (SampleCount, Sum, Minimum, Maximum and a digest of the values for percentiles), and how
//! aggregates merge and answer statistics.
//!
//! The digest keeps the values themselves while there are at most [`EXACT_VALUES`] of them, so
//! percentiles over few samples (a gauge sampled each second, over an alarm's period) are exact.
//! Past that it becomes a log-bucketed histogram: bucket `i` holds the values in
//! `(γ^(i-1), γ^i]` with `γ = (1 + α) / (1 - α)` and answers `2γ^i / (γ + 1)`, which is within a
//! relative error of `α` = [`RELATIVE_ACCURACY`] (1 %) of every value in the bucket; the answer is
//! then clamped to the exact Minimum and Maximum. Rollups merge digests bucket by bucket, so
//! rolled-up percentiles carry the same bound, while SampleCount, Sum, Minimum and Maximum stay
//! exact at every resolution.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result, invalid};

/// How many values a digest keeps as they are before it turns into a histogram.
pub const EXACT_VALUES: usize = 64;
/// The histogram's relative error bound for percentiles (before clamping to Min and Max).
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// CloudWatch's standard units (`StandardUnit`), spelled as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    Seconds,
    Microseconds,
    Milliseconds,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    Bits,
    Kilobits,
    Megabits,
    Gigabits,
    Terabits,
    Percent,
    Count,
    BytesPerSecond,
    KilobytesPerSecond,
    MegabytesPerSecond,
    GigabytesPerSecond,
    TerabytesPerSecond,
    BitsPerSecond,
    KilobitsPerSecond,
    MegabitsPerSecond,
    GigabitsPerSecond,
    TerabitsPerSecond,
    CountPerSecond,
    None,
}

impl Unit {
    pub const ALL: [Unit; 27] = [
        Self::Seconds,
        Self::Microseconds,
        Self::Milliseconds,
        Self::Bytes,
        Self::Kilobytes,
        Self::Megabytes,
        Self::Gigabytes,
        Self::Terabytes,
        Self::Bits,
        Self::Kilobits,
        Self::Megabits,
        Self::Gigabits,
        Self::Terabits,
        Self::Percent,
        Self::Count,
        Self::BytesPerSecond,
        Self::KilobytesPerSecond,
        Self::MegabytesPerSecond,
        Self::GigabytesPerSecond,
        Self::TerabytesPerSecond,
        Self::BitsPerSecond,
        Self::KilobitsPerSecond,
        Self::MegabitsPerSecond,
        Self::GigabitsPerSecond,
        Self::TerabitsPerSecond,
        Self::CountPerSecond,
        Self::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Seconds => "Seconds",
            Self::Microseconds => "Microseconds",
            Self::Milliseconds => "Milliseconds",
            Self::Bytes => "Bytes",
            Self::Kilobytes => "Kilobytes",
            Self::Megabytes => "Megabytes",
            Self::Gigabytes => "Gigabytes",
            Self::Terabytes => "Terabytes",
            Self::Bits => "Bits",
            Self::Kilobits => "Kilobits",
            Self::Megabits => "Megabits",
            Self::Gigabits => "Gigabits",
            Self::Terabits => "Terabits",
            Self::Percent => "Percent",
            Self::Count => "Count",
            Self::BytesPerSecond => "Bytes/Second",
            Self::KilobytesPerSecond => "Kilobytes/Second",
            Self::MegabytesPerSecond => "Megabytes/Second",
            Self::GigabytesPerSecond => "Gigabytes/Second",
            Self::TerabytesPerSecond => "Terabytes/Second",
            Self::BitsPerSecond => "Bits/Second",
            Self::KilobitsPerSecond => "Kilobits/Second",
            Self::MegabitsPerSecond => "Megabits/Second",
            Self::GigabitsPerSecond => "Gigabits/Second",
            Self::TerabitsPerSecond => "Terabits/Second",
            Self::CountPerSecond => "Count/Second",
            Self::None => "None",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Unit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|u| u.as_str() == s)
            .ok_or_else(|| invalid("unit", format!("`{s}` is not a CloudWatch unit")))
    }
}

impl Serialize for Unit {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Unit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A statistic, as GetMetricStatistics and alarms name it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    SampleCount,
    Average,
    Sum,
    Minimum,
    Maximum,
    /// `pNN`: the value at or below which NN % of the period's values lie (nearest rank).
    Percentile(f64),
}

impl Stat {
    /// The name a datapoint's value is keyed by: `Average`, `p99`, `p99.9`.
    pub fn name(&self) -> String {
        match self {
            Self::SampleCount => "SampleCount".into(),
            Self::Average => "Average".into(),
            Self::Sum => "Sum".into(),
            Self::Minimum => "Minimum".into(),
            Self::Maximum => "Maximum".into(),
            Self::Percentile(p) => format!("p{p}"),
        }
    }

    pub fn is_percentile(&self) -> bool {
        matches!(self, Self::Percentile(_))
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Stat {
    type Err = Error;
    /// CloudWatch's names (`Average`, ...; case-insensitive for the command line) and `pNN` with
    /// NN from 0 to 100 and at most two decimals, as ExtendedStatistic accepts.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            invalid(
                "statistic",
                format!(
                    "`{s}`: use SampleCount, Average, Sum, Minimum, Maximum or pNN \
                     (a percentile from p0 to p100, e.g. p99 or p99.9)"
                ),
            )
        };
        for stat in [
            Self::SampleCount,
            Self::Average,
            Self::Sum,
            Self::Minimum,
            Self::Maximum,
        ] {
            if stat.name().eq_ignore_ascii_case(s) {
                return Ok(stat);
            }
        }
        let Some(n) = s.strip_prefix(['p', 'P']) else {
            return Err(bad());
        };
        let decimals = n.split_once('.').map_or(0, |(_, d)| d.len());
        if n.is_empty() || decimals > 2 || !n.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(bad());
        }
        match n.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(Self::Percentile(p)),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Stat {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Stat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A pre-aggregated set of values (CloudWatch's `StatisticValues`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StatisticSet {
    pub sample_count: f64,
    pub sum: f64,
    pub minimum: f64,
    pub maximum: f64,
}

/// The aggregate of the values in one stored datapoint, or in one period of a query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Agg {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// `None`: a statistic set whose values are unknown took part, so no percentiles.
    pub digest: Option<Digest>,
}

impl Agg {
    pub fn value(v: f64) -> Self {
        Self {
            count: 1.0,
            sum: v,
            min: v,
            max: v,
            digest: Some(Digest::Exact(vec![v])),
        }
    }

    /// CloudWatch can give percentiles of a statistic set only when its values are known: one
    /// value (SampleCount 1, Min = Max = Sum), or all equal (Min = Max, Sum = Min × SampleCount).
    pub fn set(s: &StatisticSet) -> Self {
        let equal = s.minimum == s.maximum && s.sum == s.minimum * s.sample_count;
        let whole = s.sample_count.fract() == 0.0 && s.sample_count >= 1.0;
        let digest = (equal && whole).then(|| {
            // A whole count: the conversion is exact below 2^53, and saturates above.
            let n = s.sample_count as u64;
            Digest::repeated(s.minimum, n)
        });
        Self {
            count: s.sample_count,
            sum: s.sum,
            min: s.minimum,
            max: s.maximum,
            digest,
        }
    }

    pub fn merge(&mut self, other: &Agg) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.digest = match (self.digest.take(), &other.digest) {
            (Some(mut a), Some(b)) => {
                a.merge(b);
                Some(a)
            }
            _ => None,
        };
    }

    /// The statistic, or `None` when it cannot be given (a percentile of unknown or negative
    /// values: CloudWatch gives no percentiles when any value is negative).
    pub fn stat(&self, stat: &Stat) -> Option<f64> {
        match stat {
            Stat::SampleCount => Some(self.count),
            Stat::Sum => Some(self.sum),
            Stat::Minimum => Some(self.min),
            Stat::Maximum => Some(self.max),
            Stat::Average => (self.count > 0.0).then(|| self.sum / self.count),
            Stat::Percentile(p) => {
                if self.min < 0.0 {
                    return None;
                }
                let v = self.digest.as_ref()?.percentile(*p)?;
                Some(v.clamp(self.min, self.max))
            }
        }
    }
}

/// The values of a datapoint, exactly while few, else as a log-bucketed histogram.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Digest {
    Exact(Vec<f64>),
    Log(LogHistogram),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct LogHistogram {
    /// Values that are zero (or negative: those make percentiles unavailable anyway).
    zero: u64,
    buckets: BTreeMap<i32, u64>,
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

impl LogHistogram {
    fn add(&mut self, v: f64, n: u64) {
        if v <= 0.0 {
            self.zero += n;
        } else {
            // Bucket i holds (γ^(i-1), γ^i]. Finite positive f64s give |i| below 40,000.
            let i = (v.ln() / gamma().ln()).ceil() as i32;
            *self.buckets.entry(i).or_insert(0) += n;
        }
    }

    fn merge(&mut self, other: &LogHistogram) {
        self.zero += other.zero;
        for (i, n) in &other.buckets {
            *self.buckets.entry(*i).or_insert(0) += n;
        }
    }

    fn total(&self) -> u64 {
        self.zero + self.buckets.values().sum::<u64>()
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        let rank = nearest_rank(p, self.total())?;
        let mut seen = self.zero;
        if seen >= rank {
            return Some(0.0);
        }
        let g = gamma();
        for (i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(2.0 * g.powi(*i) / (g + 1.0));
            }
        }
        None
    }
}

/// The 1-based rank of the `p`th percentile among `n` values: the smallest value with at least
/// p % of the values at or below it ("p99 is the maximum value of the remaining 99 %").
fn nearest_rank(p: f64, n: u64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    // p × n / 100 rather than p / 100 × n: exact for whole percentages of whole counts.
    let r = (p * n as f64 / 100.0 - 1e-9).ceil();
    Some((r.max(1.0) as u64).min(n))
}

impl Digest {
    fn repeated(v: f64, n: u64) -> Self {
        if n as usize <= EXACT_VALUES {
            Self::Exact(vec![v; n as usize])
        } else {
            let mut h = LogHistogram::default();
            h.add(v, n);
            Self::Log(h)
        }
    }

    fn into_log(self) -> LogHistogram {
        match self {
            Self::Log(h) => h,
            Self::Exact(values) => {
                let mut h = LogHistogram::default();
                for v in values {
                    h.add(v, 1);
                }
                h
            }
        }
    }

    pub fn merge(&mut self, other: &Digest) {
        match (&mut *self, other) {
            (Self::Exact(a), Self::Exact(b)) if a.len() + b.len() <= EXACT_VALUES => {
                a.extend_from_slice(b);
            }
            (Self::Log(a), Self::Log(b)) => a.merge(b),
            _ => {
                let mut a = std::mem::replace(self, Self::Exact(Vec::new())).into_log();
                a.merge(&other.clone().into_log());
                *self = Self::Log(a);
            }
        }
    }

    pub fn percentile(&self, p: f64) -> Option<f64> {
        match self {
            Self::Exact(values) => {
                let rank = nearest_rank(p, values.len() as u64)?;
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                sorted.get(usize::try_from(rank - 1).ok()?).copied()
            }
            Self::Log(h) => h.percentile(p),
        }
    }

    /// Tag byte, then for exact values their count and each as 8 little-endian bytes; for a
    /// histogram the zero count, the bucket count, and each bucket as a zigzag key delta and a
    /// count, all as LEB128 varints.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Exact(values) => {
                out.push(0);
                put_varint(&mut out, values.len() as u64);
                for v in values {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Self::Log(h) => {
                out.push(1);
                put_varint(&mut out, h.zero);
                put_varint(&mut out, h.buckets.len() as u64);
                let mut prev = 0i64;
                for (i, n) in &h.buckets {
                    let delta = i64::from(*i) - prev;
                    prev = i64::from(*i);
                    put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
                    put_varint(&mut out, *n);
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader { bytes, at: 0 };
        match r.byte()? {
            0 => {
                let n = r.varint()?;
                let mut values = Vec::new();
                for _ in 0..n {
                    values.push(f64::from_le_bytes(r.array()?));
                }
                Ok(Self::Exact(values))
            }
            1 => {
                let zero = r.varint()?;
                let n = r.varint()?;
                let mut buckets = BTreeMap::new();
                let mut prev = 0i64;
                for _ in 0..n {
                    let z = r.varint()?;
                    let delta = (z >> 1) as i64 ^ -((z & 1) as i64);
                    prev += delta;
                    let key = i32::try_from(prev).map_err(|_| Error::CorruptDigest)?;
                    buckets.insert(key, r.varint()?);
                }
                Ok(Self::Log(LogHistogram { zero, buckets }))
            }
            _ => Err(Error::CorruptDigest),
        }
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self.bytes.get(self.at).ok_or(Error::CorruptDigest)?;
        self.at += 1;
        Ok(b)
    }

    fn array(&mut self) -> Result<[u8; 8]> {
        let s = self
            .bytes
            .get(self.at..self.at + 8)
            .ok_or(Error::CorruptDigest)?;
        self.at += 8;
        s.try_into().map_err(|_| Error::CorruptDigest)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::CorruptDigest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statistic_names() {
        assert_eq!("Average".parse::<Stat>().ok(), Some(Stat::Average));
        assert_eq!("samplecount".parse::<Stat>().ok(), Some(Stat::SampleCount));
        assert_eq!("p99".parse::<Stat>().ok(), Some(Stat::Percentile(99.0)));
        assert_eq!("p99.9".parse::<Stat>().ok(), Some(Stat::Percentile(99.9)));
        assert_eq!(Stat::Percentile(99.9).name(), "p99.9");
        assert_eq!(Stat::Percentile(50.0).name(), "p50");
        for bad in ["p101", "p", "p99.999", "Avg", "p-1", "pX"] {
            assert!(bad.parse::<Stat>().is_err(), "{bad}");
        }
    }

    #[test]
    fn digests_round_trip() {
        let mut d = Digest::Exact(vec![1.5, 0.0, 3.25]);
        assert_eq!(Digest::decode(&d.encode()).ok(), Some(d.clone()));
        for i in 0..200 {
            d.merge(&Digest::Exact(vec![f64::from(i) * 0.37]));
        }
        assert!(matches!(d, Digest::Log(_)));
        assert_eq!(Digest::decode(&d.encode()).ok(), Some(d));
        assert!(Digest::decode(&[7]).is_err());
        assert!(Digest::decode(&[0, 2, 1]).is_err());
    }

    #[test]
    fn histogram_percentiles_are_within_the_bound() {
        let mut d = Digest::Exact(Vec::new());
        let values: Vec<f64> = (1..=10_000).map(|i| f64::from(i) * 0.001).collect();
        for v in &values {
            d.merge(&Digest::Exact(vec![*v]));
        }
        for p in [1.0, 50.0, 90.0, 99.0, 99.9] {
            let exact = values[(p * 100.0) as usize - 1];
            let got = d.percentile(p).unwrap_or(f64::NAN);
            assert!(
                (got - exact).abs() <= exact * RELATIVE_ACCURACY + 1e-12,
                "p{p}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn statistic_sets_have_percentiles_only_when_their_values_are_known() {
        let known = Agg::set(&StatisticSet {
            sample_count: 3.0,
            sum: 6.0,
            minimum: 2.0,
            maximum: 2.0,
        });
        assert_eq!(known.stat(&Stat::Percentile(50.0)), Some(2.0));
        let unknown = Agg::set(&StatisticSet {
            sample_count: 3.0,
            sum: 6.0,
            minimum: 1.0,
            maximum: 3.0,
        });
        assert_eq!(unknown.stat(&Stat::Percentile(50.0)), None);
        assert_eq!(unknown.stat(&Stat::Average), Some(2.0));
        let mut negative = Agg::value(-1.0);
        negative.merge(&Agg::value(4.0));
        assert_eq!(negative.stat(&Stat::Percentile(50.0)), None);
    }
}
