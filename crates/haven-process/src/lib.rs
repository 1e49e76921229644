//! Owned child processes: process groups, parent-death signals, identity records, graceful kill, /proc sampling.
//!
//! Linux only. The invariant this crate serves: every process haven starts is recorded
//! with its pid *and start time* ([`ProcessIdentity`], so a recycled pid is never mistaken
//! for it), is tied to its parent's life (`PR_SET_PDEATHSIG`, kill on drop, subreaper), and
//! no path leaves an orphan. Shutdown drains (the caller stops routing traffic), then
//! terminates (SIGTERM), then kills (SIGKILL) — [`terminate`].
//!
//! # Use from a Tokio reconcile loop
//!
//! Give each task a small supervisor future that owns its [`OwnedChild`]; the loop talks
//! to it over channels. `wait()` is cancel-safe, so it can sit in a `select!`:
//!
//! ```no_run
//! use std::time::Duration;
//! use haven_process::{spawn, Output, SpawnSpec};
//! use tokio::sync::oneshot;
//!
//! /// Runs one task until it exits or the loop asks it to stop; returns what happened.
//! async fn supervise(stop: oneshot::Receiver<Duration>) -> haven_process::Result<String> {
//!     let log = std::path::PathBuf::from("/tmp/task.log");
//!     let spec = SpawnSpec::new("/usr/bin/my-service")
//!         .env_clear(true)
//!         .env("PORT", "8080")
//!         .stdout(Output::AppendFile(log.clone()))
//!         .stderr(Output::AppendFile(log.clone()));
//!     let mut child = spawn(&spec)?;
//!     let id = *child.identity(); // persist id.pid, id.start_time, id.pgid now
//!     tokio::select! {
//!         status = child.wait() => {
//!             let last = haven_process::tail_lines(&log, 20)?;
//!             Ok(format!("{} exited ({}): {last:?}", id.pid, status?))
//!         }
//!         grace = stop => {
//!             // A dropped sender means the loop is shutting down: use a default grace.
//!             let t = child.terminate(grace.unwrap_or(Duration::from_secs(30))).await?;
//!             Ok(format!("{} stopped: {:?} ({})", id.pid, t.exit, t.status))
//!         }
//!     }
//! }
//! ```
//!
//! At start-up the region process calls [`set_child_subreaper`], then for each identity
//! persisted by a previous (crashed) run calls [`terminate`] — it is pid-reuse safe and
//! returns [`Exit::AlreadyGone`] when there is nothing left. It calls [`reap_orphans`]
//! whenever its [`OrphanWatch`] sees a child exit, and for metrics keeps a [`Sampler`] per task fed with
//! [`ProcessTable::tree`]`(&identity)` from one [`ProcessTable::scan`] per tick.

mod error;
mod kill;
mod procfs;
mod reap;
mod sample;
mod signal;
mod spawn;
mod tail;

pub use error::{Error, Result, Target};
pub use kill::{Exit, KILL_TIMEOUT, kill_group, signal, terminate};
pub use procfs::{
    Liveness, ProcessIdentity, ProcessTable, descendants, group_members, process_tree,
};
pub use reap::{OrphanWatch, Reaped, reap_orphans, set_child_subreaper};
pub use sample::{CPU_UNITS_PER_VCPU, Sample, Sampler};
pub use signal::Signal;
pub use spawn::{Group, Output, OwnedChild, SpawnSpec, Termination, spawn};
pub use tail::{MAX_TAIL_BYTES, tail_lines};
