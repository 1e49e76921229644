//! Alarms: CloudWatch's documented evaluation, missing-data treatment, M out of N, reasons,
//! history and the hand-off of transitions to the topic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_metrics::{
    AlarmSpec, Comparison, HistoryKind, MetricStore, MissingData, Retention, Stat, StateValue,
    Unit, decide_state,
};

const T0: u64 = 1_764_180_000; // 2025-11-26T18:00:00Z
const NS: &str = "AWS/ECS";
const CPU: &str = "CPUUtilization";
const DIMS: &[(&str, &str)] = &[("ClusterName", "haven"), ("ServiceName", "web")];

const OK: StateValue = StateValue::Ok;
const ALARM: StateValue = StateValue::Alarm;
const INSUFFICIENT: StateValue = StateValue::InsufficientData;

fn at(offset: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_secs(offset.unsigned_abs())
}

fn spec(n: u32, m: u32, missing: MissingData, period: u64) -> AlarmSpec {
    AlarmSpec {
        name: "web-cpu".into(),
        description: Some("web: average CPU above 80%".into()),
        namespace: NS.into(),
        metric: CPU.into(),
        dims: DIMS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        unit: None,
        stat: Stat::Average,
        period: Duration::from_secs(period),
        evaluation_periods: n,
        datapoints_to_alarm: m,
        threshold: 80.0,
        comparison: Comparison::GreaterThanThreshold,
        missing_data: missing,
        actions_topic: Some("alerts".into()),
    }
}

/// `0 - X - X` as the documentation writes ranges: oldest first, 0 not breaching, X breaching,
/// - missing.
fn range(s: &str) -> Vec<Option<f64>> {
    s.split_whitespace()
        .map(|c| match c {
            "0" => Some(10.0),
            "X" => Some(95.0),
            _ => None,
        })
        .collect()
}

/// Expected states per treatment (MISSING, IGNORE, BREACHING, NOT BREACHING); `None` is
/// "Retain current state".
type Row = (&'static str, [Option<StateValue>; 4]);

const TREATMENTS: [MissingData; 4] = [
    MissingData::Missing,
    MissingData::Ignore,
    MissingData::Breaching,
    MissingData::NotBreaching,
];

fn check_table(n: u32, m: u32, rows: &[Row]) {
    for (points, expect) in rows {
        for (treatment, want) in TREATMENTS.iter().zip(expect) {
            for current in [OK, ALARM, INSUFFICIENT] {
                let got = decide_state(&spec(n, m, *treatment, 300), &range(points), current);
                assert_eq!(
                    got,
                    want.unwrap_or(current),
                    "{m} of {n}, `{points}`, {treatment:?}, from {current:?}"
                );
            }
        }
    }
}

/// "How alarm state is evaluated when data is missing", first table: Datapoints to Alarm and
/// Evaluation Periods both 3, evaluation range 5; plus the rows of the earlier edition of the
/// page that the current one dropped (`- - - - X`, `X - - - -`).
#[test]
fn documented_table_three_of_three() {
    check_table(
        3,
        3,
        &[
            ("0 - X - X", [Some(OK), Some(OK), Some(OK), Some(OK)]),
            ("0 - - - -", [Some(OK), Some(OK), Some(OK), Some(OK)]),
            (
                "- - - - -",
                [Some(INSUFFICIENT), None, Some(ALARM), Some(OK)],
            ),
            (
                "0 X X - X",
                [Some(ALARM), Some(ALARM), Some(ALARM), Some(ALARM)],
            ),
            ("- - X - -", [Some(ALARM), None, Some(ALARM), Some(OK)]),
            (
                "- - - - X",
                [Some(INSUFFICIENT), None, Some(ALARM), Some(OK)],
            ),
            ("X - - - -", [Some(ALARM), None, Some(ALARM), Some(OK)]),
        ],
    );
}

/// The second table: 2 out of 3, evaluation range 5.
#[test]
fn documented_table_two_of_three() {
    check_table(
        3,
        2,
        &[
            (
                "0 - X - X",
                [Some(ALARM), Some(ALARM), Some(ALARM), Some(ALARM)],
            ),
            (
                "0 0 X 0 X",
                [Some(ALARM), Some(ALARM), Some(ALARM), Some(ALARM)],
            ),
            ("0 - X - -", [Some(OK), Some(OK), Some(ALARM), Some(OK)]),
            ("- - - - 0", [Some(OK), Some(OK), Some(ALARM), Some(OK)]),
            ("- - - X -", [Some(ALARM), None, Some(ALARM), Some(OK)]),
            (
                "- - - - X",
                [Some(INSUFFICIENT), None, Some(ALARM), Some(OK)],
            ),
        ],
    );
}

/// Runs an alarm over per-period values (`None`: no data in that period), evaluating at the end
/// of each period, and returns the state after each evaluation.
fn run(alarm: &AlarmSpec, values: &[Option<f64>]) -> Vec<StateValue> {
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    s.put_metric_alarm(alarm, at(0)).unwrap();
    let p = i64::try_from(alarm.period.as_secs()).unwrap();
    let mut states = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let start = i64::try_from(i).unwrap() * p;
        if let Some(v) = v {
            s.put(NS, CPU, DIMS, Unit::Percent, *v, at(start + p / 2))
                .unwrap();
        }
        s.evaluate_alarms(at(start + p)).unwrap();
        states.push(s.alarm("web-cpu").unwrap().unwrap().state);
    }
    states
}

