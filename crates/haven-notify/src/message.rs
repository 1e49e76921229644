//! Messages: what is published to a topic, with the texts for alarm transitions, pipeline
//! failures and approval requests, and the SNS-style JSON payload webhooks receive.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use haven_time::{Precision, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The account id the twin's ARNs carry, as LocalStack's and moto's do.
pub const ACCOUNT_ID: &str = "000000000000";

/// SNS refuses subjects of 100 characters or more.
const MAX_SUBJECT_CHARS: usize = 99;

/// A message's id: a UUID (version 7, so ids sort by publish time, which the outbox's listing
/// relies on).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageId(String);

impl MessageId {
    /// A fresh id for a message published at `now`.
    pub fn generate(now: SystemTime) -> Self {
        // Distinguishes ids made in the same millisecond by this process, and keeps them in
        // order; the random bits make ids of different processes differ.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let millis = haven_time::unix_millis(now) & 0xffff_ffff_ffff;
        let r = haven_fs::random::id_bytes::<8>();
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
        b[6] = 0x70 | ((n >> 8) & 0x0f) as u8;
        b[7] = (n & 0xff) as u8;
        b[8] = 0x80 | (r[0] & 0x3f);
        b[9..].copy_from_slice(&r[1..8]);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            s.push(char::from(HEX[usize::from(byte >> 4)]));
            s.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for MessageId {
    type Err = Error;

    /// Accepts the 8-4-4-4-12 hex form only: ids become file names in the outbox.
    fn from_str(s: &str) -> Result<Self, Error> {
        let groups: Vec<&str> = s.split('-').collect();
        let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        let hex = s.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
        if lens == [8, 4, 4, 4, 12] && hex {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(Error::BadMessageId(s.to_owned()))
        }
    }
}

impl TryFrom<String> for MessageId {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<MessageId> for String {
    fn from(id: MessageId) -> Self {
        id.0
    }
}

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageKind {
    AlarmStateChange,
    PipelineFailure,
    ApprovalRequest,
    Other,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlarmStateChange => "alarm-state-change",
            Self::PipelineFailure => "pipeline-failure",
            Self::ApprovalRequest => "approval-request",
            Self::Other => "other",
        }
    }
}

/// A CloudWatch alarm's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

impl AlarmState {
    /// CloudWatch's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Alarm => "ALARM",
            Self::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

impl fmt::Display for AlarmState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alarm that changed state.
#[derive(Debug, Clone)]
pub struct AlarmChange {
    pub name: String,
    pub description: Option<String>,
    pub region: String,
    /// The service the alarm watches, if it watches one.
    pub service: Option<String>,
    /// The condition, e.g. `CPUUtilization > 80 % for 3 of 3 periods of 1m`.
    pub condition: Option<String>,
    pub old_state: AlarmState,
    pub new_state: AlarmState,
    /// CloudWatch's reason text, e.g. `Threshold Crossed: 3 datapoints ...`.
    pub reason: String,
    pub at: SystemTime,
}

/// A pipeline run that failed.
#[derive(Debug, Clone)]
pub struct PipelineFailure {
    pub pipeline: String,
    pub run: String,
    pub stage: String,
    pub action: Option<String>,
    pub region: String,
    pub reason: String,
    pub commit: Option<String>,
    /// The last lines of the failed action's log, oldest first.
    pub log_tail: Vec<String>,
    pub at: SystemTime,
}

/// A pipeline run waiting at a manual approval action.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub pipeline: String,
    pub run: String,
    pub stage: String,
    pub region: String,
    /// What approving lets through, e.g. `release image v2 to production`.
    pub summary: String,
    pub commit: Option<String>,
    pub requested_at: SystemTime,
    /// When the approval times out and the run is rejected.
    pub expires_at: Option<SystemTime>,
}

/// One message published to a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub topic: String,
    /// `arn:aws:sns:<region>:000000000000:<project>-<topic>`, the name the CloudFormation
    /// stacks give the topic.
    pub topic_arn: String,
    pub subject: String,
    /// Plain text: the e-mail body and the payload's `Message`.
    pub body: String,
    pub kind: MessageKind,
    pub region: String,
    /// RFC 3339, UTC, milliseconds, as SNS writes `Timestamp`.
    pub timestamp: String,
    pub attributes: BTreeMap<String, String>,
    /// The SNS-style payload webhooks receive.
    pub json: serde_json::Value,
}

impl Message {
    /// A plain message (kind `Other`).
    pub fn new(project: &str, topic: &str, region: &str, subject: &str, body: &str) -> Self {
        Self::build(
            Origin {
                project,
                topic,
                region,
            },
            MessageKind::Other,
            subject,
            body.to_owned(),
            BTreeMap::new(),
        )
    }

