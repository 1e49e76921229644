//! Health checks and the target state machine: initial → healthy after one pass,
//! thresholds both ways, matcher ranges, reason codes, and the checker's requests.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use haven_proxy::{Matcher, Reason, TargetState};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_target_gets_no_traffic_until_it_passes_a_check() {
    let stop = Stop::new();
    let g = rr_group(&stop, "new");
    let [_a] = healthy_backends(&g, ["a"]).await;
    let proxy = Proxy::single(&g).await;
    let c = client();

    let b = Backend::start("b").await;
    b.set_health(503);
    let mut events = g.subscribe();
    g.register("b", b.addr);
    let ev = within("registration event", events.recv()).await.unwrap();
    assert_eq!(
        (ev.id.as_str(), ev.from, ev.to),
        ("b", None, TargetState::Initial)
    );
    assert_eq!(ev.reason, Some(Reason::RegistrationInProgress));
    // Failing checks keep it out of rotation: first initial, then unhealthy.
    within("a failed check", async {
        while b.state.health_fail.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let seen = spread(&c, &proxy.url("/"), 20).await;
    assert_eq!(seen.get("a"), Some(&20), "{seen:?}");
    assert_eq!(b.hits(), 0);
    let snap = g.target("b").unwrap();
    assert!(
        matches!(snap.state, TargetState::Initial | TargetState::Unhealthy),
        "{snap:?}"
    );

    b.set_health(200);
    wait_state(&g, "b", TargetState::Healthy).await;
    let seen = spread(&c, &proxy.url("/"), 20).await;
    assert_eq!((seen["a"], seen["b"]), (10, 10), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_makes_an_initial_target_healthy() {
    // AWS: a newly registered target must pass one health check; the healthy threshold is
    // for a target coming back from unhealthy.
    let stop = Stop::new();
    let mut cfg = group_config("one");
    cfg.health_check.healthy_threshold = 5;
    // Long interval: only the immediate first check runs during the test.
    cfg.health_check.interval = std::time::Duration::from_secs(30);
    cfg.health_check.timeout = std::time::Duration::from_secs(5);
    let g = group(&stop, cfg);
    let b = Backend::start("b").await;
    let mut events = g.subscribe();
    g.register("b", b.addr);
    let ev = next_event("healthy event", &mut events, |ev| {
        ev.to == TargetState::Healthy
    })
    .await;
    assert_eq!(ev.from, Some(TargetState::Initial));
    assert_eq!(b.state.health_ok.load(Ordering::SeqCst), 1);
    let t = g.target("b").unwrap();
    assert_eq!((t.reason, t.in_flight, t.priority), (None, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unhealthy_after_threshold_and_back_after_threshold() {
    let stop = Stop::new();
    let mut cfg = group_config("thresholds");
    cfg.health_check.unhealthy_threshold = 3;
    cfg.health_check.healthy_threshold = 2;
    let g = group(&stop, cfg);
    let [_a, b] = healthy_backends(&g, ["a", "b"]).await;
    let proxy = Proxy::single(&g).await;
    let c = client();

    let mut events = g.subscribe();
    b.set_health(500);
    let ev = next_event("unhealthy event", &mut events, |ev| ev.id == "b").await;
    assert_eq!(
        (ev.from, ev.to),
        (Some(TargetState::Healthy), TargetState::Unhealthy)
    );
    assert_eq!(ev.reason, Some(Reason::ResponseCodeMismatch));
    let failures = b.state.health_fail.load(Ordering::SeqCst);
    assert!(
        failures >= 3,
        "unhealthy after only {failures} failed checks"
    );
    assert_eq!(g.target("b").unwrap().last_mismatch_code, Some(500));
    assert_eq!((g.healthy_count(), g.unhealthy_count()), (1, 1));
    assert_eq!(spread(&c, &proxy.url("/"), 10).await.get("a"), Some(&10));

    let ok_before = b.state.health_ok.load(Ordering::SeqCst);
    b.set_health(200);
    let ev = next_event("healthy event", &mut events, |ev| ev.id == "b").await;
    assert_eq!(
        (ev.from, ev.to, ev.reason),
        (Some(TargetState::Unhealthy), TargetState::Healthy, None)
    );
    let passes = b.state.health_ok.load(Ordering::SeqCst) - ok_before;
    assert!(passes >= 2, "healthy after only {passes} passed checks");
    let seen = spread(&c, &proxy.url("/"), 10).await;
    assert_eq!((seen["a"], seen["b"]), (5, 5), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matcher_ranges_decide_health() {
    let stop = Stop::new();
    let mut cfg = group_config("matcher");
    cfg.health_check.matcher = Matcher::parse("200-299").unwrap();
    let g = group(&stop, cfg);
    let b = Backend::start("b").await;
    b.set_health(204);
    g.register("b", b.addr);
    wait_state(&g, "b", TargetState::Healthy).await;
    b.set_health(302);
    wait_state(&g, "b", TargetState::Unhealthy).await;
    let t = g.target("b").unwrap();
    assert_eq!(
        (t.reason, t.last_mismatch_code),
        (Some(Reason::ResponseCodeMismatch), Some(302))
    );

    let list = Matcher::parse("200,202").unwrap();
    assert!(list.matches(202) && !list.matches(201));
    assert!(Matcher::parse("600").is_err() && Matcher::parse("299-200").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_connection_failures_have_their_reasons() {
    let stop = Stop::new();
    let mut cfg = group_config("reasons");
    cfg.health_check.path = "/hang".into();
    let g = group(&stop, cfg);
    let hanging = Backend::start("hang").await;
    g.register("hang", hanging.addr);
    g.register("gone", refused_addr().await);
    wait_state(&g, "hang", TargetState::Unhealthy).await;
    wait_state(&g, "gone", TargetState::Unhealthy).await;
    assert_eq!(g.target("hang").unwrap().reason, Some(Reason::Timeout));
    assert_eq!(
        g.target("gone").unwrap().reason,
        Some(Reason::FailedHealthChecks)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_health_checks_are_rejected() {
    let mut cfg = group_config("bad");
    cfg.health_check.timeout = cfg.health_check.interval;
    assert!(haven_proxy::TargetGroup::new(cfg).is_err());
    let mut cfg = group_config("bad");
    cfg.health_check.path = "health".into();
    assert!(haven_proxy::TargetGroup::new(cfg).is_err());
    let mut cfg = group_config("bad");
    cfg.health_check.unhealthy_threshold = 0;
    assert!(haven_proxy::TargetGroup::new(cfg).is_err());
}
