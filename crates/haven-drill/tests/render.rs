//! The drill report's renderers on a hand-built report: a passed task-loss drill and a missed
//! region-loss drill with an RPO, alarms, notifications and a target that needs escaping.
//! `tests/chromium.rs` renders the same fixture in a browser (it includes this file).

#![allow(clippy::unwrap_used, dead_code)]

use haven_drill::report::{
    AlarmChange, Check, Drill, Event, EventKind, Figure, LoadSummary, Measured, Notification,
    Projection, Report, Rpo, Sample, SourceRef, SteadyState, VERSION, Verdict,
};
use haven_drill::{Scenario, html, markdown, policy, project};
use haven_metrics::StateValue;
use haven_notify::Protocol;

/// 2026-12-06T22:30:15Z.
const START_MS: u64 = 1_796_596_215_000;
/// The escaping test's target: markup, quotes and an ampersand.
pub const HOSTILE_TARGET: &str = "<script>alert(\"primary\")</script> us-east-1 & its tasks";

fn event(t_ms: u64, kind: EventKind, text: &str) -> Event {
    Event {
        t_ms,
        kind,
        text: text.to_owned(),
    }
}

fn verdict(check: Check, found: &str, limit: &str, passed: bool) -> Verdict {
    Verdict {
        check,
        subject: None,
        found: found.to_owned(),
        limit: limit.to_owned(),
        passed,
    }
}

fn projection(figure: Figure, seconds: f64, formula: &str, sources: &[(&str, &str)]) -> Projection {
    Projection {
        figure,
        seconds,
        formula: formula.to_owned(),
        sources: sources
            .iter()
            .map(|(title, url)| SourceRef {
                title: (*title).to_owned(),
                url: (*url).to_owned(),
            })
            .collect(),
    }
}

/// One sample a second for `secs` seconds, each from `at(second)`: (requests, errors, p99 ms,
/// healthy targets, serving regions).
fn timeline(
    secs: u64,
    at: impl Fn(u64) -> (u32, u32, f64, u32, &'static [&'static str]),
) -> Vec<Sample> {
    (0..secs)
        .map(|s| {
            let (requests, errors, p99_ms, healthy_targets, serving) = at(s);
            Sample {
                t_ms: s * 1000,
                requests,
                errors,
                p99_ms,
                healthy_targets,
                serving_regions: serving.iter().map(|r| (*r).to_owned()).collect(),
            }
        })
        .collect()
}

fn steady(requests: u64, failed: u64, healthy: u32, serving: &[&str]) -> SteadyState {
    SteadyState {
        requests,
        failed,
        error_percent: failed as f64 * 100.0 / requests as f64,
        p99_ms: 4.2,
        healthy_targets: healthy,
        desired: 4,
        serving_regions: serving.iter().map(|r| (*r).to_owned()).collect(),
        passed: true,
        reason: String::new(),
    }
}

const ELB_HEALTH: (&str, &str) = (
    "Health checks for Application Load Balancer target groups",
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html",
);
const R53_HEALTH: (&str, &str) = (
    "How Route 53 determines whether a health check is healthy",
    "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html",
);

