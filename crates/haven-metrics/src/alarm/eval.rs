//! Alarm evaluation as pure functions of an evaluation range: which instants are due, CloudWatch's
//! M-of-N decision with its missing-data treatment (see [`super`]), the reason texts and
//! StateReasonData. The store ([`super::sql`]) reads the ranges and records what this decides.

use serde_json::{Value, json};

use super::{AlarmSpec, EXTRA_PERIODS, MissingData, StateValue};
use crate::stats::Agg;
use crate::time;

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
pub(crate) struct Slot {
    /// The period's start, in epoch seconds.
    pub(crate) start: i64,
    /// The alarm's statistic over the period; `None` when it has no data (or the statistic
    /// cannot be given).
    pub(crate) value: Option<f64>,
    pub(crate) samples: f64,
}

impl Slot {
    /// The range of `aggs`, one per period from `start`, oldest first.
    pub(crate) fn range(spec: &AlarmSpec, start: i64, aggs: Vec<Option<Agg>>) -> Vec<Slot> {
        let period = spec.period_secs();
        aggs.into_iter()
            .zip(0..)
            .map(|(agg, k): (Option<Agg>, i64)| Slot {
                start: start + k * period,
                value: agg.as_ref().and_then(|a| a.stat(&spec.stat)),
                samples: agg.as_ref().map_or(0.0, |a| a.count),
            })
            .collect()
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) state: StateValue,
    pub(crate) reason: String,
    /// Indices of the evaluated slots (real and filled), oldest first.
    pub(crate) evaluated: Vec<usize>,
}

/// How missing datapoints were counted when they took part in a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treated {
    Breaching,
    NonBreaching,
}

impl Treated {
    /// As CloudWatch's reasons say it: `treated as [Breaching]`.
    fn label(self) -> &'static str {
        match self {
            Self::Breaching => "Breaching",
            Self::NonBreaching => "NonBreaching",
        }
    }
}

/// The instants an alarm evaluates at `now` (epoch seconds), oldest first, when it last evaluated
/// at `evaluated_at`: none when `now`'s instant was evaluated already; else the instants missed
/// since then, back to the start of the newest range at most, then `now`'s. The last one is what
/// to record as evaluated.
pub(crate) fn due_instants(spec: &AlarmSpec, evaluated_at: Option<i64>, now: i64) -> Vec<i64> {
    let period = spec.period_secs();
    let cadence = cadence(period);
    let t = time::floor(now, cadence);
    if evaluated_at.is_some_and(|e| t <= e) {
        return Vec::new();
    }
    let lookback = i64::from(spec.evaluation_periods + EXTRA_PERIODS) * period;
    let first = evaluated_at.map_or(t, |e| (e + cadence).max(t - time::floor(lookback, cadence)));
    (0..)
        .map(|k| first + k * cadence)
        .take_while(|at| *at <= t)
        .collect()
}

/// The first instant of the evaluation range ending at `t`: N + 2 periods before it.
pub(crate) fn range_start(spec: &AlarmSpec, t: i64) -> i64 {
    t - spec.period_secs() * i64::from(spec.evaluation_periods + EXTRA_PERIODS)
}

