//! Real-process tests: spawn, terminate, kill groups, parent-death signal, sampling.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haven_process::{
    Error, Exit, Group, Liveness, Output, ProcessIdentity, Sampler, Signal, SpawnSpec, descendants,
    group_members, kill_group, process_tree, signal, spawn, tail_lines, terminate,
};

/// Polls `check` until it holds or `timeout` passes. Panics with `what` on timeout.
async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const LONG: Duration = Duration::from_secs(20);

fn sh(script: &str) -> SpawnSpec {
    SpawnSpec::new("sh").args(["-c", script])
}

/// Whether SIGTERM is in the process's ignored-signal mask (`SigIgn` in /proc/<pid>/status).
fn ignores_term(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
}

fn identities(pids: &[u32]) -> Vec<ProcessIdentity> {
    pids.iter()
        .filter_map(|&p| ProcessIdentity::of(p).ok())
        .collect()
}

#[tokio::test]
async fn sleep_in_new_group_terminates_gracefully() {
    let mut child = spawn(&SpawnSpec::new("sleep").arg("30")).expect("spawn");
    let id = *child.identity();
    assert_eq!(id.pid, child.id());
    assert!(
        id.leads_group(),
        "NewGroup child must lead its group: {id:?}"
    );
    assert!(id.is_alive());
    let t = child.terminate(LONG).await.expect("terminate");
    assert_eq!(t.exit, Exit::Graceful);
    assert_eq!(t.status.signal(), Some(libc::SIGTERM));
    assert!(!id.is_alive());
    // Terminating again is a no-op, and the status stays available.
    let again = child.terminate(LONG).await.expect("terminate again");
    assert_eq!(again.exit, Exit::AlreadyGone);
    assert_eq!(again.status, t.status);
}

#[tokio::test]
async fn term_ignoring_process_is_killed_after_grace() {
    let mut child = spawn(&sh(r#"trap "" TERM; sleep 30"#)).expect("spawn");
    let id = *child.identity();
    // Until the trap has run, SIGTERM would still kill sh.
    eventually("sh to ignore SIGTERM", LONG, || ignores_term(id.pid)).await;
    let started = Instant::now();
    let t = child
        .terminate(Duration::from_millis(300))
        .await
        .expect("terminate");
    assert_eq!(t.exit, Exit::Killed);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(t.status.signal(), Some(libc::SIGKILL));
    assert!(group_members(id.pgid).expect("members").is_empty());
}

#[tokio::test]
async fn identity_detects_pid_reuse() {
    let mut child = spawn(&SpawnSpec::new("sleep").arg("30")).expect("spawn");
    let real = *child.identity();
    // The same pid with another start time is what a recycled pid looks like.
    let forged = ProcessIdentity {
        start_time: real.start_time + 1,
        ..real
    };
    assert!(!forged.is_alive());
    assert_eq!(forged.liveness().expect("liveness"), Liveness::Gone);
    assert!(matches!(signal(&forged, Signal::KILL), Err(Error::Stale { pid }) if pid == real.pid));
    assert!(matches!(
        kill_group(&forged, Signal::KILL),
        Err(Error::Stale { .. })
    ));
    assert_eq!(
        terminate(&forged, Duration::from_millis(100))
            .await
            .expect("terminate"),
        Exit::AlreadyGone
    );
    assert!(
        real.is_alive(),
        "the forged identity must not reach the real process"
    );
    assert_eq!(
        ProcessIdentity::of(real.pid).expect("identity"),
        real,
        "of() reads the same identity back"
    );
    child.terminate(LONG).await.expect("cleanup");
    assert!(
        matches!(ProcessIdentity::of(real.pid), Err(Error::NotFound { .. })) || !real.is_alive()
    );
}

#[tokio::test]
async fn zombie_is_not_alive_until_reaped() {
    let mut child = spawn(&SpawnSpec::new("true")).expect("spawn");
    let id = *child.identity();
    eventually("child to become a zombie", LONG, || {
        id.liveness().expect("liveness") == Liveness::Zombie
    })
    .await;
    assert!(!id.is_alive());
    // A zombie still holds its pid, so signalling it is allowed and harmless.
    signal(&id, Signal::TERM).expect("signal zombie");
    let status = child.wait().await.expect("wait");
    assert!(status.success());
    assert!(matches!(
        signal(&id, Signal::TERM),
        Err(Error::Stale { .. })
    ));
    assert_eq!(id.liveness().expect("liveness"), Liveness::Gone);
}

const HELPER_ENV: &str = "HAVEN_PROCESS_PDEATHSIG_HELPER";

/// Not a test on its own: when re-executed by `parent_death_signal_kills_grandchild` with
/// HELPER_ENV set, this process plays the intermediate parent.
#[test]
fn pdeathsig_helper() {
    let Some(out) = std::env::var_os(HELPER_ENV) else {
        return;
    };
    let out = PathBuf::from(out);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let grandchild = spawn(
            &SpawnSpec::new("sleep")
                .arg("30")
                .parent_death_signal(Some(Signal::KILL)),
        )
        .expect("spawn grandchild");
        let id = grandchild.identity();
        let tmp = out.with_extension("tmp");
        std::fs::write(&tmp, format!("{} {} {}", id.pid, id.start_time, id.pgid)).expect("write");
        std::fs::rename(&tmp, &out).expect("rename");
        // Wait to be SIGKILLed; never returns normally.
        std::future::pending::<()>().await;
    });
}

