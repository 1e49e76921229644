//! Signalling and stopping recorded processes without ever hitting a recycled pid.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Result, Target};
use crate::procfs::{self, ProcessIdentity, read_stat};
use crate::signal::Signal;

/// How long to wait for SIGKILL to take effect before reporting [`Error::StillAlive`].
/// SIGKILL cannot be caught; only a task stuck in uninterruptible I/O outlives this.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(5);

/// How [`terminate`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Nothing to do: the process (and its group, if it led one) was already gone.
    AlreadyGone,
    /// Everything exited within the grace period after SIGTERM.
    Graceful,
    /// Something was still alive after the grace period and was SIGKILLed.
    Killed,
}

fn check_pid(pid: u32) -> Result<libc::pid_t> {
    // 0 and negative values make kill(2) address groups or every process.
    match libc::pid_t::try_from(pid) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(Error::InvalidPid { pid }),
    }
}

/// Sends `sig` to the recorded process, refusing with [`Error::Stale`] if the pid no longer
/// belongs to it. Signalling a zombie succeeds and does nothing.
///
/// Race-free against pid reuse: a pidfd is opened first and the start time checked after,
/// so the signal goes to the process that was checked even if it exits in between.
pub fn signal(identity: &ProcessIdentity, sig: Signal) -> Result<()> {
    let pid = check_pid(identity.pid)?;
    let target = Target::Process(identity.pid);
    let send_err = |source| Error::Signal {
        target,
        signal: sig,
        source,
    };
    match pidfd_open(pid) {
        Ok(fd) => {
            if identity.current_stat()?.is_none() {
                return Err(Error::Stale { pid: identity.pid });
            }
            pidfd_send_signal(&fd, sig).map_err(|e| {
                if e.raw_os_error() == Some(libc::ESRCH) {
                    Error::Stale { pid: identity.pid }
                } else {
                    send_err(e)
                }
            })
        }
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Err(Error::Stale { pid: identity.pid }),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            // Kernels before 5.3: check-then-kill leaves a tiny reuse window; best available.
            if identity.current_stat()?.is_none() {
                return Err(Error::Stale { pid: identity.pid });
            }
            raw_kill(pid, sig).map_err(|e| {
                if e.raw_os_error() == Some(libc::ESRCH) {
                    Error::Stale { pid: identity.pid }
                } else {
                    send_err(e)
                }
            })
        }
        Err(e) => Err(send_err(e)),
    }
}

/// Sends `sig` to the whole process group led by `leader` (`leader.pgid == leader.pid`).
///
/// Returns `Ok(false)` if the group no longer has members. Refuses with [`Error::Stale`] if
/// the leader's pid now belongs to another process (the group number was recycled), and with
/// [`Error::RefusedGroup`] for non-leaders and for haven's own group.
///
/// A group whose leader has exited is still signalled while members remain: the kernel does
/// not recycle a number that is still some group's id, so it still names our group.
pub fn kill_group(leader: &ProcessIdentity, sig: Signal) -> Result<bool> {
    let pgid = leader.pgid;
    if !leader.leads_group() {
        return Err(Error::RefusedGroup {
            pgid,
            reason: "the recorded process does not lead this group",
        });
    }
    let raw = check_pid(pgid)?;
    if raw == 1 || raw == own_pgrp() {
        return Err(Error::RefusedGroup {
            pgid,
            reason: "it is init's or haven's own process group",
        });
    }
    if read_stat(pgid)?.is_some_and(|s| s.start_time != leader.start_time) {
        return Err(Error::Stale { pid: pgid });
    }
    match raw_kill(-raw, sig) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        Err(source) => Err(Error::Signal {
            target: Target::Group(pgid),
            signal: sig,
            source,
        }),
    }
}

/// Stops a recorded process: SIGTERM, wait up to `grace`, then SIGKILL, then wait for it.
///
/// * If the process leads its own group (and that group is not haven's), the whole group
///   is signalled and "gone" means no member is left — so grandchildren die too.
/// * Otherwise the process and its descendants (snapshotted before SIGTERM, since they
///   re-parent once it dies) are signalled one by one.
///
/// Zombies count as gone. This function never reaps: for a child of this process,
/// [`crate::OwnedChild::terminate`] wraps it and reaps afterwards; for a process left by a
/// previous run, its new parent (init or a subreaper) reaps it.
pub async fn terminate(identity: &ProcessIdentity, grace: Duration) -> Result<Exit> {
    let mut target = Tree::snapshot(identity)?;
    if !target.alive()? {
        return Ok(Exit::AlreadyGone);
    }
    target.send(Signal::TERM)?;
    if wait_gone(&target, grace).await? {
        return Ok(Exit::Graceful);
    }
    // Descendants forked during the grace period would otherwise escape a non-group kill.
    target.refresh()?;
    target.send(Signal::KILL)?;
    if wait_gone(&target, KILL_TIMEOUT).await? {
        Ok(Exit::Killed)
    } else {
        Err(Error::StillAlive {
            pid: identity.pid,
            waited: KILL_TIMEOUT,
        })
    }
}

