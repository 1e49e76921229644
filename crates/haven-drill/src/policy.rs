//! The `[dr]` policy applied to a drill: one verdict per check, each with what was found and
//! the limit it was held to, as short text for the reports.

use haven_spec::model::{DrScenario, Scenario};
use haven_spec::{Dur, Spec};

use crate::project;
use crate::report::{Check, Drill, Rpo, SteadyState, Verdict};

pub const STEADY_BEFORE: Check = Check::SteadyBefore;
pub const STEADY_AFTER: Check = Check::SteadyAfter;
pub const RTO_TWIN: Check = Check::RtoTwin;
pub const RTO_AWS: Check = Check::RtoAws;
pub const RPO: Check = Check::Rpo;
pub const CAUGHT_UP: Check = Check::CaughtUp;
pub const FAILED_REQUESTS: Check = Check::FailedRequests;
pub const P99: Check = Check::P99;
pub const ROLLED_BACK: Check = Check::RolledBack;
pub const SCALED_OUT: Check = Check::ScaledOut;

/// Whether a scenario breaks the service, so that a drill of it must see it recover. A
/// partition leaves every region serving and latency slows it: neither takes it down.
pub fn expects_recovery(scenario: Scenario) -> bool {
    !matches!(
        scenario,
        Scenario::CrossRegionConnectivity | Scenario::DependencyLatency
    )
}

/// The verdicts of `drill` under the spec's policy for its scenario.
pub fn judge(spec: &Spec, drill: &Drill) -> Vec<Verdict> {
    let policy = spec.dr.scenario(drill.scenario);
    let m = &drill.measured;
    let mut out = vec![
        steady(STEADY_BEFORE, &drill.steady_before),
        steady(STEADY_AFTER, &drill.steady_after),
    ];

    let rto = at_most(policy.rto);
    match m.rto_ms {
        Some(ms) => out.push(verdict(
            RTO_TWIN,
            millis(ms),
            rto.clone(),
            ms <= ms_of(policy.rto),
        )),
        None if expects_recovery(drill.scenario) => {
            out.push(verdict(
                RTO_TWIN,
                "not recovered".into(),
                rto.clone(),
                false,
            ));
        }
        None => {}
    }
    if let Some(p) = drill.projected.iter().find(|p| p.figure == project::RTO) {
        let passed = p.seconds.is_finite() && p.seconds * 1000.0 <= ms_of(policy.rto) as f64;
        out.push(verdict(RTO_AWS, seconds(p.seconds), rto, passed));
    }

    if let Some(rpo) = &m.rpo {
        out.push(verdict(
            RPO,
            format!("{} ({})", millis(rpo.age_ms), behind(rpo)),
            at_most(policy.rpo),
            rpo.age_ms <= ms_of(policy.rpo),
        ));
        out.extend(caught_up(drill.scenario, rpo));
    }

    out.push(verdict(
        FAILED_REQUESTS,
        m.failed_requests.to_string(),
        format!("≤ {}", policy.max_failed_requests),
        m.failed_requests <= policy.max_failed_requests,
    ));
    if let Some(max) = policy.max_p99 {
        let passed = m.p99_during_ms.is_finite() && m.p99_during_ms <= ms_of(max) as f64;
        out.push(verdict(P99, latency(m.p99_during_ms), at_most(max), passed));
    }
    out.extend(expectations(drill.scenario, policy, drill));
    out
}

/// Replication after a partition must catch up; a drill that measured the catch-up of
/// another scenario is held to it too.
fn caught_up(scenario: Scenario, rpo: &Rpo) -> Option<Verdict> {
    let limit = "nothing behind".to_owned();
    match rpo.after_catch_up.as_deref() {
        Some(after) => {
            let zero = after.commits == 0 && after.images == 0;
            let found = if zero {
                "yes".to_owned()
            } else {
                format!("no: {} behind", behind(after))
            };
            Some(verdict(CAUGHT_UP, found, limit, zero))
        }
        None if scenario == Scenario::CrossRegionConnectivity => {
            Some(verdict(CAUGHT_UP, "not measured".into(), limit, false))
        }
        None => None,
    }
}

