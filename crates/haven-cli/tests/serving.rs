//! `haven status` tells the truth: the moment it says a region serves, a request through the
//! edge is answered; and a region process that crashes takes no traffic until it can serve.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// `haven status --json`, or `None` while there is no supervisor to answer yet.
fn try_status(twin: &Twin) -> Option<Value> {
    let out = twin.haven(&["status", "--json"]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

#[test]
fn the_moment_status_says_serving_the_edge_answers() {
    for round in 0..3 {
        let mut twin = Twin::project(|s| s);
        twin.start();
        // Polled as a script would poll it right after `haven up`.
        let (s, code, body) = eventually(90, "status to say a region serves", || {
            let s = try_status(&twin)?;
            // Every task called healthy is one its ALB sends requests to.
            for r in s["regions"].as_array().unwrap() {
                // A region still starting lists no services yet.
                let Some(svc) = r["services"]
                    .as_array()
                    .and_then(|a| a.iter().find(|s| s["environment"] == "production"))
                else {
                    continue;
                };
                if svc["healthy"].as_u64() > Some(0) {
                    let (code, body) = get(r["alb_url"].as_str().unwrap()).unwrap();
                    assert_eq!(
                        code, 200,
                        "round {round}: {} says healthy: {body}",
                        r["name"]
                    );
                }
            }
            if s["edge"]["serving_regions"].as_array()?.is_empty() {
                return None;
            }
            let (code, body) = get(s["edge"]["url"].as_str()?).unwrap();
            Some((s, code, body))
        });
        assert_eq!(code, 200, "round {round}: {body}\n{s:#}");
        assert!(body.contains("in us-east-1/"), "round {round}: {body}");
        assert_eq!(s["edge"]["mode"], "failover");
        assert_eq!(
            s["edge"]["serving_regions"],
            serde_json::json!(["us-east-1"]),
            "round {round}: failover serves one region"
        );
        // `haven up` says ready only when the edge serves.
        eventually(60, "haven up to say it is ready", || {
            twin.log().contains("Ready").then_some(())
        });
        let s = twin.status();
        assert_eq!(
            s["edge"]["serving_regions"],
            serde_json::json!(["us-east-1"])
        );
        assert_eq!(get(&twin.edge_url()).unwrap().0, 200);
        twin.down();
    }
}

#[test]
fn a_crashed_primary_region_takes_no_traffic_until_it_serves() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let s = twin.status();
    let old_pid = region(&s, "us-east-1")["pid"].as_u64().unwrap();
    let edge = twin.edge_url();
    let ((), ok, failed) = under_load(&edge, 4, || {
        // Traffic flows before the crash.
        eventually(10, "requests through the edge", || {
            get(&edge).ok().filter(|(c, _)| *c == 200).map(|_| ())
        });
        // A crash, not a drill: SIGKILL the region process itself.
        assert!(
            Command::new("kill")
                .args(["-KILL", &old_pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
        twin.wait_status(60, "us-east-1 restarted and serving again", |s| {
            let r = region(s, "us-east-1");
            r["pid"].as_u64().is_some_and(|p| p != old_pid)
                && r["healthy"] == true
                && s["edge"]["serving_regions"] == serde_json::json!(["us-east-1"])
        });
        // And answering: the restarted region serves the edge's requests again.
        let (code, body) = get(&edge).unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("in us-east-1/"), "{body}");
    });
    assert!(ok > 20, "the load ran ({ok} requests)");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed around the crash: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(twin.log().contains("exited unexpectedly"), "{}", twin.log());
    twin.down();
}