fn read_identity(path: &Path) -> Option<ProcessIdentity> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<u64>());
    let (pid, start_time, pgid) = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    Some(ProcessIdentity {
        pid: u32::try_from(pid).ok()?,
        start_time,
        pgid: u32::try_from(pgid).ok()?,
    })
}

#[tokio::test]
async fn parent_death_signal_kills_grandchild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("grandchild");
    let exe = std::env::current_exe().expect("current exe");
    let mut intermediate = spawn(
        &SpawnSpec::new(exe)
            .args([
                "pdeathsig_helper",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HELPER_ENV, out.to_str().expect("utf-8 path"))
            .stdout(Output::Null),
    )
    .expect("spawn intermediate");
    eventually("grandchild identity file", LONG, || out.exists()).await;
    let grandchild = read_identity(&out).expect("grandchild identity");
    assert!(grandchild.is_alive());
    assert_ne!(
        grandchild.pgid,
        intermediate.identity().pgid,
        "own group, so only PDEATHSIG can reach it"
    );

    intermediate
        .signal(Signal::KILL)
        .expect("kill intermediate");
    let status = intermediate.wait().await.expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    eventually("grandchild to die with its parent", LONG, || {
        !grandchild.is_alive()
    })
    .await;
}

#[tokio::test]
async fn group_kill_reaches_grandchildren() {
    let mut child = spawn(&sh("sleep 30 & sleep 30")).expect("spawn");
    let id = *child.identity();
    eventually("background sleep in the group", LONG, || {
        group_members(id.pgid).expect("members").len() >= 2
    })
    .await;
    let below = descendants(id.pid).expect("descendants");
    assert!(!below.is_empty(), "sh's sleeps are its descendants");
    let members = identities(&group_members(id.pgid).expect("members"));
    let tree = process_tree(&id).expect("tree");
    for m in &members {
        assert!(tree.contains(&m.pid), "process_tree {tree:?} misses {m:?}");
    }

    assert!(kill_group(&id, Signal::KILL).expect("kill group"));
    let status = child.wait().await.expect("wait");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    eventually("every group member to die", LONG, || {
        members.iter().all(|m| !m.is_alive())
    })
    .await;
    assert!(group_members(id.pgid).expect("members").is_empty());
}

#[tokio::test]
async fn terminate_cleans_group_after_leader_exited() {
    // The leader exits at once, leaving a background sleep in its group.
    let mut child = spawn(&sh("sleep 30 & exit 0")).expect("spawn");
    let id = *child.identity();
    assert!(child.wait().await.expect("wait").success());
    let leftovers = identities(&group_members(id.pgid).expect("members"));
    assert_eq!(
        leftovers.len(),
        1,
        "the background sleep outlives sh: {leftovers:?}"
    );
    let t = child.terminate(LONG).await.expect("terminate");
    assert_eq!(t.exit, Exit::Graceful);
    assert!(t.status.success(), "status is the leader's own exit");
    assert!(leftovers.iter().all(|m| !m.is_alive()));
}

#[tokio::test]
async fn inherited_group_terminates_process_and_descendants_only() {
    let mut child = spawn(&sh("sleep 30 & sleep 30").group(Group::Inherit)).expect("spawn");
    let id = *child.identity();
    // SAFETY: getpgrp has no preconditions.
    let ours = unsafe { libc::getpgrp() } as u32;
    assert_eq!(id.pgid, ours);
    assert!(matches!(
        kill_group(&id, Signal::TERM),
        Err(Error::RefusedGroup { .. })
    ));
    eventually("a descendant sleep", LONG, || {
        !descendants(id.pid).expect("descendants").is_empty()
    })
    .await;
    let below = identities(&descendants(id.pid).expect("descendants"));
    let t = child.terminate(LONG).await.expect("terminate");
    assert_eq!(t.exit, Exit::Graceful);
    eventually("descendants gone", LONG, || {
        below.iter().all(|d| !d.is_alive())
    })
    .await;
}

