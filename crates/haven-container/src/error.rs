//! The crate's error type: every variant names the container, file or cgroup at fault.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while preparing, running or cleaning up a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed; the error names the path.
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),

    /// Starting, waiting for or signalling the runtime process failed.
    #[error("container {id}: {source}")]
    Process {
        id: String,
        #[source]
        source: haven_process::Error,
    },

    /// The spec cannot describe a container (bad id, empty args, a path overlayfs cannot take).
    #[error("container {id}: invalid spec: {reason}")]
    InvalidSpec { id: String, reason: String },

    /// The image's `User` names a user or group the image's /etc/passwd or /etc/group lacks;
    /// ECS fails such a task with CannotStartContainerError.
    #[error("container {id}: unable to find user {user}: {reason}")]
    UnknownUser {
        id: String,
        user: String,
        reason: String,
    },

    /// Writing the container's config.json failed to serialise (never expected).
    #[error("container {id}: config.json: {source}")]
    Config {
        id: String,
        #[source]
        source: serde_json::Error,
    },

    /// A mount or unmount (the writable layer) failed.
    #[error("{op} {}: {source}", path.display())]
    Mount {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A cgroup file held something other than what the kernel documents.
    #[error("malformed cgroup file {}: {detail}", path.display())]
    CgroupFormat { path: PathBuf, detail: String },

    /// A cgroup could not be emptied of processes in time.
    #[error("cgroup {} still has processes after SIGKILL", path.display())]
    CgroupBusy { path: PathBuf },

    /// No cgroup hierarchy with a controller this crate needs is mounted.
    #[error("no cgroup hierarchy with the {controller} controller is mounted")]
    NoController { controller: &'static str },

    /// The runtime (runc) refused a command.
    #[error("container {id}: `{runtime} {command}` failed ({status}): {stderr}")]
    Runtime {
        id: String,
        runtime: String,
        command: String,
        status: String,
        stderr: String,
    },

    /// The runtime's output (`runc list`, `runc state`) did not parse.
    #[error("`{runtime} {command}` printed unreadable output: {detail}")]
    RuntimeOutput {
        runtime: String,
        command: String,
        detail: String,
    },

    /// Something survived the cleanup that should have removed it.
    #[error("left over after cleanup: {}", path.display())]
    Leftover { path: PathBuf },
}