fn seq(s: &str) -> Vec<StateValue> {
    s.chars()
        .map(|c| match c {
            'O' => OK,
            'A' => ALARM,
            _ => INSUFFICIENT,
        })
        .collect()
}

/// Sequences of periods with gaps × treatment × M of N → the state after each period.
#[test]
fn sequences_with_gaps() {
    struct Case {
        n: u32,
        m: u32,
        values: &'static str,
        /// MISSING, IGNORE, BREACHING, NOT BREACHING: `I` INSUFFICIENT_DATA, `A`, `O`.
        expect: [&'static str; 4],
    }
    let cases = [
        Case {
            n: 3,
            m: 3,
            values: "X X X 0 - - - - -",
            expect: ["IIAOOOOOI", "IIAOOOOOO", "AAAOOOOOA", "OOAOOOOOO"],
        },
        Case {
            n: 3,
            m: 2,
            values: "X - X - - - 0 - -",
            expect: ["IAAAAAOOO", "IIAAAAOOO", "AAAAAAAAA", "OOAAAOOOO"],
        },
        Case {
            n: 1,
            m: 1,
            values: "0 X - - - X 0",
            expect: ["OAAAIAO", "OAAAAAO", "OAAAAAO", "OAAAOAO"],
        },
    ];
    for case in &cases {
        for period in [5, 10, 60] {
            for (treatment, expect) in TREATMENTS.iter().zip(case.expect) {
                let alarm = spec(case.n, case.m, *treatment, period);
                assert_eq!(
                    run(&alarm, &range(case.values)),
                    seq(expect),
                    "{} of {}, `{}`, {treatment:?}, period {period} s",
                    case.m,
                    case.n,
                    case.values
                );
            }
        }
    }
}

#[test]
fn less_than_alarms_compare_the_other_way() {
    let mut alarm = spec(1, 1, MissingData::Breaching, 10);
    alarm.comparison = Comparison::LessThanThreshold;
    alarm.threshold = 1.0;
    let values = [Some(2.0), Some(2.0), Some(0.0), None, None, Some(2.0)];
    assert_eq!(run(&alarm, &values), seq("OOAAAO"));
    alarm.comparison = Comparison::LessThanOrEqualToThreshold;
    assert_eq!(run(&alarm, &[Some(1.0)]), seq("A"));
    alarm.comparison = Comparison::GreaterThanOrEqualToThreshold;
    assert_eq!(run(&alarm, &[Some(1.0), Some(0.5)]), seq("AO"));
}

/// Reasons as CloudWatch words them, and the looking back for data when it stops.
#[test]
fn reasons_and_history() {
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    let alarm = spec(3, 3, MissingData::Missing, 60);
    s.put_metric_alarm(&alarm, at(0)).unwrap();
    let status = s.alarm("web-cpu").unwrap().unwrap();
    assert_eq!(status.state, INSUFFICIENT);
    assert_eq!(status.reason, "Unchecked: Initial alarm creation");

    let minutes = [93.25, 90.0, 95.5, 50.0];
    let mut transitions = Vec::new();
    for minute in 0..10 {
        if let Some(v) = minutes.get(minute) {
            for second in 0..60 {
                let t = i64::try_from(minute).unwrap() * 60 + second;
                s.put(NS, CPU, DIMS, Unit::Percent, *v, at(t)).unwrap();
            }
        }
        let now = (i64::try_from(minute).unwrap() + 1) * 60;
        // Twice in the same minute: evaluated once.
        transitions.extend(s.evaluate_alarms(at(now)).unwrap());
        transitions.extend(s.evaluate_alarms(at(now + 30)).unwrap());
    }
    let summary: Vec<(StateValue, StateValue, i64)> = transitions
        .iter()
        .map(|t| {
            let secs = t.at.duration_since(at(0)).unwrap().as_secs();
            (t.from, t.to, i64::try_from(secs).unwrap())
        })
        .collect();
    // ALARM at 18:03 (three breaching minutes), OK at 18:04, and when the data stops the
    // evaluation keeps using the last real datapoints until none is left in the range (18:09).
    assert_eq!(
        summary,
        vec![
            (INSUFFICIENT, ALARM, 180),
            (ALARM, OK, 240),
            (OK, INSUFFICIENT, 540)
        ]
    );
    assert_eq!(
        transitions[0].reason,
        "Threshold Crossed: 3 out of the last 3 datapoints [95.5 (26/11/25 18:02:00), \
         90.0 (26/11/25 18:01:00), 93.25 (26/11/25 18:00:00)] were greater than the threshold \
         (80.0) (minimum 3 datapoints for OK -> ALARM transition)."
    );
    assert_eq!(
        transitions[1].reason,
        "Threshold Crossed: 1 out of the last 3 datapoints [50.0 (26/11/25 18:03:00)] was not \
         greater than the threshold (80.0) (minimum 1 datapoint for ALARM -> OK transition)."
    );
    assert_eq!(
        transitions[2].reason,
        "Insufficient Data: 3 datapoints were unknown."
    );
    assert_eq!(
        transitions[0].condition,
        "Average CPUUtilization > 80.0 for 3 of 3 periods of 1m"
    );
    assert_eq!(transitions[0].actions_topic.as_deref(), Some("alerts"));
    assert_eq!(transitions[0].dim("ServiceName"), Some("web"));
    assert_eq!(
        transitions[0].reason_data,
        serde_json::json!({
            "version": "1.0",
            "queryDate": "2025-11-26T18:03:00.000+0000",
            "startDate": "2025-11-26T18:00:00.000+0000",
            "statistic": "Average",
            "period": 60,
            "recentDatapoints": [93.25, 90.0, 95.5],
            "threshold": 80.0,
            "evaluatedDatapoints": [
                {"timestamp": "2025-11-26T18:02:00.000+0000", "sampleCount": 60.0, "value": 95.5},
                {"timestamp": "2025-11-26T18:01:00.000+0000", "sampleCount": 60.0, "value": 90.0},
                {"timestamp": "2025-11-26T18:00:00.000+0000", "sampleCount": 60.0, "value": 93.25},
            ],
        })
    );

    let history = s.alarm_history("web-cpu", 10).unwrap();
    let kinds: Vec<(HistoryKind, &str)> = history
        .iter()
        .map(|h| (h.kind, h.summary.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                HistoryKind::StateUpdate,
                "Alarm updated from OK to INSUFFICIENT_DATA"
            ),
            (HistoryKind::StateUpdate, "Alarm updated from ALARM to OK"),
            (
                HistoryKind::StateUpdate,
                "Alarm updated from INSUFFICIENT_DATA to ALARM"
            ),
            (
                HistoryKind::ConfigurationUpdate,
                "Alarm \"web-cpu\" created"
            ),
        ]
    );
    assert_eq!(history[1].data["newState"]["stateValue"], "OK");
    assert_eq!(history[1].data["oldState"]["stateValue"], "ALARM");
    assert_eq!(s.alarm_history("web-cpu", 1).unwrap().len(), 1);
}

