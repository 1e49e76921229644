//! haven's local CodeBuild twin: parses a buildspec (version 0.2) and runs it on this machine
//! as CodeBuild runs it in its container.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = haven_build::Buildspec::parse(&std::fs::read_to_string("buildspec.yml")?)?;
//! let req = haven_build::BuildRequest::new(
//!     "hello", "us-east-1", "/tmp/checkout", "0123abcd", "/tmp/build.log", "/tmp/artifacts",
//! )
//! .with_parameters(|name| (name == "/hello/token").then(|| "s3cr3t".to_owned()));
//! let outcome = haven_build::run(&spec, &req).await?;
//! println!("{:?}: {:?}", outcome.status, outcome.artifacts);
//! # Ok(()) }
//! ```
//!
//! What matches CodeBuild (see each module): phase order and transitions, `finally`,
//! `on-failure`, shell state carried across commands and phases, CODEBUILD_* variables,
//! variable precedence, parameter-store masking, the `[Container]` log, artifacts selection
//! and the "no matching artifact paths" rule, JUnit report counts, exported variables,
//! TIMED_OUT and STOPPED. What differs, because the twin is one machine and not a container:
//! the environment starts from a few host variables (`PATH`, `HOME`, toolchains) instead of
//! an image; `run-as`, `proxy`, `batch`, `secrets-manager` and `secondary-artifacts` are
//! refused; `runtime-versions` and `cache` are accepted and have no effect; the default
//! shell is `/bin/sh`, CodeBuild's, and `env.shell: bash` selects bash.
//!
//! Every command is started through `haven_process::spawn` in its own process group, with a
//! parent-death signal, so that nothing a build starts outlives the build or haven. `run`
//! needs a Tokio runtime with I/O and time enabled (`enable_all`).

mod artifacts;
mod env;
mod glob;
mod log;
mod mask;
mod reports;
mod run;
mod spec;
mod yaml;

pub use env::{BUILD_IMAGE, DEFAULT_LANG, DEFAULT_PATH, PASSTHROUGH, new_build_id};
pub use mask::{MASK, Masker};
pub use reports::{CaseStatus, Report, ReportStatus, TestCase};
pub use run::{
    BuildError, BuildOutcome, BuildRequest, BuildStatus, DEFAULT_TIMEOUT, LOCAL_ACCOUNT,
    ParameterResolver, PhaseResult, PhaseStatus, run, run_until,
};
pub use spec::{
    Artifacts, Buildspec, BuildspecError, Diagnostic, Env, OnFailure, Phase, PhaseName, Phases,
    ReportFormat, ReportGroup, Shell,
};
