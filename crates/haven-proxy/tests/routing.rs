//! Routing: round robin, least outstanding requests, weighted forward actions, failover
//! priorities, fail open, 503 without targets, header rewriting and h2c clients.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::*;
use haven_proxy::{ForwardAction, ProxyConfig, TargetState};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_robin_spreads_evenly() {
    let stop = Stop::new();
    let g = rr_group(&stop, "rr");
    let backends = [
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    ];
    for b in &backends {
        g.register(b.name.clone(), b.addr);
    }
    wait_healthy(&g, 3).await;
    let proxy = Proxy::single(&g).await;
    let seen = spread(&client(), &proxy.url("/"), 30).await;
    for b in &backends {
        assert_eq!(seen.get(&b.name), Some(&10), "{seen:?}");
    }
    let m = g.metrics();
    assert_eq!(m.request_count, 30);
    assert_eq!(m.http_code_target_2xx, 30);
    assert_eq!(m.target_response_time_count, 30);
    assert!(m.target_response_time_percentile(0.99).is_some());
    assert_eq!(g.targets().iter().map(|t| t.requests).sum::<u64>(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn least_outstanding_prefers_the_idle_target() {
    let stop = Stop::new();
    let g = lor_group(&stop, "lor");
    let [a, b] = healthy_backends(&g, ["a", "b"]).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    let slow = spawn_get(&c, &proxy, "/slow");
    // Whichever target took the slow request is now busy.
    within("the slow request", async {
        let mut ra = a.state.slow_entered.subscribe();
        let mut rb = b.state.slow_entered.subscribe();
        tokio::select! {
            _ = ra.wait_for(|n| *n > 0) => {}
            _ = rb.wait_for(|n| *n > 0) => {}
        }
    })
    .await;
    let (busy, idle) = if *a.state.slow_entered.borrow() > 0 {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let seen = spread(&c, &proxy.url("/"), 10).await;
    assert_eq!(seen.get(&idle.name), Some(&10), "{seen:?}");
    busy.release_slow();
    let r = within("slow response", slow).await.unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, busy.name.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weighted_forward_and_atomic_switch() {
    let stop = Stop::new();
    let blue_g = rr_group(&stop, "blue");
    let green_g = rr_group(&stop, "green");
    let blue = Backend::start("blue").await;
    let green = Backend::start("green").await;
    blue_g.register("blue", blue.addr);
    green_g.register("green", green.addr);
    wait_healthy(&blue_g, 1).await;
    wait_healthy(&green_g, 1).await;
    let forward = ForwardAction::new(vec![(blue_g.clone(), 3), (green_g.clone(), 1)]).unwrap();
    let proxy = Proxy::start(forward, ProxyConfig::default()).await;
    let c = client();
    let seen = spread(&c, &proxy.url("/"), 400).await;
    assert_eq!((seen["blue"], seen["green"]), (300, 100), "{seen:?}");

    // Keep traffic flowing while the action is swapped; nothing may fail.
    let running = Arc::new(AtomicBool::new(true));
    let served = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (c, url, running, served) =
            (c.clone(), proxy.url("/"), running.clone(), served.clone());
        workers.push(tokio::spawn(async move {
            while running.load(Ordering::SeqCst) {
                let r = get(&c, &url).await;
                assert_eq!(r.status, 200, "{}", r.body);
                served.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    within("traffic before the switch", async {
        while served.load(Ordering::SeqCst) < 100 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    proxy
        .listener
        .set_forward(ForwardAction::single(green_g.clone()));
    let at_switch = served.load(Ordering::SeqCst);
    within("traffic after the switch", async {
        while served.load(Ordering::SeqCst) < at_switch + 100 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    running.store(false, Ordering::SeqCst);
    for w in workers {
        within("worker", w).await.unwrap();
    }
    let seen = spread(&c, &proxy.url("/"), 20).await;
    assert_eq!(seen.get("green"), Some(&20), "{seen:?}");
    assert_eq!(proxy.listener.metrics().http_code_elb_5xx, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_uses_primary_then_secondary_and_back() {
    let stop = Stop::new();
    let g = failover_group(&stop, "edge");
    let primary = Backend::start("primary").await;
    let secondary = Backend::start("secondary").await;
    g.register_with_priority("primary", primary.addr, 0);
    g.register_with_priority("secondary", secondary.addr, 1);
    wait_healthy(&g, 2).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    assert_eq!(
        spread(&c, &proxy.url("/"), 10).await.get("primary"),
        Some(&10)
    );

    primary.set_health(503);
    wait_state(&g, "primary", TargetState::Unhealthy).await;
    assert_eq!(
        spread(&c, &proxy.url("/"), 10).await.get("secondary"),
        Some(&10)
    );

    // Route 53: with every record unhealthy, the primary answers.
    secondary.set_health(503);
    wait_state(&g, "secondary", TargetState::Unhealthy).await;
    assert_eq!(
        spread(&c, &proxy.url("/"), 6).await.get("primary"),
        Some(&6)
    );

    primary.set_health(200);
    secondary.set_health(200);
    wait_healthy(&g, 2).await;
    assert_eq!(
        spread(&c, &proxy.url("/"), 10).await.get("primary"),
        Some(&10)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fails_open_when_every_target_is_unhealthy() {
    let stop = Stop::new();
    let g = rr_group(&stop, "open");
    let a = Backend::start("a").await;
    let b = Backend::start("b").await;
    a.set_health(500);
    b.set_health(500);
    g.register("a", a.addr);
    g.register("b", b.addr);
    wait_state(&g, "a", TargetState::Unhealthy).await;
    wait_state(&g, "b", TargetState::Unhealthy).await;
    assert_eq!((g.healthy_count(), g.unhealthy_count()), (0, 2));
    let proxy = Proxy::single(&g).await;
    let seen = spread(&client(), &proxy.url("/"), 20).await;
    assert_eq!((seen["a"], seen["b"]), (10, 10), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_registered_targets_is_503() {
    let stop = Stop::new();
    let g = rr_group(&stop, "empty");
    let proxy = Proxy::single(&g).await;
    let r = get(&client(), &proxy.url("/")).await;
    assert_eq!(r.status, 503);
    assert!(
        r.body
            .contains("<title>503 Service Temporarily Unavailable</title>"),
        "{}",
        r.body
    );
    assert_eq!(r.headers["server"], "awselb/2.0");
    assert_eq!(r.headers["content-type"], "text/html");
    assert_eq!(g.metrics().http_code_elb_503, 1);
    let lm = proxy.listener.metrics();
    assert_eq!(
        (lm.http_code_elb_503, lm.http_code_elb_5xx, lm.request_count),
        (1, 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strips_hop_by_hop_and_adds_forwarded_headers() {
    let stop = Stop::new();
    let g = rr_group(&stop, "hdr");
    let [_b] = healthy_backends(&g, ["b"]).await;
    let proxy = Proxy::single(&g).await;
    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let resp = raw_exchange(
        &mut s,
        b"GET /echo HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n\
Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nUpgrade: websocket\r\n\
X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nX-Keep: yes\r\n\r\n",
    )
    .await;
    let lower = resp.to_ascii_lowercase();
    let (head, body) = lower.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("http/1.1 200"), "{resp}");
    for gone in [
        "x-hop",
        "keep-alive:",
        "te:",
        "proxy-connection",
        "upgrade",
        "connection:",
    ] {
        assert!(
            !body.lines().any(|l| l.starts_with(gone)),
            "{gone} reached the target:\n{body}"
        );
    }
    for present in [
        "host: example.com",
        "x-keep: yes",
        "x-forwarded-for: 1.2.3.4, 127.0.0.1",
        "x-forwarded-proto: http",
        &format!("x-forwarded-port: {}", proxy.addr.port()),
        "x-amzn-trace-id: root=1-",
        "version: http/1.1",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(present)),
            "missing {present}:\n{body}"
        );
    }
    assert!(
        !head.contains("x-resp-hop") && !head.contains("keep-alive"),
        "{head}"
    );
    assert!(head.contains("x-backend: b"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_clients_are_served() {
    let stop = Stop::new();
    let g = rr_group(&stop, "h2");
    let [_b] = healthy_backends(&g, ["b"]).await;
    let proxy = Proxy::single(&g).await;
    let c = h2c_client();
    let r = get(&c, &proxy.url("/echo")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("version: HTTP/1.1"), "{}", r.body);
    assert!(
        r.body.contains(&format!("host: {}", proxy.addr)),
        "{}",
        r.body
    );
    // Several concurrent streams on the one connection.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (c, url) = (c.clone(), proxy.url("/"));
        tasks.push(tokio::spawn(async move { get(&c, &url).await.status }));
    }
    for t in tasks {
        assert_eq!(within("h2 stream", t).await.unwrap(), 200);
    }
    assert_eq!(proxy.listener.metrics().new_connection_count, 1);
}
