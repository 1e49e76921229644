//! Webhook deliveries to real HTTP receivers on 127.0.0.1: signatures, retries, failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{SECRET, config, fast_retry, open, publish_settled, receiver_on_free_port, settled};
use haven_notify::{DeliveryState, Message, Protocol, TopicConfig};

fn topic(urls: &[String]) -> TopicConfig {
    TopicConfig {
        emails: vec![],
        webhooks: urls.to_vec(),
        webhook_secret: Some(SECRET.to_owned()),
    }
}

#[tokio::test]
async fn signed_posts_are_retried_until_accepted() {
    let mut rx = receiver_on_free_port(2).await;
    let dir = tempfile::tempdir().unwrap();
    let (n, _tx) = open(
        dir.path(),
        config("deploys", topic(&[rx.url()]), None, fast_retry(5)),
    )
    .await;
    let msg = Message::new("hello", "deploys", "us-west-2", "Deployed", "v2 is live")
        .with_attribute("service", "hello-production");
    let id = n.publish(msg.clone()).await.unwrap();

    let d = &settled(&n, &id).await.deliveries[0];
    assert_eq!(d.protocol, Protocol::Webhook);
    assert_eq!(d.endpoint, rx.url());
    assert_eq!(d.state, DeliveryState::Delivered, "{d:?}");
    assert_eq!(d.attempts, 3);
    assert!(d.delivered_at.is_some() && d.last_attempt_at == d.delivered_at);
    // The last failure stays on record.
    assert!(
        d.last_error
            .as_deref()
            .unwrap()
            .contains("answered 500 Internal Server Error: receiver down for request 2"),
        "{d:?}"
    );

    let hits = rx.drain();
    assert_eq!(hits.len(), 3);
    assert_eq!(
        hits.iter().map(|h| h.status).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for (i, h) in hits.iter().enumerate() {
        assert!(h.signature_ok, "attempt {} not signed right", i + 1);
        assert_eq!(h.method, "POST");
        assert_eq!(h.path, "/hooks/sns?source=haven");
        let header = |name: &str| h.headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "application/json");
        assert_eq!(header("x-amz-sns-message-type"), "Notification");
        assert_eq!(
            header("x-amz-sns-topic-arn"),
            "arn:aws:sns:us-west-2:000000000000:hello-deploys"
        );
        assert_eq!(header("x-haven-message-id"), id.as_str());
        assert_eq!(header("x-haven-delivery-attempt"), (i + 1).to_string());
        assert!(header("x-haven-timestamp").parse::<u64>().unwrap() > 1_700_000_000);
        assert_eq!(header("host"), rx.addr.to_string());
        // The body is the SNS payload, byte for byte what was signed.
        let json: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(json, msg.json);
        assert_eq!(json["Type"], "Notification");
        assert_eq!(json["MessageId"], id.as_str());
        assert_eq!(json["Subject"], "Deployed");
        assert_eq!(json["Message"], "v2 is live");
        assert_eq!(
            json["MessageAttributes"]["service"],
            serde_json::json!({"Type": "String", "Value": "hello-production"})
        );
        assert!(haven_notify::verify_signature(
            SECRET,
            &h.body,
            &header("x-haven-signature")
        ));
        assert!(!haven_notify::verify_signature(
            "other",
            &h.body,
            &header("x-haven-signature")
        ));
    }
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_as_basic_authorization() {
    let mut rx = receiver_on_free_port(0).await;
    let url = rx.url().replace("http://", "http://user:s3cret@");
    let d = &publish_settled(config("deploys", topic(&[url]), None, fast_retry(1)))
        .await
        .deliveries[0];
    assert_eq!(d.state, DeliveryState::Delivered, "{d:?}");
    let hits = rx.drain();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        hits[0].headers.get("authorization").unwrap(),
        "Basic dXNlcjpzM2NyZXQ="
    );
    // The Host header carries no credentials.
    assert_eq!(hits[0].headers.get("host").unwrap(), &rx.addr.to_string());
}

#[tokio::test]
async fn a_receiver_that_always_fails_ends_failed_with_the_last_error() {
    let mut rx = receiver_on_free_port(usize::MAX).await;
    let d = &publish_settled(config("deploys", topic(&[rx.url()]), None, fast_retry(4)))
        .await
        .deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 4);
    assert_eq!(d.delivered_at, None);
    assert_eq!(
        d.last_error.as_deref(),
        Some(
            format!(
                "{} answered 500 Internal Server Error: receiver down for request 4",
                rx.url()
            )
            .as_str()
        )
    );
    assert_eq!(rx.drain().len(), 4);
}

#[tokio::test]
async fn an_unreachable_receiver_fails_with_the_connection_error() {
    let addr = common::free_addr().await;
    let url = format!("http://{addr}/hook");
    let d = &publish_settled(config(
        "deploys",
        topic(std::slice::from_ref(&url)),
        None,
        fast_retry(2),
    ))
    .await
    .deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 2);
    let err = d.last_error.as_deref().unwrap();
    assert!(
        err.starts_with(&format!("cannot connect to {url}: ")),
        "{err}"
    );
}

#[tokio::test]
async fn https_webhooks_fail_clearly_without_attempts() {
    let url = "https://hooks.example.com/sns".to_owned();
    let d = &publish_settled(config("deploys", topic(&[url]), None, fast_retry(3)))
        .await
        .deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 0);
    assert_eq!(
        d.last_error.as_deref(),
        Some(
            "https://hooks.example.com/sns: the local twin does not do TLS, so it cannot \
             deliver to https:// webhooks; use an http:// URL for a receiver on this machine"
        )
    );
}

#[tokio::test]
async fn without_a_secret_webhooks_are_sent_unsigned() {
    let mut rx = receiver_on_free_port(0).await;
    let t = TopicConfig {
        webhook_secret: None,
        ..topic(&[rx.url()])
    };
    let d = &publish_settled(config("deploys", t, None, fast_retry(1)))
        .await
        .deliveries[0];
    // The test receiver insists on a signature.
    assert_eq!(d.state, DeliveryState::Failed);
    assert!(
        d.last_error
            .as_deref()
            .unwrap()
            .contains("401 Unauthorized: bad signature")
    );
    let hits = rx.drain();
    assert!(hits[0].headers.get("x-haven-signature").is_none());
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    // Connections complete in the kernel's backlog, but nobody reads or answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", silent.local_addr().unwrap());
    let mut cfg = config(
        "deploys",
        topic(std::slice::from_ref(&url)),
        None,
        fast_retry(2),
    );
    cfg.timeout = std::time::Duration::from_millis(200);
    let d = &publish_settled(cfg).await.deliveries[0];
    assert_eq!(d.state, DeliveryState::Failed);
    assert_eq!(d.attempts, 2);
    assert_eq!(
        d.last_error.as_deref(),
        Some(format!("{url} did not answer within 200ms").as_str())
    );
    drop(silent);
}
