//! The crate's error type: every variant names the pid, group or path at fault.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::Signal;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while starting, inspecting or stopping processes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No process with this pid exists (it exited and was reaped, or never existed).
    #[error("process {pid} does not exist")]
    NotFound { pid: u32 },

    /// The pid exists but is not the recorded process: it exited and the pid was reused,
    /// or the recorded process is already gone.
    #[error("process {pid} is no longer the recorded process (it exited, or its pid was reused)")]
    Stale { pid: u32 },

    /// A pid outside `1..=i32::MAX` would make `kill(2)` address a group or every process.
    #[error("invalid pid {pid}")]
    InvalidPid { pid: u32 },

    /// Signalling this process group would hit haven itself or is otherwise unsafe.
    #[error("refusing to signal process group {pgid}: {reason}")]
    RefusedGroup { pgid: u32, reason: &'static str },

    /// Reading a file under `/proc/<pid>/` failed for a reason other than the process being gone.
    #[error("reading /proc/{pid}/{file}: {source}")]
    ReadProc {
        pid: u32,
        file: &'static str,
        #[source]
        source: io::Error,
    },

    /// A `/proc/<pid>/` file did not have the documented layout.
    #[error("malformed /proc/{pid}/{file}: {detail}")]
    ParseProc {
        pid: u32,
        file: &'static str,
        detail: String,
    },

    /// Listing `/proc` failed.
    #[error("listing /proc: {source}")]
    ScanProc {
        #[source]
        source: io::Error,
    },

    /// The spawn specification is contradictory.
    #[error("invalid spawn spec for {program}: {reason}")]
    InvalidSpec {
        program: PathBuf,
        reason: &'static str,
    },

    /// `spawn` was called outside a Tokio runtime (the child's exit is watched by the runtime).
    #[error("spawning {program}: must be called from within a Tokio runtime with I/O enabled")]
    NoRuntime { program: PathBuf },

    /// Opening a stdout/stderr log file for appending failed.
    #[error("opening output file {path}: {source}")]
    OpenOutput {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// fork/exec of the program failed.
    #[error("spawning {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The dedicated spawner thread could not be started or has died.
    #[error("spawner thread unavailable: {source}")]
    Spawner {
        #[source]
        source: io::Error,
    },

    /// Waiting for (reaping) a child failed.
    #[error("waiting for process {pid}: {source}")]
    Wait {
        pid: u32,
        #[source]
        source: io::Error,
    },

    /// Sending a signal failed for a reason other than the target being gone.
    #[error("sending {signal} to {target}: {source}")]
    Signal {
        target: Target,
        signal: Signal,
        #[source]
        source: io::Error,
    },

    /// The process survived SIGKILL for longer than expected (uninterruptible sleep, most likely).
    #[error("process {pid} still alive {waited:?} after SIGKILL")]
    StillAlive { pid: u32, waited: Duration },

    /// A `prctl(2)` call failed.
    #[error("prctl({what}): {source}")]
    Prctl {
        what: &'static str,
        #[source]
        source: io::Error,
    },

    /// `sysconf(3)` could not report a value this crate relies on.
    #[error("sysconf({name}) failed")]
    Sysconf { name: &'static str },

    /// Reading a log file failed.
    #[error("reading log {path}: {source}")]
    ReadLog {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What a signal was addressed to, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Process(u32),
    Group(u32),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Process(pid) => write!(f, "process {pid}"),
            Target::Group(pgid) => write!(f, "process group {pgid}"),
        }
    }
}
