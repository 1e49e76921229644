//! The local twin's running topology: `haven up`'s supervisor, one process per region (ALB
//! twin, ECS service twin, autoscaler), the edge process (Route 53 twin), and the control API
//! they all speak.
//!
//! ```text
//! supervisor (haven up) ── edge process ── regions' ALBs
//!                        └─ region process ×N ── tasks (own process groups, die with it)
//! ```

pub mod access_log;
pub mod api;
pub mod control;
pub mod dashboard;
pub mod edge;
pub mod logs;
pub mod paths;
pub mod ports;
pub mod region;
pub mod supervisor;

use std::path::PathBuf;

pub use paths::Paths;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    #[error(transparent)]
    Random(#[from] haven_fs::random::RandomError),
    #[error("`{}` is damaged: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error("cannot reach the control API at {addr}: {reason}")]
    Unreachable {
        addr: std::net::SocketAddr,
        reason: String,
    },
    #[error("{message} (HTTP {status})")]
    Api { status: u16, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] haven_state::Error),
    #[error(transparent)]
    Process(#[from] haven_process::Error),
    #[error(transparent)]
    Proxy(#[from] haven_proxy::Error),
    #[error("{0}")]
    Other(String),
}

/// Locks a mutex, carrying on past a poisoned one: a panic elsewhere must not wedge the twin's
/// controllers, and the data they guard stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The name an enum has in the spec and the API (`primary`, `active-active`): its serde name.
pub(crate) fn wire_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
