//! E-mail deliveries through a real SMTP session with a sink on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use base64::prelude::{BASE64_STANDARD, Engine as _};
use common::{SinkRules, config, fast_retry, open, publish_settled, settled, smtp_sink};
use haven_notify::smtp::{self, Email};
use haven_notify::{DeliveryState, Message, Protocol, SmtpError, TopicConfig};

fn topic(emails: &[&str]) -> TopicConfig {
    TopicConfig {
        emails: emails.iter().map(|s| (*s).to_owned()).collect(),
        ..TopicConfig::default()
    }
}

#[tokio::test]
async fn each_subscriber_gets_a_well_formed_mail() {
    let mut sink = smtp_sink(SinkRules::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        "alerts",
        topic(&["ops@example.com", "oncall@example.com"]),
        Some(sink.addr),
        fast_retry(3),
    );
    let (n, _tx) = open(dir.path(), cfg).await;
    let body = "first line\n.starts with a dot\n..two dots\n.\nlast line\n";
    let msg = Message::new("hello", "alerts", "us-east-1", "Déploiement échoué ✗", body);
    let id = n.publish(msg.clone()).await.unwrap();

    let entry = settled(&n, &id).await;
    assert_eq!(entry.deliveries.len(), 2);
    for d in &entry.deliveries {
        assert_eq!(d.protocol, Protocol::Email);
        assert_eq!(d.state, DeliveryState::Delivered, "{d:?}");
        assert_eq!(d.attempts, 1);
        assert!(d.delivered_at.is_some());
    }

    let mut mails = [sink.next().await, sink.next().await];
    mails.sort_by(|a, b| a.rcpt_to.cmp(&b.rcpt_to));
    assert_eq!(mails[0].rcpt_to, ["oncall@example.com"]);
    assert_eq!(mails[1].rcpt_to, ["ops@example.com"]);
    for (m, to) in mails.iter().zip(["oncall@example.com", "ops@example.com"]) {
        // EHLO with an address literal, then 8BITMIME since the sink offers it.
        assert_eq!(m.commands[0], "EHLO [127.0.0.1]");
        assert_eq!(m.mail_from, "<haven@example.com> BODY=8BITMIME");
        assert_eq!(m.header("From").as_deref(), Some("haven@example.com"));
        assert_eq!(m.header("To").as_deref(), Some(to));
        let subject = m.header("Subject").unwrap();
        // RFC 2047: the charset and the encoding are case-insensitive.
        assert!(
            subject.to_ascii_uppercase().starts_with("=?UTF-8?B?"),
            "{subject}"
        );
        assert_eq!(decode_encoded_words(&subject), "Déploiement échoué ✗");
        let date = m.header("Date").unwrap();
        assert!(date.ends_with(" +0000") && date.len() == 31, "{date}");
        assert_eq!(
            m.header("Message-ID").unwrap(),
            format!("<{id}@example.com>")
        );
        assert_eq!(m.header("MIME-Version").as_deref(), Some("1.0"));
        assert_eq!(
            m.header("Content-Type").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(
            m.header("Content-Transfer-Encoding").as_deref(),
            Some("8bit")
        );
        assert_eq!(m.header("X-Haven-Message-Id"), Some(id.to_string()));
        assert_eq!(
            m.header("X-Haven-Topic-Arn").as_deref(),
            Some("arn:aws:sns:us-east-1:000000000000:hello-alerts")
        );

        // Dot-stuffing on the wire, the original text after the relay removes it.
        assert!(
            m.raw.contains(&"..starts with a dot".to_owned()),
            "{:?}",
            m.raw
        );
        assert!(m.raw.contains(&"...two dots".to_owned()));
        assert!(m.raw.contains(&"..".to_owned()));
        let text = m.body();
        assert!(
            text.starts_with(
                "first line\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast line\r\n\r\n--\r\n"
            ),
            "{text}"
        );
        assert!(text.contains(&format!("message {id}")), "{text}");
        assert!(text.contains(&format!("remove {to} from [notifications.topics.alerts]")));
        assert!(m.commands.iter().any(|c| c == "DATA"));
    }
}

#[tokio::test]
async fn one_transaction_can_have_several_recipients() {
    let mut sink = smtp_sink(SinkRules::default()).await;
    let mail = Email {
        from: "haven@example.com".into(),
        to: vec![
            "a@example.com".into(),
            "b@example.com".into(),
            "c@example.com".into(),
        ],
        subject: "plain subject".into(),
        body: "line one\r\nline two".into(),
        message_id: "m1@example.com".into(),
        date: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_626_000),
        headers: vec![],
    };
    smtp::send(&sink.addr.to_string(), &mail, Duration::from_secs(5))
        .await
        .unwrap();
    let m = sink.next().await;
    assert_eq!(
        m.rcpt_to,
        ["a@example.com", "b@example.com", "c@example.com"]
    );
    let rcpts: Vec<&String> = m
        .commands
        .iter()
        .filter(|c| c.starts_with("RCPT TO:"))
        .collect();
    assert_eq!(
        rcpts,
        [
            "RCPT TO:<a@example.com>",
            "RCPT TO:<b@example.com>",
            "RCPT TO:<c@example.com>"
        ]
    );
    assert_eq!(
        m.header("To").as_deref(),
        Some("a@example.com, b@example.com, c@example.com")
    );
    assert_eq!(m.header("Subject").as_deref(), Some("plain subject"));
    assert_eq!(
        m.header("Date").as_deref(),
        Some("Wed, 25 Nov 2026 17:00:00 +0000")
    );
    assert_eq!(m.body(), "line one\r\nline two");
}