    /// Adds a message attribute (SNS `MessageAttributes`, type String).
    #[must_use]
    pub fn with_attribute(mut self, key: &str, value: &str) -> Self {
        self.attributes.insert(key.to_owned(), value.to_owned());
        self.json = envelope(&self);
        self
    }

    /// An alarm transition: `ALARM: "name" in region`, as CloudWatch's e-mails are titled.
    pub fn alarm(project: &str, topic: &str, a: &AlarmChange) -> Self {
        let subject = format!("{}: \"{}\" in {}", a.new_state, a.name, a.region);
        let mut t = Text::default();
        t.line(&format!(
            "Alarm \"{}\" in {} changed from {} to {}.",
            a.name, a.region, a.old_state, a.new_state
        ));
        t.section("What happened");
        t.field("Reason", &a.reason);
        t.field("When", &rfc3339_secs(a.at));
        if let Some(d) = &a.description {
            t.field("Description", d);
        }
        t.section("Where");
        t.field("Region", &a.region);
        if let Some(s) = &a.service {
            t.field("Service", s);
        }
        if let Some(c) = &a.condition {
            t.field("Condition", c);
        }
        t.section("What to run next");
        t.command(&format!(
            "haven alarm history {} --region {}",
            a.name, a.region
        ));
        if a.new_state != AlarmState::Ok {
            t.command("haven status");
        }
        let mut attrs = BTreeMap::from([
            ("alarm".to_owned(), a.name.clone()),
            ("old_state".to_owned(), a.old_state.to_string()),
            ("new_state".to_owned(), a.new_state.to_string()),
        ]);
        if let Some(s) = &a.service {
            attrs.insert("service".to_owned(), s.clone());
        }
        Self::build(
            Origin {
                project,
                topic,
                region: &a.region,
            },
            MessageKind::AlarmStateChange,
            &subject,
            t.finish(),
            attrs,
        )
    }

    /// A failed pipeline run, at the stage (and action) that failed.
    pub fn pipeline_failure(project: &str, topic: &str, f: &PipelineFailure) -> Self {
        let subject = format!(
            "FAILED: pipeline {} run {} at {}",
            f.pipeline, f.run, f.stage
        );
        let at = match &f.action {
            Some(a) => format!("stage {} (action {a})", f.stage),
            None => format!("stage {}", f.stage),
        };
        let mut t = Text::default();
        t.line(&format!(
            "Pipeline \"{}\" run {} failed at {at} in {}.",
            f.pipeline, f.run, f.region
        ));
        t.section("What happened");
        t.field("Reason", &f.reason);
        t.field("When", &rfc3339_secs(f.at));
        t.section("Where");
        t.field("Pipeline", &f.pipeline);
        t.field("Run", &f.run);
        t.field("Stage", &f.stage);
        if let Some(a) = &f.action {
            t.field("Action", a);
        }
        t.field("Region", &f.region);
        if let Some(c) = &f.commit {
            t.field("Commit", c);
        }
        if !f.log_tail.is_empty() {
            t.section("Last log lines");
            for l in &f.log_tail {
                t.command(l);
            }
        }
        t.section("What to run next");
        t.command(&format!("haven pipeline show {}", f.run));
        let mut attrs = BTreeMap::from([
            ("pipeline".to_owned(), f.pipeline.clone()),
            ("run".to_owned(), f.run.clone()),
            ("stage".to_owned(), f.stage.clone()),
        ]);
        if let Some(a) = &f.action {
            attrs.insert("action".to_owned(), a.clone());
        }
        Self::build(
            Origin {
                project,
                topic,
                region: &f.region,
            },
            MessageKind::PipelineFailure,
            &subject,
            t.finish(),
            attrs,
        )
    }

    /// A manual approval waiting for an answer, as CodePipeline's approval notification.
    pub fn approval_request(project: &str, topic: &str, r: &ApprovalRequest) -> Self {
        let subject = format!(
            "APPROVAL NEEDED: pipeline {} run {} at {}",
            r.pipeline, r.run, r.stage
        );
        let mut t = Text::default();
        t.line(&format!(
            "Pipeline \"{}\" run {} is waiting for a manual approval at stage {} in {}.",
            r.pipeline, r.run, r.stage, r.region
        ));
        t.section("What happened");
        t.field("Approval for", &r.summary);
        t.field("Requested", &rfc3339_secs(r.requested_at));
        if let Some(e) = r.expires_at {
            t.field(
                "Expires",
                &format!("{} (the run is rejected then)", rfc3339_secs(e)),
            );
        }
        t.section("Where");
        t.field("Pipeline", &r.pipeline);
        t.field("Run", &r.run);
        t.field("Stage", &r.stage);
        t.field("Region", &r.region);
        if let Some(c) = &r.commit {
            t.field("Commit", c);
        }
        t.section("What to run next");
        t.command(&format!("haven pipeline show {}", r.run));
        t.command(&format!("haven pipeline approve {}", r.run));
        t.command(&format!("haven pipeline reject {}", r.run));
        let attrs = BTreeMap::from([
            ("pipeline".to_owned(), r.pipeline.clone()),
            ("run".to_owned(), r.run.clone()),
            ("stage".to_owned(), r.stage.clone()),
        ]);
        Self::build(
            Origin {
                project,
                topic,
                region: &r.region,
            },
            MessageKind::ApprovalRequest,
            &subject,
            t.finish(),
            attrs,
        )
    }

