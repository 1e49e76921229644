//! The outbox: records survive reopening, pending deliveries resume after a crash, shutdown
//! leaves them pending, listings and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{SECRET, config, fast_retry, open, receiver, receiver_on_free_port, settled, until};
use haven_notify::{
    DeliveryState, Error, Message, MessageKind, Notifier, Outbox, RetryPolicy, TopicConfig,
};
use tokio::net::TcpListener;

fn hook(url: &str) -> TopicConfig {
    TopicConfig {
        emails: vec![],
        webhooks: vec![url.to_owned()],
        webhook_secret: Some(SECRET.to_owned()),
    }
}

/// Retries far apart: a delivery that failed once waits (for a shutdown or crash) long
/// enough for the test to act.
fn slow_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 5,
        initial_backoff: Duration::from_secs(600),
        max_backoff: Duration::from_secs(600),
    }
}

#[tokio::test]
async fn the_message_is_on_disk_before_delivery_and_survives_reopening() {
    let mut rx = receiver_on_free_port(0).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config("alerts", hook(&rx.url()), None, fast_retry(3));
    let (n, _tx) = open(dir.path(), cfg.clone()).await;
    let msg = Message::new("hello", "alerts", "us-east-1", "subject", "body");
    let id = n.publish(msg.clone()).await.unwrap();
    settled(&n, &id).await;
    assert_eq!(rx.drain().len(), 1);
    n.close().await;

    // One JSON file per message, named by its id, nothing else left behind.
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, [format!("{id}.json")]);
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(format!("{id}.json"))).unwrap())
            .unwrap();
    assert_eq!(raw["version"], 1);
    assert_eq!(raw["message"]["json"]["MessageId"], id.as_str());
    assert_eq!(raw["deliveries"][0]["state"], "delivered");

    let (n, _tx2) = open(dir.path(), cfg).await;
    let listed = n.list(10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].message, msg);
    assert_eq!(listed[0].deliveries[0].state, DeliveryState::Delivered);
    assert_eq!(listed[0].deliveries[0].attempts, 1);
    assert_eq!(n.deliveries(&id).await.unwrap(), listed[0].deliveries);
    // Nothing is delivered twice.
    n.drain().await;
    assert!(rx.drain().is_empty());
}

#[tokio::test]
async fn pending_deliveries_resume_after_a_crash() {
    // The receiver is down when the message is published.
    let addr = common::free_addr().await;
    let url = format!("http://{addr}/hook");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config("alerts", hook(&url), None, slow_retry());
    let (n, _tx) = open(dir.path(), cfg.clone()).await;
    let id = n
        .publish(Message::new("hello", "alerts", "us-east-1", "s", "b"))
        .await
        .unwrap();
    let d = until(&n, &id, |d| d[0].attempts == 1).await;
    assert_eq!(d[0].state, DeliveryState::Pending);
    assert!(
        d[0].last_error
            .as_deref()
            .unwrap()
            .starts_with("cannot connect to")
    );

    // The crash: the notifier goes away mid-backoff, with nothing cleaned up.
    drop(n);

    // The receiver comes up; the next run finds the delivery pending and finishes it.
    let mut rx = receiver(TcpListener::bind(addr).await.unwrap(), 0).await;
    let (n, _tx2) = open(dir.path(), cfg).await;
    let entry = settled(&n, &id).await;
    let d = &entry.deliveries[0];
    assert_eq!(d.state, DeliveryState::Delivered, "{d:?}");
    // Attempts count across runs.
    assert_eq!(d.attempts, 2);
    let hits = rx.drain();
    assert_eq!(hits.len(), 1);
    assert!(hits[0].signature_ok);
    assert_eq!(hits[0].headers["x-haven-delivery-attempt"], "2");
}

#[tokio::test]
async fn shutdown_stops_deliveries_and_leaves_them_pending() {
    let addr = common::free_addr().await;
    let url = format!("http://{addr}/hook");
    let dir = tempfile::tempdir().unwrap();
    let (n, tx) = open(dir.path(), config("alerts", hook(&url), None, slow_retry())).await;
    let first = n
        .publish(Message::new("hello", "alerts", "us-east-1", "s", "b"))
        .await
        .unwrap();
    until(&n, &first, |d| d[0].attempts == 1).await;

    tx.send_replace(true);
    tokio::time::timeout(common::DEADLINE, n.drain())
        .await
        .expect("deliveries did not stop on shutdown");
    // `wait` returns rather than hang once deliveries have stopped.
    let e = tokio::time::timeout(common::DEADLINE, n.wait(&first))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.deliveries[0].state, DeliveryState::Pending);

    // Published after shutdown: recorded, delivered by the next run.
    let second = n
        .publish(Message::new("hello", "alerts", "us-east-1", "s2", "b2"))
        .await
        .unwrap();
    n.drain().await;
    let d = n.deliveries(&second).await.unwrap();
    assert_eq!((d[0].state, d[0].attempts), (DeliveryState::Pending, 0));
}

#[tokio::test]
async fn listing_is_newest_first_and_readable_without_a_notifier() {
    let dir = tempfile::tempdir().unwrap();
    let t = TopicConfig::default();
    let (n, _tx) = open(dir.path(), config("alerts", t, None, fast_retry(1))).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let m = Message::new("hello", "alerts", "us-east-1", &format!("m{i}"), "b");
        ids.push(n.publish(m).await.unwrap());
    }
    let listed = n.list(3).await.unwrap();
    let subjects: Vec<&str> = listed.iter().map(|e| e.message.subject.as_str()).collect();
    assert_eq!(subjects, ["m4", "m3", "m2"]);
    // A topic without subscriptions takes messages (as SNS does), with no deliveries.
    assert!(
        listed
            .iter()
            .all(|e| e.deliveries.is_empty() && e.is_settled())
    );

    // The CLI reads the same directory while the region runs.
    let outbox = Outbox::open(dir.path()).unwrap();
    assert_eq!(outbox.ids().unwrap(), ids);
    assert_eq!(outbox.list(1).unwrap()[0].message.subject, "m4");
    assert_eq!(
        outbox.get(&ids[0]).unwrap().message.kind,
        MessageKind::Other
    );
}

#[tokio::test]
async fn publish_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config("alerts", TopicConfig::default(), None, fast_retry(1));
    cfg.topics.insert(
        "dup".into(),
        TopicConfig {
            emails: vec!["a@example.com".into(), "a@example.com".into()],
            ..TopicConfig::default()
        },
    );
    let (n, _tx) = open(dir.path(), cfg).await;

    let err = n
        .publish(Message::new("hello", "nope", "us-east-1", "s", "b"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnknownTopic(ref t) if t == "nope"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "topic `nope` is not in the spec's [notifications.topics]"
    );

    let m = Message::new("hello", "alerts", "us-east-1", "s", "b");
    n.publish(m.clone()).await.unwrap();
    let err = n.publish(m).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyPublished(_)), "{err}");

    // One subscription per endpoint.
    let id = n
        .publish(Message::new("hello", "dup", "us-east-1", "s", "b"))
        .await
        .unwrap();
    assert_eq!(n.deliveries(&id).await.unwrap().len(), 1);

    let missing = haven_notify::MessageId::generate(std::time::SystemTime::now());
    assert!(matches!(n.get(&missing).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn a_temporary_file_left_by_a_crash_is_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".0190-x.json.tmp"), b"{ half a rec").unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let n = Notifier::open(
        dir.path(),
        config("alerts", TopicConfig::default(), None, fast_retry(1)),
        rx,
    )
    .await
    .unwrap();
    assert!(n.list(10).await.unwrap().is_empty());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    drop(tx);
}
