//! The CloudWatch and SNS twins in a running twin: metrics under AWS's names, Prometheus text
//! that promtool accepts, alarms that fire and clear, and notifications by e-mail and webhook.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use common::*;

/// A minimal SMTP server that keeps every message it receives.
fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let store = mails.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                w.write_all(b"220 sink ESMTP\r\n").ok();
                let mut line = String::new();
                while r.read_line(&mut line).unwrap_or(0) > 0 {
                    let cmd = line.trim_end().to_ascii_uppercase();
                    if cmd.starts_with("DATA") {
                        w.write_all(b"354 go ahead\r\n").ok();
                        let mut body = String::new();
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                                break;
                            }
                            body.push_str(&l);
                        }
                        store.lock().unwrap().push(body);
                        w.write_all(b"250 queued\r\n").ok();
                    } else if cmd.starts_with("QUIT") {
                        w.write_all(b"221 bye\r\n").ok();
                        break;
                    } else {
                        w.write_all(b"250 ok\r\n").ok();
                    }
                    line.clear();
                }
            });
        }
    });
    (port, mails)
}

/// A webhook receiver that answers 200 and keeps each body.
fn webhook_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let store = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                store
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let mut w = stream;
            // The client may be gone already; the test notices a missing delivery instead.
            let _ignored =
                w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, bodies)
}

#[test]
fn metrics_alarms_and_notifications() {
    let (smtp, mails) = smtp_sink();
    let (hook, hooks) = webhook_sink();
    let mut twin = Twin::project(|s| {
        s.replace(
            "[local]\n",
            &format!("[local]\nsmtp_relay = \"127.0.0.1:{smtp}\"\nalarm_period = \"2s\"\n"),
        )
        // A low threshold and a burst from several clients: 30 errors spread over even six
        // periods by a busy machine still put more than four in one of them.
        .replace("threshold = 10 ", "threshold = 4 ")
        .replace(
            "email = [\"ops@example.com\"]",
            &format!(
                "email = [\"ops@example.com\"]\nwebhooks = [\"http://127.0.0.1:{hook}/hook\"]"
            ),
        )
    });
    twin.up();
    let s = twin.status();

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
    let edge = twin.edge_url();
    std::thread::scope(|scope| {
        for _ in 0..5 {
            scope.spawn(|| {
                for _ in 0..6 {
                    assert_eq!(get(&format!("{edge}/status/503")).unwrap().0, 503);
                }
            });
        }
    });
    let alarm_state = |state: &str| {
        let out = twin.haven(&["alarms", "--json"]);
        let all: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        all.as_array()?
            .iter()
            .any(|a| {
                a["name"] == "hello-production-target-5xx"
                    && a["region"] == "us-east-1"
                    && a["state"] == state
            })
            .then_some(())
    };
    eventually(30, "the 5xx alarm in ALARM", || alarm_state("ALARM"));
    eventually(30, "the 5xx alarm back to OK", || alarm_state("OK"));
    let out = twin.haven(&[
        "alarms",
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
        history.contains("was greater than the threshold (4.0)"),
        "{history}"
    );

    // The metric itself, as GetMetricStatistics gives it.
    let out = twin.haven(&[
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

    // Each transition reached the SMTP sink and the webhook.
    eventually(30, "the ALARM e-mail", || {
        mails
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("hello-production-target-5xx") && m.contains("ALARM"))
            .then_some(())
    });
    let mail = mails
        .lock()
        .unwrap()
        .iter()
        .find(|m| m.contains("hello-production-target-5xx") && m.contains("ALARM"))
        .cloned()
        .unwrap();
    assert!(mail.contains("To: ops@example.com"), "{mail}");
    assert!(mail.contains("us-east-1"), "{mail}");
    assert!(
        mail.contains("haven alarms history hello-production-target-5xx"),
        "says what to run next: {mail}"
    );
    eventually(30, "the webhook", || {
        hooks
            .lock()
            .unwrap()
            .iter()
            .any(|b| {
                b.contains("hello-production-target-5xx") && b.contains("arn:aws:sns:us-east-1:")
            })
            .then_some(())
    });
    let body = hooks
        .lock()
        .unwrap()
        .iter()
        .find(|b| b.contains("hello-production-target-5xx") && b.contains("arn:aws:sns:us-east-1:"))
        .cloned()
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["Type"], "Notification");
    assert!(
        json["TopicArn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sns:us-east-1:")
    );
    twin.down();
}
