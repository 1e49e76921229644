//! Injected network latency: requests to affected targets take the delay longer and the
//! target response time says so, an AZ filter reaches that zone's targets only, health checks
//! wait it too, and clearing it makes everything fast again.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use haven_proxy::{InjectedLatency, Reason, TargetGroup, TargetState};

/// Health checks that pass despite the delays these tests inject.
fn patient_group(stop: &Stop, name: &str) -> Arc<TargetGroup> {
    let mut cfg = group_config(name);
    cfg.health_check.interval = Duration::from_secs(2);
    cfg.health_check.timeout = Duration::from_secs(1);
    group(stop, cfg)
}

/// Two backends, `a` in `az-a` and `b` in `az-b`, healthy.
async fn zoned_backends(g: &TargetGroup) -> [Backend; 2] {
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    g.register_in_zone("a", a.addr, "az-a");
    g.register_in_zone("b", b.addr, "az-b");
    wait_healthy(g, 2).await;
    [a, b]
}

fn latency(delay_ms: u64, jitter_ms: u64, zone: Option<&str>) -> InjectedLatency {
    InjectedLatency {
        delay: Duration::from_millis(delay_ms),
        jitter: Duration::from_millis(jitter_ms),
        zone: zone.map(str::to_owned),
    }
}

/// `n` sequential GETs: each answering backend's name with how long it took.
async fn timed(c: &HttpClient, url: &str, n: usize) -> Vec<(String, Duration)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = get(c, url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        out.push((r.body, started.elapsed()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_delays_every_request_and_shows_in_target_response_time_until_cleared() {
    let stop = Stop::new();
    let g = patient_group(&stop, "lat");
    let _backends = zoned_backends(&g).await;
    let proxy = Proxy::single(&g).await;
    let c = client();
    let url = proxy.url("/");

    for (name, took) in timed(&c, &url, 4).await {
        assert!(
            took < Duration::from_millis(250),
            "{name} took {took:?} before any latency"
        );
    }
    assert_eq!(g.latency(), None);

    let set = latency(300, 50, None);
    g.set_latency(Some(set.clone()));
    assert_eq!(g.latency(), Some(set));
    let mut seen = Vec::new();
    let before = g.metrics();
    for (name, took) in timed(&c, &url, 4).await {
        assert!(
            took >= Duration::from_millis(250),
            "{name} took only {took:?}"
        );
        seen.push(name);
    }
    let after = g.metrics();
    let count = after.target_response_time_count - before.target_response_time_count;
    let avg = (after.target_response_time_sum - before.target_response_time_sum) / count as u32;
    assert!(
        avg >= Duration::from_millis(250),
        "TargetResponseTime leaves the delay out: {avg:?}"
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["a", "b"], "both zones' targets are reached");

    g.set_latency(None);
    assert_eq!(g.latency(), None);
    for (name, took) in timed(&c, &url, 4).await {
        assert!(
            took < Duration::from_millis(250),
            "{name} took {took:?} after clearing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_az_filter_delays_only_that_zones_targets() {
    let stop = Stop::new();
    let g = patient_group(&stop, "zoned");
    let _backends = zoned_backends(&g).await;
    let proxy = Proxy::single(&g).await;
    let c = client();

    g.set_latency(Some(latency(300, 0, Some("az-a"))));
    let runs = timed(&c, &proxy.url("/"), 6).await;
    for (name, took) in &runs {
        match name.as_str() {
            "a" => assert!(*took >= Duration::from_millis(300), "a took only {took:?}"),
            "b" => assert!(*took < Duration::from_millis(300), "b took {took:?}"),
            other => panic!("unexpected backend {other}"),
        }
    }
    assert!(
        ["a", "b"]
            .iter()
            .all(|n| runs.iter().any(|(name, _)| name == n)),
        "round robin reached both: {runs:?}"
    );

    // A zone no target is in delays nothing.
    g.set_latency(Some(latency(300, 0, Some("az-c"))));
    for (name, took) in timed(&c, &proxy.url("/"), 4).await {
        assert!(took < Duration::from_millis(300), "{name} took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_wait_the_latency_and_time_out_past_their_timeout() {
    let stop = Stop::new();
    // Checks every 100 ms with an 80 ms timeout: a 200 ms delay makes them time out.
    let g = rr_group(&stop, "checks");
    let _backends = zoned_backends(&g).await;

    g.set_latency(Some(latency(200, 0, Some("az-a"))));
    wait_state(&g, "a", TargetState::Unhealthy).await;
    let a = g.target("a").unwrap();
    assert_eq!(a.reason, Some(Reason::Timeout), "{a:?}");
    assert_eq!(
        g.target("b").unwrap().state,
        TargetState::Healthy,
        "the other zone's target is checked without delay"
    );

    g.set_latency(None);
    wait_state(&g, "a", TargetState::Healthy).await;
}
