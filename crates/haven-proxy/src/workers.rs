//! The proxy's own worker threads, like nginx's worker processes: each runs a
//! single-threaded Tokio runtime with its own client connections and its own connection
//! pools to targets, so a request, its client connection and its target connection never
//! change threads and workers share no hot state.
//!
//! The threads belong to the process: started on first use, shared by every listener served
//! with `workers > 0`, and kept until the process exits (they cost nothing while idle).

use std::io;
use std::sync::{Mutex, PoisonError};

use tokio::runtime::Handle;

use crate::upstream;

/// The worker threads started so far; worker `i` serves pool slot `i + 1`.
static WORKERS: Mutex<Vec<Handle>> = Mutex::new(Vec::new());

/// Handles of the first `n` worker threads, starting those not running yet.
pub(crate) fn handles(n: usize) -> io::Result<Vec<Handle>> {
    let mut workers = WORKERS.lock().unwrap_or_else(PoisonError::into_inner);
    while workers.len() < n {
        let slot = workers.len() + 1;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("haven-proxy-{slot}"))
            .spawn(move || {
                upstream::enter_worker(slot);
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(err) => {
                        // The receiver waits for exactly this answer.
                        if tx.send(Err(err)).is_err() {
                            tracing::trace!("nobody waits for proxy worker {slot}");
                        }
                        return;
                    }
                };
                if tx.send(Ok(rt.handle().clone())).is_err() {
                    return;
                }
                // Runs the tasks `serve` spawns onto this thread, for the process's life.
                rt.block_on(std::future::pending::<()>());
            })?;
        let handle = rx
            .recv()
            .map_err(|_| io::Error::other("proxy worker thread died while starting"))??;
        workers.push(handle);
    }
    Ok(workers[..n].to_vec())
}