/// A task killed at 5 s, replaced by 7.4 s: every check met.
pub fn task_loss() -> Drill {
    let both: &'static [&'static str] = &["us-east-1", "us-west-2"];
    Drill {
        scenario: Scenario::TaskLoss,
        target: "task 3f2a1c in us-east-1 (us-east-1a)".to_owned(),
        started_at_ms: START_MS,
        fault_ms: 5_000,
        heal_ms: None,
        end_ms: 20_000,
        load: LoadSummary {
            url: "http://127.0.0.1:4000/".to_owned(),
            rps: 50,
            sent: 1000,
            ok: 1000,
            failed: 0,
            p50_ms: 1.8,
            p99_ms: 6.5,
            max_ms: 41.0,
        },
        steady_before: steady(250, 0, 4, both),
        steady_after: steady(250, 0, 4, both),
        measured: Measured {
            detect_ms: Some(800),
            detected_by: Some("ALB health check failed on task 3f2a1c".to_owned()),
            rto_ms: Some(2_400),
            failed_requests: 0,
            p99_during_ms: 12.5,
            ..Measured::default()
        },
        projected: vec![
            projection(
                project::TIME_TO_DETECT,
                30.0,
                "10 s interval × 3 unhealthy checks = 30 s",
                &[ELB_HEALTH],
            ),
            projection(
                project::RTO,
                90.0,
                "30 s to detect + 60 s for a Fargate task to start = 90 s",
                &[ELB_HEALTH],
            ),
        ],
        verdicts: vec![
            verdict(policy::RTO_TWIN, "2.4 s", "≤ 5m", true),
            verdict(policy::RTO_AWS, "1 min 30 s", "≤ 5m", true),
            verdict(Check::FailedRequests, "0", "0", true),
        ],
        passed: true,
        sample_ms: 1000,
        timeline: timeline(20, |s| {
            let healthy = if (5..8).contains(&s) { 3 } else { 4 };
            let p99 = if (5..8).contains(&s) { 12.5 } else { 4.0 };
            (50, 0, p99, healthy, both)
        }),
        events: vec![
            event(5_000, EventKind::Fault, "killed task 3f2a1c (SIGKILL)"),
            event(
                5_800,
                EventKind::Detected,
                "ALB health check failed on task 3f2a1c",
            ),
            event(
                6_100,
                EventKind::Scaling,
                "service started task 9b7e01 to replace it",
            ),
            event(7_400, EventKind::Recovered, "4 of 4 targets healthy"),
        ],
        alarms: Vec::new(),
        notifications: Vec::new(),
        notes: Vec::new(),
    }
}

