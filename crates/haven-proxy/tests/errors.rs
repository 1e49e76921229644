//! Target failures as the client sees them: 502, 504, and the one-time retry that hides a
//! killed target from idempotent requests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use haven_proxy::{ForwardAction, ProxyConfig, TargetState};
use http::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_to_a_target_that_closes_the_connection_is_502() {
    let stop = Stop::new();
    let g = rr_group(&stop, "closing");
    let (addr, _server) = closing_backend().await;
    g.register("closing", addr);
    // Its health checks fail too; the group fails open to it.
    wait_state(&g, "closing", TargetState::Unhealthy).await;
    let proxy = Proxy::single(&g).await;
    let r = send(&client(), Method::POST, &proxy.url("/"), "payload").await;
    assert_eq!(r.status, 502);
    assert!(
        r.body.contains("<title>502 Bad Gateway</title>"),
        "{}",
        r.body
    );
    let m = g.metrics();
    assert_eq!(
        (
            m.http_code_elb_502,
            m.target_connection_error_count,
            m.retried_request_count
        ),
        (1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connection_is_502() {
    let stop = Stop::new();
    let g = rr_group(&stop, "refused");
    g.register("gone", refused_addr().await);
    wait_state(&g, "gone", TargetState::Unhealthy).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    assert_eq!(
        send(&c, Method::POST, &proxy.url("/"), "x").await.status,
        502
    );
    // A GET would be retried, but there is no other target.
    assert_eq!(get(&c, &proxy.url("/")).await.status, 502);
    assert_eq!(g.metrics().http_code_elb_502, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_target_is_504_and_not_retried() {
    let stop = Stop::new();
    let g = rr_group(&stop, "slow");
    let [a, b] = healthy_backends(&g, ["a", "b"]).await;
    let cfg = ProxyConfig {
        target_timeout: Duration::from_millis(300),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(ForwardAction::single(g.clone()), cfg).await;
    let r = get(&client(), &proxy.url("/hang")).await;
    assert_eq!(r.status, 504);
    assert!(r.body.contains("504 Gateway Time-out"), "{}", r.body);
    let hangs = a.state.hang_hits.load(Ordering::SeqCst) + b.state.hang_hits.load(Ordering::SeqCst);
    assert_eq!(hangs, 1);
    assert_eq!(g.metrics().http_code_elb_504, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_timeout_holds_on_worker_threads_for_http1_and_h2c() {
    let stop = Stop::new();
    let g = rr_group(&stop, "slow-workers");
    let [_a] = healthy_backends(&g, ["a"]).await;
    let cfg = ProxyConfig {
        workers: 2,
        target_timeout: Duration::from_millis(300),
        ..ProxyConfig::default()
    };
    let proxy = Proxy::start(ForwardAction::single(g.clone()), cfg).await;
    // HTTP/1 checks the deadline on its connection's periodic wake-up, HTTP/2 with a timer.
    for c in [client(), h2c_client()] {
        assert_eq!(get(&c, &proxy.url("/")).await.status, 200);
        let started = std::time::Instant::now();
        assert_eq!(get(&c, &proxy.url("/hang")).await.status, 504);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }
    assert_eq!(g.metrics().http_code_elb_504, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_target_costs_idempotent_clients_nothing() {
    let stop = Stop::new();
    let g = rr_group(&stop, "kill");
    let [_a, b] = healthy_backends(&g, ["a", "b"]).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    let done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (c, url, done) = (c.clone(), proxy.url("/"), done.clone());
        workers.push(tokio::spawn(async move {
            for _ in 0..150 {
                let r = get(&c, &url).await;
                assert_eq!(r.status, 200, "client saw {}: {}", r.status, r.body);
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    within("traffic before the kill", async {
        while done.load(Ordering::SeqCst) < 100 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    b.kill();
    for w in workers {
        within("workers", w).await.unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 600);
    wait_state(&g, "b", TargetState::Unhealthy).await;
    let m = g.metrics();
    assert_eq!(m.http_code_elb_5xx, 0);
    assert_eq!(m.http_code_target_2xx, 600);
    assert!(m.retried_request_count >= 1, "{m:?}");
    assert!(m.target_connection_error_count >= m.retried_request_count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_threads_serve_and_retry_too() {
    let stop = Stop::new();
    let g = rr_group(&stop, "workers");
    let [_a, b] = healthy_backends(&g, ["a", "b"]).await;
    let cfg = ProxyConfig {
        workers: 2,
        ..ProxyConfig::default()
    };
    let mut proxy = Proxy::start(ForwardAction::single(g.clone()), cfg).await;
    let c = client();
    let seen = spread(&c, &proxy.url("/"), 20).await;
    assert_eq!((seen["a"], seen["b"]), (10, 10), "{seen:?}");
    b.kill();
    let seen = spread(&c, &proxy.url("/"), 20).await;
    assert_eq!(seen.get("a"), Some(&20), "{seen:?}");
    proxy.stop.send_replace(true);
    within("serve to return", &mut proxy.task)
        .await
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(proxy.addr).await.is_err());
}
