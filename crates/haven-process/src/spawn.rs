//! Spawning owned children: process group, parent-death signal, identity record, kill on drop.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::kill::{self, Exit, Tree};
use crate::procfs::ProcessIdentity;
use crate::signal::Signal;

/// Where a child's stdout or stderr goes. Stdin is always `/dev/null`: tasks must not
/// read haven's terminal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Output {
    /// Share haven's stream.
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// Append to this file, creating it (mode 0644) if needed. Survives restarts of haven,
    /// so [`crate::tail_lines`] can report why a task died.
    AppendFile(PathBuf),
}

/// Which process group the child joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Group {
    /// Lead a new group (pgid = child's pid), so the child and everything it starts can be
    /// signalled together and haven's own terminal signals do not reach it.
    #[default]
    NewGroup,
    /// Join an existing group in the same session (e.g. a sidecar joining its task's group).
    Join(u32),
    /// Stay in haven's group. Stopping it then signals the process and its descendants
    /// individually, never the group.
    Inherit,
}

/// Everything needed to start a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Start from an empty environment instead of haven's.
    pub env_clear: bool,
    /// Set on top of the inherited (or empty) environment.
    pub env: Vec<(String, String)>,
    /// Working directory; `None` keeps haven's.
    pub cwd: Option<PathBuf>,
    pub stdout: Output,
    pub stderr: Output,
    pub group: Group,
    /// Delivered to the child when haven dies. Defaults to SIGKILL so no path leaves an
    /// orphan; `None` lets the child outlive haven (it can then only be found through its
    /// recorded [`ProcessIdentity`]).
    pub parent_death_signal: Option<Signal>,
}

