//! The CloudWatch Logs twin over files: log groups and streams, events stamped at ingestion,
//! reads merged by time across a group's streams, follow, and retention.
//!
//! A region keeps its groups under its logs directory, one directory per group and one file
//! per stream ([`Layout::Stamped`]: a line per event, `<RFC 3339 ms> <message>`). Groups and
//! streams are named as `haven synth` names them on AWS ([`names`]), all under
//! `/haven/<project>/`:
//!
//! | group | streams | written by |
//! |---|---|---|
//! | `ecs/<service>-<env>` | `<env>/<container>/<task-id>`: the task's stdout and stderr | the region's [`Agent`] |
//! | `alb/<service>-<env>` (twin only) | `yyyy/mm/dd/HH`: the ALB's access-log lines | [`write_access_log`] |
//! | `codebuild/build` | a build id: the build's log as CodeBuild writes it | the build twin ([`Layout::CodeBuild`]) |
//! | `codepipeline` (twin only) | `<run-id>/<stage>` | the pipeline twin ([`Layout::PipelineRuns`]) |
//!
//! On AWS the ALB writes access logs to S3, not to CloudWatch Logs, and CodePipeline has no
//! log group; the twin keeps both as groups in the same format so that one command reads every
//! log.
//!
//! ```no_run
//! # fn main() -> haven_logs::Result<()> {
//! use haven_logs::{Events, Group, Query, names};
//!
//! let group = Group::stamped(
//!     &names::ecs_group("hello", "hello-production"),
//!     "/tmp/state/logs".as_ref(),
//! );
//! let query = Query { since_ms: Some(haven_logs::time::now_ms() - 600_000), grep: Some("GET".into()) };
//! for event in Events::read(&group, query)? {
//!     let e = event?;
//!     println!("{} {} {}", haven_logs::time::rfc3339(e.timestamp_ms), e.stream, e.message);
//! }
//! # Ok(()) }
//! ```

mod agent;
mod alb;
mod error;
mod group;
pub mod names;
mod read;
pub mod time;
mod write;

pub use agent::{
    Agent, AgentConfig, RETENTION_INTERVAL, SHIP_INTERVAL, TaskLogs, raw_path as task_output_path,
};
pub use alb::{ACCESS_LOG_CAPACITY, AccessLogSource, Lines, write_access_log};
pub use error::{Error, Result};
pub use group::{Group, GroupInfo, Layout, StreamFile, StreamInfo, discover};
pub use read::{Event, Events, Query};
pub use write::{append, create_stream, push_event};