/// The evaluation of `range` for an alarm in `current`: `None` when its state stays.
pub(crate) fn transition(spec: &AlarmSpec, range: &[Slot], current: StateValue) -> Option<Outcome> {
    decide(spec, range).filter(|o| o.state != current)
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
        let reason = |treated: Treated| {
            format!(
                "Threshold Crossed: no datapoints were received for {} and {} {} treated as [{}].",
                plural(n, "period", "periods"),
                plural(n, "missing datapoint", "missing datapoints"),
                was(n),
                treated.label()
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
            MissingData::Breaching => (StateValue::Alarm, reason(Treated::Breaching)),
            MissingData::NotBreaching => (StateValue::Ok, reason(Treated::NonBreaching)),
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
            Some((fill, Treated::Breaching)),
            evaluated,
        )),
        MissingData::NotBreaching => Some(crossed(
            spec,
            range,
            &real,
            b >= m,
            Some((fill, Treated::NonBreaching)),
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
    fill: Option<(usize, Treated)>,
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
    let fill = fill
        .filter(|(count, treated)| *count > 0 && ((*treated == Treated::Breaching) == alarm))
        .map(|(count, treated)| (count, treated.label()));
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
pub(crate) fn reason_data(
    spec: &AlarmSpec,
    range: &[Slot],
    evaluated: &[usize],
    now_ms: i64,
) -> Value {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::alarm::Comparison;
    use crate::stats::Stat;

    /// `Average CPU > 80`, `m` of `n` periods of `period` seconds.
    fn spec(n: u32, m: u32, period: u64, missing_data: MissingData) -> AlarmSpec {
        AlarmSpec {
            name: "cpu".into(),
            description: None,
            namespace: "AWS/ECS".into(),
            metric: "CPUUtilization".into(),
            dims: Vec::new(),
            unit: None,
            stat: Stat::Average,
            period: Duration::from_secs(period),
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold: 80.0,
            comparison: Comparison::GreaterThanThreshold,
            missing_data,
            actions_topic: None,
        }
    }

    /// Periods of a minute from the epoch, oldest first.
    fn slots(values: &[Option<f64>]) -> Vec<Slot> {
        (0..)
            .zip(values)
            .map(|(k, v)| Slot {
                start: k * 60,
                value: *v,
                samples: if v.is_some() { 1.0 } else { 0.0 },
            })
            .collect()
    }

    #[test]
    fn alarms_are_evaluated_each_minute_each_ten_seconds_or_each_period() {
        for (period, every) in [
            (1, 1),
            (5, 5),
            (10, 10),
            (30, 10),
            (59, 10),
            (60, 60),
            (300, 60),
        ] {
            assert_eq!(cadence(period), every, "period {period}");
        }
    }

    #[test]
    fn due_instants_catch_up_once_and_at_most_one_range_back() {
        // (period, N, last evaluated, now, instants due)
        type Case = (u64, u32, Option<i64>, i64, &'static [i64]);
        let cases: &[Case] = &[
            // First evaluation: now's minute only.
            (60, 3, None, 1_010, &[960]),
            // The same minute again: nothing.
            (60, 3, Some(960), 1_019, &[]),
            // The next minute.
            (60, 3, Some(960), 1_030, &[1_020]),
            // Late: the missed minutes, back to the newest range's start (N + 2 periods).
            (
                60,
                3,
                Some(600),
                1_200,
                &[900, 960, 1_020, 1_080, 1_140, 1_200],
            ),
            // Ten-second cadence for a 30 s period.
            (30, 1, Some(100), 135, &[110, 120, 130]),
            // Below ten seconds, every period.
            (5, 1, Some(0), 7, &[5]),
        ];
        for &(period, n, last, now, due) in cases {
            let s = spec(n, n, period, MissingData::Missing);
            assert_eq!(
                due_instants(&s, last, now),
                due,
                "period {period}, N {n}, last {last:?}, now {now}"
            );
        }
    }

    #[test]
    fn a_range_is_n_plus_two_periods_before_the_instant() {
        let s = spec(3, 2, 60, MissingData::Missing);
        assert_eq!(range_start(&s, 1_200), 1_200 - 5 * 60);
    }

    #[test]
    fn transitions_follow_m_of_n_and_only_on_a_change() {
        let x = Some(90.0);
        let o = Some(10.0);
        // (treatment, range oldest first, current, the new state or None to stay)
        type Case<'a> = (
            MissingData,
            &'a [Option<f64>],
            StateValue,
            Option<StateValue>,
        );
        let cases: &[Case<'_>] = &[
            (
                MissingData::Missing,
                &[None, None, x, x, o],
                StateValue::Ok,
                Some(StateValue::Alarm),
            ),
            (
                MissingData::Missing,
                &[None, None, x, x, o],
                StateValue::Alarm,
                None,
            ),
            (
                MissingData::Missing,
                &[x, x, x, o, o],
                StateValue::Alarm,
                Some(StateValue::Ok),
            ),
            (
                MissingData::Missing,
                &[None; 5],
                StateValue::Ok,
                Some(StateValue::InsufficientData),
            ),
            (MissingData::Ignore, &[None; 5], StateValue::Alarm, None),
            (
                MissingData::Breaching,
                &[None; 5],
                StateValue::Ok,
                Some(StateValue::Alarm),
            ),
            (
                MissingData::NotBreaching,
                &[None; 5],
                StateValue::Alarm,
                Some(StateValue::Ok),
            ),
            (
                MissingData::Breaching,
                &[None, None, None, x, None],
                StateValue::Ok,
                Some(StateValue::Alarm),
            ),
            (
                MissingData::NotBreaching,
                &[None, None, None, x, None],
                StateValue::Ok,
                None,
            ),
        ];
        for (missing, values, current, want) in cases {
            let s = spec(3, 2, 60, *missing);
            let got = transition(&s, &slots(values), *current).map(|o| o.state);
            assert_eq!(got, *want, "{missing:?} {values:?} from {current:?}");
        }
    }

    #[test]
    fn reasons_name_the_datapoints_that_decided() {
        let s = spec(3, 2, 60, MissingData::Missing);
        let range = slots(&[None, None, Some(90.0), Some(95.5), Some(10.0)]);
        let o = transition(&s, &range, StateValue::Ok).unwrap();
        assert_eq!(
            o.reason,
            "Threshold Crossed: 2 out of the last 3 datapoints \
             [95.5 (01/01/70 00:03:00), 90.0 (01/01/70 00:02:00)] were greater than the \
             threshold (80.0) (minimum 2 datapoints for OK -> ALARM transition)."
        );
        assert_eq!(o.evaluated, [2, 3, 4]);

        let s = spec(3, 2, 60, MissingData::Breaching);
        let o = transition(&s, &slots(&[None; 5]), StateValue::Ok).unwrap();
        assert_eq!(
            o.reason,
            "Threshold Crossed: no datapoints were received for 3 periods and 3 missing \
             datapoints were treated as [Breaching]."
        );
        let data = reason_data(&s, &slots(&[None; 5]), &o.evaluated, 600_000);
        assert_eq!(data["evaluatedDatapoints"].as_array().unwrap().len(), 3);
        assert_eq!(data["period"], 60);
    }

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