#[test]
fn reasons_for_missing_data_treated_as_data() {
    let reason = |missing: MissingData, values: &[Option<f64>]| {
        let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
        s.put_metric_alarm(&spec(3, 2, missing, 60), at(0)).unwrap();
        let mut last = None;
        for (i, v) in values.iter().enumerate() {
            let start = i64::try_from(i).unwrap() * 60;
            if let Some(v) = v {
                s.put(NS, CPU, DIMS, Unit::Percent, *v, at(start)).unwrap();
            }
            if let Some(t) = s.evaluate_alarms(at(start + 60)).unwrap().pop() {
                last = Some(t.reason);
            }
        }
        last.unwrap()
    };
    assert_eq!(
        reason(MissingData::Breaching, &[None]),
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints \
         were treated as [Breaching]."
    );
    assert_eq!(
        reason(MissingData::NotBreaching, &[None]),
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints \
         were treated as [NonBreaching]."
    );
    assert_eq!(
        reason(MissingData::Breaching, &[Some(95.0)]),
        "Threshold Crossed: 1 out of the last 3 datapoints [95.0 (26/11/25 18:00:00)] was \
         greater than the threshold (80.0) and 2 missing datapoints were treated as \
         [Breaching] (minimum 2 datapoints for OK -> ALARM transition)."
    );
    assert_eq!(
        reason(MissingData::Missing, &[Some(95.0), None]),
        "Threshold Crossed: 1 out of the last 3 datapoints [95.0 (26/11/25 18:00:00)] was \
         greater than the threshold (80.0) (minimum 2 datapoints for OK -> ALARM transition)."
    );
}