/// The set of processes [`terminate`] is responsible for.
pub(crate) struct Tree {
    leader: ProcessIdentity,
    /// Signal the group rather than individual processes.
    group: bool,
    /// Descendants outside the group (all of them when `group` is false).
    extra: Vec<ProcessIdentity>,
}

impl Tree {
    pub(crate) fn snapshot(leader: &ProcessIdentity) -> Result<Tree> {
        let group = leader.leads_group()
            && libc::pid_t::try_from(leader.pgid).is_ok_and(|p| p > 1 && p != own_pgrp());
        let mut tree = Tree {
            leader: *leader,
            group,
            extra: Vec::new(),
        };
        tree.refresh()?;
        Ok(tree)
    }

    /// Adds current descendants that a group signal would not reach.
    fn refresh(&mut self) -> Result<()> {
        if self.leader.current_stat()?.is_none() {
            return Ok(());
        }
        let stats = procfs::scan()?;
        let below: std::collections::HashSet<u32> = procfs::descendants_in(&stats, self.leader.pid)
            .into_iter()
            .collect();
        for s in stats.iter().filter(|s| below.contains(&s.pid)) {
            let in_group = self.group && s.pgrp == self.leader.pgid;
            let known = self.extra.iter().any(|e| e.pid == s.pid);
            if !in_group && !known {
                self.extra.push(ProcessIdentity {
                    pid: s.pid,
                    start_time: s.start_time,
                    pgid: s.pgrp,
                });
            }
        }
        Ok(())
    }

    pub(crate) fn send(&self, sig: Signal) -> Result<()> {
        if self.group {
            // Ok(false): the group emptied meanwhile, which is the goal anyway.
            match kill_group(&self.leader, sig) {
                Ok(_) | Err(Error::Stale { .. }) => {}
                Err(e) => return Err(e),
            }
        } else {
            ignore_stale(signal(&self.leader, sig))?;
        }
        for e in &self.extra {
            ignore_stale(signal(e, sig))?;
        }
        Ok(())
    }

    pub(crate) fn alive(&self) -> Result<bool> {
        if self.leader.is_alive() {
            return Ok(true);
        }
        if self.group && group_alive(&self.leader)? {
            return Ok(true);
        }
        Ok(self.extra.iter().any(ProcessIdentity::is_alive))
    }
}

/// A process that exited between snapshot and signal is exactly what we want.
fn ignore_stale(r: Result<()>) -> Result<()> {
    match r {
        Err(Error::Stale { .. }) => Ok(()),
        other => other,
    }
}

/// Whether the group led by `leader` still has live members.
fn group_alive(leader: &ProcessIdentity) -> Result<bool> {
    if read_stat(leader.pgid)?.is_some_and(|s| s.start_time != leader.start_time) {
        // The number was recycled, which the kernel only does once our group is empty.
        return Ok(false);
    }
    Ok(!procfs::group_members(leader.pgid)?.is_empty())
}

/// Polls until `tree` is gone or `timeout` passes; true if gone. Backs off from 1 ms to
/// 50 ms so quick exits are noticed quickly without spinning on slow ones.
async fn wait_gone(tree: &Tree, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(1);
    loop {
        if !tree.alive()? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

pub(crate) fn own_pgrp() -> libc::pid_t {
    // SAFETY: getpgrp has no preconditions and cannot fail.
    unsafe { libc::getpgrp() }
}

fn raw_kill(pid: libc::pid_t, sig: Signal) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions; callers validated `pid` is not 0/-1.
    if unsafe { libc::kill(pid, sig.as_raw()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(pid, flags) takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pidfd_send_signal(fd: &OwnedFd, sig: Signal) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal(fd, sig, info, flags); a null siginfo is documented as
    // "like kill(2)", and `fd` is a live pidfd borrowed for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig.as_raw(),
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
