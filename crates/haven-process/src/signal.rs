//! A validated POSIX signal number, so callers never pass 0 or garbage to `kill(2)`.

use std::fmt;

/// A signal number in `1..=SIGRTMAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(libc::c_int);

impl Signal {
    pub const HUP: Signal = Signal(libc::SIGHUP);
    pub const INT: Signal = Signal(libc::SIGINT);
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    pub const KILL: Signal = Signal(libc::SIGKILL);
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    pub const TERM: Signal = Signal(libc::SIGTERM);
    pub const CONT: Signal = Signal(libc::SIGCONT);
    pub const STOP: Signal = Signal(libc::SIGSTOP);

    /// Accepts a raw signal number; `None` for 0 (which only probes) and out-of-range values.
    pub fn from_raw(raw: i32) -> Option<Signal> {
        // SIGRTMAX is a libc function on Linux because glibc reserves some RT signals.
        let max = libc::SIGRTMAX();
        (1..=max).contains(&raw).then_some(Signal(raw))
    }

    /// The raw number, for `kill(2)` and friends.
    pub fn as_raw(self) -> i32 {
        self.0
    }

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGKILL => "SIGKILL",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGTERM => "SIGTERM",
            libc::SIGCONT => "SIGCONT",
            libc::SIGSTOP => "SIGSTOP",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGALRM => "SIGALRM",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGABRT => "SIGABRT",
            _ => return None,
        })
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "signal {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_and_out_of_range() {
        assert_eq!(Signal::from_raw(0), None);
        assert_eq!(Signal::from_raw(-9), None);
        assert_eq!(Signal::from_raw(1000), None);
        assert_eq!(Signal::from_raw(15), Some(Signal::TERM));
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        assert_eq!(
            Signal::from_raw(40).map(|s| s.to_string()).as_deref(),
            Some("signal 40")
        );
    }
}
