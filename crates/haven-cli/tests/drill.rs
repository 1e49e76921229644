//! `haven drill` against real twins: every scenario with the local fast timings, figures
//! checked against the events and the spec's timings, a policy the edge cannot meet, the RPO of
//! a push during a partition, the alert path to an SMTP sink and a webhook, and the reports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../haven-drill/tests/support/chromium.rs"]
mod chromium;
mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::sinks::{Watched, watched_twin};
use common::{Twin, eventually, git_ok};
use serde_json::Value;

/// Runs `haven drill run ARGS --json` and returns its exit code, report and stderr.
fn drill(twin: &Twin, args: &[&str]) -> (i32, Value, String) {
    let mut all = vec!["drill", "run"];
    all.extend(args);
    all.push("--json");
    let out = twin.haven(&all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("no report ({e}): {stderr}"));
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn the<'a>(report: &'a Value, scenario: &str) -> &'a Value {
    report["drills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["scenario"] == scenario)
        .unwrap_or_else(|| panic!("no {scenario} drill in {report:#}"))
}

fn ms(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a time: {v}"))
}

/// The times of a drill's events of `kind`.
fn events(d: &Value, kind: &str) -> Vec<u64> {
    d["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| ms(&e["t_ms"]))
        .collect()
}

/// What every drill holds, whatever its scenario: steady before and after, the fault at its
/// time, detection no earlier than the fault and recovery no earlier than detection, a
/// timeline covering the drill, projected figures, verdicts.
fn check_shape(d: &Value) {
    let name = &d["scenario"];
    assert_eq!(
        d["steady_before"]["passed"], true,
        "{name}: {:#}",
        d["steady_before"]
    );
    assert_eq!(
        d["steady_after"]["passed"], true,
        "{name}: {:#}",
        d["steady_after"]
    );
    let fault = ms(&d["fault_ms"]);
    assert_eq!(events(d, "fault"), vec![fault], "{name}");
    let m = &d["measured"];
    if let Some(rto) = m["rto_ms"].as_u64() {
        let detect = ms(&m["detect_ms"]);
        assert!(
            detect <= rto + 100,
            "{name}: detected {detect} ms after recovery {rto}"
        );
        assert_eq!(events(d, "recovered"), vec![fault + rto], "{name}");
    }
    let samples = d["timeline"].as_array().unwrap();
    let step = ms(&d["sample_ms"]);
    assert!(
        samples.len() as u64 * step > ms(&d["end_ms"]),
        "{name}: the timeline stops short"
    );
    let sent: u64 = samples.iter().map(|s| ms(&s["requests"])).sum();
    assert_eq!(sent, ms(&d["load"]["sent"]), "{name}");
    assert!(
        !d["projected"].as_array().unwrap().is_empty(),
        "{name}: no projection"
    );
    assert!(
        !d["verdicts"].as_array().unwrap().is_empty(),
        "{name}: no verdict"
    );
    assert_eq!(d["passed"], true, "{name}: {:#}", d["verdicts"]);
}

/// A twin for drills: its alerts land in an SMTP sink and a signed webhook, holds are short,
/// and the tasks are small with a low CPU alarm, so that the load spike both scales out and
/// raises an alarm.
fn drilled(edit: impl FnOnce(String) -> String) -> Watched {
    watched_twin(|s| {
        edit(
            s.replace("[local]\n", "[local]\nscale_out_cooldown = \"2s\"\n")
                .replace("hold = \"5s\" ", "hold = \"1s\" ")
                .replace("cpu = 512 ", "cpu = 256 ")
                .replace("max = 10\n", "max = 3\n")
                .replace(
                    "[monitoring.alarms.cpu]\nthreshold = 80",
                    "[monitoring.alarms.cpu]\nthreshold = 50",
                )
                .replace(
                    "[dr.scenarios.load-spike]\n",
                    "[dr.scenarios.load-spike]\nrps = 100\npath = \"/work?ms=5\"\nhold = \"10s\"\n",
                ),
        )
    })
}

#[test]
fn every_scenario_runs_and_its_figures_match_its_events() {
    let mut d = drilled(|s| s);
    d.twin.up();
    let (code, report, stderr) = drill(&d.twin, &["--all"]);
    assert_eq!(code, 0, "{stderr}\n{report:#}");
    assert_eq!(report["passed"], true);
    let names: Vec<&str> = report["drills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "task-loss",
            "az-power-interruption",
            "region-loss",
            "cross-region-connectivity",
            "bad-release",
            "dependency-latency",
            "load-spike"
        ]
    );
    for drill in report["drills"].as_array().unwrap() {
        check_shape(drill);
        assert_eq!(
            drill["measured"]["failed_requests"], 0,
            "{:#}",
            drill["scenario"]
        );
    }

    // Region loss: the edge needs its failure threshold of failed checks, one interval
    // apart, the first at most one interval after the kill.
    let region = the(&report, "region-loss");
    let (interval, threshold) = (1000, 2);
    let rto = ms(&region["measured"]["rto_ms"]);
    assert!(
        rto >= (threshold - 1) * interval && rto <= threshold * interval + 1500,
        "region-loss RTO {rto} ms with a {interval} ms interval and threshold {threshold}"
    );
    let failovers = events(region, "failover");
    assert!(failovers.len() >= 2, "failover and failback: {failovers:?}");
    assert!(failovers[0] >= ms(&region["fault_ms"]));
    assert!(
        failovers[1] >= ms(&region["heal_ms"]),
        "failback after the heal"
    );
    assert_eq!(region["measured"]["rpo"]["commits"], 0);
    assert_eq!(region["measured"]["rpo"]["images"], 0);

    // A task replaced, an AZ's tasks moved: recovered while the AZ stays down.
    for name in ["task-loss", "az-power-interruption"] {
        let m = &the(&report, name)["measured"];
        assert!(
            m["rto_ms"].is_u64() && m["detected_by"].is_string(),
            "{name}: {m:#}"
        );
    }
    let az = the(&report, "az-power-interruption");
    assert!(ms(&az["fault_ms"]) + ms(&az["measured"]["rto_ms"]) <= ms(&az["heal_ms"]));

    // The partition: nothing behind without pushes, the secondary can run alone.
    let cut = the(&report, "cross-region-connectivity");
    assert_eq!(cut["measured"]["rpo"]["commits"], 0);
    let alone: Vec<&Value> = cut["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["check"] == "runs-alone")
        .collect();
    assert_eq!(alone.len(), 3, "image, source, secrets: {alone:?}");

    // The bad release rolled back, detected by its failure.
    let bad = the(&report, "bad-release");
    assert_eq!(bad["measured"]["rolled_back"], true);
    assert!(!events(bad, "release").is_empty());

    // The added latency shows in the p99 while it holds, and is gone after.
    let slow = the(&report, "dependency-latency");
    assert!(
        slow["measured"]["p99_during_ms"].as_f64().unwrap() >= 180.0,
        "{slow:#}"
    );
    assert!(slow["steady_after"]["p99_ms"].as_f64().unwrap() < 150.0);

    // The spike scaled out and raised the CPU alarm, whose notifications were delivered.
    let spike = the(&report, "load-spike");
    let scaled = spike["measured"]["scaled"].as_array().unwrap();
    assert!(scaled[1].as_u64() > scaled[0].as_u64(), "{scaled:?}");
    let alarm = spike["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alarm"] == "hello-production-cpu" && a["to"] == "ALARM")
        .unwrap_or_else(|| panic!("no CPU alarm: {:#}", spike["alarms"]));
    let raised = ms(&alarm["t_ms"]);
    assert!(raised >= ms(&spike["fault_ms"]));
    let delivered: Vec<&Value> = spike["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["subject"].as_str().unwrap().contains("ALARM"))
        .collect();
    for protocol in ["email", "webhook"] {
        let n = delivered
            .iter()
            .find(|n| n["protocol"] == protocol)
            .unwrap_or_else(|| panic!("no {protocol} notification: {delivered:?}"));
        assert_eq!(n["delivered"], true, "{n}");
        assert!(ms(&n["delivered_ms"]) >= raised, "{n}");
    }
    assert!(d.mails.lock().unwrap().iter().any(|m| m.contains("ALARM")));
    assert!(!d.hooks.lock().unwrap().is_empty());

    // The run is kept: listed, shown, and its reports written.
    let id = report["id"].as_str().unwrap();
    let ls = d.twin.haven(&["drill", "ls"]);
    let text = String::from_utf8_lossy(&ls.stdout);
    assert!(text.contains(id) && text.contains("passed"), "{text}");
    let show = d.twin.haven(&["drill", "show"]);
    assert!(show.status.success());
    let summary = String::from_utf8_lossy(&show.stdout);
    assert!(summary.contains("region-loss"), "{summary}");
    let dir = d.twin.path().join(".haven/drills").join(id);
    for file in ["report.json", "report.html", "summary.md"] {
        let len = std::fs::metadata(dir.join(file)).map_or(0, |m| m.len());
        assert!(len > 0, "{file} is empty or missing");
    }
    // The page renders in Chromium with no console message, each chart with its fault, its
    // outage (or held fault) and every event where the report puts them.
    let typed: haven_drill::Report = serde_json::from_value(report.clone()).unwrap();
    let page = dir.join("report.html");
    let dom = chromium::dom_of(d.twin.path(), &page);
    chromium::check_timelines(&dom, &typed);
    if let Some(dest) = std::env::var_os("HAVEN_DRILL_SCREENSHOT") {
        let shot = chromium::run_chromium(
            d.twin.path(),
            &[
                format!("--screenshot={}", Path::new(&dest).display()),
                "--window-size=1200,2000".to_owned(),
                "--hide-scrollbars".to_owned(),
                format!("file://{}", page.display()),
            ],
        );
        assert!(shot.console.is_empty(), "{:?}", shot.console);
    }
    d.twin.down();
}

#[test]
fn a_policy_the_edge_cannot_meet_fails_the_drill() {
    // Three failed checks a second apart cannot fail over in one second.
    let mut d = drilled(|s| {
        s.replace("[local]\n", "[local]\nedge_failure_threshold = 3\n")
            .replace(
                "[dr.scenarios.load-spike]\n",
                "[dr.scenarios.region-loss]\nrto = \"1s\"\n\n[dr.scenarios.load-spike]\n",
            )
    });
    d.twin.up();
    let (code, report, stderr) = drill(&d.twin, &["region-loss"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["passed"], false);
    let region = the(&report, "region-loss");
    let rto = ms(&region["measured"]["rto_ms"]);
    assert!(rto >= 2000, "three checks one second apart: {rto} ms");
    let missed: Vec<&Value> = region["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["passed"] == false)
        .collect();
    assert!(
        missed.iter().any(|v| v["check"] == "rto-twin"),
        "{missed:?}"
    );
    // Without --json, the miss is spelled out and the exit status says it.
    let out = d.twin.haven(&["drill", "run", "region-loss"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("missed region-loss") && text.contains("RTO"),
        "{text}"
    );
    d.twin.down();
}

#[test]
fn a_push_during_a_partition_is_the_rpo_until_replication_catches_up() {
    // A second protected branch: pushing to it replicates like main without starting a
    // pipeline run (whose build would only slow the test).
    let mut d = drilled(|s| {
        s.replace(
            "protected_branches = [\"main\"]",
            "protected_branches = [\"main\", \"hotfix\"]",
        )
        .replace(
            "[dr.scenarios.load-spike]\n",
            "[dr.scenarios.cross-region-connectivity]\nhold = \"8s\"\n\n[dr.scenarios.load-spike]\n",
        )
    });
    d.twin.up();
    let clone = common::clone_source(&d.twin);
    git_ok(&clone, &["push", "--quiet", "origin", "main:hotfix"]);
    eventually(30, "hotfix to replicate", || {
        let s = d.twin.status();
        s["source"]
            .as_array()?
            .iter()
            .all(|r| {
                r["branches"]
                    .as_array()
                    .is_some_and(|b| b.iter().all(|b| b["in_sync"] == true))
            })
            .then_some(())
    });

    let run = Command::new(common::haven_bin())
        .args(["drill", "run", "cross-region-connectivity", "--json"])
        .current_dir(d.twin.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(30, "the partition", || {
        (d.twin.status()["partitioned"] == true).then_some(())
    });
    std::fs::write(clone.join("CHANGELOG"), "a fix\n").unwrap();
    git_ok(&clone, &["add", "CHANGELOG"]);
    git_ok(&clone, &["commit", "--quiet", "-m", "a fix during the cut"]);
    git_ok(&clone, &["push", "--quiet", "origin", "HEAD:hotfix"]);
    let pushed = git_ok(&clone, &["rev-parse", "HEAD"]).trim().to_owned();

    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cut = the(&report, "cross-region-connectivity");
    let rpo = &cut["measured"]["rpo"];
    assert_eq!(rpo["commits"], 1, "{rpo:#}");
    assert!(ms(&rpo["age_ms"]) > 0, "{rpo:#}");
    assert_eq!(rpo["after_catch_up"]["commits"], 0, "{rpo:#}");
    assert_eq!(rpo["after_catch_up"]["age_ms"], 0, "{rpo:#}");
    assert!(cut["measured"]["catch_up_ms"].is_u64());
    assert_eq!(events(cut, "caught-up").len(), 1);
    // The secondary has the commit now.
    let status = d.twin.status();
    let west = status["source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["region"] == "us-west-2")
        .unwrap();
    let hotfix = west["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["branch"] == "hotfix");
    if let Some(b) = hotfix {
        assert_eq!(b["commit"], pushed.as_str());
    }
    d.twin.down();
}

#[test]
fn drills_refuse_a_twin_that_is_not_running_and_unknown_runs() {
    let d = drilled(|s| s);
    let out = d.twin.haven(&["drill", "run", "task-loss"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("haven up"), "{err}");
    let out = d.twin.haven(&["drill", "show", "nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`nope`") && err.contains("haven drill ls"),
        "{err}"
    );
    let out = d.twin.haven(&["drill", "ls"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No drill has run yet"));
    let out = d.twin.haven(&["drill", "run"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn an_interrupted_drill_heals_what_it_broke() {
    let mut d = drilled(|s| {
        s.replace(
            "[dr.scenarios.load-spike]\n",
            "[dr.scenarios.region-loss]\nhold = \"60s\"\ntimeout = \"90s\"\n\n[dr.scenarios.load-spike]\n",
        )
    });
    d.twin.up();
    let mut run = Command::new(common::haven_bin())
        .args(["drill", "run", "region-loss"])
        .current_dir(d.twin.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually(30, "the primary to be lost", || {
        (common::region(&d.twin.status(), "us-east-1")["state"] == "stopped").then_some(())
    });
    // Ctrl-C, as a terminal sends it.
    let kill = Command::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = eventually(30, "the drill to exit", || run.try_wait().unwrap());
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Interrupted") && stderr.contains("Healed"),
        "{stderr}"
    );
    d.twin.wait_status(60, "the primary back and serving", |s| {
        common::region(s, "us-east-1")["healthy"] == true
            && s["edge"]["serving_regions"] == serde_json::json!(["us-east-1"])
    });
    let ls = d.twin.haven(&["drill", "ls", "--json"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "[]");
    d.twin.down();
}
