//! The access-log writer: a sink's entries land in hourly streams of the ALB's group, each
//! event stamped with the time its request completed, in the order the sink hands them over.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use haven_logs::{AccessLogSource, Events, Group, Lines, Query, names, time};

/// A sink holding ready-made lines, as a load balancer's would hold its entries.
struct Held {
    lines: Vec<(u64, String)>,
    dropped: u64,
}

impl AccessLogSource for Held {
    fn drain(&mut self, out: &mut Lines<'_>) {
        for (ms, line) in self.lines.drain(..) {
            out.push(ms, |buf| buf.extend_from_slice(line.as_bytes()));
        }
    }

    fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[tokio::test]
async fn entries_are_written_to_hourly_streams_stamped_with_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let group = Group::stamped(&names::alb_group("shop", "web-production"), dir.path());
    // 22:59:59.900 and 23:00:00.100 fall in two hours.
    let t0 = 1_700_002_799_900u64;
    let held = vec![
        (t0, "http a".to_owned()),
        (t0 + 100, "http b".to_owned()),
        (t0 + 200, "h2 c".to_owned()),
    ];
    let sink = Held {
        lines: held.clone(),
        dropped: 0,
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn(haven_logs::write_access_log(group.clone(), sink, stop));
    // Everything held is written before the writer returns.
    stop_tx.send_replace(true);
    writer.await.unwrap();

    let streams: Vec<String> = group
        .streams()
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(streams, ["2023/11/14/22", "2023/11/14/23"]);
    let got: Vec<(u64, String, String)> = Events::read(&group, Query::default())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.timestamp_ms, e.stream.to_string(), e.message))
        .collect();
    let streams = ["2023/11/14/22", "2023/11/14/23", "2023/11/14/23"];
    let want: Vec<(u64, String, String)> = held
        .into_iter()
        .zip(streams)
        .map(|((ms, line), stream)| (ms, stream.to_owned(), line))
        .collect();
    assert_eq!(got, want);
    assert_eq!(time::rfc3339(got[0].0), "2023-11-14T22:59:59.900Z");
}
