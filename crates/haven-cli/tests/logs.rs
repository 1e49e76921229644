//! `haven logs` against a running twin: tasks' output in `/haven/<project>/ecs/<service>` (the
//! names `haven synth` gives on AWS), the ALB twin's access log in the ALB's format, `--since`,
//! `--grep`, `--json`, `--follow`, unknown groups, the `local.access_logs` switch (at start and
//! by `haven reload`), and retention removing old streams.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::*;
use haven_logs::{Group, names, time};

/// The production service's group, as on AWS.
const ECS: &str = "/haven/hello/ecs/hello-production";
/// Its ALB's access log (a group only the twin has).
const ALB: &str = "/haven/hello/alb/hello-production";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `haven logs ARGS…`, which must succeed; its stdout.
fn logs(twin: &Twin, args: &[&str]) -> String {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    let out = twin.haven(&all);
    assert!(
        out.status.success(),
        "haven {all:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// A region's logs directory in the project's state directory.
fn logs_root(twin: &Twin, region: &str) -> PathBuf {
    twin.path().join(".haven/regions").join(region).join("logs")
}

/// Writes a stream file of a stamped group with one event per `(time, message)`.
fn write_stream(root: &Path, group: &str, stream: &str, events: &[(u64, &str)]) -> PathBuf {
    let g = Group::stamped(group, root);
    let mut buf = Vec::new();
    for (t, m) in events {
        haven_logs::push_event(&mut buf, *t, m.as_bytes());
    }
    let path = g.stream_path(stream);
    haven_logs::append(&path, &buf).unwrap();
    path
}

#[test]
fn tasks_output_and_the_alb_access_log() {
    let mut twin = Twin::project(|t| t);
    // An event from two hours ago, for `--since`.
    let two_hours_ago = time::now_ms() - 2 * 3_600_000;
    write_stream(
        &logs_root(&twin, "us-east-1"),
        ECS,
        "production/hello/earlier-task",
        &[(two_hours_ago, "an old-event from an earlier task")],
    );
    twin.up();
    let status = twin.status();
    let prod = production(region(&status, "us-east-1"));
    let alb = prod["alb_url"].as_str().unwrap().to_owned();
    let tasks: Vec<(String, String)> = prod["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["address"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let port = alb.rsplit(':').next().unwrap().to_owned();
    let (code, _) = get(&format!("{alb}/")).unwrap();
    assert_eq!(code, 200);
    let (code, _) = get(&format!("{alb}/logs-probe")).unwrap();
    assert_eq!(code, 404);

    // The tasks' own lines, each in its task's stream, stamped when shipped.
    let text = eventually(20, "the probe in the tasks' logs", || {
        let text = logs(&twin, &[ECS]);
        text.contains("GET /logs-probe 404").then_some(text)
    });
    for (id, _) in &tasks {
        let line = text
            .lines()
            .find(|l| l.contains(id.as_str()) && l.contains("listening on"))
            .unwrap_or_else(|| panic!("no start line of task {id} in:\n{text}"));
        let parts: Vec<&str> = line.splitn(3, ' ').collect();
        assert!(time::parse_rfc3339(parts[0].as_bytes()).is_some(), "{line}");
        assert_eq!(parts[1], format!("production/hello/{id}"));
        assert!(parts[2].starts_with("hello 1.0.0 listening on"), "{line}");
    }
    assert!(text.contains("old-event"), "{text}");

    // --since: the two-hour-old event is out, the probe is in; --grep narrows.
    let recent = logs(&twin, &[ECS, "--since", "1h"]);
    assert!(!recent.contains("old-event"), "{recent}");
    assert!(recent.contains("GET /logs-probe 404"), "{recent}");
    let probe = logs(&twin, &[ECS, "--grep", "/logs-probe"]);
    assert_eq!(probe.lines().count(), 1, "{probe}");
    let old = logs(&twin, &[ECS, "--grep", "old-event", "--since", "3h"]);
    assert_eq!(old.lines().count(), 1, "{old}");

    // --json: one object a line.
    let json = logs(&twin, &[ECS, "--grep", "/logs-probe", "--json"]);
    let e: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(e["region"], "us-east-1");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("GET /logs-probe 404")
    );
    assert!(
        e["stream"]
            .as_str()
            .unwrap()
            .starts_with("production/hello/")
    );
    assert!(time::parse_rfc3339(e["timestamp"].as_str().unwrap().as_bytes()).is_some());

    // The ALB's access log: both requests in the ALB's format.
    let access = eventually(20, "the probe in the access log", || {
        let text = logs(&twin, &[ALB, "--grep", "GET"]);
        text.contains("/logs-probe").then_some(text)
    });
    let addresses: Vec<&str> = tasks.iter().map(|(_, a)| a.as_str()).collect();
    for (path, status) in [("/", "200"), ("/logs-probe", "404")] {
        let request = format!("\"GET http://x:{port}{path} HTTP/1.1\"");
        let line = access
            .lines()
            .find(|l| l.contains(&request))
            .unwrap_or_else(|| panic!("no {request} in:\n{access}"));
        // `<event time> <stream> <ALB line>`
        let fields: Vec<&str> = line.split(' ').collect();
        let alb_fields = &fields[2..];
        assert_eq!(alb_fields[0], "http", "type: {line}");
        let (t, used) = time::parse_rfc3339(alb_fields[1].as_bytes()).unwrap();
        assert_eq!(used, 27, "time with microseconds: {line}");
        assert_eq!(
            time::rfc3339(t),
            fields[0],
            "event time is the request's: {line}"
        );
        assert_eq!(alb_fields[2], "app/hello-production-alb", "elb: {line}");
        assert!(
            alb_fields[3].starts_with("127.0.0.1:"),
            "client:port: {line}"
        );
        assert!(addresses.contains(&alb_fields[4]), "target:port: {line}");
        for f in &alb_fields[5..8] {
            assert!(f.parse::<f64>().is_ok_and(|v| v >= 0.0), "times: {line}");
        }
        assert_eq!((alb_fields[8], alb_fields[9]), (status, status), "{line}");
        assert!(
            line.contains("hello-production-tg-"),
            "target group: {line}"
        );
    }

    // An unknown group is an error naming it and the groups there are.
    let out = twin.haven(&["logs", "/haven/hello/ecs/nope"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("/haven/hello/ecs/nope"), "{err}");
    assert!(err.contains(ECS), "{err}");
    let out = twin.haven(&["logs", "/haven/hello/ecs/hello-productoin"]);
    assert!(
        stderr(&out).contains(&format!("did you mean `{ECS}`?")),
        "{}",
        stderr(&out)
    );

    // The listing: every region's groups with their streams.
    let list: serde_json::Value = serde_json::from_str(&logs(&twin, &["--json"])).unwrap();
    let find = |region: &str, name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|g| g["region"] == region && g["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {region}: {list}"))
    };
    let ecs = find("us-east-1", ECS);
    assert_eq!(ecs["streams"], tasks.len() as u64 + 1);
    assert_eq!(ecs["retention_days"], 365);
    assert!(ecs["stored_bytes"].as_u64().unwrap() > 0);
    find("us-west-2", ECS);
    find("us-east-1", ALB);
    find("us-east-1", "/haven/hello/codebuild/build");
    find("us-east-1", "/haven/hello/codepipeline");
    // Every group is under the project's prefix, as on AWS.
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|g| g["name"].as_str().unwrap().starts_with("/haven/hello/")),
        "{list}"
    );

    // --follow: a new request's line shows up while it runs.
    let mut child = Command::new(haven_bin())
        .args(["logs", ECS, "-f", "--grep", "/follow-probe"])
        .current_dir(twin.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    eventually(20, "the followed request's line", || {
        // Requested again until seen: the follower may start after the first one was shipped.
        get(&format!("{alb}/follow-probe")).unwrap();
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
        seen.iter()
            .any(|l| l.contains("GET /follow-probe 404"))
            .then_some(())
    });
    assert!(
        child.try_wait().unwrap().is_none(),
        "--follow keeps running"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    twin.down();
}

#[test]
fn retention_removes_old_streams_and_access_logs_can_be_off() {
    let mut twin = Twin::project(|t| {
        t.replace("log_retention_days = 365", "log_retention_days = 1")
            .replace("access_logs = true", "access_logs = false")
    });
    let root = logs_root(&twin, "us-east-1");
    let now = time::now_ms();
    let days_ago = |d: u64| now - d * 86_400_000;
    let old = write_stream(
        &root,
        ECS,
        "production/hello/old-task",
        &[(days_ago(3), "from three days ago")],
    );
    let fresh = write_stream(
        &root,
        ECS,
        "production/hello/fresh-task",
        &[(days_ago(3), "a long-lived stream"), (now, "still writing")],
    );
    // The old task's own output file goes with its stream.
    let tasks_dir = twin.path().join(".haven/regions/us-east-1/tasks");
    std::fs::create_dir_all(&tasks_dir).unwrap();
    let old_output = haven_logs::task_output_path(&tasks_dir, "old-task", "stdout");
    std::fs::write(&old_output, "from three days ago\n").unwrap();
    let old_alb = write_stream(
        &root,
        &names::alb_group("hello", "hello-production"),
        &names::alb_stream(days_ago(2)),
        &[(days_ago(2), "http an old request")],
    );
    // A build log last written three days ago (its build's artifacts are not logs).
    let builds = twin.path().join(".haven/builds");
    let old_build = builds.join("old-build.log");
    std::fs::write(
        &old_build,
        "[Container] 2020/01/01 00:00:00.000000 Entering phase BUILD\n",
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&old_build)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400))
        .unwrap();
    // The same in the secondary, whose region process applies its own retention.
    let west = write_stream(
        &logs_root(&twin, "us-west-2"),
        ECS,
        "production/hello/old-task",
        &[(days_ago(2), "old in the west")],
    );

    twin.up();
    eventually(20, "retention to remove the old streams", || {
        (!old.exists() && !old_alb.exists() && !old_build.exists() && !west.exists()).then_some(())
    });
    assert!(fresh.exists(), "a stream with a recent event stays");
    assert!(
        !old_output.exists(),
        "the old task's output goes with its stream"
    );
    assert!(
        builds.join("test-build").is_dir(),
        "builds' artifacts are not logs"
    );
    let text = logs(&twin, &[ECS]);
    assert!(text.contains("still writing"), "{text}");
    assert!(!text.contains("from three days ago"), "{text}");

    // With access logs off, requests through the ALB leave no access log; the tasks' logs
    // still show them.
    let status = twin.status();
    let alb = production(region(&status, "us-east-1"))["alb_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, body) = get(&format!("{alb}/quiet-probe")).unwrap();
    // The example answers an unknown path with 404 (and logs it); a 5xx would be the ALB's.
    assert_eq!(code, 404, "{body}");
    eventually(20, "the request in the tasks' logs", || {
        logs(&twin, &[ECS, "--grep", "/quiet-probe"])
            .contains("GET /quiet-probe")
            .then_some(())
    });
    let alb_group = Group::stamped(&names::alb_group("hello", "hello-production"), &root);
    assert_eq!(alb_group.info().unwrap().streams, 0);
    let access_logs = |twin: &Twin| {
        let status = twin.status();
        production(region(&status, "us-west-2"))["access_logs"].clone()
    };
    assert_eq!(access_logs(&twin), false);

    // `haven reload` refuses a spec that does not validate and changes nothing.
    let spec = twin.path().join("haven.toml");
    let off = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(
        &spec,
        off.replace("access_logs = false", "access_log = true"),
    )
    .unwrap();
    let out = twin.haven(&["reload"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("haven.toml"), "{err}");
    assert!(err.contains("access_log"), "{err}");
    assert!(err.contains("did you mean `access_logs`"), "{err}");
    assert!(err.contains("nothing changed"), "{err}");
    // The twin can still be looked at (and stopped) while its file does not validate.
    let out = twin.haven(&["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not validate"),
        "{}",
        stderr(&out)
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        production(region(&status, "us-west-2"))["access_logs"],
        false
    );
    std::fs::write(&spec, &off).unwrap();
    assert_eq!(access_logs(&twin), false);

    // Switched on in the file, it switches every region's ALBs at once, without a restart;
    // a change that needs one is listed.
    let on = off
        .replace("access_logs = false", "access_logs = true")
        .replace("bake_time = \"3s\"", "bake_time = \"4s\"");
    std::fs::write(&spec, on).unwrap();
    let pid = region(&twin.status(), "us-east-1")["pid"].clone();
    let out = twin.haven(&["reload", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        result["applied"],
        serde_json::json!(["local.access_logs = true"])
    );
    let restart = result["restart_needed"].as_array().unwrap();
    assert!(
        restart
            .iter()
            .any(|k| k == "regions.us-east-1.services.hello-production.deployment.bake_time"),
        "{result}"
    );
    assert_eq!(access_logs(&twin), true);
    assert_eq!(
        region(&twin.status(), "us-east-1")["pid"],
        pid,
        "no restart"
    );
    get(&format!("{alb}/logged-probe")).unwrap();
    eventually(20, "the request in the access log", || {
        logs(&twin, &[ALB, "--grep", "/logged-probe"])
            .contains("GET http://")
            .then_some(())
    });
    let text = logs(&twin, &[ALB]);
    assert!(!text.contains("/quiet-probe"), "{text}");

    // Reloading the same file again applies nothing.
    let out = twin.haven(&["reload", "--json"]);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["applied"], serde_json::json!([]));

    // SIGHUP to `haven up` reloads as `haven reload` does, and says so.
    std::fs::write(&spec, &off).unwrap();
    let up = twin.up.as_ref().unwrap().id();
    let hup = Command::new("kill")
        .args(["-HUP", &up.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    eventually(20, "SIGHUP to switch the access logs off", || {
        (access_logs(&twin) == false).then_some(())
    });
    let log = std::fs::read_to_string(twin.path().join("up.log")).unwrap();
    assert!(
        log.contains("Reloaded applied local.access_logs = false"),
        "{log}"
    );
    twin.down();
}
