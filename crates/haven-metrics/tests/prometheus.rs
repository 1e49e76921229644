//! `/metrics`: the Prometheus text of every series, checked by `promtool check metrics`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_metrics::catalog::{self, KNOWN};
use haven_metrics::{AlarmSpec, Comparison, MetricStore, MissingData, Retention, Sample, Unit};

const T0: u64 = 1_764_180_000;

fn at(offset: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + offset)
}

/// A region's worth of series: every catalog metric, one metric the catalog does not know (with
/// awkward dimension names and values), and an alarm.
fn region() -> MetricStore {
    let mut s = MetricStore::open_in_memory(Retention::default()).unwrap();
    let ecs = [("ClusterName", "haven"), ("ServiceName", "web")];
    let tg = [
        ("LoadBalancer", "app/haven/1"),
        ("TargetGroup", "targetgroup/blue/2"),
    ];
    let build = [("ProjectName", "hello-build")];
    let pipeline = [("PipelineName", "hello")];
    let odd = [
        ("Queue Name", "a \"quoted\"\\ value\nwith a newline"),
        ("quantile", "x"),
    ];
    for t in 0..120 {
        let mut batch = Vec::new();
        for k in KNOWN {
            let dims: &[(&str, &str)] = match k.namespace {
                catalog::ECS => &ecs,
                catalog::ALB => &tg,
                catalog::CODEBUILD => &build,
                _ => &pipeline,
            };
            let v = match k.unit {
                Unit::Seconds => 0.001 * f64::from(u32::try_from(t % 7).unwrap() + 1),
                _ => f64::from(u32::try_from(t % 5).unwrap()),
            };
            batch.push(Sample::new(k.namespace, k.name, dims, k.unit, v, at(t)));
        }
        batch.push(Sample::new(
            "MyApp/Jobs",
            "QueueLatency",
            &odd,
            Unit::Milliseconds,
            250.0,
            at(t),
        ));
        batch.push(Sample::new(
            "MyApp/Jobs",
            "JobCount",
            &[],
            Unit::Count,
            3.0,
            at(t),
        ));
        s.put_many(&batch).unwrap();
    }
    let alarm = AlarmSpec {
        name: "web-cpu \"high\"".into(),
        description: None,
        namespace: catalog::ECS.into(),
        metric: catalog::CPU_UTILIZATION.into(),
        dims: ecs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        unit: None,
        stat: "Average".parse().unwrap(),
        period: Duration::from_secs(60),
        evaluation_periods: 1,
        datapoints_to_alarm: 1,
        threshold: 1.0,
        comparison: Comparison::GreaterThanThreshold,
        missing_data: MissingData::Missing,
        actions_topic: None,
    };
    s.put_metric_alarm(&alarm, at(0)).unwrap();
    s.evaluate_alarms(at(120)).unwrap();
    s
}

#[test]
fn text_has_every_series_in_prometheus_terms() {
    let text = region().prometheus_text(at(120)).unwrap();
    for line in [
        "# TYPE aws_ecs_cpu_utilization_percent gauge",
        "aws_ecs_cpu_utilization_percent{cluster_name=\"haven\",service_name=\"web\"} 4",
        "# TYPE aws_applicationelb_requests_total counter",
        // 0+1+2+3+4 over 24 rounds of five seconds.
        "aws_applicationelb_requests_total{load_balancer=\"app/haven/1\",target_group=\"targetgroup/blue/2\"} 240",
        "# TYPE aws_applicationelb_target_response_time_seconds summary",
        "aws_applicationelb_target_response_time_seconds_count{load_balancer=\"app/haven/1\",target_group=\"targetgroup/blue/2\"} 120",
        "aws_applicationelb_healthy_hosts{load_balancer=\"app/haven/1\",target_group=\"targetgroup/blue/2\"} 4",
        "aws_codebuild_failed_builds_total{project_name=\"hello-build\"} 240",
        "aws_codepipeline_failed_pipeline_executions_total{pipeline_name=\"hello\"} 240",
        "# TYPE my_app_jobs_queue_latency_seconds gauge",
        "my_app_jobs_queue_latency_seconds{queue_name=\"a \\\"quoted\\\"\\\\ value\\nwith a newline\",quantile_dimension=\"x\"} 0.25",
        "my_app_jobs_job_count_value 3",
        "aws_cloudwatch_alarm_state{alarm_name=\"web-cpu \\\"high\\\"\",state=\"ALARM\"} 1",
        "aws_cloudwatch_alarm_state{alarm_name=\"web-cpu \\\"high\\\"\",state=\"OK\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(text.contains("aws_applicationelb_target_response_time_seconds{load_balancer=\"app/haven/1\",target_group=\"targetgroup/blue/2\",quantile=\"0.99\"} 0.007"));
}

#[test]
fn stale_gauges_are_left_out_and_counters_stay() {
    let text = region().prometheus_text(at(120 + 600)).unwrap();
    assert!(!text.contains("aws_ecs_cpu_utilization_percent{"));
    assert!(text.contains("aws_applicationelb_requests_total{"));
    // No data in the last minute: the quantiles are NaN, the totals remain.
    assert!(text.contains("quantile=\"0.5\"} NaN"));
}

#[test]
fn promtool_accepts_the_text() {
    let s = region();
    for now in [120, 120 + 600] {
        let text = s.prometheus_text(at(now)).unwrap();
        let child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => panic!(
                "promtool is needed to check the /metrics text and could not be run ({e}): \
                 install it (Debian: `apt-get install prometheus`; .ci/run installs it for CI)"
            ),
        };
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics failed ({}):\n{}{}\n--- text ---\n{text}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
