//! GetMetricStatistics' semantics: statistics, period alignment, rounding, units, percentiles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_metrics::{
    Error, MetricStore, Query, RELATIVE_ACCURACY, Retention, Sample, Stat, StatisticSet, Unit,
};

/// 2025-11-26T18:00:00Z: a whole hour, so every period below boundaries line up.
const T0: u64 = 1_764_180_000;
const NS: &str = "AWS/ECS";
const CPU: &str = "CPUUtilization";
const DIMS: &[(&str, &str)] = &[("ClusterName", "haven"), ("ServiceName", "web")];

fn at(offset: i64) -> SystemTime {
    if offset >= 0 {
        UNIX_EPOCH + Duration::from_secs(T0 + offset.unsigned_abs())
    } else {
        UNIX_EPOCH + Duration::from_secs(T0 - offset.unsigned_abs())
    }
}

fn store() -> MetricStore {
    MetricStore::open_in_memory(Retention::default()).unwrap()
}

fn query(period: u64, start: i64, end: i64, stats: &[&str]) -> Query {
    Query::new(NS, CPU, at(end))
        .dim("ServiceName", "web")
        .dim("ClusterName", "haven")
        .stats(
            &stats
                .iter()
                .map(|s| s.parse().unwrap())
                .collect::<Vec<Stat>>(),
        )
        .period(Duration::from_secs(period))
        .range(at(start), at(end))
}

/// Records `points` (second offset, value), runs `q` at `now`, and compares with `expect`:
/// per datapoint its offset and its statistics.
fn check(points: &[(i64, f64)], q: &Query, now: i64, expect: &[(i64, &[(&str, f64)])]) {
    let mut s = store();
    let samples: Vec<Sample<'_>> = points
        .iter()
        .map(|(t, v)| Sample::new(NS, CPU, DIMS, Unit::Percent, *v, at(*t)))
        .collect();
    s.put_many(&samples).unwrap();
    let got: Vec<(i64, BTreeMap<String, f64>)> = s
        .get_statistics(q, at(now))
        .unwrap()
        .into_iter()
        .map(|d| {
            assert_eq!(d.unit, Unit::Percent);
            let offset = d.timestamp.duration_since(at(0)).unwrap().as_secs();
            (i64::try_from(offset).unwrap(), d.values)
        })
        .collect();
    let want: Vec<(i64, BTreeMap<String, f64>)> = expect
        .iter()
        .map(|(t, vs)| (*t, vs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()))
        .collect();
    assert_eq!(got, want, "query {q:?}");
}

fn ramp(n: i64) -> Vec<(i64, f64)> {
    (0..n).map(|i| (i, (i + 1) as f64)).collect()
}

#[test]
fn statistics_per_period() {
    let all = ["SampleCount", "Sum", "Minimum", "Maximum", "Average"];
    check(
        &ramp(10),
        &query(5, 0, 10, &all),
        10,
        &[
            (
                0,
                &[
                    ("SampleCount", 5.0),
                    ("Sum", 15.0),
                    ("Minimum", 1.0),
                    ("Maximum", 5.0),
                    ("Average", 3.0),
                ],
            ),
            (
                5,
                &[
                    ("SampleCount", 5.0),
                    ("Sum", 40.0),
                    ("Minimum", 6.0),
                    ("Maximum", 10.0),
                    ("Average", 8.0),
                ],
            ),
        ],
    );
}

#[test]
fn values_of_one_second_merge_and_the_end_is_exclusive() {
    // Three values in second 0, one in second 10 (at the exclusive end).
    check(
        &[(0, 1.0), (0, 2.0), (0, 6.0), (10, 100.0)],
        &query(10, 0, 10, &["SampleCount", "Average", "Maximum"]),
        10,
        &[(
            0,
            &[("SampleCount", 3.0), ("Average", 3.0), ("Maximum", 6.0)],
        )],
    );
}

#[test]
fn periods_without_data_are_left_out() {
    check(
        &[(0, 1.0), (25, 2.0)],
        &query(10, 0, 30, &["Sum"]),
        30,
        &[(0, &[("Sum", 1.0)]), (20, &[("Sum", 2.0)])],
    );
}

#[test]
fn start_is_rounded_down_as_cloudwatch_rounds_it() {
    // Below a minute: to the period's division of the minute (12:00:03 with 5 s → 12:00:00).
    check(
        &ramp(10),
        &query(5, 3, 10, &["Sum"]),
        10,
        &[(0, &[("Sum", 15.0)]), (5, &[("Sum", 40.0)])],
    );
    // A minute or more: to the minute; periods count from there.
    check(
        &ramp(180),
        &query(60, 30, 180, &["SampleCount"]),
        180,
        &[
            (0, &[("SampleCount", 60.0)]),
            (60, &[("SampleCount", 60.0)]),
            (120, &[("SampleCount", 60.0)]),
        ],
    );
    // Periods align to the rounded start, not to the epoch: a 120 s period from minute 1.
    check(
        &ramp(300),
        &query(120, 60, 300, &["SampleCount"]),
        300,
        &[
            (60, &[("SampleCount", 120.0)]),
            (180, &[("SampleCount", 120.0)]),
        ],
    );
}