impl SpawnSpec {
    /// A spec with inherited env and outputs, a new process group and SIGKILL on parent death.
    pub fn new(program: impl Into<PathBuf>) -> SpawnSpec {
        SpawnSpec {
            program: program.into(),
            args: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            cwd: None,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
            group: Group::NewGroup,
            parent_death_signal: Some(Signal::KILL),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> SpawnSpec {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> SpawnSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> SpawnSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn env_clear(mut self, clear: bool) -> SpawnSpec {
        self.env_clear = clear;
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> SpawnSpec {
        self.cwd = Some(dir.into());
        self
    }

    pub fn stdout(mut self, out: Output) -> SpawnSpec {
        self.stdout = out;
        self
    }

    pub fn stderr(mut self, out: Output) -> SpawnSpec {
        self.stderr = out;
        self
    }

    pub fn group(mut self, group: Group) -> SpawnSpec {
        self.group = group;
        self
    }

    pub fn parent_death_signal(mut self, sig: Option<Signal>) -> SpawnSpec {
        self.parent_death_signal = sig;
        self
    }
}

/// Exit code of a child whose parent died between fork and `prctl(PR_SET_PDEATHSIG)`.
/// Nobody is left to read it; it only has to be non-zero.
const PARENT_DIED_EXIT: libc::c_int = 125;

/// Children spawned here and not yet known to be reaped, pid → start time. `reap_orphans`
/// must never `waitpid` these: Tokio owns their exit status. The lock is held across fork
/// so a child cannot exit and be reaped by `reap_orphans` before it is registered.
static OWNED: Mutex<BTreeMap<u32, u64>> = Mutex::new(BTreeMap::new());

pub(crate) fn owned() -> MutexGuard<'static, BTreeMap<u32, u64>> {
    // The map stays consistent even if a holder panicked (single inserts/removes).
    OWNED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a child as described by `spec`.
///
/// Must be called inside a Tokio runtime with I/O enabled (`enable_all`): the returned
/// [`OwnedChild`] is driven by that runtime. Blocks the caller briefly (fork + exec), like
/// `tokio::process::Command::spawn`.
///
/// The fork happens on a dedicated, never-exiting thread. `PR_SET_PDEATHSIG` fires when the
/// *thread* that forked the child exits, not the process; forking from a Tokio worker or
/// blocking-pool thread (which Tokio retires when idle) would kill children at random.
pub fn spawn(spec: &SpawnSpec) -> Result<OwnedChild> {
    let program = spec.program.clone();
    let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime {
        program: program.clone(),
    })?;
    let mut cmd = std::process::Command::new(&spec.program);
    cmd.args(&spec.args);
    if spec.env_clear {
        cmd.env_clear();
    }
    cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    cmd.stdin(Stdio::null());
    cmd.stdout(open_output(&spec.stdout)?);
    cmd.stderr(open_output(&spec.stderr)?);
    match spec.group {
        // std calls setpgid in the child before exec, and spawn() returns only after exec,
        // so the group exists by the time anyone can signal it.
        Group::NewGroup => {
            cmd.process_group(0);
        }
        Group::Join(pgid) => {
            let pgid = i32::try_from(pgid)
                .ok()
                .filter(|p| *p > 0)
                .ok_or(Error::InvalidSpec {
                    program: program.clone(),
                    reason: "Group::Join needs a pgid in 1..=i32::MAX",
                })?;
            cmd.process_group(pgid);
        }
        Group::Inherit => {}
    }
    if let Some(sig) = spec.parent_death_signal {
        let parent = std::process::id();
        let raw = libc::c_ulong::try_from(sig.as_raw()).map_err(|_| Error::InvalidSpec {
            program: program.clone(),
            reason: "parent death signal out of range",
        })?;
        let hook = move || {
            // SAFETY: PR_SET_PDEATHSIG takes the signal number as an unsigned long; the call
            // only changes this (forked) process's own attributes.
            if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, raw, 0, 0, 0) } == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // If haven died between fork and prctl, the signal will never come: we were
            // already re-parented. getppid() then differs from the pid captured before fork.
            // SAFETY: getppid has no preconditions.
            if unsafe { libc::getppid() } as u32 != parent {
                // SAFETY: _exit is async-signal-safe and skips atexit handlers and stdio
                // flushing, which must not run in a forked child of a threaded process.
                unsafe { libc::_exit(PARENT_DIED_EXIT) };
            }
            Ok(())
        };
        // SAFETY: the hook runs between fork and exec in the child of a multi-threaded
        // process, so it may only make async-signal-safe calls: it calls prctl, getppid and
        // _exit, allocates nothing and takes no locks (io::Error::last_os_error does not allocate).
        unsafe {
            cmd.pre_exec(hook);
        }
    }

    let job_program = program.clone();
    let (child, identity) = on_spawner_thread(move || {
        let _runtime = handle.enter();
        let mut owned = owned();
        let mut child = tokio::process::Command::from(cmd)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: job_program.clone(),
                source,
            })?;
        let pid = child.id().ok_or_else(|| Error::Spawn {
            program: job_program.clone(),
            source: std::io::Error::other("child has no pid right after spawn"),
        })?;
        match ProcessIdentity::of(pid) {
            Ok(identity) => {
                owned.insert(pid, identity.start_time);
                Ok((child, identity))
            }
            Err(e) => {
                // Untrackable children must not run. The kill error is irrelevant next to
                // `e`; Tokio reaps the process when `child` is dropped.
                if let Err(kill_err) = child.start_kill() {
                    tracing::warn!(pid, error = %kill_err, "killing untrackable child failed");
                }
                Err(e)
            }
        }
    })??;
    tracing::debug!(
        pid = identity.pid,
        pgid = identity.pgid,
        program = %program.display(),
        "spawned"
    );
    Ok(OwnedChild {
        child,
        identity,
        status: None,
    })
}

fn open_output(out: &Output) -> Result<Stdio> {
    Ok(match out {
        Output::Inherit => Stdio::inherit(),
        Output::Null => Stdio::null(),
        Output::AppendFile(path) => Stdio::from(open_append(path)?),
    })
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(path)
        .map_err(|source| Error::OpenOutput {
            path: path.to_owned(),
            source,
        })
}

type Job = Box<dyn FnOnce() + Send>;

static SPAWNER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);

