//! An ALB twin's access log through the log writer: the proxy's entries land in hourly streams
//! of the ALB's group, in the ALB's access-log format, each event at the time its request
//! completed, in time order however the proxy's threads pushed them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, UNIX_EPOCH};

use haven_logs::{Events, Group, Query, names, time};
use haven_proxy::{AccessLog, AccessLogEntry, LogProtocol, format_alb_line};
use haven_twin::access_log::AlbLogSource;

fn entry(ms: u64, path: &str, status: u16) -> AccessLogEntry<'_> {
    let t = UNIX_EPOCH + Duration::from_millis(ms);
    AccessLogEntry {
        protocol: LogProtocol::Http,
        time: t,
        request_creation_time: t - Duration::from_millis(2),
        elb: "app/web-production-alb",
        client: "127.0.0.1:50000".parse().unwrap(),
        target: Some("127.0.0.1:41000".parse().unwrap()),
        request_processing_time: Some(Duration::from_micros(50)),
        target_processing_time: Some(Duration::from_millis(1)),
        response_processing_time: Some(Duration::from_micros(20)),
        elb_status_code: status,
        target_status_code: Some(status),
        received_bytes: 80,
        sent_bytes: 200,
        method: "GET",
        port: 4001,
        path,
        http_version: "HTTP/1.1",
        user_agent: Some("curl/8.5.0"),
        target_group: Some("web-production-tg-1"),
        trace_id: Some("Root=1-65540000-000000000000000000000001"),
        domain_name: Some("localhost"),
        actions_executed: "forward",
        error_reason: None,
        classification: None,
        classification_reason: None,
    }
}

#[tokio::test]
async fn entries_are_written_in_the_alb_format_to_hourly_streams() {
    let dir = tempfile::tempdir().unwrap();
    let group = Group::stamped(&names::alb_group("shop", "web-production"), dir.path());
    let sink = AccessLog::new(haven_logs::ACCESS_LOG_CAPACITY);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(haven_logs::write_access_log(
        group.clone(),
        AlbLogSource::new(sink.clone()),
        stop,
    ));

    // 22:59:59.900 and 23:00:00.100 fall in two hours; the third arrives out of order.
    let t0 = 1_700_002_799_900u64;
    let entries = [
        entry(t0, "/", 200),
        entry(t0 + 200, "/missing", 404),
        entry(t0 + 100, "/health", 200),
    ];
    for e in &entries {
        sink.push(e);
    }
    // Everything queued is written before the writer returns.
    stop_tx.send_replace(true);
    writer.await.unwrap();

    // Each event names its hourly stream (the logs crate's tests cover the streams themselves).
    let got: Vec<(u64, String, String)> = Events::read(&group, Query::default())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.timestamp_ms, e.stream.to_string(), e.message))
        .collect();
    let want = vec![
        (t0, "2023/11/14/22".to_owned(), format_alb_line(&entries[0])),
        (
            t0 + 100,
            "2023/11/14/23".to_owned(),
            format_alb_line(&entries[2]),
        ),
        (
            t0 + 200,
            "2023/11/14/23".to_owned(),
            format_alb_line(&entries[1]),
        ),
    ];
    assert_eq!(got, want);
    // The ALB's fields, as the ALB writes them.
    let fields: Vec<&str> = got[0].2.split(' ').collect();
    assert_eq!(fields[0], "http");
    assert_eq!(fields[1], "2023-11-14T22:59:59.900000Z");
    assert_eq!(fields[2], "app/web-production-alb");
    assert_eq!(fields[3], "127.0.0.1:50000");
    assert_eq!(fields[4], "127.0.0.1:41000");
    assert_eq!((fields[8], fields[9]), ("200", "200"));
    assert!(got[0].2.contains("\"GET http://localhost:4001/ HTTP/1.1\""));
    assert_eq!(time::rfc3339(got[0].0), "2023-11-14T22:59:59.900Z");
}
