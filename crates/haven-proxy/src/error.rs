//! The crate's error type: configuration mistakes and I/O failures of the listener.

use std::time::Duration;

/// Everything that can go wrong when configuring or running the proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A health-check success-code matcher (ALB `Matcher.HttpCode`) could not be parsed.
    #[error("invalid success-code matcher {input:?}: {reason}")]
    InvalidMatcher {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A health-check setting is out of range.
    #[error("invalid health check: {0}")]
    InvalidHealthCheck(&'static str),
    /// The health-check path is not a valid origin-form URI (`/path?query`).
    #[error("invalid health check path {0:?}")]
    InvalidHealthCheckPath(String),
    /// A forward action with no target group, or whose weights are all zero.
    #[error("a forward action needs at least one target group with a weight above zero")]
    EmptyForwardAction,
    /// A timeout that must be positive is zero.
    #[error("{name} must be greater than zero (got {value:?})")]
    ZeroTimeout {
        /// Which setting.
        name: &'static str,
        /// The value given.
        value: Duration,
    },
    /// Reading the listening socket's address failed.
    #[error("listener socket: {0}")]
    Listener(#[source] std::io::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
