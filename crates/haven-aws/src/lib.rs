//! Deploying haven's CloudFormation to AWS: change sets for every stack of the manifest, in its
//! order, with parameters filled from earlier stacks' outputs; live progress; outputs; status;
//! destroy; SSM SecureString secrets.
//!
//! [`client`] is the only module that builds SDK clients. [`Bundle`] is what gets deployed (a
//! synthesis in memory or a directory `haven synth` wrote). [`plan`] makes and describes change
//! sets (`haven aws diff`), [`deploy::execute`] applies a plan, [`status`], [`destroy`] and
//! [`secrets`] do the rest. Every function reports progress as [`Event`]s and returns data; the
//! caller prints. `docs/aws.md` ("Deploying") explains the choices.

pub mod api;
pub mod bundle;
mod cfn;
pub mod client;
pub mod codebuild;
pub mod deploy;
pub mod destroy;
pub mod failover;
pub mod first_build;
pub mod live;
pub mod plan;
pub mod s3;
pub mod secrets;
pub mod states;
pub mod status;
pub mod verify;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use bundle::{Bundle, Endpoint, StackSpec};
pub use client::{Aws, ClientOptions};
pub use deploy::DeployReport;
pub use plan::{Plan, ResourceChange, StackAction, StackPlan};

/// How `deploy` applies a stack's changes (AWS CDK offers the same choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Execute the change set that was shown (AWS's reviewed path; the default).
    #[default]
    ChangeSet,
    /// `CreateStack` / `UpdateStack` with the same template and parameters, after the change set
    /// was shown and deleted. For emulators that drop outputs of change-set stacks (moto).
    Direct,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChangeSet => "change-set",
            Self::Direct => "direct",
        }
    }
}

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct Options {
    pub method: Method,
    /// Values for deploy-time parameters (`ImageTag`, `CertificateArn`), by parameter name; a
    /// stack that declares the parameter gets the value.
    pub parameters: std::collections::BTreeMap<String, String>,
    /// How long to wait for one stack (or one change set) to settle.
    pub stack_timeout: Duration,
    /// The first wait between two polls; it doubles up to `max_poll`.
    pub first_poll: Duration,
    pub max_poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            method: Method::default(),
            parameters: Default::default(),
            stack_timeout: Duration::from_secs(60 * 60),
            first_poll: Duration::from_millis(250),
            max_poll: Duration::from_secs(5),
        }
    }
}

/// What happens while a command runs, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Work on a stack started: `what` is "creating a change set", "creating", "updating",
    /// "deleting", ...
    Stack {
        stack: String,
        region: String,
        what: String,
    },
    /// A stack event from CloudFormation: one resource's (or the stack's own) new status.
    Resource {
        stack: String,
        logical_id: String,
        resource_type: String,
        status: String,
        reason: Option<String>,
    },
    /// The stack reached a final status.
    Done { stack: String, status: String },
    /// Something the user should know (`warning` when it may need action).
    Note {
        stack: Option<String>,
        message: String,
        warning: bool,
    },
}

/// Where events go; `&|_| {}` ignores them.
pub type Progress<'a> = &'a (dyn Fn(Event) + Sync);

/// Why a command failed. Each names the stack (and region) involved when there is one.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Bundle(String),
    #[error("unknown region `{region}`: the spec's regions are {}", known.join(", "))]
    UnknownRegion { region: String, known: Vec<String> },
    /// AWS (or the emulator) refused or failed a call.
    #[error("{}{action} failed{}: {message}", scope(stack.as_deref(), region), code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Call {
        stack: Option<String>,
        region: String,
        action: &'static str,
        code: Option<String>,
        message: String,
    },
    /// A stack's deployment failed; CloudFormation rolled it back (on AWS).
    #[error("stack `{stack}` ({region}) failed with {status}: {}", first_failure(resource.as_deref(), reason))]
    StackFailed {
        stack: String,
        region: String,
        status: String,
        /// The first resource that failed (`LogicalId (Type)`), when an event names one.
        resource: Option<String>,
        reason: String,
    },
    #[error("stack `{stack}` ({region}) is {status}: {hint}")]
    Busy {
        stack: String,
        region: String,
        status: String,
        hint: String,
    },
    #[error("timed out after {}s waiting for `{stack}` ({region}), last seen {status}", waited.as_secs())]
    Timeout {
        stack: String,
        region: String,
        status: String,
        waited: Duration,
    },
    #[error(
        "stack `{stack}` needs the parameter `{parameter}` ({description}): pass --parameter {parameter}=VALUE"
    )]
    MissingParameter {
        stack: String,
        parameter: String,
        description: String,
    },
    #[error(
        "stack `{stack}` needs the output `{output}` of `{from}`, which {problem}: deploy `{from}` first"
    )]
    MissingInput {
        stack: String,
        from: String,
        output: String,
        problem: String,
    },
    #[error("stack `{stack}` ({region}) was deployed but has no output {}{hint}", missing.join(", "))]
    MissingOutputs {
        stack: String,
        region: String,
        missing: Vec<String>,
        hint: String,
    },
    #[error(
        "the template of `{stack}` is {bytes} bytes, over CloudFormation's {limit}-byte inline limit: {problem}"
    )]
    TooLarge {
        stack: String,
        bytes: usize,
        limit: usize,
        problem: String,
    },
    #[error("secret `{name}`: {problem}")]
    Secret { name: String, problem: String },
}

fn scope(stack: Option<&str>, region: &str) -> String {
    match stack {
        Some(s) => format!("stack `{s}` ({region}): "),
        None => format!("{region}: "),
    }
}

fn first_failure(resource: Option<&str>, reason: &str) -> String {
    match resource {
        Some(r) => format!("first failed resource {r}: {reason}"),
        None => reason.to_owned(),
    }
}