/// An evaluation that comes late evaluates the instants it missed first: a one-period breach
/// between two evaluations still alarms, and clears, in order.
#[test]
fn late_evaluations_catch_up_on_the_instants_they_missed() {
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    s.put_metric_alarm(&spec(1, 1, MissingData::NotBreaching, 10), at(0))
        .unwrap();
    s.put(NS, CPU, DIMS, Unit::Percent, 10.0, at(5)).unwrap();
    assert_eq!(s.evaluate_alarms(at(10)).unwrap()[0].to, OK);
    s.put(NS, CPU, DIMS, Unit::Percent, 95.0, at(15)).unwrap();
    s.put(NS, CPU, DIMS, Unit::Percent, 10.0, at(25)).unwrap();
    // Nobody evaluated at 20; at 31 the instants 20 and 30 are evaluated, in that order.
    let t = s.evaluate_alarms(at(31)).unwrap();
    let states: Vec<_> = t.iter().map(|t| (t.from, t.to)).collect();
    assert_eq!(states, [(OK, ALARM), (ALARM, OK)]);
    let history = s.alarm_history("web-cpu", 10).unwrap();
    assert_eq!(history[0].summary, "Alarm updated from ALARM to OK");
    assert_eq!(history[1].summary, "Alarm updated from OK to ALARM");
    assert!(s.evaluate_alarms(at(39)).unwrap().is_empty());

    // After a long gap only the newest range is looked at: old data cannot alarm again.
    s.put(NS, CPU, DIMS, Unit::Percent, 95.0, at(45)).unwrap();
    let t = s.evaluate_alarms(at(3600)).unwrap();
    assert!(t.is_empty(), "{t:?}");
    assert_eq!(s.alarm("web-cpu").unwrap().unwrap().state, OK);
}