#[tokio::test]
async fn joined_group_is_stopped_with_its_leader() {
    let mut leader = spawn(&SpawnSpec::new("sleep").arg("30")).expect("leader");
    let lid = *leader.identity();
    let mut member = spawn(
        &SpawnSpec::new("sleep")
            .arg("30")
            .group(Group::Join(lid.pgid)),
    )
    .expect("member");
    assert_eq!(member.identity().pgid, lid.pid);
    assert!(!member.identity().leads_group());
    let t = leader.terminate(LONG).await.expect("terminate");
    assert_eq!(t.exit, Exit::Graceful);
    assert_eq!(
        member.wait().await.expect("wait").signal(),
        Some(libc::SIGTERM)
    );
}

#[tokio::test]
async fn dropping_owned_child_kills_its_group() {
    let child = spawn(&sh("sleep 30 & sleep 30")).expect("spawn");
    let id = *child.identity();
    eventually("background sleep in the group", LONG, || {
        group_members(id.pgid).expect("members").len() >= 2
    })
    .await;
    let members = identities(&group_members(id.pgid).expect("members"));
    drop(child);
    eventually("group to die on drop", LONG, || {
        members.iter().all(|m| !m.is_alive())
    })
    .await;
}

#[tokio::test]
async fn try_wait_reports_exit_code() {
    let mut child = spawn(&sh("exit 3")).expect("spawn");
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "child never exited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(status.code(), Some(3));
    assert!(matches!(
        child.signal(Signal::TERM),
        Err(Error::Stale { .. })
    ));
}

#[tokio::test]
async fn env_cwd_and_append_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("task.log");
    for _ in 0..2 {
        let spec = sh(r#"echo "$FOO:${HOME:-unset}:$(pwd)"; echo err >&2; printf partial"#)
            .env_clear(true)
            .env("FOO", "bar")
            .cwd(dir.path())
            .stdout(Output::AppendFile(log.clone()))
            .stderr(Output::AppendFile(log.clone()));
        let mut child = spawn(&spec).expect("spawn");
        assert!(child.wait().await.expect("wait").success());
    }
    let cwd = dir.path().canonicalize().expect("canonical");
    let first = format!("bar:unset:{}", cwd.display());
    let lines = tail_lines(&log, 4).expect("tail");
    assert_eq!(
        lines,
        ["err", format!("partial{first}").as_str(), "err", "partial"]
    );
}

#[tokio::test]
async fn missing_program_names_it() {
    let err = spawn(&SpawnSpec::new("/nonexistent/haven-task")).expect_err("must fail");
    assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/haven-task"), "{err}");
}

#[test]
fn spawn_outside_runtime_is_an_error() {
    let err = spawn(&SpawnSpec::new("true")).expect_err("no runtime");
    assert!(matches!(err, Error::NoRuntime { .. }), "{err:?}");
}

#[tokio::test]
async fn sampler_sees_busy_loop() {
    let mut child = spawn(&sh("while :; do :; done")).expect("spawn");
    let id = *child.identity();
    let mut sampler = Sampler::new().expect("sampler");
    let first = sampler
        .sample(&process_tree(&id).expect("tree"))
        .expect("sample");
    // No rss check here: right after exec the kernel's batched counter can still read 0.
    assert_eq!(first.cpu_cores, None);
    let deadline = Instant::now() + LONG;
    let busy = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let s = sampler
            .sample(&process_tree(&id).expect("tree"))
            .expect("sample");
        let cores = s.cpu_cores.expect("cpu after first sample");
        if cores > 0.5 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "busy loop never exceeded half a core (last {cores})"
        );
    };
    assert!(busy.rss_bytes > 0);
    assert_eq!(busy.processes, 1);
    // 256 units is a quarter vCPU: more than half a core is more than 200 % of it.
    assert!(busy.cpu_percent_of_units(256).expect("pct") > 200.0);
    assert!(busy.memory_percent_of_mib(512).expect("mem pct") > 0.0);
    child.terminate(LONG).await.expect("terminate");
}

#[tokio::test]
async fn child_outlives_the_thread_that_spawned_it() {
    // PR_SET_PDEATHSIG fires when the forking *thread* exits. Spawn from a short-lived
    // thread and let it exit: the child must only die of our own SIGTERM.
    let handle = tokio::runtime::Handle::current();
    let (tid, child) = std::thread::spawn(move || {
        let _runtime = handle.enter();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        (tid, spawn(&SpawnSpec::new("sleep").arg("30")))
    })
    .join()
    .expect("thread");
    let mut child = child.expect("spawn");
    // The task entry disappears only after the kernel has sent any parent-death signals.
    let task = format!("/proc/self/task/{tid}");
    eventually("spawning thread fully exited", LONG, || {
        !Path::new(&task).exists()
    })
    .await;
    assert!(child.identity().is_alive());
    let t = child.terminate(LONG).await.expect("terminate");
    assert_eq!(
        t.status.signal(),
        Some(libc::SIGTERM),
        "died of {}",
        t.status
    );
}
