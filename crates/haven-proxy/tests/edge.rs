//! A proxy in front of proxies, as the edge stands in front of the regions' ALBs: where the
//! group says traffic goes, the "no target" 503 tried on the next listener, and a listener
//! that refuses connections until it has a healthy target.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use haven_proxy::{
    ForwardAction, Listener, NO_TARGET_HEADER, ProxyConfig, Reserved, Routing, TargetGroup,
    TargetState,
};
use tokio::sync::watch;

/// The ids of the targets `g` routes to, and whether it fails open.
fn routed(g: &TargetGroup) -> (Vec<String>, bool) {
    let r = g.routing();
    (r.targets.into_iter().map(|t| t.id).collect(), r.fail_open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routing_names_the_targets_requests_go_to() {
    let stop = Stop::new();
    let g = failover_group(&stop, "edge");
    assert_eq!(routed(&g), (vec![], false), "no target: nowhere");
    let primary = Backend::start("primary").await;
    let secondary = Backend::start("secondary").await;
    primary.set_health(503);
    secondary.set_health(503);
    g.register_with_priority("primary", primary.addr, 0);
    g.register_with_priority("secondary", secondary.addr, 1);
    // Initial targets take no traffic, so none is routed to.
    assert_eq!(routed(&g), (vec![], false));
    wait_state(&g, "secondary", TargetState::Unhealthy).await;
    wait_state(&g, "primary", TargetState::Unhealthy).await;
    // Every record unhealthy: Route 53 answers with the primary, failing open.
    assert_eq!(routed(&g), (vec!["primary".to_owned()], true));
    let proxy = Proxy::single(&g).await;
    let c = client();
    assert_eq!(
        spread(&c, &proxy.url("/"), 4).await.get("primary"),
        Some(&4)
    );

    secondary.set_health(200);
    wait_state(&g, "secondary", TargetState::Healthy).await;
    assert_eq!(routed(&g), (vec!["secondary".to_owned()], false));
    assert_eq!(
        spread(&c, &proxy.url("/"), 4).await.get("secondary"),
        Some(&4)
    );

    // Failover: one priority serves, however many are healthy.
    primary.set_health(200);
    wait_healthy(&g, 2).await;
    assert_eq!(routed(&g), (vec!["primary".to_owned()], false));
    assert_eq!(
        spread(&c, &proxy.url("/"), 4).await.get("primary"),
        Some(&4)
    );

    let all = rr_group(&stop, "all");
    all.register("a", primary.addr);
    all.register("b", secondary.addr);
    wait_healthy(&all, 2).await;
    assert_eq!(routed(&all), (vec!["a".to_owned(), "b".to_owned()], false));
}

/// An edge group in failover before two listeners: `first` (priority 0) and `second`.
async fn edge_before(
    stop: &Stop,
    first: std::net::SocketAddr,
    second: std::net::SocketAddr,
) -> Arc<TargetGroup> {
    let edge = failover_group(stop, "edge");
    edge.register_with_priority("first", first, 0);
    edge.register_with_priority("second", second, 1);
    edge
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_without_targets_sends_idempotent_requests_on_to_the_next() {
    let stop = Stop::new();
    let task = Backend::start("task").await;
    // The first "region": its ALB is up and healthy-checked through, then loses its target.
    let first_group = rr_group(&stop, "first-tg");
    first_group.register("t1", task.addr);
    wait_healthy(&first_group, 1).await;
    let first = Proxy::single(&first_group).await;
    let second_group = rr_group(&stop, "second-tg");
    second_group.register("t2", task.addr);
    wait_healthy(&second_group, 1).await;
    let second = Proxy::single(&second_group).await;
    let edge = edge_before(&stop, first.addr, second.addr).await;
    wait_healthy(&edge, 2).await;
    let front = Proxy::single(&edge).await;
    let c = client();

    // The first listener now has nothing to send to: it answers its marked 503.
    first_group.deregister("t1");
    wait_state(&first_group, "t1", TargetState::Unused).await;
    let direct = get(&c, &first.url("/")).await;
    assert_eq!(direct.status, 503);
    assert_eq!(direct.headers[NO_TARGET_HEADER], "1");
    // The edge still counts it healthy (its checks have not failed yet) and routes there,
    // yet every GET and HEAD is answered by the second.
    assert_eq!(routed(&edge).0, ["first"]);
    for _ in 0..10 {
        let r = get(&c, &front.url("/")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "task"));
    }
    let head = send(&c, http::Method::HEAD, &front.url("/"), "").await;
    assert_eq!(head.status, 200);
    assert!(front.listener.metrics().request_count >= 11);

    // A POST is not sent twice: the client gets the first listener's answer.
    let post = send(&c, http::Method::POST, &front.url("/"), "x").await;
    assert_eq!(post.status, 503);

    // A target's own 503 is its answer: never sent on to the next.
    let mut cfg = group_config("own");
    cfg.routing = Routing::Failover;
    cfg.health_check.path = "/".into();
    let own_group = common::group(&stop, cfg);
    let sick = Backend::start("sick").await;
    sick.set_health(503);
    own_group.register_with_priority("sick", sick.addr, 0);
    own_group.register_with_priority("task", task.addr, 1);
    wait_healthy(&own_group, 2).await;
    let own = Proxy::single(&own_group).await;
    let r = get(&c, &own.url("/health")).await;
    assert_eq!(r.status, 503);
    assert!(!r.headers.contains_key(NO_TARGET_HEADER));
    assert_eq!(sick.state.health_fail.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_refuses_connections_until_it_has_a_healthy_target() {
    let stop = Stop::new();
    let g = rr_group(&stop, "late");
    let reserved = Reserved::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = reserved.local_addr().unwrap();
    let listener = Listener::new("app/late", ForwardAction::single(g.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(haven_proxy::serve_when_healthy(
        reserved,
        listener,
        ProxyConfig::default(),
        stop_rx,
    ));
    // Bound, not listening: connections are refused.
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(std::io::ErrorKind::ConnectionRefused)
    );
    let task = Backend::start("task").await;
    g.register("t", task.addr);
    wait_healthy(&g, 1).await;
    let url = format!("http://{addr}/");
    let r = within("the listener to answer", async {
        loop {
            // Listening follows the state change at once; a connection may race it.
            if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
                drop(stream);
                return get(&client(), &url).await;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "task"));
    stop_tx.send_replace(true);
    within("the server to stop", server).await.unwrap().unwrap();

    // Stopped before any target was healthy: it returns without ever listening.
    let reserved = Reserved::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let empty = rr_group(&stop, "never");
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(haven_proxy::serve_when_healthy(
        reserved,
        Listener::new("app/never", ForwardAction::single(empty)),
        ProxyConfig::default(),
        stop_rx,
    ));
    stop_tx.send_replace(true);
    within("the server to stop", server).await.unwrap().unwrap();
}
