//! The local twin as a user drives it: `haven up`, requests through the edge and the ALBs,
//! drills, and every shutdown path leaving no process behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

fn healthy_azs(svc: &Value) -> Vec<String> {
    let mut azs: Vec<String> = svc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["health"] == "healthy")
        .map(|t| t["az"].as_str().unwrap().to_owned())
        .collect();
    azs.sort();
    azs
}

#[test]
fn serves_through_edge_and_albs_spread_over_azs_then_stops_cleanly() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let s = twin.status();
    assert_eq!(s["edge"]["mode"], "failover");
    assert_eq!(
        s["edge"]["serving_regions"],
        serde_json::json!(["us-east-1"])
    );
    for (name, role) in [("us-east-1", "primary"), ("us-west-2", "secondary")] {
        let r = region(&s, name);
        assert_eq!(r["role"], role);
        assert_eq!(r["healthy"], true);
        assert!(r["pid"].as_u64().is_some());
        let svc = production(r);
        assert_eq!(
            (
                svc["desired"].as_u64(),
                svc["running"].as_u64(),
                svc["min"].as_u64(),
                svc["max"].as_u64()
            ),
            (Some(2), Some(2), Some(2), Some(10))
        );
        assert_eq!(
            healthy_azs(svc),
            [format!("{name}a"), format!("{name}b")],
            "one task per AZ"
        );
        for t in svc["tasks"].as_array().unwrap() {
            assert_eq!(
                t["image"], svc["image"],
                "every task runs the service's image"
            );
            assert!(t["image"].as_str().unwrap().starts_with("sha256:"), "{t}");
            assert!(t["address"].as_str().unwrap().starts_with("127.0.0.1:"));
        }
        let (code, body) = get(r["alb_url"].as_str().unwrap()).unwrap();
        assert_eq!(code, 200);
        assert!(body.contains(&format!("in {name}/")), "{body}");
    }
    // Staging runs in the primary only, behind its own ALB.
    let staging: Vec<&Value> = s["regions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["services"].as_array().unwrap())
        .filter(|svc| svc["environment"] == "staging")
        .collect();
    assert_eq!(staging.len(), 1);
    assert_eq!(staging[0]["desired"], 1);

    let edge = twin.edge_url();
    for _ in 0..4 {
        let (code, body) = get(&edge).unwrap();
        assert_eq!(code, 200);
        assert!(
            body.contains("in us-east-1/"),
            "failover routing serves the primary: {body}"
        );
    }
    let (code, _) = get(&format!("{edge}/health")).unwrap();
    assert_eq!(code, 200);

    // The control API refuses requests without the state directory's token.
    let control = s["control_url"].as_str().unwrap();
    assert!(control.starts_with("http://127.0.0.1:"), "{control}");
    let (code, body) = get(&format!("{control}/status")).unwrap();
    assert_eq!(code, 401, "{body}");
    let token_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(twin.path().join(".haven/token"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(token_mode & 0o777, 0o600);

    // Everything binds to loopback only.
    assert!(edge.starts_with("http://127.0.0.1:"));

    let pids = twin.recorded_pids();
    assert!(pids.len() >= 1 + 1 + 2 + 5, "{pids:?}");
    twin.down();
    assert_all_gone(&pids);
    assert!(twin.log().contains("Stopped"), "{}", twin.log());
}

#[test]
fn a_killed_task_is_replaced_and_costs_clients_nothing() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let before = twin.status();
    let old: Vec<String> = production(region(&before, "us-east-1"))["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let edge = twin.edge_url();
    let ((), ok, failed) = under_load(&edge, 4, || {
        let out = twin.haven(&["chaos", "kill-task", "--region", "us-east-1", &old[0]]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&old[0]));
        twin.wait_status(30, "a replacement task to be healthy", |s| {
            let svc = production(region(s, "us-east-1"));
            let ids: Vec<&str> = svc["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap())
                .collect();
            svc["healthy"] == 2 && !ids.contains(&old[0].as_str())
        });
    });
    assert!(ok > 20, "the load ran ({ok} requests)");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    let s = twin.status();
    let svc = production(region(&s, "us-east-1"));
    assert_eq!(
        healthy_azs(svc),
        ["us-east-1a", "us-east-1b"],
        "the replacement went to the emptied AZ"
    );
    let events = svc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        events.contains("Essential container in task exited"),
        "{events}"
    );
    twin.down();
}

#[test]
fn losing_an_az_moves_its_tasks_to_the_other_until_healed() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let out = twin.haven(&["chaos", "kill-az", "us-east-1", "us-east-1a"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = twin.wait_status(30, "both tasks healthy in us-east-1b", |s| {
        healthy_azs(production(region(s, "us-east-1"))) == ["us-east-1b", "us-east-1b"]
    });
    assert_eq!(
        region(&s, "us-east-1")["impaired_azs"],
        serde_json::json!(["us-east-1a"])
    );
    // The edge still serves from the primary: the region survived the loss of an AZ.
    let (code, body) = get(&twin.edge_url()).unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("us-east-1/us-east-1b"), "{body}");

    let out = twin.haven(&["chaos", "heal", "us-east-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    twin.wait_status(30, "the AZ to be usable again", |s| {
        region(s, "us-east-1")["impaired_azs"]
            .as_array()
            .unwrap()
            .is_empty()
    });
    twin.down();
}

#[test]
fn a_killed_region_fails_over_and_a_healed_one_reconciles_without_duplicates() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let before = twin.status();
    let old_pids: Vec<u32> = production(region(&before, "us-east-1"))["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pid"].as_u64().unwrap() as u32)
        .collect();
    let edge = twin.edge_url();
    let ((), ok, failed) = under_load(&edge, 4, || {
        let out = twin.haven(&["chaos", "kill-region", "us-east-1"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        twin.wait_status(30, "the edge to serve from us-west-2 only", |s| {
            s["edge"]["serving_regions"] == serde_json::json!(["us-west-2"])
                && region(s, "us-east-1")["state"] == "stopped"
        });
        // Requests keep flowing from the secondary.
        let (code, body) = get(&edge).unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("in us-west-2/"), "{body}");
    });
    assert!(ok > 10);
    assert!(
        failed.is_empty(),
        "{} requests failed during the region kill: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_all_gone(&old_pids);

    let out = twin.haven(&["chaos", "heal", "us-east-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = twin.wait_status(60, "us-east-1 back and serving", |s| {
        region(s, "us-east-1")["healthy"] == true
            && s["edge"]["serving_regions"] == serde_json::json!(["us-east-1"])
    });
    let svc = production(region(&s, "us-east-1"));
    assert_eq!(
        svc["tasks"].as_array().unwrap().len(),
        2,
        "no duplicate tasks: {svc:#}"
    );
    assert_eq!(healthy_azs(svc), ["us-east-1a", "us-east-1b"]);
    let (_, body) = get(&edge).unwrap();
    assert!(
        body.contains("in us-east-1/"),
        "traffic returned to the primary: {body}"
    );
    twin.down();
}

#[test]
fn scales_out_under_cpu_load_and_back_in_after_the_cooldown() {
    let mut twin = Twin::project(|s| {
        s.replace("cpu = 512 ", "cpu = 256 ")
            .replace("memory = 1024 ", "memory = 512 ")
            .replace("max = 10\n", "max = 4\n")
            .replace(
                "[local]\n",
                "[local]\nscale_out_cooldown = \"2s\"\nscale_in_cooldown = \"3s\"\n",
            )
    });
    twin.up();
    let alb = region(&twin.status(), "us-west-2")["alb_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let work = format!("{alb}/work?ms=300");
    let (s, _, failed) = under_load(&work, 3, || {
        twin.wait_status(60, "a scale-out", |s| {
            production(region(s, "us-west-2"))["desired"].as_u64() > Some(2)
        })
    });
    assert!(failed.is_empty(), "{failed:?}");
    let svc = production(region(&s, "us-west-2"));
    let activity = &svc["scaling_activities"][0];
    assert_eq!(activity["from"], 2);
    assert!(
        activity["cause"]
            .as_str()
            .unwrap()
            .contains("CPUUtilization"),
        "{activity}"
    );
    let s = twin.wait_status(90, "a scale-in back to min", |s| {
        let svc = production(region(s, "us-west-2"));
        svc["desired"] == 2 && svc["scaling_activities"].as_array().unwrap().len() >= 2
    });
    let acts = production(region(&s, "us-west-2"))["scaling_activities"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        acts.last().unwrap()["cause"]
            .as_str()
            .unwrap()
            .contains("below 90% of targets"),
        "{acts:?}"
    );
    twin.wait_status(30, "extra tasks stopped", |s| {
        production(region(s, "us-west-2"))["running"] == 2
    });
    twin.down();
}

#[test]
fn shutdown_drains_in_flight_requests() {
    let mut twin = Twin::project(|s| {
        s.replace("[local]\n", "[local]\nderegistration_delay = \"5s\"\n")
            .replace("deregistration_delay = \"1s\"\n", "")
    });
    twin.up();
    let alb = region(&twin.status(), "us-east-1")["alb_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let pids = twin.recorded_pids();
    let slow = std::thread::spawn(move || get(&format!("{alb}/sleep?ms=1500")));
    // The request is in flight once a task reports it.
    eventually(10, "the slow request to reach a task", || {
        std::fs::read_dir(twin.path().join(".haven/regions/us-east-1/tasks"))
            .ok()?
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|l| l.contains("/sleep")))
            .then_some(())
    });
    twin.down();
    let (code, body) = slow.join().unwrap().unwrap();
    assert_eq!(code, 200, "the in-flight request finished: {body}");
    assert_all_gone(&pids);
}

#[test]
fn no_orphans_when_the_supervisor_is_killed() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let pids = twin.recorded_pids();
    let up = twin.up.take().unwrap();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &up.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut up = up;
    up.wait().unwrap();
    assert_all_gone(&pids);
    // A new `haven up` in the same directory starts cleanly.
    twin.up();
    twin.down();
}

