//! Disaster-recovery drills: each one a chaos experiment against the running twin (steady
//! state, load, fault, observation, healing, steady state again), measured, projected for AWS,
//! judged against the spec's `[dr]` policy, and reported as JSON, HTML and Markdown.

pub mod html;
pub mod markdown;
pub mod policy;
pub mod project;
pub mod report;

pub use haven_spec::model::Scenario;
pub use report::{Drill, Report};
