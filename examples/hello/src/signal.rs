//! SIGTERM/SIGINT handling through a few libc calls, so the crate needs no dependencies.
//!
//! The handler sets a flag and shuts down the listening socket's read side. On Linux that makes a
//! blocked `accept()` fail at once and refuses new connections, so the accept loop needs no polling.

use std::ffi::c_int;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::SeqCst};

// Linux values (SIGINT and SIGTERM are the same on every Unix; SHUT_RD too).
const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;
const SHUT_RD: c_int = 0;
/// `SIG_ERR` is `(sighandler_t) -1`.
const SIG_ERR: usize = usize::MAX;

static STOPPING: AtomicBool = AtomicBool::new(false);
static LISTEN_FD: AtomicI32 = AtomicI32::new(-1);

unsafe extern "C" {
    // glibc and musl give signal() BSD semantics: the handler stays installed and
    // interrupted system calls restart (except socket calls with a timeout, which
    // return EINTR; the connection code retries those).
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn shutdown(fd: c_int, how: c_int) -> c_int;
}

extern "C" fn on_signal(_signum: c_int) {
    // Flag first, then read the fd: together with watch_listener's store-then-check this
    // means either the handler shuts the listener down or the accept loop sees the flag.
    STOPPING.store(true, SeqCst);
    let fd = LISTEN_FD.load(SeqCst);
    if fd >= 0 {
        // SAFETY: shutdown(2) is async-signal-safe, and `fd` is the listener, which main keeps
        // open until the process exits. On success it leaves errno alone; a failure cannot be
        // acted on here, so the result is ignored.
        unsafe { shutdown(fd, SHUT_RD) };
    }
}

/// Installs the handler for SIGTERM and SIGINT.
pub fn install() -> io::Result<()> {
    for signum in [SIGTERM, SIGINT] {
        // SAFETY: `on_signal` only touches lock-free atomics and calls shutdown(2), all of
        // which are async-signal-safe.
        if unsafe { signal(signum, on_signal) } == SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Tells the handler which listening socket to shut down. The fd must stay open until exit.
pub fn watch_listener(fd: RawFd) {
    LISTEN_FD.store(fd, SeqCst);
}

/// Whether SIGTERM or SIGINT has arrived.
pub fn stopping() -> bool {
    STOPPING.load(SeqCst)
}