#[test]
fn a_crashed_region_process_is_restarted_and_its_tasks_replaced() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let s = twin.status();
    let r = region(&s, "us-west-2");
    let region_pid = r["pid"].as_u64().unwrap() as u32;
    let task_pids: Vec<u32> = production(r)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pid"].as_u64().unwrap() as u32)
        .collect();
    // A crash, not a drill: SIGKILL the region process itself.
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &region_pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert_all_gone(&task_pids);
    let s = twin.wait_status(60, "us-west-2 restarted and healthy", |s| {
        let r = region(s, "us-west-2");
        r["healthy"] == true && r["pid"].as_u64() != Some(u64::from(region_pid))
    });
    assert_eq!(
        production(region(&s, "us-west-2"))["tasks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(twin.log().contains("exited unexpectedly"), "{}", twin.log());
    twin.down();
}

#[test]
fn a_service_that_crashes_at_start_trips_the_circuit_breaker() {
    let mut twin = Twin::project(|s| {
        s.replace(
            "environment = { RUST_LOG = \"info\" }",
            "environment = { RUST_LOG = \"info\", HELLO_CRASH_ON_START = \"1\" }",
        )
    });
    let out = std::process::Command::new(haven_bin())
        .arg("up")
        .current_dir(twin.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    twin.up = None;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("circuit breaker"), "{stderr}");
    assert!(
        stderr.contains("hello: crashing on start as HELLO_CRASH_ON_START=1 asks"),
        "the task's last stderr lines: {stderr}"
    );
    assert!(!twin.path().join(".haven/supervisor.json").exists());
}

#[test]
fn hostile_requests_are_refused_at_the_alb() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let alb = region(&twin.status(), "us-east-1")["alb_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let smuggle = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n";
    assert_eq!(request(&alb, smuggle).unwrap().0, 400);
    let two_lengths = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde";
    assert_eq!(request(&alb, two_lengths).unwrap().0, 400);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    assert_eq!(request(&alb, &big).unwrap().0, 431);
    // Other clients are unaffected.
    assert_eq!(get(&alb).unwrap().0, 200);
    twin.down();
}

#[test]
fn up_builds_the_service_from_its_buildspec_when_there_is_no_build() {
    let mut twin = Twin::unbuilt(|s| s);
    twin.up();
    let log = twin.log();
    assert!(log.contains("Building hello with ./buildspec.yml"), "{log}");
    assert!(log.contains("Built "), "{log}");
    // The build was packaged as an image, pushed to the primary and replicated.
    assert!(log.contains("Pushed "), "{log}");
    let build = std::fs::read_to_string(twin.path().join(".haven/builds/current")).unwrap();
    let artifacts = twin.path().join(".haven/builds").join(build.trim());
    assert!(artifacts.join("target/release/hello").is_file());
    let s = twin.status();
    let image = production(region(&s, "us-west-2"))["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let blobs = twin.path().join(".haven/regions/us-west-2/registry/blobs");
    assert!(
        blobs
            .join("sha256")
            .join(image.trim_start_matches("sha256:"))
            .is_file()
    );
    let (code, body) = get(&twin.edge_url()).unwrap();
    assert_eq!(
        (code, body.starts_with("hello from hello-production 1.0.0")),
        (200, true),
        "{body}"
    );
    twin.down();
}

#[test]
fn a_failing_build_stops_up_with_the_log_and_starts_nothing() {
    let twin = Twin::unbuilt(|s| s);
    let main = twin.path().join("src/routes.rs");
    let code = std::fs::read_to_string(&main).unwrap();
    // A unit test that fails: the buildspec's pre_build runs `cargo test`.
    std::fs::write(
        &main,
        format!("{code}\n#[test]\nfn planted_failure() {{ assert_eq!(1, 2, \"planted\"); }}\n"),
    )
    .unwrap();
    let out = twin.haven(&["up"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the build ended FAILED in phase PRE_BUILD"),
        "{stderr}"
    );
    assert!(
        stderr.contains("planted_failure"),
        "the log's tail names the failing test: {stderr}"
    );
    assert!(!twin.path().join(".haven/supervisor.json").exists());
}

#[test]
fn sigterm_and_sigint_to_up_stop_everything() {
    for signal in ["-TERM", "-INT"] {
        let mut twin = Twin::project(|s| s);
        twin.up();
        let pids = twin.recorded_pids();
        let mut up = twin.up.take().unwrap();
        assert!(
            std::process::Command::new("kill")
                .args([signal, &up.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let status = up.wait().unwrap();
        assert!(
            status.success(),
            "{signal}: haven up exited with {status}:\n{}",
            twin.log()
        );
        assert_all_gone(&pids);
        assert!(!twin.path().join(".haven/supervisor.json").exists());
    }
}
