//! The twin's vocabulary and control protocol, shared by the processes that serve it (the
//! supervisor, edge, regions and pipeline) and the CLI that calls it: the API's types and their
//! state enums ([`api`]), JSON over loopback HTTP with the state directory's token
//! ([`control`], [`client`]), the state directory's layout ([`paths`]) and the twin's fixed
//! ports ([`ports`]).
//!
//! It runs nothing: `haven-twin` runs the twin, `haven-pipeline` the pipeline.

pub mod api;
pub mod client;
pub mod control;
pub mod paths;
pub mod ports;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    #[error(transparent)]
    Random(#[from] haven_fs::random::RandomError),
    #[error("`{}` is damaged: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot reach the control API at {addr}: {reason}")]
    Unreachable { addr: SocketAddr, reason: String },
    /// The server answered with an error (its message, and the HTTP status).
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    /// The server answered, but not in the shape this haven reads (another version's twin).
    #[error("the answer to {path} is not in the expected shape: {reason}")]
    Answer { path: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// No twin runs for this state directory.
    #[error("{0}")]
    NotRunning(String),
}
