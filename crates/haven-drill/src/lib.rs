//! Disaster-recovery drills: each one a chaos experiment against the running twin (steady
//! state, load, fault, observation, healing, steady state again), measured, projected for AWS,
//! judged against the spec's `[dr]` policy, and reported as JSON, HTML and Markdown.

pub mod data;
mod engine;
pub mod html;
pub mod load;
pub mod markdown;
mod measure;
pub mod observe;
pub mod policy;
pub mod project;
pub mod report;
mod scenarios;
pub mod store;

use std::time::Duration;

pub use engine::{Progress, RunOptions, headline, heal_all, run};
pub use haven_spec::model::Scenario;
pub use report::{Drill, Report};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Control(#[from] haven_control::Error),
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    #[error("the registry: {0}")]
    Registry(#[from] haven_registry::Error),
    #[error("the parameter store: {0}")]
    Secrets(#[from] haven_secrets::Error),
    #[error("the SNS twin's outbox: {0}")]
    Notify(#[from] haven_notify::Error),
    #[error("cannot send load to {url}: {reason}")]
    Load { url: String, reason: String },
    #[error("{0}")]
    Data(String),
    /// The twin is not in a state a drill can start from.
    #[error("{0}")]
    NotReady(String),
    #[error("drill run `{id}`: {reason}")]
    Run { id: String, reason: String },
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