/// The primary killed at 10 s: the edge fails over by 16 s, service is back at 22.1 s, the
/// region is healed at 40 s and replication catches up at 43.5 s. AWS's projected RTO misses
/// the policy.
pub fn region_loss() -> Drill {
    let both: &'static [&'static str] = &["us-east-1", "us-west-2"];
    let west: &'static [&'static str] = &["us-west-2"];
    Drill {
        scenario: Scenario::RegionLoss,
        target: HOSTILE_TARGET.to_owned(),
        started_at_ms: START_MS + 30_000,
        fault_ms: 10_000,
        heal_ms: Some(40_000),
        end_ms: 60_000,
        load: LoadSummary {
            url: "http://127.0.0.1:4000/".to_owned(),
            rps: 50,
            sent: 3000,
            ok: 2986,
            failed: 14,
            p50_ms: 2.1,
            p99_ms: 180.0,
            max_ms: 1450.0,
        },
        steady_before: steady(250, 0, 4, both),
        steady_after: SteadyState {
            passed: false,
            reason: "us-east-1 serves again but holds 1 of 2 healthy targets".to_owned(),
            ..steady(250, 1, 3, both)
        },
        measured: Measured {
            detect_ms: Some(3_000),
            detected_by: Some("edge health check of us-east-1 failed".to_owned()),
            rto_ms: Some(12_100),
            failed_requests: 14,
            p99_during_ms: 240.0,
            rpo: Some(Rpo {
                commits: 2,
                images: 1,
                age_ms: 8_000,
                after_catch_up: Some(Box::new(Rpo::default())),
            }),
            catch_up_ms: Some(3_500),
            ..Measured::default()
        },
        projected: vec![
            projection(
                project::TIME_TO_DETECT,
                90.0,
                "30 s request interval × 3 failures = 90 s",
                &[R53_HEALTH],
            ),
            projection(
                project::RTO,
                210.0,
                "90 s to detect + 60 s TTL + 60 s for resolvers to follow = 210 s",
                &[R53_HEALTH, ELB_HEALTH],
            ),
            projection(
                project::REPLICATION_LAG,
                1800.0,
                "images may be missing from the secondaries: most replicate in under 30 min",
                &[],
            ),
            projection(
                project::SEED_RTO,
                1200.0,
                "the seed's estimate for a region's loss",
                &[("seed", "docs/seed.md")],
            ),
        ],
        verdicts: vec![
            verdict(policy::RTO_TWIN, "12.1 s", "≤ 2m", true),
            verdict(policy::RTO_AWS, "3 min 30 s", "≤ 2m", false),
            verdict(Check::Rpo, "8.0 s", "≤ 1m", true),
        ],
        passed: false,
        sample_ms: 1000,
        timeline: timeline(60, |s| match s {
            0..10 => (50, 0, 4.0, 4, both),
            10..16 => (50, 2, 900.0, 2, both),
            16..22 => (50, if s < 18 { 1 } else { 0 }, 60.0, 2, west),
            22..40 => (50, 0, 5.0, 2, west),
            _ => (50, 0, 4.5, 3, both),
        }),
        events: vec![
            event(
                10_000,
                EventKind::Fault,
                "killed region us-east-1 (pid 4242)",
            ),
            event(
                13_000,
                EventKind::Detected,
                "edge health check of us-east-1 failed",
            ),
            event(
                14_200,
                EventKind::Alarm,
                "hello-production-unhealthy-hosts: ALARM",
            ),
            event(
                14_900,
                EventKind::Notification,
                "e-mail to ops@example.com delivered",
            ),
            event(16_000, EventKind::Failover, "edge serves us-west-2 only"),
            event(
                22_100,
                EventKind::Recovered,
                "every request answered for 5 s",
            ),
            event(40_000, EventKind::Healed, "region us-east-1 restarted"),
            event(
                43_500,
                EventKind::CaughtUp,
                "us-west-2 holds every commit and image",
            ),
        ],
        alarms: vec![
            AlarmChange {
                t_ms: 14_200,
                region: "us-west-2".to_owned(),
                alarm: "hello-production-unhealthy-hosts".to_owned(),
                from: StateValue::Ok,
                to: StateValue::Alarm,
            },
            AlarmChange {
                t_ms: 47_000,
                region: "us-west-2".to_owned(),
                alarm: "hello-production-unhealthy-hosts".to_owned(),
                from: StateValue::Alarm,
                to: StateValue::Ok,
            },
        ],
        notifications: vec![
            Notification {
                t_ms: 14_300,
                subject: "ALARM: \"hello-production-unhealthy-hosts\" in us-west-2".to_owned(),
                protocol: Protocol::Email,
                endpoint: "ops@example.com".to_owned(),
                delivered: true,
                delivered_ms: Some(14_900),
                error: None,
            },
            Notification {
                t_ms: 14_300,
                subject: "ALARM: \"hello-production-unhealthy-hosts\" in us-west-2".to_owned(),
                protocol: Protocol::Webhook,
                endpoint: "http://127.0.0.1:9/hook?a=1&b=<2>".to_owned(),
                delivered: false,
                delivered_ms: None,
                error: Some("connection refused after 3 attempts".to_owned()),
            },
        ],
        notes: vec![
            "The RPO counts commits and images the primary held that us-west-2 did not; \
             the twin replicates every 5 s."
                .to_owned(),
            "p99 during the fault includes requests the edge retried <1 s> later.".to_owned(),
        ],
    }
}

/// A run of both drills: missed, as one of them is.
pub fn fixture() -> Report {
    Report {
        version: VERSION,
        id: "20261206-223015-task-loss-region-loss".to_owned(),
        project: "hello".to_owned(),
        started_at: "2026-12-06T22:30:15Z".to_owned(),
        finished_at: "2026-12-06T22:31:45Z".to_owned(),
        passed: false,
        drills: vec![task_loss(), region_loss()],
    }
}

/// Snapshots named without the including module, so that `tests/chromium.rs` (which includes
/// this file) checks the same files.
fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn html_report_snapshot() {
    let page = html::render(&fixture());
    // The stylesheet is fixed text; the snapshot is the page's content.
    let body = &page[page.find("<body>").unwrap()..];
    snapshot("drill_report_html_body", body);
}

#[test]
fn markdown_summary_snapshot() {
    snapshot("drill_summary_md", &markdown::render(&fixture()));
}

