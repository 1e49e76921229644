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
