//! The log agent: tasks' output shipped into their streams with ingestion times, last lines
//! of exited tasks, no loss and no doubles across a restart, and retention that spares running
//! tasks and removes the output files of the streams it deletes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use haven_logs::names::EcsService;
use haven_logs::{Agent, AgentConfig, Events, Group, Layout, Query, names, time};

const PROJECT: &str = "shop";

fn config(root: &Path) -> AgentConfig {
    let mut c = AgentConfig::new(PROJECT, root.join("tasks"), root.join("logs"));
    c.ship_interval = Duration::from_millis(20);
    c
}

fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn append_raw(root: &Path, task: &str, which: &str, text: &str) {
    let path = haven_logs::task_output_path(&root.join("tasks"), task, which);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

/// The ECS service `web-production`, its container `web`.
fn web() -> EcsService {
    EcsService {
        name: "web-production".into(),
        environment: "production".into(),
        container: "web".into(),
    }
}

fn messages(root: &Path, service: &EcsService) -> Vec<(u64, String)> {
    let g = Group::stamped(&service.group(PROJECT), &root.join("logs"));
    Events::read(&g, Query::default())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.timestamp_ms, e.message))
        .collect()
}

fn checkpoint(root: &Path, task: &str) -> serde_json::Value {
    let text = std::fs::read(root.join("tasks").join(format!("{task}.ship.json"))).unwrap();
    serde_json::from_slice(&text).unwrap()
}

#[test]
fn output_is_shipped_with_ingestion_times_and_last_lines_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let agent = Agent::start(config(root)).unwrap();
    let logs = agent.handle();
    logs.task_started("t1", &web()).unwrap();
    // The stream exists as soon as the task does, named as the awslogs driver names it.
    let g = Group::stamped("/haven/shop/ecs/web-production", &root.join("logs"));
    let streams: Vec<String> = g.streams().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(streams, ["production/web/t1"]);

    let before = time::now_ms();
    append_raw(root, "t1", "stdout", "listening on 8080\nGET / 200\n");
    append_raw(root, "t1", "stderr", "warning: slow\npartial");
    let got = eventually("three lines shipped", || {
        let m = messages(root, &web());
        (m.len() == 3).then_some(m)
    });
    let after = time::now_ms();
    for (t, m) in &got {
        assert!(
            (before..=after).contains(t),
            "{m} stamped {t}, outside the shipping"
        );
    }
    let texts: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
    assert_eq!(texts, ["listening on 8080", "GET / 200", "warning: slow"]);
    assert_eq!(checkpoint(root, "t1")["done"], false);

    // The task exits without finishing its last line: it is shipped as it is.
    logs.task_stopped("t1");
    eventually("the last partial line", || {
        (messages(root, &web()).len() == 4).then_some(())
    });
    eventually("the checkpoint to be done", || {
        (checkpoint(root, "t1")["done"] == true).then_some(())
    });
    assert_eq!(messages(root, &web())[3].1, "partial");
    // The task's files stay, for the failure tail.
    let stderr = haven_logs::task_output_path(&root.join("tasks"), "t1", "stderr");
    assert!(stderr.is_file());
    agent.stop();
}

#[test]
fn a_flood_is_shipped_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let agent = Agent::start(config(root)).unwrap();
    agent.handle().task_started("t1", &web()).unwrap();
    let mut text = String::new();
    for i in 0..200_000 {
        text.push_str(&format!("line {i} of a task that logs a lot\n"));
    }
    append_raw(root, "t1", "stdout", &text);
    agent.handle().task_stopped("t1");
    agent.stop();
    let got = messages(root, &web());
    assert_eq!(got.len(), 200_000);
    assert_eq!(got[199_999].1, "line 199999 of a task that logs a lot");
}

#[test]
fn a_restart_loses_no_line_and_doubles_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let agent = Agent::start(config(root)).unwrap();
    agent.handle().task_started("t1", &web()).unwrap();
    append_raw(root, "t1", "stdout", "one\n");
    eventually("one shipped", || {
        (messages(root, &web()).len() == 1).then_some(())
    });
    // The region dies (the task with it, never reported stopped); the task wrote on before.
    agent.stop();
    let shipped = checkpoint(root, "t1");
    append_raw(root, "t1", "stdout", "two\nthree");
    // As if the dead agent had appended `two` without recording it.
    let stream =
        Group::stamped(&web().group(PROJECT), &root.join("logs")).stream_path(&web().stream("t1"));
    let mut buf = Vec::new();
    haven_logs::push_event(&mut buf, time::now_ms(), b"two");
    haven_logs::append(&stream, &buf).unwrap();
    assert_eq!(checkpoint(root, "t1"), shipped);

    let agent = Agent::start(config(root)).unwrap();
    eventually("the rest shipped", || {
        (checkpoint(root, "t1")["done"] == true).then_some(())
    });
    agent.stop();
    let texts: Vec<String> = messages(root, &web()).into_iter().map(|(_, m)| m).collect();
    assert_eq!(texts, ["one", "two", "three"]);
}

#[test]
fn retention_spares_running_tasks_and_removes_what_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let logs_root = root.join("logs");
    let ecs = Group::stamped(&web().group(PROJECT), &logs_root).with_retention(Some(1));
    let old = time::now_ms() - 3 * 86_400_000;

    // A task of an earlier run: its stream's last event is three days old.
    {
        let agent = Agent::start(config(root)).unwrap();
        agent.handle().task_started("dead", &web()).unwrap();
        agent.handle().task_stopped("dead");
        agent.stop();
    }
    append_raw(root, "dead", "stdout", "");
    append_raw(root, "dead", "stderr", "");
    let mut buf = Vec::new();
    haven_logs::push_event(&mut buf, old, b"long ago");
    haven_logs::append(&ecs.stream_path(&web().stream("dead")), &buf).unwrap();
    // An old build log, and a group the spec no longer has (default retention).
    let builds = Group {
        name: names::codebuild_group(PROJECT, "build"),
        dir: root.join("builds"),
        layout: Layout::CodeBuild,
        retention_days: Some(1),
    };
    std::fs::create_dir_all(&builds.dir).unwrap();
    let build_log = builds.dir.join("b-old.log");
    std::fs::write(&build_log, "built\n").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&build_log)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400))
        .unwrap();
    let gone = Group::stamped(&names::alb_group(PROJECT, "removed-production"), &logs_root);
    haven_logs::append(&gone.stream_path("2020/01/01/00"), &buf).unwrap();

    let mut c = config(root);
    c.groups = vec![ecs.clone(), builds.clone()];
    c.default_retention_days = Some(1);
    // Often, so that it runs again after the running task below is known.
    c.retention_interval = Duration::from_millis(50);
    let agent = Agent::start(c).unwrap();
    // A running task whose stream is just as old (it has been silent): it stays.
    agent.handle().task_started("live", &web()).unwrap();
    haven_logs::append(&ecs.stream_path(&web().stream("live")), &buf).unwrap();

    eventually("the old streams to go", || {
        let streams: Vec<String> = ecs.streams().unwrap().into_iter().map(|s| s.name).collect();
        (streams == ["production/web/live"]).then_some(())
    });
    agent.stop();
    let tasks = root.join("tasks");
    for f in ["dead.stdout.log", "dead.stderr.log", "dead.ship.json"] {
        assert!(
            !tasks.join(f).exists(),
            "{f} should be gone with its stream"
        );
    }
    assert!(tasks.join("live.ship.json").exists());
    assert!(!build_log.exists(), "the old build log should be gone");
    assert_eq!(gone.info().unwrap().streams, 0);
}