#[test]
fn html_escapes_every_text_and_loads_nothing() {
    let page = html::render(&fixture());
    assert!(
        page.contains(
            "&lt;script&gt;alert(&quot;primary&quot;)&lt;/script&gt; us-east-1 &amp; its tasks"
        ),
        "the target is escaped"
    );
    assert!(page.contains("http://127.0.0.1:9/hook?a=1&amp;b=&lt;2&gt;"));
    assert!(page.contains("retried &lt;1 s&gt; later"));
    for loads in [
        "<script",
        " src=",
        "@import",
        "url(",
        "rel=\"stylesheet\"",
        "<iframe",
        "<img",
    ] {
        assert!(!page.contains(loads), "the page has {loads}");
    }
    assert!(page.starts_with("<!doctype html>"));
    assert_eq!(page.matches("<svg class=\"timeline\"").count(), 2);
}

#[test]
fn html_marks_the_fault_heal_and_events() {
    let page = html::render(&fixture());
    for (kind, t_ms) in [
        ("fault", 5_000),
        ("detected", 5_800),
        ("scaling", 6_100),
        ("recovered", 7_400),
        ("fault", 10_000),
        ("alarm", 14_200),
        ("notification", 14_900),
        ("failover", 16_000),
        ("recovered", 22_100),
        ("healed", 40_000),
        ("caught-up", 43_500),
    ] {
        let marker = format!("<g class=\"marker marker-{kind}\" data-t-ms=\"{t_ms}\">");
        assert_eq!(page.matches(&marker).count(), 1, "{marker}");
    }
    for (from, to) in [(5_000, 7_400), (10_000, 22_100)] {
        assert!(
            page.contains(&format!(
                "data-from-ms=\"{from}\" data-to-ms=\"{to}\"><title>fault to recovery"
            )),
            "outage {from}..{to}"
        );
    }
}

#[test]
fn markdown_has_a_line_per_drill_and_spells_out_misses() {
    let text = markdown::render(&fixture());
    let drills: Vec<&str> = text.lines().filter(|l| l.starts_with("- **")).collect();
    assert_eq!(drills.len(), 2, "{text}");
    assert!(
        drills[0].starts_with("- **task-loss** PASSED"),
        "{}",
        drills[0]
    );
    assert!(
        drills[1].starts_with("- **region-loss** MISSED"),
        "{}",
        drills[1]
    );
    assert!(
        drills[1].contains("RTO 12.1 s on the twin, 3 min 30 s projected on AWS, policy ≤ 2m"),
        "{}",
        drills[1]
    );
    assert!(drills[1].contains("RPO 2 commits, 1 image behind, oldest 8 s"));
    assert!(drills[1].contains("\\<script\\>"), "{}", drills[1]);
    let misses: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  - missed:"))
        .collect();
    assert_eq!(
        misses,
        ["  - missed: RTO (AWS, projected): found 3 min 30 s, limit ≤ 2m"]
    );
}

#[test]
fn a_drill_that_never_recovered_and_sampled_nothing_still_renders() {
    let mut drill = region_loss();
    drill.timeline.clear();
    drill.events.clear();
    drill.measured.rto_ms = None;
    drill.measured.rpo = None;
    drill.heal_ms = None;
    let report = Report {
        drills: vec![drill],
        ..fixture()
    };
    let page = html::render(&report);
    assert!(page.contains("no samples were recorded"));
    assert!(
        page.contains(
            "<rect class=\"outage unrecovered\" x=\"234.0\" y=\"76.0\" width=\"710.0\" \
             height=\"394.0\" data-from-ms=\"10000\" data-to-ms=\"60000\">"
        ),
        "the span runs from the fault to the drill's end"
    );
    assert_eq!(page.matches("<g class=\"marker marker-fault\"").count(), 1);
    let summary = markdown::render(&report);
    assert!(
        summary.contains("RTO not measured on the twin, 3 min 30 s projected on AWS, policy ≤ 2m"),
        "{summary}"
    );
}