/// The scenario's own expectations: a release rolls back, a spike scales out.
fn expectations(scenario: Scenario, policy: &DrScenario, drill: &Drill) -> Vec<Verdict> {
    let m = &drill.measured;
    let mut out = Vec::new();
    if scenario == Scenario::BadRelease && policy.rollback {
        let (found, passed) = match m.rolled_back {
            Some(true) => ("yes", true),
            Some(false) => ("no", false),
            None => ("not measured", false),
        };
        out.push(verdict(ROLLED_BACK, found.into(), "yes".into(), passed));
    }
    if scenario == Scenario::LoadSpike && policy.scale_out {
        let (found, passed) = match m.scaled {
            Some((from, to)) if to > from => (format!("yes: {from} → {to} tasks"), true),
            Some((from, to)) => (format!("no: {from} → {to} tasks"), false),
            None => ("not measured".to_owned(), false),
        };
        out.push(verdict(SCALED_OUT, found, "yes".into(), passed));
    }
    out
}

fn steady(check: Check, s: &SteadyState) -> Verdict {
    let found = if s.passed {
        format!(
            "passed: {:.1}% errors, p99 {}",
            s.error_percent,
            latency(s.p99_ms)
        )
    } else if s.reason.is_empty() {
        "failed".to_owned()
    } else {
        format!("failed: {}", s.reason)
    };
    verdict(check, found, "passed".into(), s.passed)
}

fn verdict(check: Check, found: String, limit: String, passed: bool) -> Verdict {
    Verdict {
        check,
        subject: None,
        found,
        limit,
        passed,
    }
}

fn at_most(d: Dur) -> String {
    format!("≤ {d}")
}

fn ms_of(d: Dur) -> u64 {
    u64::try_from(std::time::Duration::from(d).as_millis()).unwrap_or(u64::MAX)
}

/// `850 ms`, `2.4 s`, `150 s`.
fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A projected figure in seconds, as [`millis`] writes times.
fn seconds(s: f64) -> String {
    if s.is_finite() && s >= 0.0 {
        millis((s * 1000.0).round() as u64)
    } else {
        format!("{s} s")
    }
}

