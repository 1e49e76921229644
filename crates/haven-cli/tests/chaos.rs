//! The network faults drills inject, on a running twin: latency between a region's ALBs and its
//! tasks (`haven chaos net`), and a partition between the regions (`haven chaos partition`)
//! that holds source and image replication back until `haven chaos heal`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A GET through `url` and how long it took.
fn timed_get(url: &str) -> Duration {
    let started = Instant::now();
    let (code, body) = get(url).unwrap();
    assert_eq!(code, 200, "{body}");
    started.elapsed()
}

#[test]
fn latency_slows_every_request_through_the_alb_until_healed() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let url = twin.alb_url("us-east-1");
    let fastest = (0..3).map(|_| timed_get(&url)).min().unwrap();
    assert!(fastest < Duration::from_millis(300), "{fastest:?} before");

    // An AZ the region lacks is named back, and nothing changes.
    let out = twin.haven(&["chaos", "net", "--az", "us-east-1z", "--delay", "1s"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no AZ `us-east-1z`"), "{err}");

    let said = ok(&twin.haven(&["chaos", "net", "--delay", "300ms"]));
    assert!(said.contains("300 ms longer"), "{said}");
    for _ in 0..4 {
        let took = timed_get(&url);
        assert!(
            took >= Duration::from_millis(300),
            "only {took:?} with 300 ms"
        );
    }
    let s = twin.status();
    assert_eq!(
        region(&s, "us-east-1")["latency"],
        json!({ "delay_ms": 300, "jitter_ms": 0, "az": null })
    );
    assert_eq!(region(&s, "us-west-2")["latency"], Value::Null);
    // The health checks wait it too, within their timeout: the tasks stay healthy.
    assert_eq!(region(&s, "us-east-1")["healthy"], true, "{s:#}");

    let said = ok(&twin.haven(&["chaos", "heal"]));
    assert!(said.contains("removed the latency of 300 ms"), "{said}");
    assert_eq!(region(&twin.status(), "us-east-1")["latency"], Value::Null);
    for _ in 0..4 {
        let took = timed_get(&url);
        assert!(took < Duration::from_millis(300), "{took:?} after healing");
    }
    twin.down();
}

/// The head of `main` in `region`'s repository, as `haven status` shows it.
fn head(s: &Value, region: &str) -> Option<String> {
    s["source"]
        .as_array()?
        .iter()
        .find(|r| r["region"] == region)?["branches"]
        .as_array()?
        .iter()
        .find(|b| b["branch"] == "main")?["commit"]
        .as_str()
        .map(str::to_owned)
}

/// The pipeline run of `commit`, once there is one.
fn run_of(twin: &Twin, commit: &str) -> Option<Value> {
    let runs: Value = serde_json::from_str(&ok(&twin.haven(&["pipeline", "ls", "--json"]))).ok()?;
    runs.as_array()?
        .iter()
        .find(|r| r["commit"] == commit)
        .cloned()
}

fn stage_status(run: &Value, name: &str) -> Value {
    run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["status"]
        .clone()
}

#[test]
fn a_partition_holds_replication_back_until_healed_and_ends_with_the_twin() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let marker = twin.path().join(".haven/chaos/partition");

    let said = ok(&twin.haven(&["chaos", "partition"]));
    assert!(said.contains("nothing replicates"), "{said}");
    assert!(marker.is_file());
    assert_eq!(twin.status()["partitioned"], true);
    let said = ok(&twin.haven(&["chaos", "partition"]));
    assert!(said.contains("partitioned since"), "{said}");

    // A push to the primary starts a run, but does not reach the secondary.
    let clone = clone_source(&twin);
    let before = head(&twin.status(), "us-west-2").expect("the secondary has a main");
    std::fs::write(clone.join("PARTITIONED.md"), "pushed during a partition\n").unwrap();
    git_ok(&clone, &["add", "PARTITIONED.md"]);
    git_ok(&clone, &["commit", "--quiet", "-m", "during the partition"]);
    git_ok(&clone, &["push", "--quiet", "origin", "main"]);
    let commit = git_ok(&clone, &["rev-parse", "HEAD"]).trim().to_owned();
    eventually(30, "a run for the pushed commit", || run_of(&twin, &commit));
    assert_eq!(head(&twin.status(), "us-east-1").as_deref(), Some(&*commit));
    // Held back for as long as we look.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let s = twin.status();
        assert_eq!(
            head(&s, "us-west-2").as_deref(),
            Some(&*before),
            "replicated"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Images do not cross either: the release's replication says why.
    let image = twin.add_image("partitioned", hello_binary(), &[]);
    let out = twin.haven(&["release", &image, "--region", "us-west-2"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the regions are partitioned (`haven chaos heal` ends it); cannot replicate")
            && err.contains("us-west-2"),
        "{err}"
    );

    // The run's Build stage builds, then waits to replicate its image.
    let run = eventually(600, "the Build stage to wait for the partition", || {
        let run = run_of(&twin, &commit)?;
        assert_eq!(run["status"], "InProgress", "{run:#}");
        let id = run["id"].to_string();
        let log = ok(&twin.haven(&["pipeline", "logs", &id, "--stage", "Build"]));
        log.contains("waiting for the partition between regions to heal to replicate")
            .then_some(run)
    });
    assert_eq!(stage_status(&run, "Build"), "InProgress");

    let said = ok(&twin.haven(&["chaos", "heal"]));
    assert!(said.contains("the regions are connected again"), "{said}");
    assert!(!marker.exists());
    twin.wait_status(30, "the push to reach the secondary", |s| {
        s["partitioned"] == false && head(s, "us-west-2").as_deref() == Some(&*commit)
    });
    eventually(120, "the Build stage to replicate and succeed", || {
        let run = run_of(&twin, &commit)?;
        assert_eq!(run["status"], "InProgress", "{run:#}");
        (stage_status(&run, "Build") == "Succeeded").then_some(())
    });

    // `haven down` ends a partition, so that the next `haven up` starts connected.
    ok(&twin.haven(&["chaos", "partition"]));
    assert!(marker.is_file());
    twin.down();
    assert!(!marker.exists(), "the partition outlived the twin");
}
