//! The texts of alarm, pipeline-failure and approval messages: what happened, where, and the
//! command to run next; and their SNS payloads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_notify::{
    AlarmChange, AlarmState, ApprovalRequest, Message, MessageKind, PipelineFailure,
};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn text(m: &Message) -> String {
    format!("Subject: {}\n\n{}", m.subject, m.body)
}

#[test]
fn alarm_transition() {
    let m = Message::alarm(
        "hello",
        "alerts",
        &AlarmChange {
            name: "hello-production-cpu".into(),
            description: Some("CPU above 80 % for 3 minutes".into()),
            region: "us-east-1".into(),
            service: Some("hello-production".into()),
            condition: Some("CPUUtilization > 80 % for 3 of 3 periods of 1m".into()),
            old_state: AlarmState::Ok,
            new_state: AlarmState::Alarm,
            reason: "Threshold Crossed: 3 datapoints [91.2, 88.0, 85.5] were greater than the threshold (80.0)".into(),
            at: at(1_777_636_800),
        },
    );
    assert_eq!(m.kind, MessageKind::AlarmStateChange);
    let t = text(&m);
    // What, where, next.
    assert!(t.contains("changed from OK to ALARM"));
    assert!(t.contains("us-east-1") && t.contains("hello-production"));
    assert!(t.contains("haven alarm history hello-production-cpu --region us-east-1"));
    insta::assert_snapshot!(t);
    assert_eq!(m.attributes["new_state"], "ALARM");
    assert_eq!(m.attributes["haven.kind"], "alarm-state-change");
}

#[test]
fn alarm_back_to_ok_suggests_only_its_history() {
    let m = Message::alarm(
        "hello",
        "alerts",
        &AlarmChange {
            name: "hello-production-memory-high".into(),
            description: None,
            region: "us-west-2".into(),
            service: None,
            condition: None,
            old_state: AlarmState::Alarm,
            new_state: AlarmState::Ok,
            reason:
                "Threshold Crossed: 1 datapoint [41.0] was not greater than the threshold (80.0)"
                    .into(),
            at: at(1_777_640_400),
        },
    );
    insta::assert_snapshot!(text(&m));
}

#[test]
fn pipeline_failure() {
    let m = Message::pipeline_failure(
        "hello",
        "alerts",
        &PipelineFailure {
            pipeline: "hello-pipeline".into(),
            run: "run-7f3a9c2e".into(),
            stage: "Build".into(),
            action: Some("build".into()),
            region: "us-east-1".into(),
            reason: "phase BUILD failed: command `cargo test` exited with status 101".into(),
            commit: Some("4e1d2b7 Add /healthz".into()),
            log_tail: vec![
                "test health::ok ... FAILED".into(),
                "error: test failed, to rerun pass `--lib`".into(),
            ],
            at: at(1_777_636_800),
        },
    );
    assert_eq!(m.kind, MessageKind::PipelineFailure);
    let t = text(&m);
    assert!(t.contains("failed at stage Build (action build)"));
    assert!(t.contains("Region:        us-east-1"));
    assert!(t.contains("haven pipeline show run-7f3a9c2e"));
    insta::assert_snapshot!(t);
}

#[test]
fn approval_request() {
    let m = Message::approval_request(
        "hello",
        "approvals",
        &ApprovalRequest {
            pipeline: "hello-pipeline".into(),
            run: "run-7f3a9c2e".into(),
            stage: "Approval".into(),
            region: "us-east-1".into(),
            summary: "release build 2a10ed4c (image v2) to production in us-east-1, then us-west-2"
                .into(),
            commit: Some("4e1d2b7 Add /healthz".into()),
            requested_at: at(1_777_636_800),
            expires_at: Some(at(1_777_636_800 + 7 * 24 * 3600)),
        },
    );
    assert_eq!(m.kind, MessageKind::ApprovalRequest);
    let t = text(&m);
    assert!(t.contains("waiting for a manual approval at stage Approval in us-east-1"));
    assert!(t.contains("haven pipeline approve run-7f3a9c2e"));
    insta::assert_snapshot!(t);
}

#[test]
fn the_payload_is_sns_shaped() {
    let m =
        Message::new("hello", "alerts", "us-west-2", "Hi", "text").with_attribute("team", "ops");
    let j = &m.json;
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "Type",
            "MessageId",
            "TopicArn",
            "Subject",
            "Message",
            "Timestamp",
            "MessageAttributes"
        ]
    );
    assert_eq!(j["Type"], "Notification");
    assert_eq!(j["MessageId"], m.id.as_str());
    assert_eq!(
        j["TopicArn"],
        "arn:aws:sns:us-west-2:000000000000:hello-alerts"
    );
    assert_eq!(j["Subject"], "Hi");
    assert_eq!(j["Message"], "text");
    let ts = j["Timestamp"].as_str().unwrap();
    assert_eq!(ts, m.timestamp);
    // 2026-05-01T12:00:00.123Z
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && &ts[10..11] == "T",
        "{ts}"
    );
    assert_eq!(
        j["MessageAttributes"],
        serde_json::json!({
            "haven.kind": {"Type": "String", "Value": "other"},
            "team": {"Type": "String", "Value": "ops"},
        })
    );
}