/// Runs `f` on the spawner thread and waits for its result.
fn on_spawner_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let (reply_tx, reply_rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        if reply_tx.send(f()).is_err() {
            // The caller blocks on the reply until it arrives, so this cannot happen.
            tracing::error!("spawn caller vanished before receiving its child");
        }
    });
    {
        let mut sender = SPAWNER.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = match sender.as_ref() {
            Some(tx) => tx.clone(),
            None => {
                let tx = start_spawner().map_err(|source| Error::Spawner { source })?;
                *sender = Some(tx.clone());
                tx
            }
        };
        if tx.send(job).is_err() {
            *sender = None;
            return Err(Error::Spawner {
                source: std::io::Error::other("spawner thread exited"),
            });
        }
    }
    reply_rx.recv().map_err(|_| Error::Spawner {
        source: std::io::Error::other("spawn job panicked"),
    })
}

fn start_spawner() -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("haven-spawner".into())
        .spawn(move || {
            // The static sender never drops, so this loop lives as long as the process.
            for job in rx {
                // A panicking job (e.g. a runtime without I/O) must not end this thread:
                // that would deliver the parent-death signal to every child forked here.
                if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                    tracing::error!("spawn job panicked; spawner thread continues");
                }
            }
        })?;
    Ok(tx)
}

/// A child process started by [`spawn`].
///
/// Dropping it while the child (or anything in its process group) still runs sends
/// SIGKILL to the group — or, for children outside their own group, to the child and its
/// descendants — and Tokio reaps the child in the background. Stop children with
/// [`OwnedChild::terminate`] to give them a graceful shutdown; the drop path is the
/// backstop that keeps orphans impossible.
#[derive(Debug)]
pub struct OwnedChild {
    child: tokio::process::Child,
    identity: ProcessIdentity,
    status: Option<ExitStatus>,
}

/// What [`OwnedChild::terminate`] did and how the child exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    pub exit: Exit,
    pub status: ExitStatus,
}

impl OwnedChild {
    /// The identity to persist (pid, start time, pgid).
    pub fn identity(&self) -> &ProcessIdentity {
        &self.identity
    }

    pub fn id(&self) -> u32 {
        self.identity.pid
    }

    /// Waits for the child to exit and reaps it. Cancel-safe, and returns the same status
    /// again once it has been observed.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = self.child.wait().await.map_err(|source| Error::Wait {
            pid: self.identity.pid,
            source,
        })?;
        self.reaped(status);
        Ok(status)
    }

    /// The exit status if the child has exited (reaping it), without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = self.child.try_wait().map_err(|source| Error::Wait {
            pid: self.identity.pid,
            source,
        })?;
        if let Some(status) = status {
            self.reaped(status);
        }
        Ok(status)
    }

    /// Signals the child alone. Fails with [`Error::Stale`] once it has been reaped.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        if self.status.is_some() {
            return Err(Error::Stale {
                pid: self.identity.pid,
            });
        }
        kill::signal(&self.identity, sig)
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL (see [`crate::terminate`]); then reaps.
    /// Also cleans up what is left of the child's group if the child itself already exited.
    pub async fn terminate(&mut self, grace: Duration) -> Result<Termination> {
        let exit = kill::terminate(&self.identity, grace).await?;
        let status = self.wait().await?;
        Ok(Termination { exit, status })
    }

    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        owned().remove(&self.identity.pid);
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        let tree = match Tree::snapshot(&self.identity) {
            Ok(tree) => tree,
            Err(e) => {
                tracing::warn!(pid = self.identity.pid, error = %e, "cannot inspect dropped child; killing it alone");
                if self.status.is_none() {
                    if let Err(e) = self.child.start_kill() {
                        tracing::warn!(pid = self.identity.pid, error = %e, "kill on drop failed");
                    }
                }
                return;
            }
        };
        match tree.alive() {
            Ok(false) => {}
            Ok(true) | Err(_) => {
                tracing::warn!(
                    pid = self.identity.pid,
                    "OwnedChild dropped while running; killing it"
                );
                if let Err(e) = tree.send(Signal::KILL) {
                    tracing::warn!(pid = self.identity.pid, error = %e, "kill on drop failed");
                }
            }
        }
        // Field drop follows: Tokio's Child reaps the process, now or from its orphan queue.
    }
}