#[test]
fn history_and_pending_transitions_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let id = {
        let mut s = MetricStore::open(&path).unwrap();
        s.put_metric_alarm(&spec(1, 1, MissingData::Missing, 10), at(0))
            .unwrap();
        s.put(NS, CPU, DIMS, Unit::Percent, 99.0, at(5)).unwrap();
        let t = s.evaluate_alarms(at(10)).unwrap();
        assert_eq!(t.len(), 1);
        t[0].id
    };
    let mut s = MetricStore::open(&path).unwrap();
    assert_eq!(s.alarm("web-cpu").unwrap().unwrap().state, ALARM);
    let history = s.alarm_history("web-cpu", 10).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].to, Some(ALARM));
    assert_eq!(history[0].from, Some(INSUFFICIENT));
    // Not marked published before the "crash": still pending.
    let pending = s.pending_transitions().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);
    assert_eq!(pending[0].to, ALARM);
    assert_eq!(pending[0].actions_topic.as_deref(), Some("alerts"));
    s.mark_published(id).unwrap();
    drop(s);
    let mut s = MetricStore::open(&path).unwrap();
    assert!(s.pending_transitions().unwrap().is_empty());
    // Evaluated at 10 already: not again within the same instant, even after reopening.
    assert!(s.evaluate_alarms(at(15)).unwrap().is_empty());
    assert_eq!(s.evaluate_alarms(at(20)).unwrap().len(), 0);
    // Data stopped: the range (3 periods for N = 1) still holds the last value until 40.
    let t = s.evaluate_alarms(at(40)).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].to, INSUFFICIENT);
}

#[test]
fn alarm_definitions_are_kept_updated_and_deleted() {
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    let mut a = spec(3, 3, MissingData::Missing, 60);
    s.put_metric_alarm(&a, at(0)).unwrap();
    s.put_metric_alarm(&a, at(1)).unwrap();
    assert_eq!(
        s.alarm_history("web-cpu", 10).unwrap().len(),
        1,
        "unchanged: no history"
    );
    // An update keeps the state.
    s.set_alarm_state("web-cpu", ALARM, "testing", at(2))
        .unwrap();
    a.threshold = 90.0;
    s.put_metric_alarm(&a, at(3)).unwrap();
    let status = s.alarm("web-cpu").unwrap().unwrap();
    assert_eq!(status.state, ALARM);
    assert_eq!(status.spec.threshold, 90.0);
    // SetAlarmState lasts until the next evaluation.
    let t = s.evaluate_alarms(at(60)).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].to, INSUFFICIENT);

    let mut other = spec(1, 1, MissingData::Ignore, 60);
    other.name = "web-memory".into();
    other.metric = "MemoryUtilization".into();
    s.sync_alarms(&[other.clone()], at(70)).unwrap();
    let names: Vec<String> = s
        .describe_alarms()
        .unwrap()
        .into_iter()
        .map(|a| a.spec.name)
        .collect();
    assert_eq!(names, vec!["web-memory"]);
    assert_eq!(
        s.alarm_history("web-cpu", 1).unwrap()[0].summary,
        "Alarm \"web-cpu\" deleted"
    );
    assert!(s.set_alarm_state("web-cpu", OK, "x", at(80)).is_err());

    for bad in [
        AlarmSpec {
            datapoints_to_alarm: 4,
            ..other.clone()
        },
        AlarmSpec {
            evaluation_periods: 0,
            datapoints_to_alarm: 0,
            ..other.clone()
        },
        AlarmSpec {
            period: Duration::from_millis(500),
            ..other.clone()
        },
        AlarmSpec {
            period: Duration::from_secs(3600),
            evaluation_periods: 25,
            ..other.clone()
        },
        AlarmSpec {
            threshold: f64::NAN,
            ..other.clone()
        },
        AlarmSpec {
            name: String::new(),
            ..other.clone()
        },
    ] {
        assert!(s.put_metric_alarm(&bad, at(90)).is_err(), "{bad:?}");
    }
}

