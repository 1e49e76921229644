//! Draining, graceful shutdown, idle client connections and access logs.

mod common;

use std::time::Duration;

use common::*;
use haven_proxy::{
    AccessLog, Batch, ForwardAction, ProxyConfig, Reason, TargetState, format_alb_line,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn draining_target_finishes_in_flight_work_then_leaves() {
    let stop = Stop::new();
    let g = lor_group(&stop, "drain");
    let [a, b] = healthy_backends(&g, ["a", "b"]).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    let slow = spawn_get(&c, &proxy, "/slow");
    within("the slow request", async {
        while g.targets().iter().all(|t| t.in_flight == 0) {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let busy = g.targets().into_iter().find(|t| t.in_flight == 1).unwrap();
    let (busy_be, other) = if busy.id == "a" { (&a, "b") } else { (&b, "a") };
    busy_be.slow_entered(1).await;

    let drained = g.drained(&busy.id);
    assert!(g.deregister(&busy.id));
    let t = g.target(&busy.id).unwrap();
    assert_eq!(
        (t.state, t.reason, t.in_flight),
        (
            TargetState::Draining,
            Some(Reason::DeregistrationInProgress),
            1
        )
    );
    let seen = spread(&c, &proxy.url("/"), 10).await;
    assert_eq!(seen.get(other), Some(&10), "{seen:?}");

    busy_be.release_slow();
    let r = within("slow response", slow).await.unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, busy.id.as_str()));
    within("drain", drained).await;
    assert!(g.target(&busy.id).is_none());
    assert_eq!(g.targets().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deregistration_delay_cuts_requests_still_running() {
    let stop = Stop::new();
    let mut cfg = group_config("cut");
    cfg.deregistration_delay = Duration::from_millis(200);
    let g = group(&stop, cfg);
    let [a] = healthy_backends(&g, ["a"]).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    let slow = spawn_get(&c, &proxy, "/slow");
    a.slow_entered(1).await;
    let drained = g.drained("a");
    g.deregister("a");
    within("drain", drained).await;
    let r = within("cut response", slow).await.unwrap();
    assert_eq!(r.status, 502, "{}", r.body);
    assert_eq!(get(&c, &proxy.url("/")).await.status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let stop = Stop::new();
    let g = rr_group(&stop, "shutdown");
    let [a] = healthy_backends(&g, ["a"]).await;
    let mut proxy = Proxy::single(&g).await;
    let c = client();
    let slow = spawn_get(&c, &proxy, "/slow");
    a.slow_entered(1).await;
    proxy.stop.send_replace(true);
    a.release_slow();
    let r = within("in-flight response", slow).await.unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "a"));
    within("serve to return", &mut proxy.task)
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(proxy.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_connections_are_closed() {
    let stop = Stop::new();
    let g = rr_group(&stop, "idle");
    let [_a] = healthy_backends(&g, ["a"]).await;
    let cfg = ProxyConfig {
        idle_timeout: Duration::from_millis(200),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(ForwardAction::single(g.clone()), cfg).await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let resp = raw_exchange(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    closed_by_peer(&mut s).await;
    let m = proxy.listener.metrics();
    assert_eq!((m.new_connection_count, m.active_connection_count), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_entries_are_emitted() {
    let stop = Stop::new();
    let g = rr_group(&stop, "logged");
    let [a] = healthy_backends(&g, ["a"]).await;
    let sink = AccessLog::new(16);
    let cfg = ProxyConfig {
        access_log: Some(sink.clone()),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(ForwardAction::single(g.clone()), cfg).await;
    let r = get(&client(), &proxy.url("/some/path?q=1")).await;
    assert_eq!(r.status, 200);
    // The proxy adds the entry, as its ALB line, once the response body has been sent.
    let (ms, line) = within("log entry", async {
        loop {
            let mut got = Batch::default();
            sink.drain(&mut got);
            if let Some(e) = got.sorted().next() {
                let ms = e.time.duration_since(std::time::UNIX_EPOCH).unwrap();
                return (ms.as_millis() as u64, format_alb_line(&e));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(now - ms < 10_000, "{ms} vs {now}");
    assert!(line.starts_with("http 20"), "{line}");
    assert!(line.contains(" app/test 127.0.0.1:"), "{line}");
    assert!(line.contains(&format!(" {} ", a.addr)), "{line}");
    assert!(line.contains(" 200 200 "), "{line}");
    assert!(
        line.contains(&format!(
            "\"GET http://127.0.0.1:{}/some/path?q=1 HTTP/1.1\"",
            proxy.addr.port()
        )),
        "{line}"
    );
    assert!(line.contains("\"Root=1-"), "{line}");
    assert_eq!(sink.dropped(), 0);

    // Switched off while serving, the sink gets no entries; switched on, it gets them again.
    sink.set_enabled(false);
    assert_eq!(get(&client(), &proxy.url("/while-off")).await.status, 200);
    sink.set_enabled(true);
    assert_eq!(get(&client(), &proxy.url("/while-on")).await.status, 200);
    let paths = within("entry after logging is on again", async {
        let mut paths = Vec::new();
        loop {
            let mut got = Batch::default();
            sink.drain(&mut got);
            paths.extend(got.sorted().map(|e| e.path.to_owned()));
            if paths.iter().any(|p| p == "/while-on") {
                return paths;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(paths, ["/while-on"]);
}
