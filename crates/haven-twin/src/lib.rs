//! The local twin's running topology: `haven up`'s supervisor, one process per region (ALB
//! twin, ECS service twin, autoscaler), the edge process (Route 53 twin) and the dashboard. The
//! control API they speak, its types and the state directory's layout are `haven-control`'s.
//!
//! ```text
//! supervisor (haven up) ── edge process ── regions' ALBs
//!                        └─ region process ×N ── tasks (own process groups, die with it)
//! ```

pub mod access_log;
pub mod dashboard;
pub mod edge;
pub mod logs;
pub mod region;
pub mod supervisor;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    #[error(transparent)]
    Control(#[from] haven_control::Error),
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