#[test]
fn old_starts_need_coarser_periods() {
    let points: Vec<(i64, f64)> = (0..600).map(|i| (i, 1.0)).collect();
    let now = 5 * 3600; // the data is 5 hours old: past the 3 hours of high resolution
    check(&points, &query(30, 0, 600, &["Sum"]), now, &[]);
    check(
        &points,
        &query(300, 0, 600, &["Sum"]),
        now,
        &[(0, &[("Sum", 300.0)]), (300, &[("Sum", 300.0)])],
    );
}

#[test]
fn percentiles_are_nearest_rank_and_exact_for_few_values() {
    // 50 values 1..=50 in one period.
    let points: Vec<(i64, f64)> = (0..50).map(|i| (i / 10, (i + 1) as f64)).collect();
    check(
        &points,
        &query(10, 0, 10, &["p0", "p50", "p90", "p99", "p100"]),
        10,
        &[(
            0,
            &[
                ("p0", 1.0),
                ("p50", 25.0),
                ("p90", 45.0),
                ("p99", 50.0),
                ("p100", 50.0),
            ],
        )],
    );
}

#[test]
fn percentiles_of_many_values_are_within_the_bound() {
    let mut s = store();
    let values: Vec<f64> = (1..=5000).map(|i| f64::from(i) * 0.003).collect();
    let samples: Vec<Sample<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Sample::new(
                NS,
                CPU,
                DIMS,
                Unit::Percent,
                *v,
                at(i64::try_from(i % 60).unwrap()),
            )
        })
        .collect();
    s.put_many(&samples).unwrap();
    let d = s
        .get_statistics(&query(60, 0, 60, &["p50", "p95", "p99.9"]), at(60))
        .unwrap();
    assert_eq!(d.len(), 1);
    for (name, rank) in [("p50", 2500), ("p95", 4750), ("p99.9", 4995)] {
        let exact = values[rank - 1];
        let got = d[0].values[name];
        assert!(
            (got - exact).abs() <= exact * RELATIVE_ACCURACY,
            "{name}: {got} vs {exact}"
        );
    }
}

#[test]
fn percentiles_are_not_given_for_negative_values_or_unknown_sets() {
    check(
        &[(0, -1.0), (1, 5.0)],
        &query(10, 0, 10, &["p50", "Minimum"]),
        10,
        &[(0, &[("Minimum", -1.0)])],
    );
    let mut s = store();
    let set = StatisticSet {
        sample_count: 4.0,
        sum: 10.0,
        minimum: 1.0,
        maximum: 4.0,
    };
    let same = StatisticSet {
        sample_count: 2.0,
        sum: 14.0,
        minimum: 7.0,
        maximum: 7.0,
    };
    s.put_many(&[Sample::new(NS, CPU, DIMS, Unit::Percent, set, at(0))])
        .unwrap();
    s.put_many(&[Sample::new(NS, CPU, DIMS, Unit::Percent, same, at(20))])
        .unwrap();
    let d = s
        .get_statistics(
            &query(10, 0, 30, &["p50", "SampleCount", "Average"]),
            at(30),
        )
        .unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].values.get("p50"), None);
    assert_eq!(d[0].values["SampleCount"], 4.0);
    assert_eq!(d[0].values["Average"], 2.5);
    assert_eq!(d[1].values["p50"], 7.0);
}

#[test]
fn dimensions_must_match_exactly_and_units_aggregate_apart() {
    let mut s = store();
    s.put(NS, CPU, DIMS, Unit::Percent, 10.0, at(0)).unwrap();
    s.put(NS, CPU, DIMS, Unit::None, 30.0, at(1)).unwrap();
    s.put(
        NS,
        CPU,
        &[("ServiceName", "web")],
        Unit::Percent,
        99.0,
        at(2),
    )
    .unwrap();

    let mut q = query(10, 0, 10, &["Average"]);
    let d = s.get_statistics(&q, at(10)).unwrap();
    let by_unit: Vec<(Unit, f64)> = d.iter().map(|d| (d.unit, d.values["Average"])).collect();
    assert_eq!(by_unit, vec![(Unit::Percent, 10.0), (Unit::None, 30.0)]);

    q.unit = Some(Unit::None);
    let d = s.get_statistics(&q, at(10)).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].values["Average"], 30.0);

    let only_service = Query::new(NS, CPU, at(10))
        .dim("ServiceName", "web")
        .period(Duration::from_secs(10))
        .range(at(0), at(10));
    let d = s.get_statistics(&only_service, at(10)).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].values["Average"], 99.0);

    let none = Query::new(NS, CPU, at(10))
        .dim("ClusterName", "haven")
        .period(Duration::from_secs(10))
        .range(at(0), at(10));
    assert!(s.get_statistics(&none, at(10)).unwrap().is_empty());
}

