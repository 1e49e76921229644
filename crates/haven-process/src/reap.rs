//! Subreaper support: adopt orphaned grandchildren and reap them without stealing Tokio's.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::error::{Error, Result};
use crate::procfs::{self, read_stat};
use crate::spawn::owned;

/// Marks this process as a child subreaper (`PR_SET_CHILD_SUBREAPER`): processes orphaned
/// below it (a task's daemonised grandchildren) are re-parented here instead of to init,
/// so they stay visible and are reaped by [`reap_orphans`]. Call once, early, in the region
/// process. Inherited by nothing: children do not become subreapers.
pub fn set_child_subreaper() -> Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and changes only this process.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if r == -1 {
        return Err(Error::Prctl {
            what: "PR_SET_CHILD_SUBREAPER",
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// When to call [`reap_orphans`]. An orphan re-parented to a subreaper becomes its zombie
/// with a SIGCHLD, so waiting for one spares a scan of `/proc` (every process's stat) on
/// every tick of a timer. A slow tick backs the signal up: the kernel sends SIGCHLD a moment
/// before the child shows as a zombie, so a scan at once can miss it.
#[derive(Debug)]
pub struct OrphanWatch {
    chld: Option<tokio::signal::unix::Signal>,
    tick: tokio::time::Interval,
}

impl OrphanWatch {
    /// Installs the SIGCHLD handler (Tokio's, shared with its child reaping). Must be called
    /// inside a Tokio runtime with signals and time enabled.
    pub fn new() -> Self {
        let chld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .inspect_err(|e| tracing::warn!("cannot handle SIGCHLD, reaping every second: {e}"))
            .ok();
        let every = std::time::Duration::from_secs(if chld.is_some() { 10 } else { 1 });
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self { chld, tick }
    }

    /// Returns when a child may have exited since the last return. SIGCHLDs coalesce, but
    /// one that arrives while the caller reaps makes this return again at once.
    pub async fn exited(&mut self) {
        let Some(chld) = &mut self.chld else {
            self.tick.tick().await;
            return;
        };
        tokio::select! {
            // `None` only once the runtime shuts down: then only the tick.
            Some(()) = chld.recv() => {}
            _ = self.tick.tick() => {}
        }
    }
}

impl Default for OrphanWatch {
    fn default() -> Self {
        Self::new()
    }
}

/// A zombie reaped by [`reap_orphans`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    pub pid: u32,
    pub status: ExitStatus,
}

/// Reaps zombie children of this process that were not started by [`crate::spawn`]
/// (typically orphans adopted as a subreaper). Never blocks.
///
/// `waitpid(-1, WNOHANG)` would steal the exit status of children Tokio is waiting on, so
/// instead this scans `/proc` for zombies whose parent is this process and reaps them by
/// pid, skipping every pid `spawn` handed to Tokio that Tokio has not reaped yet (including
/// dropped children still in Tokio's orphan queue). Children started by other means in the
/// same process (`std::process::Command`, plain `tokio::process`) are *not* protected:
/// a process that calls this should start all its children through [`crate::spawn`].
///
/// Call it from the reconcile loop on each tick.
pub fn reap_orphans() -> Result<Vec<Reaped>> {
    let me = std::process::id();
    // Held throughout so `spawn` cannot fork (and a new child exit) between the check and
    // the waitpid.
    let mut owned = owned();
    // Forget children Tokio has reaped: gone from /proc, or pid now someone else's.
    owned.retain(|&pid, &mut start| {
        // An unreadable stat keeps the entry: refusing to reap is the safe mistake.
        read_stat(pid).map_or(true, |s| s.is_some_and(|s| s.start_time == start))
    });
    let mut reaped = Vec::new();
    for stat in procfs::scan()? {
        if stat.ppid != me || !stat.is_dead() || owned.contains_key(&stat.pid) {
            continue;
        }
        let pid =
            libc::pid_t::try_from(stat.pid).map_err(|_| Error::InvalidPid { pid: stat.pid })?;
        let mut raw_status: libc::c_int = 0;
        // SAFETY: waitpid writes one c_int through the pointer, which is valid for the call.
        let r = unsafe { libc::waitpid(pid, &mut raw_status, libc::WNOHANG) };
        match r {
            r if r == pid => reaped.push(Reaped {
                pid: stat.pid,
                status: ExitStatus::from_raw(raw_status),
            }),
            // 0: not waitable after all. ECHILD: someone else reaped it first. Both mean
            // there is nothing for us to do.
            0 => {}
            _ => {
                let err = io::Error::last_os_error();
                if err.raw_os_error() != Some(libc::ECHILD) {
                    return Err(Error::Wait {
                        pid: stat.pid,
                        source: err,
                    });
                }
            }
        }
    }
    Ok(reaped)
}