#[test]
fn percentile_alarms() {
    let mut a = spec(1, 1, MissingData::NotBreaching, 10);
    a.stat = "p90".parse().unwrap();
    a.threshold = 0.5;
    a.metric = "TargetResponseTime".into();
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    s.put_metric_alarm(&a, at(0)).unwrap();
    // Nine fast responses and one slow one: p90 is fast.
    for i in 0..10 {
        let v = if i == 9 { 3.0 } else { 0.1 };
        s.put(NS, "TargetResponseTime", DIMS, Unit::Seconds, v, at(i))
            .unwrap();
    }
    assert_eq!(s.evaluate_alarms(at(10)).unwrap()[0].to, OK);
    // Two slow ones of ten: p90 is slow.
    for i in 10..20 {
        let v = if i >= 18 { 3.0 } else { 0.1 };
        s.put(NS, "TargetResponseTime", DIMS, Unit::Seconds, v, at(i))
            .unwrap();
    }
    let t = s.evaluate_alarms(at(20)).unwrap();
    assert_eq!(t[0].to, ALARM);
    assert_eq!(t[0].reason_data["extendedStatistic"], "p90");
}

#[test]
fn alarm_states_read_back_as_written_and_unknown_text_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    {
        let mut s = MetricStore::open(&path).unwrap();
        s.put_metric_alarm(&spec(3, 3, MissingData::Missing, 60), at(0))
            .unwrap();
        s.set_alarm_state("web-cpu", ALARM, "drill", at(10))
            .unwrap();
        let status = s.alarm("web-cpu").unwrap().unwrap();
        // What the region's control API answers reads back into the same type (the CLI).
        let json = serde_json::to_string(&status).unwrap();
        let back: haven_metrics::AlarmStatus = serde_json::from_str(&json).unwrap();
        assert_eq!((back.state, back.updated_at), (ALARM, at(10)));
        let history = s.alarm_history("web-cpu", 10).unwrap();
        let json = serde_json::to_string(&history).unwrap();
        let back: Vec<haven_metrics::HistoryItem> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, history);
        assert_eq!(back[0].kind, HistoryKind::StateUpdate);
    }
    // A state this haven does not know (another version's, or damage) is an error, never
    // taken for INSUFFICIENT_DATA.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE alarms SET state = 'PAUSED'", [])
        .unwrap();
    drop(raw);
    let s = MetricStore::open(&path).unwrap();
    let err = s.alarm("web-cpu").unwrap_err().to_string();
    assert!(err.contains("unknown alarm state `PAUSED`"), "{err}");
}

/// The text a value is stored and sent as: its JSON string.
fn spelling<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// `text` read back from a SQLite column as `T`.
fn from_column<T: rusqlite::types::FromSql>(text: &str) -> rusqlite::Result<T> {
    let db = rusqlite::Connection::open_in_memory().unwrap();
    db.query_row("SELECT ?1", [text], |r| r.get(0))
}

proptest::proptest! {
    #[test]
    fn alarm_enums_round_trip_through_json_and_sqlite(
        state in proptest::sample::select(vec![OK, ALARM, INSUFFICIENT]),
        kind in proptest::sample::select(vec![HistoryKind::StateUpdate, HistoryKind::ConfigurationUpdate]),
        junk in "[A-Za-z_]{0,12}",
    ) {
        let text = spelling(state);
        proptest::prop_assert_eq!(text.as_str(), state.as_str());
        proptest::prop_assert_eq!(serde_json::from_value::<StateValue>(text.clone().into()).unwrap(), state);
        proptest::prop_assert_eq!(from_column::<StateValue>(&text).unwrap(), state);
        let text = spelling(kind);
        proptest::prop_assert_eq!(serde_json::from_value::<HistoryKind>(text.clone().into()).unwrap(), kind);
        proptest::prop_assert_eq!(from_column::<HistoryKind>(&text).unwrap(), kind);
        // Text that spells no state is an error both ways, never a default.
        let known = ["OK", "ALARM", "INSUFFICIENT_DATA"];
        if !known.contains(&junk.as_str()) {
            proptest::prop_assert!(from_column::<StateValue>(&junk).is_err());
            proptest::prop_assert!(serde_json::from_value::<StateValue>(junk.clone().into()).is_err());
        }
        if !["StateUpdate", "ConfigurationUpdate"].contains(&junk.as_str()) {
            proptest::prop_assert!(from_column::<HistoryKind>(&junk).is_err());
        }
    }
}
