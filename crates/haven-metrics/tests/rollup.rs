//! Rollups and retention: statistics stay exact through every resolution, expired data goes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_metrics::{
    Datapoint, MetricStore, Query, RELATIVE_ACCURACY, Retention, Sample, Stat, Unit,
};

const T0: u64 = 1_764_180_000;
const NS: &str = "AWS/ApplicationELB";
const NAME: &str = "TargetResponseTime";
const DAY: i64 = 86_400;

fn at(offset: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0) + Duration::from_secs(offset.unsigned_abs())
}

fn dims(tg: &str) -> [(&'static str, &str); 2] {
    [("LoadBalancer", "app/haven/1"), ("TargetGroup", tg)]
}

/// Values that add up exactly in f64 (multiples of 1/4 below 2^40), whatever the order.
fn value(i: i64, salt: i64) -> f64 {
    ((i * 37 + salt * 11) % 101) as f64 * 0.25
}

/// Two hours of one value per second, two per second for the second series.
fn fill(s: &mut MetricStore) {
    let blue = dims("blue");
    let green = dims("green");
    for chunk in (0..7200).collect::<Vec<i64>>().chunks(600) {
        let mut batch = Vec::new();
        for &i in chunk {
            batch.push(Sample::new(
                NS,
                NAME,
                &blue,
                Unit::Seconds,
                value(i, 0),
                at(i),
            ));
            batch.push(Sample::new(
                NS,
                NAME,
                &green,
                Unit::Seconds,
                value(i, 1),
                at(i),
            ));
            batch.push(Sample::new(
                NS,
                NAME,
                &green,
                Unit::Seconds,
                value(i, 2),
                at(i),
            ));
        }
        s.put_many(&batch).unwrap();
    }
}

const EXACT: [Stat; 4] = [Stat::SampleCount, Stat::Sum, Stat::Minimum, Stat::Maximum];

fn stats(s: &MetricStore, tg: &str, period: i64, now: i64) -> Vec<Datapoint> {
    let mut q = Query::new(NS, NAME, at(now))
        .dim("LoadBalancer", "app/haven/1")
        .dim("TargetGroup", tg)
        .stats(&[
            Stat::SampleCount,
            Stat::Sum,
            Stat::Minimum,
            Stat::Maximum,
            Stat::Average,
            Stat::Percentile(90.0),
        ])
        .period(Duration::from_secs(period.unsigned_abs()))
        .range(at(0), at(7200));
    if 7200 / period > 1440 {
        q.end = at(1440 * period);
    }
    s.get_statistics(&q, at(now)).unwrap()
}

/// The exact statistics agree to the bit, the average to rounding, the percentile within the
/// digest's bound.
fn assert_consistent(before: &[Datapoint], after: &[Datapoint], what: &str) {
    assert_eq!(before.len(), after.len(), "{what}: datapoints");
    for (b, a) in before.iter().zip(after) {
        assert_eq!(b.timestamp, a.timestamp, "{what}");
        for s in EXACT {
            assert_eq!(b.values[&s.name()], a.values[&s.name()], "{what}: {s}");
        }
        let (ba, aa) = (b.values["Average"], a.values["Average"]);
        assert!(
            (ba - aa).abs() <= 1e-9 * ba.abs().max(1.0),
            "{what}: Average"
        );
        let (bp, ap) = (b.values["p90"], a.values["p90"]);
        assert!(
            (bp - ap).abs() <= 2.0 * RELATIVE_ACCURACY * bp.max(ap) + 1e-12,
            "{what}: p90 {bp} vs {ap}"
        );
    }
}

#[test]
fn rollups_keep_statistics_and_retention_deletes_expired_data() {
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    fill(&mut s);
    let now = 7200;
    let raw: Vec<(i64, Vec<Datapoint>)> = [60, 300, 3600]
        .into_iter()
        .map(|p| (p, stats(&s, "green", p, now)))
        .collect();
    let raw_blue = stats(&s, "blue", 60, now);
    assert_eq!(raw[2].1.len(), 2);
    assert_eq!(raw[2].1[0].values["SampleCount"], 7200.0);

    // Rolled up, before anything expires: the same answers, now from the coarse levels.
    let c = s.compact(at(now)).unwrap();
    assert_eq!(c.deleted, 0);
    assert_eq!(c.rolled_up, 2 * (120 + 24 + 2));
    for (p, before) in &raw {
        assert_consistent(
            before,
            &stats(&s, "green", *p, now),
            &format!("rolled up, {p} s"),
        );
    }
    assert_consistent(&raw_blue, &stats(&s, "blue", 60, now), "blue");
    // Idempotent: nothing new is complete.
    assert_eq!(s.compact(at(now)).unwrap().rolled_up, 0);

    // Past 3 hours the seconds go, the minutes answer.
    let now = 7200 + 3 * 3600;
    let c = s.compact(at(now)).unwrap();
    assert_eq!(c.deleted, 2 * 7200, "every raw second of both series");
    assert!(
        stats(&s, "green", 1, now).is_empty(),
        "no second-level data that old"
    );
    for (p, before) in &raw {
        assert_consistent(before, &stats(&s, "green", *p, now), &format!("3 h, {p} s"));
    }

    // Past 15 days the minutes go: 5-minute periods still answer, 1-minute ones don't.
    let now = 16 * DAY;
    let c = s.compact(at(now)).unwrap();
    assert_eq!(c.deleted, 2 * 120);
    assert!(stats(&s, "green", 60, now).is_empty());
    assert_consistent(&raw[1].1, &stats(&s, "green", 300, now), "16 d, 300 s");
    assert_consistent(&raw[2].1, &stats(&s, "green", 3600, now), "16 d, 3600 s");

    // Past 63 days only hours are left.
    let now = 64 * DAY;
    assert_eq!(s.compact(at(now)).unwrap().deleted, 2 * 24);
    assert!(stats(&s, "green", 300, now).is_empty());
    assert_consistent(&raw[2].1, &stats(&s, "green", 3600, now), "64 d, 3600 s");

    // Past 455 days nothing is left, not even the series.
    let now = 456 * DAY;
    let c = s.compact(at(now)).unwrap();
    assert_eq!(c.deleted, 2 * 2);
    assert_eq!(c.series_deleted, 2);
    assert!(stats(&s, "green", 3600, now).is_empty());
}

#[test]
fn late_data_reaches_the_rollups() {
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    let d = dims("blue");
    for i in 0..600 {
        s.put(NS, NAME, &d, Unit::Seconds, 1.0, at(i)).unwrap();
    }
    s.compact(at(600)).unwrap();
    // A datapoint for a minute already rolled up, and one for a minute not yet complete.
    s.put(NS, NAME, &d, Unit::Seconds, 100.0, at(30)).unwrap();
    s.put(NS, NAME, &d, Unit::Seconds, 7.0, at(601)).unwrap();
    let q = |now: i64| {
        Query::new(NS, NAME, at(now))
            .dim("LoadBalancer", "app/haven/1")
            .dim("TargetGroup", "blue")
            .stats(&[Stat::Sum, Stat::Maximum, Stat::SampleCount])
            .period(Duration::from_secs(300))
            .range(at(0), at(900))
    };
    let check = |s: &MetricStore, now: i64| {
        let d = s.get_statistics(&q(now), at(now)).unwrap();
        let sums: Vec<(f64, f64, f64)> = d
            .iter()
            .map(|d| {
                (
                    d.values["Sum"],
                    d.values["Maximum"],
                    d.values["SampleCount"],
                )
            })
            .collect();
        assert_eq!(
            sums,
            vec![(400.0, 100.0, 301.0), (300.0, 1.0, 300.0), (7.0, 7.0, 1.0)]
        );
    };
    check(&s, 700);
    s.compact(at(700)).unwrap();
    check(&s, 700);
    // Four hours on, from the minute level alone.
    s.compact(at(600 + 4 * 3600)).unwrap();
    check(&s, 600 + 4 * 3600);
}

#[test]
fn local_retention_is_configurable() {
    let short = Retention {
        raw: Duration::from_secs(600),
        minute: Duration::from_secs(3600),
        five_min: Duration::from_secs(2 * 3600),
        hour: Duration::from_secs(6 * 3600),
    };
    let mut s = MetricStore::open_in_memory(short).unwrap();
    let d = dims("blue");
    let batch: Vec<Sample<'_>> = (0..1200)
        .map(|i| Sample::new(NS, NAME, &d, Unit::Seconds, 2.0, at(i)))
        .collect();
    s.put_many(&batch).unwrap();
    let c = s.compact(at(1200)).unwrap();
    // Seconds older than 10 minutes go at once: they are rolled up first.
    assert_eq!(c.deleted, 600);
    let bad = Retention {
        raw: Duration::from_secs(7200),
        minute: Duration::from_secs(3600),
        ..short
    };
    assert!(MetricStore::open_in_memory(bad).is_err());
}

#[test]
fn compaction_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("metrics.db");
    let d = dims("blue");
    {
        let mut s = MetricStore::open(&path).unwrap();
        for i in 0..120 {
            s.put(NS, NAME, &d, Unit::Seconds, 1.0, at(i)).unwrap();
        }
        s.compact(at(120)).unwrap();
    }
    let mut s = MetricStore::open(&path).unwrap();
    // Reopened, it knows minutes 0 and 1 are rolled up: nothing is rolled up twice.
    assert_eq!(s.compact(at(120)).unwrap().rolled_up, 0);
    s.compact(at(4 * 3600)).unwrap();
    let q = Query::new(NS, NAME, at(4 * 3600))
        .dim("LoadBalancer", "app/haven/1")
        .dim("TargetGroup", "blue")
        .stats(&[Stat::SampleCount])
        .period(Duration::from_secs(120))
        .range(at(0), at(120));
    let d = s.get_statistics(&q, at(4 * 3600)).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].values["SampleCount"], 120.0);
    let ro = MetricStore::open_read_only(&path, Retention::default()).unwrap();
    assert_eq!(ro.get_statistics(&q, at(4 * 3600)).unwrap(), d);
}