/// A latency measured in fractional milliseconds: `0.8 ms`, `12 ms`, `1.5 s`.
fn latency(ms: f64) -> String {
    if !ms.is_finite() {
        format!("{ms} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        millis(ms.round() as u64)
    }
}

/// What a region lacks: `2 commits, 1 image`.
fn behind(r: &Rpo) -> String {
    let n = |count: u32, one: &str, many: &str| {
        format!("{count} {}", if count == 1 { one } else { many })
    };
    format!(
        "{}, {}",
        n(r.commits, "commit", "commits"),
        n(r.images, "image", "images")
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use super::*;
    use crate::report::{LoadSummary, Measured, Projection};

    /// A spec whose `[dr]` section is `dr`.
    fn spec(dr: &str) -> Spec {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
        let text =
            format!("[project]\nname = \"hello\"\n[service]\ncommand = [\"bin/hello\"]\n{dr}");
        haven_spec::load_str(&text, Path::new("haven.toml"), dir.path())
            .unwrap()
            .spec
    }

    fn steady_state(passed: bool, reason: &str) -> SteadyState {
        SteadyState {
            requests: 100,
            failed: 0,
            error_percent: 0.0,
            p99_ms: 4.2,
            healthy_targets: 4,
            desired: 4,
            serving_regions: vec!["us-east-1".into()],
            passed,
            reason: reason.into(),
        }
    }

    /// A drill of `scenario` that went well: steady before and after, recovered in 2.4 s,
    /// nothing failed, and the projected RTO of the spec's default figures.
    fn drill(scenario: Scenario) -> Drill {
        Drill {
            scenario,
            target: "task 3f2a1c in us-east-1 (us-east-1a)".into(),
            started_at_ms: 1_000,
            fault_ms: 5_000,
            heal_ms: None,
            end_ms: 20_000,
            load: LoadSummary::default(),
            steady_before: steady_state(true, ""),
            steady_after: steady_state(true, ""),
            measured: Measured {
                rto_ms: Some(2_400),
                p99_during_ms: 35.4,
                ..Measured::default()
            },
            projected: vec![Projection {
                figure: project::RTO,
                seconds: 150.0,
                formula: "30 s × 3 + 60 s = 150 s".into(),
                sources: Vec::new(),
            }],
            verdicts: Vec::new(),
            passed: false,
            sample_ms: 250,
            timeline: Vec::new(),
            events: Vec::new(),
            alarms: Vec::new(),
            notifications: Vec::new(),
            notes: Vec::new(),
        }
    }

    fn rpo(commits: u32, images: u32, age_ms: u64, after: Option<(u32, u32)>) -> Rpo {
        Rpo {
            commits,
            images,
            age_ms,
            after_catch_up: after.map(|(commits, images)| {
                Box::new(Rpo {
                    commits,
                    images,
                    age_ms: 0,
                    after_catch_up: None,
                })
            }),
        }
    }

    /// One line per verdict: `check | found | limit | pass` (or `FAIL`).
    fn lines(verdicts: &[Verdict]) -> Vec<String> {
        verdicts
            .iter()
            .map(|v| {
                let result = if v.passed { "pass" } else { "FAIL" };
                format!("{} | {} | {} | {result}", v.name(), v.found, v.limit)
            })
            .collect()
    }

    const STEADY: [&str; 2] = [
        "steady state before | passed: 0.0% errors, p99 4.2 ms | passed | pass",
        "steady state after | passed: 0.0% errors, p99 4.2 ms | passed | pass",
    ];

    #[test]
    fn drills_are_judged_check_by_check() {
        type Case = (
            &'static str,
            &'static str,
            Scenario,
            fn(&mut Drill),
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (
                "a task loss within every limit",
                "",
                Scenario::TaskLoss,
                |_| {},
                &[
                    "RTO (twin) | 2.4 s | ≤ 20m | pass",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                ],
            ),
            (
                "a region loss over its RTO in the twin and on AWS, with requests lost",
                "[dr.scenarios.region-loss]\nrto = \"2m\"\nmax_failed_requests = 5\n",
                Scenario::RegionLoss,
                |d| {
                    d.measured.rto_ms = Some(121_000);
                    d.measured.failed_requests = 6;
                    d.measured.rpo = Some(rpo(1, 0, 45_000, None));
                },
                &[
                    "RTO (twin) | 121 s | ≤ 2m | FAIL",
                    "RTO (AWS, projected) | 150 s | ≤ 2m | FAIL",
                    "RPO | 45 s (1 commit, 0 images) | ≤ 1m | pass",
                    "failed requests | 6 | ≤ 5 | FAIL",
                ],
            ),
            (
                "an AZ that never recovered",
                "",
                Scenario::AzPowerInterruption,
                |d| {
                    d.measured.rto_ms = None;
                    d.steady_after = steady_state(false, "2 of 4 targets healthy");
                },
                &[
                    "RTO (twin) | not recovered | ≤ 20m | FAIL",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                ],
            ),
            (
                "a partition expects no recovery, but replication must catch up",
                "[dr]\nrpo = \"10s\"\n",
                Scenario::CrossRegionConnectivity,
                |d| {
                    d.measured.rto_ms = None;
                    d.projected.clear();
                    d.measured.rpo = Some(rpo(2, 1, 12_500, Some((0, 1))));
                },
                &[
                    "RPO | 12.5 s (2 commits, 1 image) | ≤ 10s | FAIL",
                    "caught up | no: 0 commits, 1 image behind | nothing behind | FAIL",
                    "failed requests | 0 | ≤ 0 | pass",
                ],
            ),
            (
                "a partition that caught up",
                "",
                Scenario::CrossRegionConnectivity,
                |d| {
                    d.measured.rto_ms = None;
                    d.projected.clear();
                    d.measured.rpo = Some(rpo(1, 0, 800, Some((0, 0))));
                },
                &[
                    "RPO | 800 ms (1 commit, 0 images) | ≤ 1m | pass",
                    "caught up | yes | nothing behind | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                ],
            ),
            (
                "a partition whose catch-up was not measured",
                "",
                Scenario::CrossRegionConnectivity,
                |d| {
                    d.measured.rto_ms = None;
                    d.projected.clear();
                    d.measured.rpo = Some(rpo(0, 0, 0, None));
                },
                &[
                    "RPO | 0 ms (0 commits, 0 images) | ≤ 1m | pass",
                    "caught up | not measured | nothing behind | FAIL",
                    "failed requests | 0 | ≤ 0 | pass",
                ],
            ),
            (
                "latency over its p99 limit, without recovery to wait for",
                "[dr.scenarios.dependency-latency]\nmax_p99 = \"250ms\"\nmax_failed_requests = 10\n",
                Scenario::DependencyLatency,
                |d| {
                    d.measured.rto_ms = None;
                    d.projected.clear();
                    d.measured.p99_during_ms = 412.6;
                    d.measured.failed_requests = 3;
                },
                &[
                    "failed requests | 3 | ≤ 10 | pass",
                    "p99 | 413 ms | ≤ 250ms | FAIL",
                ],
            ),
            (
                "a release that rolled back",
                "",
                Scenario::BadRelease,
                |d| d.measured.rolled_back = Some(true),
                &[
                    "RTO (twin) | 2.4 s | ≤ 20m | pass",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                    "rolled back | yes | yes | pass",
                ],
            ),
            (
                "a release that stayed",
                "",
                Scenario::BadRelease,
                |d| d.measured.rolled_back = Some(false),
                &[
                    "RTO (twin) | 2.4 s | ≤ 20m | pass",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                    "rolled back | no | yes | FAIL",
                ],
            ),
            (
                "a release that need not roll back",
                "[dr.scenarios.bad-release]\nrollback = false\n",
                Scenario::BadRelease,
                |d| d.measured.rolled_back = Some(false),
                &[
                    "RTO (twin) | 2.4 s | ≤ 20m | pass",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                ],
            ),
            (
                "a spike that scaled out",
                "",
                Scenario::LoadSpike,
                |d| d.measured.scaled = Some((2, 4)),
                &[
                    "RTO (twin) | 2.4 s | ≤ 20m | pass",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                    "scaled out | yes: 2 → 4 tasks | yes | pass",
                ],
            ),
            (
                "a spike that did not scale",
                "",
                Scenario::LoadSpike,
                |d| d.measured.scaled = Some((2, 2)),
                &[
                    "RTO (twin) | 2.4 s | ≤ 20m | pass",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                    "scaled out | no: 2 → 2 tasks | yes | FAIL",
                ],
            ),
            (
                "a spike whose scaling was not measured",
                "",
                Scenario::LoadSpike,
                |d| d.measured.scaled = None,
                &[
                    "RTO (twin) | 2.4 s | ≤ 20m | pass",
                    "RTO (AWS, projected) | 150 s | ≤ 20m | pass",
                    "failed requests | 0 | ≤ 0 | pass",
                    "scaled out | not measured | yes | FAIL",
                ],
            ),
        ];
        for (what, dr, scenario, change, expect) in cases {
            let spec = spec(dr);
            let mut d = drill(*scenario);
            change(&mut d);
            let got = lines(&judge(&spec, &d));
            let mut want: Vec<String> = STEADY.iter().map(|s| (*s).to_owned()).collect();
            if !d.steady_after.passed {
                want[1] = format!(
                    "steady state after | failed: {} | passed | FAIL",
                    d.steady_after.reason
                );
            }
            want.extend(expect.iter().map(|s| (*s).to_owned()));
            assert_eq!(got, want, "{what}");
        }
    }

    #[test]
    fn only_disruptive_scenarios_must_recover() {
        let must: Vec<Scenario> = Scenario::ALL
            .into_iter()
            .filter(|s| expects_recovery(*s))
            .collect();
        assert_eq!(
            must,
            [
                Scenario::TaskLoss,
                Scenario::AzPowerInterruption,
                Scenario::RegionLoss,
                Scenario::BadRelease,
                Scenario::LoadSpike
            ]
        );
    }

    #[test]
    fn times_read_as_people_write_them() {
        let cases: &[(u64, &str)] = &[
            (0, "0 ms"),
            (850, "850 ms"),
            (2_400, "2.4 s"),
            (150_000, "150 s"),
            (1_234_567, "1234.6 s"),
        ];
        for (ms, text) in cases {
            assert_eq!(millis(*ms), *text, "{ms}");
        }
        assert_eq!(seconds(0.22), "220 ms");
        assert_eq!(latency(0.84), "0.8 ms");
        assert_eq!(latency(1_500.2), "1.5 s");
    }
}