/// lettre always opens with EHLO and has no HELO (RFC 5321 requires servers to know EHLO), so
/// a relay that refuses it fails the delivery at once, its answer to EHLO in the error.
#[tokio::test]
async fn a_relay_without_ehlo_is_refused_naming_ehlo() {
    let mut sink = smtp_sink(SinkRules {
        no_ehlo: true,
        ..SinkRules::default()
    })
    .await;
    let cfg = config(
        "alerts",
        topic(&["ops@example.com"]),
        Some(sink.addr),
        fast_retry(3),
    );
    let d = &publish_settled(cfg).await.deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed, "{d:?}");
    assert_eq!(d.attempts, 1);
    assert_eq!(
        d.last_error.as_deref(),
        Some(
            format!(
                "SMTP relay {} answered EHLO with 502 5.5.1 EHLO not implemented",
                sink.addr
            )
            .as_str()
        )
    );
    assert!(sink.mails.try_recv().is_err(), "no mail reached DATA");
}

#[tokio::test]
async fn a_refused_recipient_fails_at_once_naming_the_command() {
    let sink = smtp_sink(SinkRules {
        reject_rcpt: vec!["nobody@example.com".into()],
        ..SinkRules::default()
    })
    .await;
    let cfg = config(
        "alerts",
        topic(&["nobody@example.com"]),
        Some(sink.addr),
        fast_retry(4),
    );
    let d = &publish_settled(cfg).await.deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    // 5xx is permanent: no retries.
    assert_eq!(d.attempts, 1);
    let err = d.last_error.as_deref().unwrap();
    assert_eq!(
        err,
        format!(
            "SMTP relay {} answered RCPT TO:<nobody@example.com> with 550 5.1.1 <nobody@example.com>: no such user",
            sink.addr
        )
    );
}

#[tokio::test]
async fn a_busy_relay_is_tried_again() {
    let mut sink = smtp_sink(SinkRules {
        busy_sessions: 2,
        ..SinkRules::default()
    })
    .await;
    let cfg = config(
        "alerts",
        topic(&["ops@example.com"]),
        Some(sink.addr),
        fast_retry(5),
    );
    let d = &publish_settled(cfg).await.deliveries[0];
    assert_eq!(d.state, DeliveryState::Delivered, "{d:?}");
    assert_eq!(d.attempts, 3);
    assert!(
        d.last_error
            .as_deref()
            .unwrap()
            .contains("MAIL FROM:<haven@example.com> with 451"),
        "{d:?}"
    );
    assert_eq!(sink.next().await.rcpt_to, ["ops@example.com"]);
}

#[tokio::test]
async fn without_a_relay_email_fails_with_a_clear_message() {
    let cfg = config("alerts", topic(&["ops@example.com"]), None, fast_retry(3));
    let d = &publish_settled(cfg).await.deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 0);
    assert_eq!(
        d.last_error.as_deref(),
        Some("no SMTP relay configured (set local.smtp_relay)")
    );
}

#[tokio::test]
async fn relays_off_this_machine_are_refused() {
    let mail = Email {
        from: "haven@example.com".into(),
        to: vec!["a@example.com".into()],
        subject: "s".into(),
        body: "b".into(),
        message_id: "m@example.com".into(),
        date: SystemTime::now(),
        headers: vec![],
    };
    let err = smtp::send("192.0.2.1:25", &mail, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::NotLoopback { .. }), "{err}");
    assert!(err.is_permanent());
    let bad = Email {
        to: vec!["a@example.com>\r\nRCPT TO:<b@example.com".into()],
        ..mail
    };
    let err = smtp::send("127.0.0.1:25", &bad, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, SmtpError::BadAddress(_)), "{err}");
}

#[tokio::test]
async fn a_silent_relay_times_out_at_its_step_and_is_tried_again() {
    // The kernel completes the connection; nobody accepts it, so no greeting ever comes.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = silent.local_addr().unwrap().to_string();
    let mail = Email {
        from: "haven@example.com".into(),
        to: vec!["a@example.com".into()],
        subject: "s".into(),
        body: "b".into(),
        message_id: "m@example.com".into(),
        date: SystemTime::now(),
        headers: vec![],
    };
    let err = smtp::send(&relay, &mail, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("SMTP relay {relay} did not answer the greeting and EHLO within 200ms")
    );
    assert!(!err.is_permanent());
}

/// Decodes `=?UTF-8?B?...?=` words (folded with CRLF SP; charset and encoding in either case)
/// back to text.
fn decode_encoded_words(s: &str) -> String {
    let mut bytes = Vec::new();
    for word in s.split_whitespace() {
        let b64 = word
            .get(.."=?UTF-8?B?".len())
            .filter(|p| p.eq_ignore_ascii_case("=?UTF-8?B?"))
            .map(|p| &word[p.len()..])
            .and_then(|w| w.strip_suffix("?="))
            .expect("an encoded word");
        assert!(word.len() <= 75, "{word}");
        bytes.extend(BASE64_STANDARD.decode(b64).unwrap());
    }
    String::from_utf8(bytes).unwrap()
}
