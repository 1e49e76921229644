//! The VPC twin end to end (`local.network = "vpc"`, with containers): each region's VPC as
//! network namespaces, every task at an address of its AZ's private subnet on the service's
//! port, the ALB reaching them from its nodes; a killed task is replaced at a new address; a
//! blackholed AZ's tasks fail their health checks while the other AZ serves; and nothing of
//! the namespaces outlives `haven down`, or a SIGKILL of `haven up` followed by the next
//! command.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;

/// The twin's namespaces (named after its instance id).
fn namespaces(twin: &Twin) -> Vec<String> {
    let instance = std::fs::read_to_string(twin.path().join(".haven/instance")).unwrap();
    let tag: String = instance.trim().chars().take(7).collect();
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("h{tag}")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn tasks_live_at_their_subnets_addresses_and_no_namespace_outlives_the_twin() {
    require_tools(&["ip", "nft", "buildah", "runc"], "the VPC twin's tests");
    let mut twin = Twin::unbuilt(|t| {
        t.replace("runtime = \"process\" ", "runtime = \"container\" ")
            .replace("network = \"auto\" ", "network = \"vpc\" ")
    });
    let out = Command::new("git")
        .args(["init", "-q"])
        .current_dir(twin.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    twin.up();
    assert!(twin.log().contains("Network vpc:"), "{}", twin.log());
    let status = twin.status();
    assert_eq!(status["network_mode"], "vpc", "{status:#}");
    let subnets = |region: &str| match region {
        "us-east-1" => ["10.0.11.", "10.0.12."],
        _ => ["10.1.11.", "10.1.12."],
    };
    for r in status["regions"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        for t in production(r)["tasks"].as_array().unwrap() {
            // awsvpc: the task's own address in its AZ's private subnet, the service's port.
            let address = t["address"].as_str().unwrap();
            let az_index = usize::from(t["az"].as_str().unwrap().ends_with('b'));
            assert!(
                address.starts_with(subnets(name)[az_index]) && address.ends_with(":8080"),
                "{name}: {t:#}"
            );
        }
    }
    let (code, body) = get(&twin.edge_url()).unwrap();
    assert_eq!(code, 200, "{body}");
    // Per region: its router, internet side, NAT, two ALB nodes and a node per task.
    let before = namespaces(&twin);
    assert!(before.len() >= 2 * 5 + 5, "{before:#?}");

    // A killed task is replaced by one at an address of its own; its node goes with it.
    let killed = twin.haven(&["chaos", "kill-task", "--region", "us-east-1"]);
    assert!(
        killed.status.success(),
        "{}",
        String::from_utf8_lossy(&killed.stderr)
    );
    eventually(30, "the service whole again", || {
        let s = twin.status();
        let svc = production(region(&s, "us-east-1"));
        (svc["healthy"] == svc["desired"]).then_some(())
    });
    assert_eq!(get(&twin.edge_url()).unwrap().0, 200);

    // An AZ's subnets blackholed: its tasks fail their health checks (the ALB cannot reach
    // them), the other AZ's serve; healed, the AZ serves again.
    let cut = twin.haven(&[
        "chaos",
        "blackhole",
        "--region",
        "us-east-1",
        "--az",
        "us-east-1a",
    ]);
    assert!(
        cut.status.success(),
        "{}",
        String::from_utf8_lossy(&cut.stderr)
    );
    let in_a = |s: &serde_json::Value| -> Vec<String> {
        production(region(s, "us-east-1"))["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["az"] == "us-east-1a")
            .map(|t| t["health"].as_str().unwrap().to_owned())
            .collect()
    };
    eventually(
        30,
        "us-east-1a's tasks unhealthy behind the blackhole",
        || {
            let s = twin.status();
            let blackholed =
                region(&s, "us-east-1")["blackholed_azs"] == serde_json::json!(["us-east-1a"]);
            let health = in_a(&s);
            (blackholed && !health.is_empty() && health.iter().all(|h| h != "healthy"))
                .then_some(())
        },
    );
    for _ in 0..5 {
        assert_eq!(
            get(&twin.edge_url()).unwrap().0,
            200,
            "served by us-east-1b"
        );
    }
    let healed = twin.haven(&["chaos", "heal"]);
    assert!(
        healed.status.success(),
        "{}",
        String::from_utf8_lossy(&healed.stderr)
    );
    eventually(60, "us-east-1a serving again", || {
        let s = twin.status();
        let health = in_a(&s);
        (!health.is_empty() && health.iter().all(|h| h == "healthy")).then_some(())
    });

    // SIGKILL of `haven up`: the next command removes the namespaces.
    twin.kill_up_then_down();
    assert_eq!(namespaces(&twin), Vec::<String>::new());

    // Up again, and a plain `haven down` leaves none either.
    twin.up();
    assert_eq!(get(&twin.edge_url()).unwrap().0, 200);
    assert!(!namespaces(&twin).is_empty());
    twin.down();
    assert_eq!(namespaces(&twin), Vec::<String>::new());
}