#[test]
fn requests_cloudwatch_refuses_are_refused() {
    let mut s = store();
    s.put(NS, CPU, DIMS, Unit::Percent, 1.0, at(0)).unwrap();
    assert!(matches!(
        s.get_statistics(&query(1, 0, 1441, &["Sum"]), at(1441)),
        Err(Error::TooManyDatapoints {
            requested: 1441,
            max: 1440
        })
    ));
    assert!(
        s.get_statistics(&query(1, 0, 1440, &["Sum"]), at(1440))
            .is_ok()
    );
    assert!(matches!(
        s.get_statistics(&query(10, 10, 10, &["Sum"]), at(10)),
        Err(Error::InvalidParameter { .. })
    ));
    let mut q = query(10, 0, 10, &["Sum"]);
    q.period = Duration::from_millis(1500);
    assert!(s.get_statistics(&q, at(10)).is_err());
    q.period = Duration::from_secs(10);
    q.stats.clear();
    assert!(s.get_statistics(&q, at(10)).is_err());

    for bad in [f64::NAN, f64::INFINITY, 2f64.powi(361), 2f64.powi(-300)] {
        assert!(
            s.put(NS, CPU, DIMS, Unit::Percent, bad, at(0)).is_err(),
            "{bad}"
        );
    }
    assert!(
        s.put("bad namespace!", CPU, DIMS, Unit::Percent, 1.0, at(0))
            .is_err()
    );
    assert!(s.put(NS, "", DIMS, Unit::Percent, 1.0, at(0)).is_err());
    assert!(
        s.put(
            NS,
            CPU,
            &[("A", "1"), ("A", "2")],
            Unit::Percent,
            1.0,
            at(0)
        )
        .is_err()
    );
    assert!(
        s.put(NS, CPU, &[("A", "")], Unit::Percent, 1.0, at(0))
            .is_err()
    );
    // A batch with one bad sample records nothing.
    let batch = [
        Sample::new(NS, "Fine", DIMS, Unit::Count, 1.0, at(0)),
        Sample::new(NS, "Fine", DIMS, Unit::Count, f64::NAN, at(0)),
    ];
    assert!(s.put_many(&batch).is_err());
    assert!(
        s.list_metrics(Some(NS), at(0))
            .unwrap()
            .iter()
            .all(|m| m.name != "Fine")
    );
}

#[test]
fn list_metrics_lists_each_metric_once_and_forgets_idle_ones() {
    let mut s = store();
    s.put(NS, CPU, DIMS, Unit::Percent, 1.0, at(0)).unwrap();
    s.put(NS, CPU, DIMS, Unit::None, 1.0, at(0)).unwrap();
    s.put(
        "AWS/ApplicationELB",
        "RequestCount",
        &[("LoadBalancer", "app/x")],
        Unit::Count,
        3.0,
        at(0),
    )
    .unwrap();
    let all = s.list_metrics(None, at(60)).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].namespace, "AWS/ApplicationELB");
    assert_eq!(
        all[1].dims,
        vec![
            ("ClusterName".to_owned(), "haven".to_owned()),
            ("ServiceName".to_owned(), "web".to_owned())
        ]
    );
    assert_eq!(s.list_metrics(Some(NS), at(60)).unwrap().len(), 1);
    let json = serde_json::to_value(&all[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"Namespace": "AWS/ApplicationELB", "MetricName": "RequestCount",
                           "Dimensions": [{"Name": "LoadBalancer", "Value": "app/x"}]})
    );
    // Two weeks without data: no longer listed.
    assert!(s.list_metrics(None, at(15 * 86_400)).unwrap().is_empty());
}

#[test]
fn datapoints_serialize_as_cloudwatch_does() {
    let mut s = store();
    s.put(NS, CPU, DIMS, Unit::Percent, 12.5, at(0)).unwrap();
    let d = s
        .get_statistics(&query(60, 0, 60, &["Average", "p99"]), at(60))
        .unwrap();
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        serde_json::json!([{"Timestamp": "2025-11-26T18:00:00Z", "Average": 12.5, "p99": 12.5,
                            "Unit": "Percent"}])
    );
}
