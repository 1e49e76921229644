//! The estimate's notes: what its figures assume or leave out.

use haven_spec::Spec;
use haven_spec::model::{Architecture, Environment};

use super::items::fargate;
use super::money::{cents_to_dollars, dollars};
use super::{Choices, LineItem, RegionCost};
use crate::assumptions::Assumptions;

pub(super) fn notes(
    spec: &Spec,
    c: Choices,
    a: &Assumptions,
    regions: &[RegionCost],
) -> Vec<String> {
    let mut notes = Vec::new();
    // The marginal task is what scaling out costs; say it, since the estimate counts minimums.
    let production = &spec.environments.production;
    let one = Environment {
        min: 1,
        ..production.clone()
    };
    let per_task: i64 = fargate(&one, c, a).iter().map(LineItem::cents).sum();
    notes.push(format!(
        "Tasks are counted at their minimum (production {} per region{}); each further \
         production task in a region adds {} a month, up to max = {}.",
        production.min,
        spec.environments
            .staging
            .as_ref()
            .map(|s| format!(", staging {}", s.min))
            .unwrap_or_default(),
        dollars(cents_to_dollars(per_task)),
        production.max
    ));
    if c.arch == Architecture::Arm64 && c.spot_staging && spec.environments.staging.is_some() {
        notes.push(
            "Fargate Spot runs x86_64 tasks only: staging is priced as x86_64 Spot and production \
             as ARM64, which needs a multi-architecture image."
                .into(),
        );
    }
    if spec.build.compute_type != "BUILD_GENERAL1_SMALL" {
        notes.push(format!(
            "CodeBuild is priced as BUILD_GENERAL1_SMALL; {} costs more per minute and is not in \
             the price table.",
            spec.build.compute_type
        ));
    }
    let https = spec.service.load_balancer.certificate_arn.is_some();
    let fast = spec.routing.health_check_interval.as_secs() < 30;
    if https || fast {
        notes.push(format!(
            "Route 53 charges extra for {} health checks; the optional features are not in the \
             price table.",
            match (https, fast) {
                (true, true) => "HTTPS and 10-second",
                (true, false) => "HTTPS",
                _ => "10-second",
            }
        ));
    }
    if regions.len() > 3 && spec.monitoring.dashboard {
        notes.push("Dashboards beyond the account's 3 free ones are charged.".into());
    }
    notes.push(
        "Not priced (not in the price table): KMS keys, S3 (pipeline artifacts, ALB access logs), \
         CodeCommit, log storage after ingestion, data transfer out and between regions (image \
         and repository replication), the Route 53 hosted zone and queries, and CloudWatch's free \
         tier of 10 alarms."
            .into(),
    );
    notes
}
