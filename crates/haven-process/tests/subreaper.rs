//! Subreaper and orphan reaping. A separate test binary because both change process-wide
//! state, and one test function because `reap_orphans` reaps any stray zombie of the process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use haven_process::{
    Liveness, OrphanWatch, Output, ProcessIdentity, Signal, SpawnSpec, kill_group, reap_orphans,
    set_child_subreaper, spawn,
};

const LONG: Duration = Duration::from_secs(20);

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ppid_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test]
async fn subreaper_adopts_and_reaps_orphans_without_stealing_owned_children() {
    set_child_subreaper().expect("subreaper");
    let me = std::process::id();

    // 1. An orphaned grandchild is re-parented to us and stays in its task's group.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("bg.pid");
    let mut task = spawn(
        &SpawnSpec::new("sh")
            .args(["-c", "sleep 30 & echo $!"])
            .stdout(Output::AppendFile(out.clone())),
    )
    .expect("spawn");
    let task_id = *task.identity();
    assert!(task.wait().await.expect("wait").success());
    let orphan_pid: u32 = std::fs::read_to_string(&out)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    eventually("orphan re-parented to us", || {
        ppid_of(orphan_pid) == Some(me)
    })
    .await;
    let orphan = ProcessIdentity::of(orphan_pid).expect("orphan identity");
    assert_eq!(orphan.pgid, task_id.pgid);

    // Its group outlives the reaped leader, so it can still be killed as a group. Its
    // death is our SIGCHLD (the watch starts after every earlier child's): the watch wakes.
    let mut watch = OrphanWatch::new();
    assert!(kill_group(&task_id, Signal::KILL).expect("kill group"));
    let woke = Instant::now();
    tokio::time::timeout(LONG, watch.exited())
        .await
        .expect("the orphan's exit wakes the watch");
    assert!(
        woke.elapsed() < Duration::from_secs(5),
        "woken by the SIGCHLD, not the backstop tick"
    );
    eventually("orphan to become our zombie", || {
        orphan.liveness().expect("liveness") == Liveness::Zombie
    })
    .await;

    // 2. A zombie child not started by `spawn` (raw fork).
    // SAFETY: the forked child only calls _exit, which is async-signal-safe, so forking
    // this multi-threaded test process is sound.
    let raw = unsafe { libc::fork() };
    assert!(raw >= 0, "fork failed");
    if raw == 0 {
        // SAFETY: see above; _exit skips everything that is unsafe after fork.
        unsafe { libc::_exit(7) };
    }
    let raw = raw as u32;
    let raw_id = ProcessIdentity::of(raw).expect("raw identity");
    eventually("raw child to become a zombie", || {
        raw_id.liveness().expect("liveness") == Liveness::Zombie
    })
    .await;

    // 3. An owned child that has exited but that Tokio has not reaped yet.
    let mut owned = spawn(&SpawnSpec::new("sh").args(["-c", "exit 5"])).expect("spawn");
    let owned_id = *owned.identity();
    eventually("owned child to become a zombie", || {
        owned_id.liveness().expect("liveness") == Liveness::Zombie
    })
    .await;

    let reaped = reap_orphans().expect("reap");
    let find = |pid| reaped.iter().find(|r| r.pid == pid);
    let adopted = find(orphan_pid).expect("orphan reaped");
    assert_eq!(adopted.status.signal(), Some(libc::SIGKILL));
    assert_eq!(find(raw).expect("raw child reaped").status.code(), Some(7));
    assert!(
        find(owned_id.pid).is_none(),
        "owned child must be left to Tokio"
    );
    assert_eq!(orphan.liveness().expect("liveness"), Liveness::Gone);
    assert_eq!(raw_id.liveness().expect("liveness"), Liveness::Gone);

    // Tokio still gets the owned child's real status.
    assert_eq!(owned.wait().await.expect("wait").code(), Some(5));
    assert!(reap_orphans().expect("reap again").is_empty());
}
