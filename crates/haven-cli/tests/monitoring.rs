//! The CloudWatch and SNS twins in a running twin: metrics under AWS's names, Prometheus text
//! that promtool accepts, alarms that fire and clear, and notifications by e-mail and webhook.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use common::sinks::{WEBHOOK_KEY, Watched, signed_with, watched_twin};
use common::*;

impl Watched {
    /// The state of alarm `name` in `region`, as `haven alarm ls --json` gives it.
    fn alarm_state(&self, name: &str, region: &str) -> Option<String> {
        let out = self.twin.haven(&["alarm", "ls", "--json"]);
        let all: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        all.as_array()?
            .iter()
            .find(|a| a["name"] == name && a["region"] == region)
            .and_then(|a| a["state"].as_str())
            .map(str::to_owned)
    }

    fn wait_alarm(&self, secs: u64, name: &str, region: &str, state: &str) {
        eventually(secs, &format!("{name} in {region} to be {state}"), || {
            (self.alarm_state(name, region)? == state).then_some(())
        });
    }

    /// Waits for the e-mail and the webhook saying alarm `name` went to `state` in `region`,
    /// checks the webhook's signature, and returns the mail and the webhook's JSON.
    fn notified(&self, name: &str, region: &str, state: &str) -> (String, serde_json::Value) {
        let subject = format!("{state}: \"{name}\" in {region}");
        let mail = eventually(30, &format!("the e-mail `{subject}`"), || {
            self.mails
                .lock()
                .unwrap()
                .iter()
                .find(|m| m.contains(&format!("Subject: {subject}")))
                .cloned()
        });
        let (headers, body) = eventually(30, &format!("the webhook `{subject}`"), || {
            self.hooks
                .lock()
                .unwrap()
                .iter()
                .find(|(_, b)| {
                    serde_json::from_str::<serde_json::Value>(b)
                        .is_ok_and(|j| j["Subject"] == subject.as_str())
                })
                .cloned()
        });
        assert!(
            signed_with(WEBHOOK_KEY, &headers, &body),
            "the webhook `{subject}` is not signed with the stored key: {headers}"
        );
        assert!(!signed_with("another key", &headers, &body));
        (mail, serde_json::from_str(&body).unwrap())
    }
}