    fn build(
        o: Origin<'_>,
        kind: MessageKind,
        subject: &str,
        body: String,
        mut attributes: BTreeMap<String, String>,
    ) -> Self {
        let now = haven_time::now();
        attributes.insert("haven.kind".to_owned(), kind.as_str().to_owned());
        let mut m = Self {
            id: MessageId::generate(now),
            topic: o.topic.to_owned(),
            topic_arn: topic_arn(o.region, o.project, o.topic),
            subject: clean_subject(subject),
            body,
            kind,
            region: o.region.to_owned(),
            timestamp: rfc3339_millis(now),
            attributes,
            json: serde_json::Value::Null,
        };
        m.json = envelope(&m);
        m
    }
}

struct Origin<'a> {
    project: &'a str,
    topic: &'a str,
    region: &'a str,
}

/// The topic's ARN, with the name the CloudFormation stacks give it.
pub fn topic_arn(region: &str, project: &str, topic: &str) -> String {
    format!("arn:aws:sns:{region}:{ACCOUNT_ID}:{project}-{topic}")
}

/// SNS's HTTP notification body, without SNS's certificate signature (webhooks carry the
/// twin's HMAC header instead).
fn envelope(m: &Message) -> serde_json::Value {
    let attrs: serde_json::Map<String, serde_json::Value> = m
        .attributes
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::json!({ "Type": "String", "Value": v }),
            )
        })
        .collect();
    serde_json::json!({
        "Type": "Notification",
        "MessageId": m.id.as_str(),
        "TopicArn": m.topic_arn,
        "Subject": m.subject,
        "Message": m.body,
        "Timestamp": m.timestamp,
        "MessageAttributes": attrs,
    })
}

/// One line, no control characters, under SNS's length limit.
fn clean_subject(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_SUBJECT_CHARS)
        .collect()
}

/// The messages' layout: a summary line, then labelled sections.
#[derive(Default)]
struct Text(String);

impl Text {
    fn line(&mut self, s: &str) {
        self.0.push_str(s);
        self.0.push('\n');
    }

    fn section(&mut self, title: &str) {
        self.0.push('\n');
        self.line(title);
    }

    fn field(&mut self, label: &str, value: &str) {
        self.line(&format!("  {:<15}{value}", format!("{label}:")));
    }

    fn command(&mut self, cmd: &str) {
        self.line(&format!("  {cmd}"));
    }

    fn finish(self) -> String {
        self.0
    }
}

/// UTC calendar date and time of day; times before the epoch count as the epoch.
pub(crate) fn civil(t: SystemTime) -> Utc {
    Utc::from_system_time(t.max(UNIX_EPOCH))
}

/// `2026-05-01T12:00:00.123Z`, as SNS's `Timestamp`.
pub fn rfc3339_millis(t: SystemTime) -> String {
    civil(t).rfc3339(Precision::Millis)
}

/// `2026-05-01T12:00:00Z`, for people.
pub fn rfc3339_secs(t: SystemTime) -> String {
    civil(t).rfc3339(Precision::Secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_626_000_123);
        assert_eq!(rfc3339_millis(t), "2026-11-25T17:00:00.123Z");
        assert_eq!(rfc3339_secs(t), "2026-11-25T17:00:00Z");
        assert_eq!(civil(t).weekday(), 3); // a Wednesday
        assert_eq!(rfc3339_millis(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn ids_are_uuids_in_time_order() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_626_000_123);
        let a = MessageId::generate(t);
        let b = MessageId::generate(t);
        let c = MessageId::generate(t + Duration::from_millis(1));
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.as_str().len(), 36);
        assert_eq!(&a.as_str()[14..15], "7");
        assert_eq!(a.as_str().parse::<MessageId>().ok(), Some(a.clone()));
        assert!("../etc/passwd".parse::<MessageId>().is_err());
    }

    #[test]
    fn subjects_are_one_short_line() {
        let m = Message::new(
            "p",
            "t",
            "us-east-1",
            &format!("a\r\nb{}", "x".repeat(200)),
            "",
        );
        assert!(m.subject.starts_with("a  b"));
        assert_eq!(m.subject.chars().count(), MAX_SUBJECT_CHARS);
        assert_eq!(m.json["Subject"], m.subject.as_str());
    }
}
