//! Releases on the twin: blue/green and the other strategies under load, automatic rollback of
//! broken releases, and a release interrupted by a region crash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use serde_json::Value;

/// Releases `image` while keep-alive clients load the edge; returns the command's output and
/// what the clients saw.
fn release_under_load(twin: &Twin, args: &[&str]) -> (std::process::Output, LoadReport) {
    let edge = twin.edge_url();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let load = scope.spawn(|| keepalive_load(&edge, 4, &stop, version_of));
        let out = twin.haven(args);
        stop.store(true, Ordering::Relaxed);
        (out, load.join().unwrap())
    })
}

#[test]
fn blue_green_release_under_load_drops_nothing_and_goes_region_by_region() {
    let mut twin = Twin::project(|s| s);
    let v2 = twin.add_image("v2", &hello_version("2.0.0"), &[]);
    twin.up();
    let initial = production(region(&twin.status(), "us-east-1"))["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let (out, load) = release_under_load(&twin, &["release", "v2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(load.ok > 50, "{load:?}");
    assert!(
        load.non_2xx.is_empty(),
        "non-2xx during the release: {:?}",
        &load.non_2xx[..load.non_2xx.len().min(5)]
    );
    assert!(
        load.connection_errors.is_empty(),
        "connection errors: {:?}",
        &load.connection_errors[..load.connection_errors.len().min(5)]
    );
    assert!(
        load.bodies.contains_key("1.0.0") && load.bodies.contains_key("2.0.0"),
        "{:?}",
        load.bodies
    );
    // The primary first, then the secondary.
    let primary_at = stderr.find("in us-east-1 (").unwrap();
    let secondary_at = stderr.find("in us-west-2 (").unwrap();
    assert!(primary_at < secondary_at, "{stderr}");
    let s = twin.status();
    for r in ["us-east-1", "us-west-2"] {
        let svc = production(region(&s, r));
        assert_eq!(svc["image"], v2.as_str());
        let tasks = svc["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 2, "blue is gone in {r}: {tasks:?}");
        assert!(tasks.iter().all(|t| t["image"] == v2.as_str()));
    }
    let out = twin.haven(&["release", "ls", "--json"]);
    let releases: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps: Vec<&str> = releases[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert!(
        steps.iter().any(|s| s.contains("green task set healthy")),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.contains("test listener routes to green")),
        "{steps:?}"
    );
    assert_eq!(steps.last(), Some(&"blue task set stopped"));

    // Rollback returns to the previous image, again without dropping a request.
    let (out, load) = release_under_load(&twin, &["rollback"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        load.non_2xx.is_empty() && load.connection_errors.is_empty(),
        "{load:?}"
    );
    let s = twin.status();
    assert_eq!(
        production(region(&s, "us-east-1"))["image"],
        initial.as_str()
    );
    twin.down();
}

#[test]
fn canary_linear_and_rolling_strategies_release_without_errors() {
    let mut twin = Twin::project(|s| s.replace("bake_time = \"3s\"", "bake_time = \"1s\""));
    let builds = [("v2", "2.0.0"), ("v3", "3.0.0"), ("v4", "4.0.0")];
    let digests: Vec<String> = builds
        .iter()
        .map(|(tag, version)| twin.add_image(tag, &hello_version(version), &[]))
        .collect();
    twin.up();
    for (((id, _), strategy), digest) in builds
        .iter()
        .zip(["canary", "linear", "rolling"])
        .zip(&digests)
    {
        let args = [
            "release",
            id,
            "--region",
            "us-east-1",
            "--strategy",
            strategy,
        ];
        let (out, load) = release_under_load(&twin, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{strategy}: {stderr}");
        assert!(
            load.non_2xx.is_empty() && load.connection_errors.is_empty(),
            "{strategy}: {load:?}"
        );
        match strategy {
            "canary" => assert!(
                stderr.contains("10% of production traffic on green (canary)"),
                "{stderr}"
            ),
            "linear" => assert!(
                stderr.contains("90% of production traffic on green (linear)"),
                "{stderr}"
            ),
            _ => assert!(
                !stderr.contains("test listener"),
                "rolling has no separate green group: {stderr}"
            ),
        }
        assert_eq!(
            production(region(&twin.status(), "us-east-1"))["image"],
            digest.as_str()
        );
    }
    twin.down();
}

#[test]
fn a_region_killed_mid_release_comes_back_on_one_image() {
    let mut twin = Twin::project(|s| s.replace("bake_time = \"3s\"", "bake_time = \"30s\""));
    let v2 = twin.add_image("v2", &hello_version("2.0.0"), &[]);
    twin.up();
    // Start a release with a long bake, then kill the region while it bakes.
    let mut release = std::process::Command::new(haven_bin())
        .args(["release", "v2", "--region", "us-east-1"])
        .current_dir(twin.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    twin.wait_status(30, "green to take production traffic", |s| {
        production(region(s, "us-east-1"))["tasks"]
            .as_array()
            .is_some_and(|t| t.len() == 4)
    });
    eventually(30, "the traffic shift to be recorded", || {
        let out = twin.haven(&["release", "ls", "--json"]);
        let r: Value = serde_json::from_slice(&out.stdout).ok()?;
        r[0]["steps"]
            .as_array()?
            .iter()
            .any(|s| s["step"].as_str().unwrap_or("").contains("baking"))
            .then_some(())
    });
    assert!(
        twin.haven(&["chaos", "kill-region", "us-east-1"])
            .status
            .success()
    );
    // The release command loses its region mid-way; how it exits is not the point here.
    release.wait().unwrap();
    assert!(twin.haven(&["chaos", "heal", "us-east-1"]).status.success());
    let s = twin.wait_status(60, "us-east-1 healthy again", |s| {
        region(s, "us-east-1")["healthy"] == true
    });
    let svc = production(region(&s, "us-east-1"));
    let tasks = svc["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2, "one task set, not two halves: {tasks:?}");
    assert!(
        tasks.iter().all(|t| t["image"] == v2.as_str()),
        "traffic had moved, so the release completed: {tasks:?}"
    );
    let out = twin.haven(&["release", "ls", "--json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r[0]["state"], "SUCCESSFUL");
    assert!(
        r[0]["reason"].as_str().unwrap().contains("restarted"),
        "{r:#}"
    );
    twin.down();
}

#[test]
fn broken_releases_roll_back_with_production_untouched() {
    let mut twin = Twin::project(|s| s);
    twin.add_image("sick", hello_binary(), &["HELLO_FAIL_HEALTH=1"]);
    twin.add_image("crashy", hello_binary(), &["HELLO_CRASH_ON_START=1"]);
    twin.up();
    let v1 = production(region(&twin.status(), "us-east-1"))["image"]
        .as_str()
        .unwrap()
        .to_owned();
    for (tag, why) in [
        ("sick", "failed their health checks"),
        (
            "crashy",
            "hello: crashing on start as HELLO_CRASH_ON_START=1 asks",
        ),
    ] {
        let (out, load) = release_under_load(&twin, &["release", tag]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{tag}: {stderr}");
        assert!(stderr.contains("was rolled back"), "{stderr}");
        assert!(stderr.contains(why), "{tag}: the reason says why: {stderr}");
        assert!(
            stderr.contains("later regions were not touched"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("in us-west-2 ("),
            "the secondary is not released to: {stderr}"
        );
        assert!(load.ok > 20, "{load:?}");
        assert!(
            load.non_2xx.is_empty(),
            "{tag}: production saw errors: {:?}",
            &load.non_2xx[..load.non_2xx.len().min(5)]
        );
        assert!(
            load.connection_errors.is_empty(),
            "{tag}: {:?}",
            load.connection_errors
        );
        assert_eq!(load.bodies.keys().collect::<Vec<_>>(), ["1.0.0"]);
        let s = twin.wait_status(30, "green gone", |s| {
            production(region(s, "us-east-1"))["tasks"]
                .as_array()
                .unwrap()
                .len()
                == 2
        });
        let svc = production(region(&s, "us-east-1"));
        assert_eq!(svc["image"], v1.as_str());
        assert!(
            svc["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["image"] == v1.as_str())
        );
    }
    let out = twin.haven(&["release", "ls", "--json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = r
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ROLLED_BACK", "ROLLED_BACK"]);
    twin.down();
}

#[test]
fn immutable_tags_and_corrupted_images_are_refused() {
    let twin = Twin::project(|s| s);
    twin.add_image("v1", hello_binary(), &[]);
    // Re-pushing a tag to a different image is refused while tags are immutable.
    let build = twin.path().join(".haven/builds/v1-build");
    std::fs::copy(hello_version("2.0.0"), build.join("target/release/hello")).unwrap();
    std::fs::write(twin.path().join(".haven/builds/current"), "v1-build\n").unwrap();
    let out = twin.haven(&["image", "build", "--tag", "v1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ImageTagAlreadyExistsException") || stderr.contains("immutable"),
        "{stderr}"
    );

    // A corrupted layer is reported and never run.
    let inspect = twin.haven(&["image", "inspect", "v1", "--json"]);
    let detail: Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let layer = detail["manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_owned();
    let blob = twin
        .path()
        .join(".haven/regions/us-east-1/registry/blobs/sha256")
        .join(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let out = twin.haven(&["image", "inspect", "v1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.to_lowercase().contains("corrupt"), "{stderr}");
}
