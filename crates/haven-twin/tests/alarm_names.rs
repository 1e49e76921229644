//! The twin's alarms are the ones `haven synth` writes, read from the synthesized monitoring
//! templates: the same names, metrics, statistics, comparisons, thresholds, M out of N and
//! missing-data treatment, so an alarm drilled locally is the alarm that pages on AWS. Only the
//! period differs, by design: the `[local]` profile's alarm period keeps drills short.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::example;
use haven_spec::Spec;
use serde_json::Value;

/// What must agree: name, metric, statistic, comparison, threshold, evaluation periods,
/// datapoints to alarm, missing-data treatment.
type Shape = (String, String, String, String, String, u64, u64, String);

/// The synthesized alarms of a region, but the deployment's rollback alarm: on the twin the
/// release watches green's 5xx rate itself.
fn synthesized(spec: &Spec, region: &str) -> BTreeSet<Shape> {
    let synthesis = haven_cfn::synth(spec).unwrap();
    let file = format!("{region}/monitoring.json");
    let t: Value = serde_json::from_str(synthesis.file(&file).unwrap()).unwrap();
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(id, r)| r["Type"] == "AWS::CloudWatch::Alarm" && !id.ends_with("RollbackAlarm"))
        .map(|(id, r)| {
            let p = &r["Properties"];
            // A metric-math alarm (blue and green target groups): its first metric's.
            let (metric, stat) = match p["Metrics"].as_array() {
                Some(m) => {
                    let stat = &m[0]["MetricStat"];
                    (&stat["Metric"]["MetricName"], &stat["Stat"])
                }
                None => (&p["MetricName"], &p["Statistic"]),
            };
            let text = |v: &Value| {
                v.as_str()
                    .unwrap_or_else(|| panic!("{id}: {v} is not text"))
                    .to_owned()
            };
            (
                text(&p["AlarmName"]),
                text(metric),
                text(stat),
                text(&p["ComparisonOperator"]),
                format!("{:.1}", p["Threshold"].as_f64().unwrap()),
                p["EvaluationPeriods"].as_u64().unwrap(),
                p["DatapointsToAlarm"].as_u64().unwrap(),
                text(&p["TreatMissingData"]),
            )
        })
        .collect()
}

fn on_the_twin(spec: &Spec, region: &str) -> BTreeSet<Shape> {
    twin_alarms(spec, region)
        .into_iter()
        .map(|a| {
            (
                a.name,
                a.metric,
                a.stat.name(),
                a.comparison.as_str().to_owned(),
                format!("{:.1}", a.threshold),
                u64::from(a.evaluation_periods),
                u64::from(a.datapoints_to_alarm),
                a.missing_data.as_str().to_owned(),
            )
        })
        .collect()
}

/// The twin's alarms in `region`.
fn twin_alarms(spec: &Spec, region: &str) -> Vec<haven_metrics::AlarmSpec> {
    let twin = spec.twin();
    let region = twin.regions.iter().find(|r| r.name == region).unwrap();
    haven_twin::region::alarms(spec, region)
}

fn check(spec: &Spec) {
    for region in &spec.twin().regions {
        let aws = synthesized(spec, &region.name);
        assert!(!aws.is_empty(), "no alarms synthesized in {}", region.name);
        assert_eq!(on_the_twin(spec, &region.name), aws, "{}", region.name);
    }
}

#[test]
fn the_example_alarms_as_synth_writes_them() {
    let (_dir, spec) = example(str::to_owned);
    check(&spec);
    let names: Vec<String> = twin_alarms(&spec, "us-east-1")
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert!(
        names.contains(&"hello-production-unhealthy-targets".to_owned()),
        "{names:?}"
    );
}

#[test]
fn tuned_and_disabled_alarms_too() {
    let (_dir, spec) = example(|t| {
        t.replace(
            "[monitoring.alarms.cpu]\nthreshold = 80 ",
            "[monitoring.alarms.cpu]\nthreshold = 65\nevaluation_periods = 5\n\
             datapoints_to_alarm = 2\nmissing_data = \"breaching\"\n#",
        )
        .replace(
            "[monitoring.alarms.memory]\nthreshold = 80\n",
            "[monitoring.alarms.memory]\nenabled = false\n",
        )
    });
    check(&spec);
    let twin = twin_alarms(&spec, "us-west-2");
    assert!(twin.iter().all(|a| !a.name.ends_with("-memory")));
    let cpu = twin
        .iter()
        .find(|a| a.name == "hello-production-cpu")
        .unwrap();
    assert_eq!((cpu.threshold, cpu.datapoints_to_alarm), (65.0, 2));
}
