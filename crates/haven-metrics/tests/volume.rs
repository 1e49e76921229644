//! Volume: a region's ~20 series every second for an hour, recorded as the region records them
//! (one put_many a second), then compacted and read back. No timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use haven_metrics::{MetricStore, Query, Sample, Stat, Unit};

const T0: u64 = 1_764_180_000;
const SERIES: usize = 20;
const SECONDS: u64 = 3600;

fn at(offset: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + offset)
}

#[test]
fn an_hour_of_twenty_series() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = MetricStore::open(&dir.path().join("metrics.db")).unwrap();
    let services: Vec<String> = (0..SERIES).map(|i| format!("svc-{i}")).collect();
    let dims: Vec<[(&str, &str); 2]> = services
        .iter()
        .map(|svc| [("ClusterName", "haven"), ("ServiceName", svc.as_str())])
        .collect();
    let started = Instant::now();
    for t in 0..SECONDS {
        let batch: Vec<Sample<'_>> = dims
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let v = ((t as usize * 7 + i * 13) % 100) as f64;
                Sample::new("AWS/ECS", "CPUUtilization", d, Unit::Percent, v, at(t))
            })
            .collect();
        s.put_many(&batch).unwrap();
        if t % 60 == 59 {
            s.compact(at(t + 1)).unwrap();
        }
    }
    let recorded = started.elapsed();
    for (i, svc) in services.iter().enumerate() {
        let q = Query::new("AWS/ECS", "CPUUtilization", at(SECONDS))
            .dim("ClusterName", "haven")
            .dim("ServiceName", svc)
            .stats(&[Stat::SampleCount, Stat::Sum, Stat::Maximum])
            .period(Duration::from_secs(SECONDS))
            .range(at(0), at(SECONDS));
        let d = s.get_statistics(&q, at(SECONDS)).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].values["SampleCount"], SECONDS as f64);
        let sum: f64 = (0..SECONDS)
            .map(|t| ((t as usize * 7 + i * 13) % 100) as f64)
            .sum();
        assert_eq!(d[0].values["Sum"], sum);
        assert_eq!(d[0].values["Maximum"], 99.0);
    }
    let verified = started.elapsed() - recorded;
    let listed = s.list_metrics(Some("AWS/ECS"), at(SECONDS)).unwrap();
    assert_eq!(listed.len(), SERIES);
    // For the record, not a check: how long the hour took to record, compactions included.
    println!(
        "recorded {} samples in {} transactions in {recorded:?}, read back in {verified:?}",
        SERIES as u64 * SECONDS,
        SECONDS
    );
}
