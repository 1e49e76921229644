//! The delivery flow end to end on the twin: `git push` to the CodeCommit twin, the pipeline
//! builds with the example's buildspec (its unit tests included), releases to staging, waits
//! for a person, then releases to both production regions under load; broken changes stop at
//! Build, protected branches refuse rewrites, and a killed pipeline process resumes its run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use serde_json::Value;

/// The JSON array a `haven ... --json` command prints.
fn json_list(twin: &Twin, args: &[&str]) -> Vec<Value> {
    let out = twin.haven(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap()
}

fn runs(twin: &Twin) -> Vec<Value> {
    json_list(twin, &["pipeline", "ls", "--json"])
}

fn run_of(twin: &Twin, commit: &str) -> Option<Value> {
    runs(twin).into_iter().find(|r| r["commit"] == commit)
}

fn stage<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

/// Waits until the run of `commit` satisfies `pred`; fails early, with the run's logs, when it
/// ends otherwise.
fn wait_run(twin: &Twin, commit: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    eventually(600, what, || {
        let run = run_of(twin, commit)?;
        if pred(&run) {
            return Some(run);
        }
        if run["status"] != "InProgress" {
            let id = run["id"].to_string();
            let logs = twin.haven(&["pipeline", "logs", &id]);
            panic!(
                "run ended {} before {what}: {}\n{}",
                run["status"],
                run["message"],
                String::from_utf8_lossy(&logs.stdout)
            );
        }
        None
    })
}

fn set_version(clone: &Path, version: &str) {
    let main = clone.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    let changed = text.replace(
        "const VERSION: &str = \"1.0.0\";",
        &format!("const VERSION: &str = \"{version}\";"),
    );
    assert_ne!(text, changed, "the example's version line moved");
    std::fs::write(&main, changed).unwrap();
}

fn commit_and_push(clone: &Path, message: &str) -> String {
    git_ok(clone, &["commit", "--quiet", "-am", message]);
    git_ok(clone, &["push", "--quiet", "origin", "main"]);
    git_ok(clone, &["rev-parse", "HEAD"]).trim().to_owned()
}

fn body_version(url: &str) -> String {
    get(url).map(|(_, b)| version_of(&b)).unwrap_or_default()
}

/// Each region's production ALB URL, by region, from a `haven status --json`.
fn production_urls(status: &Value) -> Vec<(&'static str, String)> {
    ["us-east-1", "us-west-2"]
        .into_iter()
        .map(|r| {
            let url = production(region(status, r))["alb_url"].as_str().unwrap();
            (r, url.to_owned())
        })
        .collect()
}

#[test]
fn a_push_goes_through_build_staging_approval_and_both_regions() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let clone = clone_source(&twin);
    assert!(clone.join("buildspec.yml").is_file());
    assert!(
        !clone.join(".haven").exists(),
        "the state directory was imported"
    );

    // Protected `main`: no force-push, no deletion; nothing changes.
    let head = git_ok(&clone, &["rev-parse", "HEAD"]).trim().to_owned();
    git_ok(&clone, &["commit", "--quiet", "--amend", "-m", "rewritten"]);
    let (ok, text) = git(&clone, &["push", "--force", "origin", "main"]);
    assert!(
        !ok && text.contains("non-fast-forward push (force-push) to protected branch 'main'"),
        "{text}"
    );
    let (ok, text) = git(&clone, &["push", "origin", "--delete", "main"]);
    assert!(
        !ok && text.contains("refusing to delete protected branch 'main'"),
        "{text}"
    );
    git_ok(&clone, &["reset", "--quiet", "--hard", &head]);
    assert!(runs(&twin).is_empty(), "a refused push started a run");

    let status = twin.status();
    let staging_url = region(&status, "us-east-1")["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["environment"] == "staging")
        .unwrap()["alb_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let regional: Vec<String> = production_urls(&status)
        .into_iter()
        .map(|(_, url)| url)
        .collect();

    let edge = twin.edge_url();
    let stop = AtomicBool::new(false);
    let (commit, load) = std::thread::scope(|scope| {
        let load = scope.spawn(|| keepalive_load(&edge, 2, &stop, version_of));
        set_version(&clone, "2.0.0");
        let commit = commit_and_push(&clone, "version 2.0.0");
        let run = wait_run(&twin, &commit, "the run to wait for approval", |r| {
            stage(r, "Approval")["status"] == "InProgress"
        });
        let id = run["id"].to_string();
        assert_eq!(stage(&run, "Build")["status"], "Succeeded");
        // The example's buildspec ran its unit tests.
        let build_log = twin.haven(&["pipeline", "logs", &id, "--stage", "Build"]);
        let build_log = String::from_utf8_lossy(&build_log.stdout);
        assert!(
            build_log.contains("cargo test --release --locked"),
            "{build_log}"
        );
        assert!(build_log.contains("test result: ok."), "{build_log}");
        assert_eq!(
            body_version(&staging_url),
            "2.0.0",
            "staging runs the new version"
        );
        for url in &regional {
            assert_eq!(
                body_version(url),
                "1.0.0",
                "production changed before approval"
            );
        }

        // The approval request went out on the topic, saying what to run.
        let outbox = twin.path().join(".haven/pipeline/outbox");
        let announced = eventually(30, "the approval request in the outbox", || {
            std::fs::read_dir(&outbox).ok()?.flatten().find_map(|e| {
                let text = std::fs::read_to_string(e.path()).ok()?;
                text.contains(&format!("haven pipeline approve {id}"))
                    .then_some(text)
            })
        });
        assert!(announced.contains("APPROVAL NEEDED"), "{announced}");
        // A killed pipeline process comes back and the approval is still pending, not redone.
        let before =
            std::fs::read_to_string(twin.path().join(".haven/pipeline/control.json")).unwrap();
        let pid: u32 = serde_json::from_str::<Value>(&before).unwrap()["pid"]
            .as_u64()
            .unwrap() as u32;
        unsafe_kill(pid);
        eventually(60, "a new pipeline process", || {
            let now =
                std::fs::read_to_string(twin.path().join(".haven/pipeline/control.json")).ok()?;
            let v: Value = serde_json::from_str(&now).ok()?;
            (v["pid"].as_u64()? as u32 != pid && alive(v["pid"].as_u64()? as u32)).then_some(())
        });
        let again = run_of(&twin, &commit).unwrap();
        assert_eq!(again["status"], "InProgress");
        assert_eq!(stage(&again, "Approval")["status"], "InProgress");
        assert_eq!(
            stage(&again, "Approval")["attempts"],
            1,
            "the approval was entered again"
        );
        assert_eq!(stage(&again, "Build")["attempts"], 1, "the build ran again");

        // Approving needs the token: without it the control API refuses.
        let control = twin.status()["control_url"].as_str().unwrap().to_owned();
        let (code, _) = request(
            &control,
            &format!(
                "POST /pipeline/runs/{id}/approve HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            ),
        )
        .unwrap();
        assert_eq!(code, 401);
        let out = twin.haven(&["pipeline", "approve", &id, "--comment", "looks good"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        wait_run(&twin, &commit, "the run to succeed", |r| {
            r["status"] == "Succeeded"
        });
        stop.store(true, Ordering::Relaxed);
        (commit, load.join().unwrap())
    });
    assert!(load.ok > 50, "{load:?}");
    assert!(
        load.non_2xx.is_empty(),
        "non-2xx during delivery: {:?}",
        &load.non_2xx[..load.non_2xx.len().min(5)]
    );
    assert!(
        load.connection_errors.is_empty(),
        "connection errors during delivery: {:?}",
        &load.connection_errors[..load.connection_errors.len().min(5)]
    );
    for url in &regional {
        assert_eq!(
            body_version(url),
            "2.0.0",
            "{url} does not serve the new version"
        );
    }
    let run = run_of(&twin, &commit).unwrap();
    assert_eq!(stage(&run, "Approval")["message"], "approved: looks good");
    let image = run["image"].as_str().unwrap().to_owned();

    // The secondary holds the commit and the image.
    let status = twin.status();
    let west = status["source"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["region"] == "us-west-2")
        .unwrap()
        .clone();
    let main = west["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["branch"] == "main")
        .unwrap();
    assert_eq!(main["commit"], commit.as_str());
    assert_eq!(main["in_sync"], true);
    assert_eq!(
        production(region(&status, "us-west-2"))["image"],
        image.as_str()
    );

    // A change whose unit tests fail stops at Build; production is untouched.
    let routes = clone.join("src/main.rs");
    let mut text = std::fs::read_to_string(&routes).unwrap();
    text.push_str("\n#[cfg(test)]\nmod broken {\n    #[test]\n    fn fails() {\n        assert_eq!(1 + 1, 3, \"planted failure\");\n    }\n}\n");
    std::fs::write(&routes, text).unwrap();
    set_version_any(&clone, "2.0.0", "3.0.0");
    let broken = commit_and_push(&clone, "a broken change");
    let failed = eventually(600, "the broken run to fail", || {
        run_of(&twin, &broken).filter(|r| r["status"] == "Failed")
    });
    assert_eq!(stage(&failed, "Build")["status"], "Failed");
    assert_eq!(stage(&failed, "Staging")["status"], "Pending");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .starts_with("Build failed"),
        "{failed}"
    );
    let id = failed["id"].to_string();
    let logs = twin.haven(&["pipeline", "logs", &id, "--stage", "Build"]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("planted failure"));
    for url in &regional {
        assert_eq!(
            body_version(url),
            "2.0.0",
            "a failed build changed production"
        );
    }
    assert_eq!(body_version(&staging_url), "2.0.0");
    // Builds and failed executions are metrics under AWS's names.
    let sum = |ns: &str, metric: &str, dim: &str| -> f64 {
        let out = twin.haven(&[
            "metrics", "get", ns, metric, "--dim", dim, "--stat", "Sum", "--period", "3600s",
            "--since", "1h", "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["Datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["Sum"].as_f64().unwrap())
            .sum()
    };
    assert_eq!(
        sum("AWS/CodeBuild", "Builds", "ProjectName=hello-build"),
        2.0
    );
    assert_eq!(
        sum("AWS/CodeBuild", "FailedBuilds", "ProjectName=hello-build"),
        1.0
    );
    assert_eq!(
        sum(
            "AWS/CodePipeline",
            "FailedPipelineExecutions",
            "PipelineName=hello"
        ),
        1.0
    );
    // The failure was announced on the monitoring topic.
    let outbox = twin.path().join(".haven/pipeline/outbox");
    let announced = std::fs::read_dir(&outbox)
        .map(|d| {
            d.filter_map(Result::ok).any(|e| {
                std::fs::read_to_string(e.path())
                    .is_ok_and(|t| t.contains("Build") && t.contains(&id))
            })
        })
        .unwrap_or(false);
    assert!(announced, "no failure message in the pipeline's outbox");
    twin.down();
}

fn set_version_any(clone: &Path, from: &str, to: &str) {
    let main = clone.join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(
        &main,
        text.replace(
            &format!("const VERSION: &str = \"{from}\";"),
            &format!("const VERSION: &str = \"{to}\";"),
        ),
    )
    .unwrap();
}

fn unsafe_kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn images(twin: &Twin) -> Vec<Value> {
    json_list(twin, &["image", "ls", "--json"])
}

#[test]
fn scans_gate_builds_at_the_threshold_and_lifecycle_rules_spare_running_images() {
    let mut twin = Twin::project(|s| {
        s.replace(
            "scan_fail_severity = \"high\"",
            "scan_fail_severity = \"critical\"\nadvisory_db = \"advisories\"",
        )
        // Keep only the newest image (and whatever tasks run).
        .replace("count = 30", "count = 1")
    });
    // An advisory for the example itself (High: CVSS 7.5), below the critical threshold.
    let advisory = twin.path().join("advisories/crates/hello");
    std::fs::create_dir_all(&advisory).unwrap();
    std::fs::write(
        advisory.join("RUSTSEC-2099-0200.md"),
        "```toml\n[advisory]\nid = \"RUSTSEC-2099-0200\"\npackage = \"hello\"\ndate = \"2099-02-01\"\n\
         cvss = \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H\"\n\n[versions]\npatched = [\">= 9.0.0\"]\n```\n\n\
         # Denial of service in hello\n\nA long header line stalls a worker.\n",
    )
    .unwrap();
    let old = twin.add_image("old", hello_binary(), &[]);
    twin.up();
    let initial = production(region(&twin.status(), "us-east-1"))["image"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(images(&twin).iter().any(|i| i["digest"] == old.as_str()));

    let clone = clone_source(&twin);

    // Flagged but under the threshold: the run goes on to the approval; then rejected.
    set_version(&clone, "2.0.0");
    let first = commit_and_push(&clone, "version 2.0.0");
    let run = wait_run(&twin, &first, "the run to wait for approval", |r| {
        stage(r, "Approval")["status"] == "InProgress"
    });
    let id = run["id"].to_string();
    let logs = String::from_utf8_lossy(
        &twin
            .haven(&["pipeline", "logs", &id, "--stage", "Build"])
            .stdout,
    )
    .into_owned();
    assert!(logs.contains("RUSTSEC-2099-0200"), "{logs}");
    // The lifecycle rule expired the old image on push, but not the one production runs.
    let now: Vec<Value> = images(&twin);
    assert!(!now.iter().any(|i| i["digest"] == old.as_str()), "{now:?}");
    assert!(
        now.iter().any(|i| i["digest"] == initial.as_str()),
        "the running image expired"
    );
    assert!(logs.contains("lifecycle rule 2 expired"), "{logs}");

    let out = twin.haven(&["pipeline", "reject", &id, "--comment", "not today"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rejected = eventually(60, "the rejected run to fail", || {
        run_of(&twin, &first).filter(|r| r["status"] == "Failed")
    });
    assert_eq!(rejected["message"], "Approval failed: rejected: not today");
    assert_eq!(stage(&rejected, "Production")["status"], "Pending");
    for r in ["us-east-1", "us-west-2"] {
        assert_eq!(
            production(region(&twin.status(), r))["image"],
            initial.as_str()
        );
    }
    // Deciding twice is refused with the reason.
    let again = twin.haven(&["pipeline", "approve", &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not waiting for approval"));

    // A private key shipped in the artifacts is critical: the Build stage fails.
    std::fs::write(
        clone.join("deploy-key.pem"),
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let buildspec = std::fs::read_to_string(clone.join("buildspec.yml")).unwrap();
    std::fs::write(
        clone.join("buildspec.yml"),
        buildspec.replace(
            "    - target/release/hello\n",
            "    - target/release/hello\n    - deploy-key.pem\n",
        ),
    )
    .unwrap();
    git_ok(&clone, &["add", "."]);
    let planted = commit_and_push(&clone, "ship a key by mistake");
    let failed = eventually(600, "the run with a key to fail", || {
        run_of(&twin, &planted).filter(|r| r["status"] != "InProgress")
    });
    assert_eq!(failed["status"], "Failed", "{failed}");
    assert_eq!(stage(&failed, "Build")["status"], "Failed");
    let message = stage(&failed, "Build")["message"].as_str().unwrap();
    assert!(
        message.contains("at or above the threshold (CRITICAL)") || message.contains("critical"),
        "{message}"
    );
    assert!(message.contains("private-key"), "{message}");
    twin.down();
}

#[test]
fn newer_pushes_supersede_waiting_runs_and_a_region_down_is_waited_for() {
    let mut twin = Twin::project(|s| s);
    twin.up();
    let clone = clone_source(&twin);

    // A waits at its approval; B, pushed next, waits before it; C overtakes B.
    set_version(&clone, "2.0.0");
    let a = commit_and_push(&clone, "A");
    let run_a = wait_run(&twin, &a, "A to wait for approval", |r| {
        stage(r, "Approval")["status"] == "InProgress"
    });
    set_version_any(&clone, "2.0.0", "3.0.0");
    let b = commit_and_push(&clone, "B");
    wait_run(&twin, &b, "B to pass Staging", |r| {
        stage(r, "Staging")["status"] == "Succeeded"
    });
    set_version_any(&clone, "3.0.0", "4.0.0");
    let c = commit_and_push(&clone, "C");
    let run_c = wait_run(&twin, &c, "C to pass Staging", |r| {
        stage(r, "Staging")["status"] == "Succeeded"
    });
    let run_b = eventually(60, "B to be superseded", || {
        run_of(&twin, &b).filter(|r| r["status"] == "Superseded")
    });
    assert_eq!(
        run_b["message"],
        format!("superseded by run {} before Approval", run_c["id"]),
    );
    assert_eq!(stage(&run_b, "Approval")["status"], "Pending");
    // A's approval is untouched by the newer runs; rejecting it lets C in.
    assert_eq!(run_of(&twin, &a).unwrap()["status"], "InProgress");
    let out = twin.haven(&["pipeline", "reject", &run_a["id"].to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_c = wait_run(&twin, &c, "C to wait for approval", |r| {
        stage(r, "Approval")["status"] == "InProgress"
    });

    // The secondary's region process dies (a crash, not a drill): the supervisor restarts it,
    // and Production waits for it rather than failing.
    let west = region(&twin.status(), "us-west-2")["pid"].as_u64().unwrap() as u32;
    unsafe_kill(west);
    // Approved from the dashboard, as its Approve button does: the control token as a bearer.
    let dashboard = twin.status()["dashboard_url"].as_str().unwrap().to_owned();
    let token = std::fs::read_to_string(twin.path().join(".haven/token")).unwrap();
    let body = r#"{"comment":"from the dashboard"}"#;
    let (code, text) = request(
        &dashboard,
        &format!(
            "POST /api/pipeline/runs/{}/approve HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            run_c["id"],
            token.trim(),
            body.len()
        ),
    )
    .unwrap();
    assert_eq!(code, 200, "{text}");
    let done = wait_run(&twin, &c, "C to succeed", |r| r["status"] == "Succeeded");
    assert_eq!(
        stage(&done, "Approval")["message"],
        "approved: from the dashboard"
    );
    assert_eq!(stage(&done, "Production")["attempts"], 1);
    let s = twin.status();
    for (r, url) in production_urls(&s) {
        assert_eq!(body_version(&url), "4.0.0", "{r}");
    }
    assert_ne!(
        region(&s, "us-west-2")["pid"].as_u64().unwrap() as u32,
        west
    );
    twin.down();
}

#[test]
fn a_failed_stage_is_retried_once_its_cause_is_fixed_and_approvals_expire() {
    let mut twin =
        Twin::project(|s| s.replace("[local]\n", "[local]\napproval_timeout = \"3s\"\n"));
    twin.up();
    let clone = clone_source(&twin);

    // The build reads a parameter that is not set yet: Build fails, saying which.
    let buildspec = std::fs::read_to_string(clone.join("buildspec.yml")).unwrap();
    let buildspec = buildspec
        .replace(
            "  variables:\n",
            "  parameter-store:\n    BUILD_TOKEN: /hello/build-token\n  variables:\n",
        )
        .replace(
            "  build:\n    commands:\n",
            "  build:\n    commands:\n      - echo \"token is $BUILD_TOKEN\"\n",
        );
    assert!(
        buildspec.contains("BUILD_TOKEN: /hello/build-token"),
        "{buildspec}"
    );
    std::fs::write(clone.join("buildspec.yml"), buildspec).unwrap();
    set_version(&clone, "2.0.0");
    let commit = commit_and_push(&clone, "needs a build token");
    let failed = eventually(600, "the build to fail", || {
        run_of(&twin, &commit).filter(|r| r["status"] == "Failed")
    });
    let reason = stage(&failed, "Build")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(reason.contains("/hello/build-token"), "{reason}");
    let id = failed["id"].to_string();

    // Retrying anything but the failed stage is refused with the reason.
    let out = twin.haven(&["pipeline", "retry", &id, "--stage", "Staging"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only a failed stage of a failed run"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Set the secret, retry Build: the same run carries on, the value masked in the log.
    let mut set = std::process::Command::new(haven_bin())
        .args(["secret", "set", "/hello/build-token"])
        .current_dir(twin.path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(set.stdin.as_mut().unwrap(), b"s3cr3t-build-token\n").unwrap();
    assert!(set.wait().unwrap().success());
    let out = twin.haven(&["pipeline", "retry", &id, "--stage", "Build"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let waiting = wait_run(
        &twin,
        &commit,
        "the retried run to wait for approval",
        |r| stage(r, "Approval")["status"] == "InProgress",
    );
    assert_eq!(stage(&waiting, "Build")["attempts"], 2);
    assert_eq!(stage(&waiting, "Source")["attempts"], 1, "Source ran again");
    let logs = twin.haven(&["pipeline", "logs", &id, "--stage", "Build"]);
    let logs = String::from_utf8_lossy(&logs.stdout);
    assert!(logs.contains("token is ***"), "{logs}");
    assert!(
        !logs.contains("s3cr3t-build-token"),
        "the secret is in the build log"
    );

    // Nobody decides within local.approval_timeout: the run fails and production stays.
    let expired = eventually(60, "the approval to expire", || {
        run_of(&twin, &commit).filter(|r| r["status"] == "Failed")
    });
    assert_eq!(
        expired["message"],
        "Approval failed: the approval expired after 3s without a decision"
    );
    let s = twin.status();
    for (r, url) in production_urls(&s) {
        assert_eq!(body_version(&url), "1.0.0", "{r}");
    }
    // `haven pipeline logs -f` of an ended run prints its logs and returns.
    let out = twin.haven(&["pipeline", "logs", &id, "-f"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("[Approval]"));
    twin.down();
}