#[test]
fn metrics_alarms_and_notifications() {
    // A low threshold and a burst from several clients: 30 errors spread over even seven
    // periods by a busy machine still put four in one of them.
    let mut w = watched_twin(|s| s.replace("threshold = 10 ", "threshold = 4 "));
    w.twin.up();
    let s = w.twin.status();

    // Every region serves Prometheus text that promtool accepts.
    for r in s["regions"].as_array().unwrap() {
        let url = r["metrics_url"].as_str().unwrap();
        let (code, text) = get(url).unwrap();
        assert_eq!(code, 200);
        assert!(text.contains("aws_applicationelb_healthy_hosts"), "{text}");
        let mut promtool = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool is installed by scripts/test (Debian package `prometheus`)");
        promtool
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = promtool.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // 5xx responses through the edge drive the 5xx alarm to ALARM, then back to OK.
    let edge = w.twin.edge_url();
    assert_eq!(burst(&format!("{edge}/status/503"), 5, 6), [503; 30]);
    w.wait_alarm(30, "hello-production-target-5xx", "us-east-1", "ALARM");
    w.wait_alarm(30, "hello-production-target-5xx", "us-east-1", "OK");
    let out = w.twin.haven(&[
        "alarm",
        "history",
        "hello-production-target-5xx",
        "--region",
        "us-east-1",
    ]);
    let history = String::from_utf8_lossy(&out.stdout);
    assert!(
        history.contains("Alarm updated from OK to ALARM"),
        "{history}"
    );
    assert!(
        history.contains("was greater than or equal to the threshold (4.0)"),
        "{history}"
    );

    // The metric itself, as GetMetricStatistics gives it.
    let out = w.twin.haven(&[
        "metrics",
        "get",
        "AWS/ApplicationELB",
        "HTTPCode_Target_5XX_Count",
        "--dim",
        "LoadBalancer=app/hello-production-alb/local",
        "--dim",
        "TargetGroup=targetgroup/hello-production-tg/local",
        "--stat",
        "Sum",
        "--period",
        "60s",
        "--since",
        "10m",
        "--json",
    ]);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total: f64 = stats["Datapoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["Sum"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 30.0, "{stats}");

    // Each transition reached the SMTP sink and the signed webhook.
    let (mail, hook) = w.notified("hello-production-target-5xx", "us-east-1", "ALARM");
    assert!(mail.contains("To: ops@example.com"), "{mail}");
    assert!(
        mail.contains("haven alarm history hello-production-target-5xx"),
        "says what to run next: {mail}"
    );
    assert_eq!(hook["Type"], "Notification");
    assert!(
        hook["TopicArn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sns:us-east-1:")
    );
    w.notified("hello-production-target-5xx", "us-east-1", "OK");
    w.twin.down();
}

/// CPU load through `/work` takes the CPU alarm to ALARM while the scaler adds tasks, and back
/// to OK once the load stops; both changes are mailed and sent signed.
#[test]
fn cpu_load_drives_the_cpu_alarm_and_the_scaler() {
    // Small tasks, so that two busy requests are far above 80 % of them.
    let mut w = watched_twin(|s| {
        s.replace("cpu = 512 ", "cpu = 256 ")
            .replace("max = 10\n", "max = 4\n")
            .replace("[local]\n", "[local]\nscale_out_cooldown = \"2s\"\n")
    });
    w.twin.up();
    let (alarm, west) = ("hello-production-cpu", "us-west-2");
    // Three idle periods first: the alarm starts from OK, as a running service's would.
    w.wait_alarm(30, alarm, west, "OK");
    let work = format!("{}/work?ms=300", w.twin.alb_url(west));
    let ((), _, failed) = under_load(&work, 3, || {
        w.wait_alarm(60, alarm, west, "ALARM");
        w.twin.wait_status(60, "the scaler to act", |s| {
            production(region(s, west))["desired"].as_u64() > Some(2)
        });
    });
    assert!(failed.is_empty(), "{failed:?}");
    let (mail, _) = w.notified(alarm, west, "ALARM");
    assert!(mail.contains("CPUUtilization"), "{mail}");
    w.wait_alarm(60, alarm, west, "OK");
    w.notified(alarm, west, "OK");
    let out = w.twin.haven(&["alarm", "history", alarm, "--region", west]);
    let history = String::from_utf8_lossy(&out.stdout);
    assert!(
        history.contains("3 out of the last 3 datapoints")
            && history.contains("greater than the threshold (80.0)"),
        "{history}"
    );
    w.twin.down();
}

/// A release that passes its bake and breaks afterwards: its 5xx responses and failing targets
/// take the 5xx and unhealthy-target alarms to ALARM, and a rollback takes them back to OK.
#[test]
fn a_broken_release_drives_the_5xx_and_unhealthy_target_alarms() {
    // The grace period keeps ECS from replacing the failing tasks at once, so that they stay
    // unhealthy long enough to be counted, as they would be on AWS.
    let mut w = watched_twin(|s| {
        s.replace(
            "unhealthy_threshold = 2 ",
            "grace_period = \"60s\"\nunhealthy_threshold = 2 ",
        )
    });
    let broken = w.twin.path().join("broken");
    let env = format!("HELLO_BREAK_FILE={}", broken.display());
    w.twin.add_image("v2", &hello_version("2.0.0"), &[&env]);
    w.twin.up();
    let east = "us-east-1";
    let haven = |args: &[&str]| {
        let out = w.twin.haven(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    haven(&["release", "v2", "--region", east]);
    let alb = w.twin.alb_url(east);
    assert_eq!(get(&alb).unwrap().0, 200);
    let alarms = [
        "hello-production-target-5xx",
        "hello-production-unhealthy-targets",
    ];

    // Now it breaks: every answer is a 500 and every target fails its checks.
    std::fs::write(&broken, "").unwrap();
    let ((), _, failed) = under_load(&alb, 2, || {
        for alarm in alarms {
            w.wait_alarm(60, alarm, east, "ALARM");
        }
    });
    assert!(failed.iter().any(|f| f.starts_with("500")), "{failed:?}");
    let (mail, _) = w.notified(alarms[1], east, "ALARM");
    assert!(mail.contains("UnHealthyHostCount"), "{mail}");
    w.notified(alarms[0], east, "ALARM");

    // The rollback brings the last good image back, and the alarms clear.
    haven(&["rollback", "--region", east]);
    assert_eq!(get(&alb).unwrap().0, 200);
    for alarm in alarms {
        w.wait_alarm(60, alarm, east, "OK");
        w.notified(alarm, east, "OK");
    }
    w.twin.down();
}
