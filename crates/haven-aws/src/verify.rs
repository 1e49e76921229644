//! `haven aws verify`: the live account checked against the spec, one finding per thing looked
//! at: every stack complete and not drifted, each ECS service at its desired count with its
//! deployment complete, every target the traffic reaches healthy, no alarm in ALARM, the Route
//! 53 health checks healthy, the running image in every region's repository, every SSM
//! parameter the spec names in every region, SNS subscriptions confirmed. [`wait_ready`] is
//! what `deploy` waits for at its end.
//!
//! What is expected comes from the spec and its synthesis (names, environments, the templates'
//! alarms and subscriptions); what is live comes from [`crate::live`]. A call that fails inside
//! one check becomes a failed finding of that check, so that one unreachable service does not
//! hide what the others say.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use haven_cfn::names::{Names, pascal};
use haven_cfn::stacks::out;
use haven_spec::model::Role;
use serde::Serialize;

use crate::cfn::{self, StackState};
use crate::live::{
    self, AlarmState, CheckerStatus, Confirmation, Detection, Drift, EcrImage, ImagePresence,
    ResourceDriftKind, Service, StackCondition, TargetState,
};
use crate::{Aws, Bundle, Error, Event, Progress, secrets};

/// How one finding came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingStatus {
    Ok,
    /// Not as it should be, but not a failure (a pending SNS subscription, a failover in
    /// effect, something the endpoint cannot tell).
    Warning,
    Failed,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Failed => "failed",
        }
    }
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

impl CheckKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stack => "stack",
            Self::Drift => "drift",
            Self::Service => "service",
            Self::Targets => "targets",
            Self::Alarms => "alarms",
            Self::HealthChecks => "health-checks",
            Self::Images => "images",
            Self::Parameters => "parameters",
            Self::Subscriptions => "subscriptions",
        }
    }
}

/// One thing checked and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: CheckKind,
    /// `None` for what belongs to no region.
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

    /// The findings with this status.
    pub fn with(&self, status: FindingStatus) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.status == status)
    }
}

/// How often to poll, and for how long drift detection may run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pace {
    pub first_poll: Duration,
    pub max_poll: Duration,
    pub drift_deadline: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            first_poll: Duration::from_millis(500),
            max_poll: Duration::from_secs(5),
            drift_deadline: Duration::from_secs(10 * 60),
        }
    }
}

/// Checks the live account in `regions` (all of the bundle's when empty) against the spec.
pub async fn verify(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    regions: &[String],
) -> Result<VerifyReport, Error> {
    verify_at(aws, bundle, spec, regions, Pace::default()).await
}

pub(crate) async fn verify_at(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    regions: &[String],
    pace: Pace,
) -> Result<VerifyReport, Error> {
    let cx = Cx::new(bundle, spec, regions)?;
    let mut findings = Vec::new();
    let stacks = check_stacks(aws, &cx, &mut findings).await?;
    check_drift(aws, &cx, &stacks, pace, &mut findings).await;
    for region in &cx.regions {
        let services = check_services(aws, &cx, region, &mut findings).await;
        check_targets(aws, &cx, region, &stacks, &mut findings).await;
        let resources = region_resources(aws, &cx, region, &stacks).await;
        check_alarms(aws, &cx, region, &resources, &mut findings).await;
        check_images(aws, region, &services, &mut findings).await;
        check_parameters(aws, &cx, region, &mut findings).await;
        check_subscriptions(aws, &cx, region, &resources, &mut findings).await;
    }
    check_health_checks(aws, &cx, &stacks, &mut findings).await;
    Ok(VerifyReport { findings })
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
    wait_ready_at(
        aws,
        bundle,
        spec,
        regions,
        timeout,
        Pace::default(),
        progress,
    )
    .await
}

pub(crate) async fn wait_ready_at(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    regions: &[String],
    timeout: Duration,
    pace: Pace,
    progress: Progress<'_>,
) -> Result<VerifyReport, Error> {
    let cx = Cx::new(bundle, spec, regions)?;
    let start = Instant::now();
    let mut poll = pace.first_poll;
    let mut last = String::new();
    loop {
        let mut findings = Vec::new();
        let stacks = check_stacks(aws, &cx, &mut Vec::new()).await?;
        for region in &cx.regions {
            check_services(aws, &cx, region, &mut findings).await;
            check_targets(aws, &cx, region, &stacks, &mut findings).await;
        }
        let waiting: Vec<String> = findings
            .iter()
            .filter(|f| f.status != FindingStatus::Ok)
            .map(|f| {
                format!(
                    "{} ({}): {}",
                    f.subject,
                    f.region.as_deref().unwrap_or("global"),
                    f.detail
                )
            })
            .collect();
        if waiting.is_empty() {
            progress(Event::Note {
                stack: None,
                message: "every service is steady and its targets are healthy".into(),
                warning: false,
            });
            break;
        }
        let summary = waiting.join("; ");
        if start.elapsed() >= timeout {
            progress(Event::Note {
                stack: None,
                message: format!(
                    "not ready after {}s, verifying anyway: {summary}",
                    start.elapsed().as_secs()
                ),
                warning: true,
            });
            break;
        }
        if summary != last {
            progress(Event::Note {
                stack: None,
                message: format!("waiting for {summary}"),
                warning: false,
            });
            last = summary;
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(pace.max_poll);
    }
    verify_at(aws, bundle, spec, regions, pace).await
}

/// What the checks share: the selected regions, their roles and names.
struct Cx<'a> {
    bundle: &'a Bundle,
    spec: &'a haven_spec::Spec,
    names: Names<'a>,
    regions: Vec<String>,
}

impl<'a> Cx<'a> {
    fn new(
        bundle: &'a Bundle,
        spec: &'a haven_spec::Spec,
        regions: &[String],
    ) -> Result<Self, Error> {
        bundle.select(regions)?;
        let regions = if regions.is_empty() {
            bundle.regions.clone()
        } else {
            bundle
                .regions
                .iter()
                .filter(|r| regions.contains(r))
                .cloned()
                .collect()
        };
        Ok(Self {
            bundle,
            spec,
            names: Names::new(spec),
            regions,
        })
    }

    fn role(&self, region: &str) -> Role {
        self.spec.region(region).map_or(Role::Secondary, |r| r.role)
    }

    fn stack_of(&self, region: &str, kind: &str) -> Option<&'a crate::StackSpec> {
        self.bundle
            .stacks
            .iter()
            .find(|s| s.region == region && s.kind == kind)
    }
}

fn finding(
    check: CheckKind,
    region: Option<&str>,
    subject: impl Into<String>,
    status: FindingStatus,
    detail: impl Into<String>,
) -> Finding {
    Finding {
        check,
        region: region.map(str::to_owned),
        subject: subject.into(),
        status,
        detail: detail.into(),
    }
}

/// A call that failed inside a check.
fn failed_call(check: CheckKind, region: Option<&str>, subject: &str, e: &Error) -> Finding {
    finding(
        check,
        region,
        subject,
        FindingStatus::Failed,
        format!("cannot tell: {e}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Stacks and drift

/// Every selected stack: complete, or why not. Returns the states of those that exist.
async fn check_stacks(
    aws: &Aws,
    cx: &Cx<'_>,
    findings: &mut Vec<Finding>,
) -> Result<BTreeMap<String, StackState>, Error> {
    let mut states = BTreeMap::new();
    for s in cx.bundle.select(&cx.regions)? {
        let cf = aws.cloudformation(&s.region);
        let Some(state) = cfn::describe(&cf, &s.region, &s.name).await? else {
            findings.push(finding(
                CheckKind::Stack,
                Some(&s.region),
                &s.name,
                FindingStatus::Failed,
                "not deployed",
            ));
            continue;
        };
        let (status, detail) = match StackCondition::of(&state.status) {
            StackCondition::Complete => (FindingStatus::Ok, state.status.clone()),
            StackCondition::RolledBack => (
                FindingStatus::Warning,
                format!(
                    "{}: its last update failed and was rolled back{}",
                    state.status,
                    reason_suffix(state.reason.as_deref())
                ),
            ),
            StackCondition::InProgress => (
                FindingStatus::Failed,
                format!("{}: CloudFormation is still working on it", state.status),
            ),
            StackCondition::Review => (
                FindingStatus::Failed,
                format!("{}: a change set was never executed", state.status),
            ),
            StackCondition::Failed => (
                FindingStatus::Failed,
                format!("{}{}", state.status, reason_suffix(state.reason.as_deref())),
            ),
        };
        findings.push(finding(
            CheckKind::Stack,
            Some(&s.region),
            &s.name,
            status,
            detail,
        ));
        states.insert(s.name.clone(), state);
    }
    Ok(states)
}

fn reason_suffix(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

/// Properties that ECS and Application Auto Scaling change on purpose after CloudFormation
/// created them, so drift there is how the architecture works, not a difference from the
/// spec: the desired count (target tracking), the task definition (the pipeline's ECS deploy
/// actions), the load balancers (blue/green swaps the target groups) and the listener rules'
/// actions (blue/green shifts their weights).
pub(crate) fn managed_elsewhere(resource_type: &str, path: &str) -> bool {
    let under = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    match resource_type {
        "AWS::ECS::Service" => {
            under("/DesiredCount") || under("/TaskDefinition") || under("/LoadBalancers")
        }
        "AWS::ElasticLoadBalancingV2::ListenerRule" => under("/Actions"),
        _ => false,
    }
}

/// Starts drift detection on every stack that is not busy, then waits for all of them.
async fn check_drift(
    aws: &Aws,
    cx: &Cx<'_>,
    stacks: &BTreeMap<String, StackState>,
    pace: Pace,
    findings: &mut Vec<Finding>,
) {
    let mut pending = Vec::new();
    // An endpoint that cannot detect drift at all (no AWS error code: a 5xx, no answer) is
    // asked once, not once per stack.
    let mut unavailable: Option<String> = None;
    for s in cx
        .bundle
        .stacks
        .iter()
        .filter(|s| cx.regions.contains(&s.region))
    {
        let Some(state) = stacks.get(&s.name) else {
            continue;
        };
        if !matches!(
            StackCondition::of(&state.status),
            StackCondition::Complete | StackCondition::RolledBack
        ) {
            continue;
        }
        if let Some(why) = &unavailable {
            findings.push(finding(
                CheckKind::Drift,
                Some(&s.region),
                &s.name,
                FindingStatus::Warning,
                format!(
                    "not checked: drift detection failed for {why} without an AWS error, so it \
                     was not asked again"
                ),
            ));
            continue;
        }
        match live::start_drift_detection(aws, &s.region, &s.name).await {
            Ok(id) => pending.push((s, id)),
            // Drift detection is a check on top: when it cannot run (permissions, an emulator
            // without it), say so rather than fail the whole verification.
            Err(e) => {
                if matches!(&e, Error::Call { code: None, .. }) {
                    unavailable = Some(s.name.clone());
                }
                findings.push(finding(
                    CheckKind::Drift,
                    Some(&s.region),
                    &s.name,
                    FindingStatus::Warning,
                    format!("not checked: {e}"),
                ));
            }
        }
    }
    let start = Instant::now();
    let mut poll = pace.first_poll;
    let mut done = BTreeMap::new();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for (s, id) in pending {
            match live::drift_detection(aws, &s.region, &s.name, &id).await {
                Ok(d) if d.detection == Detection::InProgress => still.push((s, id)),
                Ok(d) => {
                    done.insert(s.name.clone(), (s, Ok(d)));
                }
                Err(e) => {
                    done.insert(s.name.clone(), (s, Err(e)));
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if start.elapsed() >= pace.drift_deadline {
            for (s, _) in &pending {
                findings.push(finding(
                    CheckKind::Drift,
                    Some(&s.region),
                    &s.name,
                    FindingStatus::Warning,
                    format!(
                        "drift detection still running after {}s",
                        start.elapsed().as_secs()
                    ),
                ));
            }
            break;
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(pace.max_poll);
    }
    // In the manifest's order.
    for s in cx.bundle.stacks.iter() {
        let Some((s, result)) = done.remove(&s.name) else {
            continue;
        };
        let region = Some(s.region.as_str());
        let detection = match result {
            Ok(d) => d,
            Err(e) => {
                findings.push(finding(
                    CheckKind::Drift,
                    region,
                    &s.name,
                    FindingStatus::Warning,
                    format!("not checked: {e}"),
                ));
                continue;
            }
        };
        let f = match detection.drift {
            Some(Drift::InSync) if detection.detection == Detection::Complete => finding(
                CheckKind::Drift,
                region,
                &s.name,
                FindingStatus::Ok,
                "in sync",
            ),
            Some(Drift::Drifted) => match live::resource_drifts(aws, &s.region, &s.name).await {
                Ok(drifts) => drift_finding(&s.region, &s.name, &drifts),
                Err(e) => failed_call(CheckKind::Drift, region, &s.name, &e),
            },
            _ => finding(
                CheckKind::Drift,
                region,
                &s.name,
                FindingStatus::Warning,
                format!(
                    "not checked{}",
                    detection
                        .reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            ),
        };
        findings.push(f);
    }
}

/// A drifted stack's finding: failed on any difference that ECS or Application Auto Scaling
/// does not make on purpose.
pub(crate) fn drift_finding(region: &str, stack: &str, drifts: &[live::ResourceDrift]) -> Finding {
    let mut unexpected = Vec::new();
    let mut expected = Vec::new();
    for d in drifts {
        match d.kind {
            ResourceDriftKind::Deleted => unexpected.push(format!("{} deleted", d.logical_id)),
            ResourceDriftKind::Modified => {
                let (managed, other): (Vec<_>, Vec<_>) = d
                    .differences
                    .iter()
                    .partition(|p| managed_elsewhere(&d.resource_type, &p.path));
                if !other.is_empty() || d.differences.is_empty() {
                    let paths: Vec<&str> = other.iter().map(|p| p.path.as_str()).collect();
                    unexpected.push(if paths.is_empty() {
                        format!("{} modified", d.logical_id)
                    } else {
                        format!("{} {}", d.logical_id, paths.join(", "))
                    });
                }
                if !managed.is_empty() {
                    expected.push(d.logical_id.clone());
                }
            }
        }
    }
    if drifts.is_empty() {
        finding(
            CheckKind::Drift,
            Some(region),
            stack,
            FindingStatus::Warning,
            "drift detection says drifted but lists no modified or deleted resource",
        )
    } else if unexpected.is_empty() {
        finding(
            CheckKind::Drift,
            Some(region),
            stack,
            FindingStatus::Ok,
            format!(
                "in sync but for what ECS and Application Auto Scaling manage ({})",
                expected.join(", ")
            ),
        )
    } else {
        finding(
            CheckKind::Drift,
            Some(region),
            stack,
            FindingStatus::Failed,
            format!("drifted: {}", unexpected.join("; ")),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// ECS services and targets

/// Each environment's service in the region: steady, or why not. Returns the services found.
async fn check_services(
    aws: &Aws,
    cx: &Cx<'_>,
    region: &str,
    findings: &mut Vec<Finding>,
) -> BTreeMap<String, Service> {
    let envs = cx.names.environments(cx.role(region));
    let names: Vec<String> = envs.iter().map(|e| cx.names.ecs_service(e)).collect();
    let cluster = cx.names.cluster();
    let services = match live::services(aws, region, cluster, &names).await {
        Ok(s) => s,
        Err(e) => {
            findings.push(failed_call(
                CheckKind::Service,
                Some(region),
                &format!("cluster {cluster}"),
                &e,
            ));
            return BTreeMap::new();
        }
    };
    for name in &names {
        findings.push(match services.get(name) {
            None => finding(
                CheckKind::Service,
                Some(region),
                name,
                FindingStatus::Failed,
                format!("not found in the cluster {cluster}"),
            ),
            Some(s) => service_finding(region, s),
        });
    }
    services
}

/// A service's finding: steady is ok, anything else says what ECS reports.
pub(crate) fn service_finding(region: &str, s: &Service) -> Finding {
    let counts = format!(
        "{}/{} running{}",
        s.running,
        s.desired,
        if s.pending > 0 {
            format!(", {} pending", s.pending)
        } else {
            String::new()
        }
    );
    if s.steady() {
        return finding(
            CheckKind::Service,
            Some(region),
            &s.name,
            FindingStatus::Ok,
            format!("{counts}, deployment completed"),
        );
    }
    let mut why = vec![counts];
    if s.status != live::ServiceStatus::Active {
        why.push(format!("status {:?}", s.status));
    }
    if s.deployments.len() > 1 {
        why.push(format!("{} deployments", s.deployments.len()));
    }
    for d in &s.deployments {
        if let Some(r) = d
            .rollout
            .as_ref()
            .filter(|r| **r != live::Rollout::Completed)
        {
            let word = match r {
                live::Rollout::InProgress => "in progress".to_owned(),
                live::Rollout::Failed => "failed".to_owned(),
                live::Rollout::Completed => "completed".to_owned(),
                live::Rollout::Other(o) => o.clone(),
            };
            why.push(format!(
                "deployment {word}{}",
                d.rollout_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
        }
        if d.failed_tasks > 0 {
            why.push(format!("{} tasks failed to start", d.failed_tasks));
        }
    }
    finding(
        CheckKind::Service,
        Some(region),
        &s.name,
        FindingStatus::Failed,
        why.join(", "),
    )
}

/// The target groups the environment's traffic rule forwards to (weight above zero), named by
/// the network stack's outputs.
pub(crate) async fn serving_groups(
    aws: &Aws,
    region: &str,
    outputs: &BTreeMap<String, String>,
    env: &haven_spec::model::Environment,
) -> Result<Vec<String>, String> {
    let rule_key = out::env(env, out::TRAFFIC_RULE);
    let rule = outputs
        .get(&rule_key)
        .ok_or_else(|| format!("the network stack has no output {rule_key}"))?;
    let groups = live::rule_target_groups(aws, region, rule)
        .await
        .map_err(|e| e.to_string())?;
    let serving: Vec<String> = groups
        .iter()
        .filter(|(_, w)| w.is_none_or(|w| w > 0))
        .map(|(arn, _)| arn.clone())
        .collect();
    if serving.is_empty() {
        return Err("the traffic rule forwards to no target group".into());
    }
    Ok(serving)
}

/// `targetgroup/<name>/<id>` → `<name>`.
pub(crate) fn group_name(arn: &str) -> &str {
    arn.rsplit_once(":targetgroup/")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
        .unwrap_or(arn)
}

/// Every group serving each environment: some target healthy, none unhealthy.
async fn check_targets(
    aws: &Aws,
    cx: &Cx<'_>,
    region: &str,
    stacks: &BTreeMap<String, StackState>,
    findings: &mut Vec<Finding>,
) {
    let Some(network) = cx.stack_of(region, "network") else {
        return;
    };
    let Some(outputs) = stacks.get(&network.name).map(|s| &s.outputs) else {
        return; // the stack finding says it is missing
    };
    for env in cx.names.environments(cx.role(region)) {
        let subject = format!("{} traffic", env.name);
        let groups = match serving_groups(aws, region, outputs, env).await {
            Ok(g) => g,
            Err(e) => {
                findings.push(finding(
                    CheckKind::Targets,
                    Some(region),
                    subject,
                    FindingStatus::Failed,
                    format!("cannot tell: {e}"),
                ));
                continue;
            }
        };
        for arn in groups {
            let subject = format!("{} {}", env.name, group_name(&arn));
            findings.push(match live::target_health(aws, region, &arn).await {
                Ok(targets) => targets_finding(region, &subject, &targets),
                Err(e) => failed_call(CheckKind::Targets, Some(region), &subject, &e),
            });
        }
    }
}

/// A serving group's finding: failed with no healthy target or with any unhealthy one, a
/// warning while targets register or drain.
pub(crate) fn targets_finding(region: &str, subject: &str, targets: &[live::Target]) -> Finding {
    let healthy = targets
        .iter()
        .filter(|t| t.state == TargetState::Healthy)
        .count();
    let describe = |t: &live::Target| {
        format!(
            "{}{} {}{}",
            t.id,
            t.port.map(|p| format!(":{p}")).unwrap_or_default(),
            t.state.word(),
            t.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )
    };
    let bad: Vec<String> = targets
        .iter()
        .filter(|t| {
            matches!(
                t.state,
                TargetState::Unhealthy
                    | TargetState::UnhealthyDraining
                    | TargetState::Unavailable
                    | TargetState::Other(_)
            )
        })
        .map(describe)
        .collect();
    let settling: Vec<String> = targets
        .iter()
        .filter(|t| {
            matches!(
                t.state,
                TargetState::Initial | TargetState::Draining | TargetState::Unused
            )
        })
        .map(describe)
        .collect();
    let (status, detail) = if healthy == 0 {
        (
            FindingStatus::Failed,
            if targets.is_empty() {
                "no healthy target: no target is registered".to_owned()
            } else {
                format!(
                    "no healthy target: {}",
                    targets.iter().map(describe).collect::<Vec<_>>().join(", ")
                )
            },
        )
    } else if !bad.is_empty() {
        (
            FindingStatus::Failed,
            format!("{healthy} healthy, {}", bad.join(", ")),
        )
    } else if !settling.is_empty() {
        (
            FindingStatus::Warning,
            format!("{healthy} healthy, {}", settling.join(", ")),
        )
    } else {
        (FindingStatus::Ok, format!("{healthy} healthy"))
    };
    finding(CheckKind::Targets, Some(region), subject, status, detail)
}

// ---------------------------------------------------------------------------------------------
// Alarms, subscriptions: what the region's templates declare, against what exists

/// The resources of the region's stacks, by logical id, per stack (empty for a stack that does
/// not exist or cannot be listed; the stack finding says why).
async fn region_resources(
    aws: &Aws,
    cx: &Cx<'_>,
    region: &str,
    stacks: &BTreeMap<String, StackState>,
) -> BTreeMap<String, BTreeMap<String, live::StackResource>> {
    let mut out = BTreeMap::new();
    for s in cx.bundle.stacks.iter().filter(|s| s.region == region) {
        let Some(state) = stacks.get(&s.name) else {
            continue;
        };
        // A stack that cannot be listed is left out: its stack finding and the checks that
        // need its resources say what is missing.
        if let Ok(list) = live::stack_resources(aws, region, &state.id).await {
            out.insert(
                s.name.clone(),
                list.into_iter()
                    .map(|r| (r.logical_id.clone(), r))
                    .collect(),
            );
        }
    }
    out
}

/// `(logical id, properties)` of the template's resources of this type.
fn template_resources(
    stack: &crate::StackSpec,
    resource_type: &str,
) -> Vec<(String, serde_json::Value)> {
    let Ok(t) = serde_json::from_str::<serde_json::Value>(&stack.body) else {
        return Vec::new();
    };
    t["Resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"] == resource_type)
        .map(|(id, r)| (id.clone(), r["Properties"].clone()))
        .collect()
}

async fn check_alarms(
    aws: &Aws,
    cx: &Cx<'_>,
    region: &str,
    resources: &BTreeMap<String, BTreeMap<String, live::StackResource>>,
    findings: &mut Vec<Finding>,
) {
    // The alarms each deployed stack of the region declares, and whether the stack lists them.
    let mut declared = Vec::new();
    let mut not_in_stack = Vec::new();
    for s in cx.bundle.stacks.iter().filter(|s| s.region == region) {
        let Some(listed) = resources.get(&s.name) else {
            continue;
        };
        for (id, props) in template_resources(s, "AWS::CloudWatch::Alarm") {
            let Some(name) = props["AlarmName"].as_str() else {
                continue;
            };
            if listed.contains_key(&id) {
                declared.push(name.to_owned());
            } else {
                not_in_stack.push(name.to_owned());
            }
        }
    }
    if declared.is_empty() && not_in_stack.is_empty() {
        return;
    }
    let live_alarms = match live::alarms(aws, region, &declared).await {
        Ok(a) => a,
        Err(e) => {
            findings.push(failed_call(CheckKind::Alarms, Some(region), "alarms", &e));
            return;
        }
    };
    let mut insufficient = 0;
    for name in &declared {
        match live_alarms.get(name) {
            None => findings.push(finding(
                CheckKind::Alarms,
                Some(region),
                name,
                FindingStatus::Failed,
                "in its stack but unknown to CloudWatch",
            )),
            Some(a) => match &a.state {
                AlarmState::Alarm => findings.push(finding(
                    CheckKind::Alarms,
                    Some(region),
                    name,
                    FindingStatus::Failed,
                    format!(
                        "in ALARM{}",
                        a.reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    ),
                )),
                AlarmState::InsufficientData => insufficient += 1,
                AlarmState::Ok | AlarmState::Other(_) => {}
            },
        }
    }
    let mut detail = format!("{} alarms, none in ALARM", declared.len());
    if insufficient > 0 {
        detail.push_str(&format!(" ({insufficient} with insufficient data)"));
    }
    // On AWS a deployed stack lists every resource of its template; an endpoint that skips
    // alarms (moto does) lists none of them, which is not the spec's fault, so it warns.
    let status = if not_in_stack.is_empty() {
        FindingStatus::Ok
    } else if declared.is_empty() {
        detail = format!(
            "none of the {} alarms the templates declare is in its stack, so none was checked \
             (an endpoint that skips AWS::CloudWatch::Alarm, or stacks older than the spec)",
            not_in_stack.len()
        );
        FindingStatus::Warning
    } else {
        detail.push_str(&format!(
            "; not in their stacks, so not checked: {} (stacks older than the spec?)",
            not_in_stack.join(", ")
        ));
        FindingStatus::Warning
    };
    findings.push(finding(
        CheckKind::Alarms,
        Some(region),
        "alarms",
        status,
        detail,
    ));
}

async fn check_subscriptions(
    aws: &Aws,
    cx: &Cx<'_>,
    region: &str,
    resources: &BTreeMap<String, BTreeMap<String, live::StackResource>>,
    findings: &mut Vec<Finding>,
) {
    for s in cx.bundle.stacks.iter().filter(|s| s.region == region) {
        let Some(listed) = resources.get(&s.name) else {
            continue;
        };
        for (id, props) in template_resources(s, "AWS::SNS::Topic") {
            let topic = props["TopicName"].as_str().unwrap_or(&id).to_owned();
            let wanted: Vec<(String, String)> = props["Subscription"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| {
                    Some((
                        x["Protocol"].as_str()?.to_owned(),
                        x["Endpoint"].as_str()?.to_owned(),
                    ))
                })
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let Some(arn) = listed.get(&id).and_then(|r| r.physical_id.as_deref()) else {
                findings.push(finding(
                    CheckKind::Subscriptions,
                    Some(region),
                    &topic,
                    FindingStatus::Failed,
                    format!("the topic is not in the stack {}", s.name),
                ));
                continue;
            };
            let subs = match live::subscriptions(aws, region, arn).await {
                Ok(subs) => subs,
                Err(e) => {
                    findings.push(failed_call(
                        CheckKind::Subscriptions,
                        Some(region),
                        &topic,
                        &e,
                    ));
                    continue;
                }
            };
            for (protocol, endpoint) in wanted {
                let subject = format!("{topic} {protocol}:{endpoint}");
                let found = subs
                    .iter()
                    .filter(|x| x.protocol == protocol && x.endpoint == endpoint)
                    .map(|x| &x.confirmation)
                    // A confirmed one wins over a stale pending or deleted one.
                    .min_by_key(|c| match c {
                        Confirmation::Confirmed => 0,
                        Confirmation::Pending => 1,
                        Confirmation::Deleted => 2,
                    });
                findings.push(match found {
                    Some(Confirmation::Confirmed) => finding(
                        CheckKind::Subscriptions,
                        Some(region),
                        subject,
                        FindingStatus::Ok,
                        "confirmed",
                    ),
                    Some(Confirmation::Pending) => finding(
                        CheckKind::Subscriptions,
                        Some(region),
                        subject,
                        FindingStatus::Warning,
                        "pending confirmation: the recipient must follow the link in AWS's \
                         message before it receives anything",
                    ),
                    Some(Confirmation::Deleted) => finding(
                        CheckKind::Subscriptions,
                        Some(region),
                        subject,
                        FindingStatus::Failed,
                        "deleted",
                    ),
                    None => finding(
                        CheckKind::Subscriptions,
                        Some(region),
                        subject,
                        FindingStatus::Failed,
                        "not subscribed",
                    ),
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Images and parameters

/// The images the region's services run, in every region of the bundle that has a registry.
async fn check_images(
    aws: &Aws,
    region: &str,
    services: &BTreeMap<String, Service>,
    findings: &mut Vec<Finding>,
) {
    let definitions: BTreeSet<&str> = services
        .values()
        .map(|s| s.task_definition.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    let mut images = BTreeSet::new();
    for td in definitions {
        match live::task_definition_images(aws, region, td).await {
            Ok(uris) => images.extend(uris),
            Err(e) => findings.push(failed_call(CheckKind::Images, Some(region), td, &e)),
        }
    }
    for uri in images {
        let Some(image) = EcrImage::parse(&uri) else {
            findings.push(finding(
                CheckKind::Images,
                Some(region),
                &uri,
                FindingStatus::Warning,
                "not an ECR image: not checked",
            ));
            continue;
        };
        // The repository the tasks pull from: their own region's with replication (so a
        // secondary's image shows that replication worked), the primary's without.
        let r = image.region.as_str();
        let subject = image.short();
        let result = live::image_presence(aws, r, &image.repository, &image.reference).await;
        findings.push(match result {
            Ok(ImagePresence::Present) => finding(
                CheckKind::Images,
                Some(r),
                subject,
                FindingStatus::Ok,
                format!(
                    "in the repository {} the {region} tasks pull from",
                    image.repository
                ),
            ),
            Ok(ImagePresence::NoImage) => finding(
                CheckKind::Images,
                Some(r),
                subject,
                FindingStatus::Failed,
                format!(
                    "not in the repository {} the {region} tasks pull from",
                    image.repository
                ),
            ),
            Ok(ImagePresence::NoRepository) => finding(
                CheckKind::Images,
                Some(r),
                subject,
                FindingStatus::Failed,
                format!("{r} has no repository {}", image.repository),
            ),
            Err(e) => failed_call(CheckKind::Images, Some(r), &subject, &e),
        });
    }
}

async fn check_parameters(aws: &Aws, cx: &Cx<'_>, region: &str, findings: &mut Vec<Finding>) {
    for secret in cx
        .bundle
        .secrets
        .iter()
        .filter(|s| s.regions.iter().any(|r| r == region))
    {
        findings.push(
            match secrets::exists(aws, region, &secret.parameter).await {
                Ok(true) => finding(
                    CheckKind::Parameters,
                    Some(region),
                    &secret.parameter,
                    FindingStatus::Ok,
                    format!("present ({})", secret.env),
                ),
                Ok(false) => finding(
                    CheckKind::Parameters,
                    Some(region),
                    &secret.parameter,
                    FindingStatus::Failed,
                    format!(
                        "missing: the service's {} has no value here (`haven aws secret set {}`)",
                        secret.env, secret.env
                    ),
                ),
                Err(e) => failed_call(CheckKind::Parameters, Some(region), &secret.parameter, &e),
            },
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Route 53

/// Each selected region's health check, from the global stack's resources.
async fn check_health_checks(
    aws: &Aws,
    cx: &Cx<'_>,
    stacks: &BTreeMap<String, StackState>,
    findings: &mut Vec<Finding>,
) {
    let Some(global) = cx.bundle.stacks.iter().find(|s| s.kind == "global") else {
        return;
    };
    let Some(state) = stacks.get(&global.name) else {
        return; // not selected, or its stack finding says it is missing
    };
    let ids = match health_check_ids(aws, &global.region, &state.id, &cx.bundle.regions).await {
        Ok(ids) => ids,
        Err(e) => {
            findings.push(failed_call(CheckKind::HealthChecks, None, &global.name, &e));
            return;
        }
    };
    for region in &cx.regions {
        let Some(id) = ids.get(region) else {
            findings.push(finding(
                CheckKind::HealthChecks,
                Some(region),
                "health check",
                FindingStatus::Failed,
                format!("the stack {} has none for this region", global.name),
            ));
            continue;
        };
        let subject = format!("health check {id}");
        // The check's configuration, then what Route 53's checkers report; the first call that
        // fails is the finding.
        let read = async {
            Ok::<_, Error>((
                live::health_check(aws, id).await?,
                live::health_check_status(aws, id).await?,
            ))
        };
        findings.push(match read.await {
            Ok((hc, observations)) => health_check_finding(region, &subject, &hc, &observations),
            Err(e) => failed_call(CheckKind::HealthChecks, Some(region), &subject, &e),
        });
    }
}

/// The health checks' ids by region: the global stack's `<Region>HealthCheck` resources.
pub(crate) async fn health_check_ids(
    aws: &Aws,
    stack_region: &str,
    stack: &str,
    regions: &[String],
) -> Result<BTreeMap<String, String>, Error> {
    let resources = live::stack_resources(aws, stack_region, stack).await?;
    Ok(regions
        .iter()
        .filter_map(|r| {
            let logical = format!("{}HealthCheck", pascal(r));
            resources
                .iter()
                .find(|x| x.logical_id == logical && x.resource_type == "AWS::Route53::HealthCheck")
                .and_then(|x| x.physical_id.clone())
                .map(|id| (r.clone(), id))
        })
        .collect())
}

pub(crate) fn health_check_finding(
    region: &str,
    subject: &str,
    hc: &live::HealthCheck,
    observations: &[live::Observation],
) -> Finding {
    let ok = observations
        .iter()
        .filter(|o| o.status == CheckerStatus::Success)
        .count();
    let seen = format!("{ok} of {} checkers report success", observations.len());
    let (status, detail) = if hc.disabled {
        (
            FindingStatus::Warning,
            "disabled: Route 53 treats the region as healthy whatever it answers".to_owned(),
        )
    } else if !live::endpoint_healthy(observations) {
        let first = observations
            .iter()
            .find(|o| o.status != CheckerStatus::Success)
            .map(|o| format!(": {}", o.report))
            .unwrap_or_default();
        (FindingStatus::Failed, format!("unhealthy, {seen}{first}"))
    } else if hc.inverted {
        (
            FindingStatus::Warning,
            format!(
                "inverted (`haven aws failover`): Route 53 treats the region as unhealthy \
                 although {seen}; `haven aws failback` ends it"
            ),
        )
    } else {
        (FindingStatus::Ok, seen)
    };
    finding(
        CheckKind::HealthChecks,
        Some(region),
        subject,
        status,
        detail,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Mutex;

    use super::*;
    use crate::live::replay::{self, Replay, block_on};
    use crate::live::{
        DifferenceKind, HealthCheck, Observation, PropertyDifference, ResourceDrift, Target,
    };

    #[test]
    fn drift_that_ecs_and_scaling_make_is_not_a_difference() {
        for (resource_type, path, managed) in [
            ("AWS::ECS::Service", "/DesiredCount", true),
            ("AWS::ECS::Service", "/TaskDefinition", true),
            ("AWS::ECS::Service", "/LoadBalancers/0/TargetGroupArn", true),
            (
                "AWS::ECS::Service",
                "/NetworkConfiguration/AwsvpcConfiguration",
                false,
            ),
            ("AWS::ECS::Service", "/DesiredCountX", false),
            (
                "AWS::ElasticLoadBalancingV2::ListenerRule",
                "/Actions/0/ForwardConfig/TargetGroups/1/Weight",
                true,
            ),
            (
                "AWS::ElasticLoadBalancingV2::ListenerRule",
                "/Conditions/0",
                false,
            ),
            ("AWS::IAM::Role", "/DesiredCount", false),
        ] {
            assert_eq!(
                managed_elsewhere(resource_type, path),
                managed,
                "{resource_type} {path}"
            );
        }
    }

    fn drift(id: &str, kind: &str, status: ResourceDriftKind, paths: &[&str]) -> ResourceDrift {
        ResourceDrift {
            logical_id: id.into(),
            resource_type: kind.into(),
            kind: status,
            differences: paths
                .iter()
                .map(|p| PropertyDifference {
                    path: (*p).into(),
                    kind: DifferenceKind::NotEqual,
                })
                .collect(),
        }
    }

    #[test]
    fn drift_findings() {
        let blue_green = [
            drift(
                "ProductionService",
                "AWS::ECS::Service",
                ResourceDriftKind::Modified,
                &["/DesiredCount", "/TaskDefinition"],
            ),
            drift(
                "ProductionTrafficRule",
                "AWS::ElasticLoadBalancingV2::ListenerRule",
                ResourceDriftKind::Modified,
                &["/Actions/0/ForwardConfig/TargetGroups/0/Weight"],
            ),
        ];
        let by_hand = [
            drift(
                "ProductionService",
                "AWS::ECS::Service",
                ResourceDriftKind::Modified,
                &["/DesiredCount", "/PlatformVersion"],
            ),
            drift(
                "TaskRole",
                "AWS::IAM::Role",
                ResourceDriftKind::Deleted,
                &[],
            ),
        ];
        for (drifts, status, detail) in [
            (
                &[][..],
                FindingStatus::Warning,
                "drift detection says drifted but lists no modified or deleted resource",
            ),
            (
                &blue_green[..],
                FindingStatus::Ok,
                "in sync but for what ECS and Application Auto Scaling manage \
                 (ProductionService, ProductionTrafficRule)",
            ),
            (
                &by_hand[..],
                FindingStatus::Failed,
                "drifted: ProductionService /PlatformVersion; TaskRole deleted",
            ),
        ] {
            let f = drift_finding("us-east-1", "hello-us-east-1-service", drifts);
            assert_eq!((f.check, f.status), (CheckKind::Drift, status));
            assert_eq!(f.detail, detail);
        }
    }

    fn target(id: &str, state: TargetState, reason: Option<&str>) -> Target {
        Target {
            id: id.into(),
            port: Some(8080),
            state,
            reason: reason.map(Into::into),
            description: None,
        }
    }

    #[test]
    fn target_findings() {
        let healthy = target("10.0.11.5", TargetState::Healthy, None);
        let unhealthy = target(
            "10.0.12.7",
            TargetState::Unhealthy,
            Some("Target.ResponseCodeMismatch"),
        );
        let initial = target(
            "10.0.12.8",
            TargetState::Initial,
            Some("Elb.RegistrationInProgress"),
        );
        for (targets, status, detail) in [
            (
                vec![],
                FindingStatus::Failed,
                "no healthy target: no target is registered",
            ),
            (
                vec![unhealthy.clone()],
                FindingStatus::Failed,
                "no healthy target: 10.0.12.7:8080 unhealthy (Target.ResponseCodeMismatch)",
            ),
            (
                vec![healthy.clone(), unhealthy],
                FindingStatus::Failed,
                "1 healthy, 10.0.12.7:8080 unhealthy (Target.ResponseCodeMismatch)",
            ),
            (
                vec![healthy.clone(), initial],
                FindingStatus::Warning,
                "1 healthy, 10.0.12.8:8080 initial (Elb.RegistrationInProgress)",
            ),
            (
                vec![healthy.clone(), healthy],
                FindingStatus::Ok,
                "2 healthy",
            ),
        ] {
            let f = targets_finding("us-east-1", "production hello-blue", &targets);
            assert_eq!((f.status, f.detail.as_str()), (status, detail));
        }
        assert_eq!(
            group_name(
                "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello-us-east-1-net-BUZGU6NMWVE4/babc356976a348ae"
            ),
            "hello-us-east-1-net-BUZGU6NMWVE4"
        );
    }

    #[test]
    fn health_check_findings() {
        let hc = |inverted, disabled| HealthCheck {
            id: "hc".into(),
            version: 1,
            inverted,
            disabled,
            fqdn: None,
        };
        let obs = |ok: bool| Observation {
            region: "us-east-1".into(),
            status: if ok {
                CheckerStatus::Success
            } else {
                CheckerStatus::Failure
            },
            report: if ok {
                "Success: HTTP Status Code 200, OK".into()
            } else {
                "Failure: Resolved IP: 192.0.2.1. The connection timed out.".into()
            },
        };
        let good = [obs(true), obs(true), obs(true)];
        let bad = [obs(false), obs(false), obs(false)];
        for (check, seen, status, start) in [
            (
                hc(false, false),
                &good,
                FindingStatus::Ok,
                "3 of 3 checkers",
            ),
            (hc(true, false), &good, FindingStatus::Warning, "inverted"),
            (hc(false, true), &good, FindingStatus::Warning, "disabled"),
            (
                hc(false, false),
                &bad,
                FindingStatus::Failed,
                "unhealthy, 0 of 3",
            ),
            (hc(true, false), &bad, FindingStatus::Failed, "unhealthy"),
        ] {
            let f = health_check_finding("us-east-1", "health check hc", &check, seen);
            assert_eq!(f.status, status, "{f:?}");
            assert!(f.detail.starts_with(start), "{f:?}");
        }
    }

    #[test]
    fn service_findings_say_what_ecs_reports() {
        let parse = |text: &str| {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            let mut s = block_on(async {
                // Through the same reader as live calls.
                let replay = Replay::start();
                replay.on(&["DescribeServices"], vec![replay::json(&v.to_string())]);
                let aws = replay.aws().await;
                live::services(&aws, "us-east-1", "hello", &["hello-production".into()])
                    .await
                    .unwrap()
            });
            s.remove("hello-production").unwrap()
        };
        let deploying = parse(crate::live::tests_data::DESCRIBE_SERVICES_DEPLOYING);
        let f = service_finding("us-east-1", &deploying);
        assert_eq!(f.status, FindingStatus::Failed);
        assert_eq!(
            f.detail,
            "3/2 running, 1 pending, 2 deployments, deployment in progress \
             (ECS deployment ecs-svc/4817365522781273650 in progress.)"
        );
        let steady = parse(crate::live::tests_data::DESCRIBE_SERVICES_STEADY);
        let f = service_finding("us-east-1", &steady);
        assert_eq!(
            (f.status, f.detail.as_str()),
            (FindingStatus::Ok, "2/2 running, deployment completed")
        );
    }

    /// The default two-region spec with a secret and a routed domain, synthesized.
    fn fixture() -> (haven_spec::Spec, Bundle) {
        let text = r#"[project]
name = "hello"

[service]
command = ["target/release/hello"]
port = 8080
desired = 2
secrets = { DB_PASSWORD = "/hello/db-password" }

[notifications.topics.alerts]
email = ["ops@example.com"]

[routing]
domain = "app.example.com"
hosted_zone_id = "Z0000000000000000000"
"#;
        // The default fixture's directory holds the buildspec the spec names.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../haven-cfn/tests/fixtures/default");
        let spec = haven_spec::load_str(text, &dir.join("haven.toml"), &dir)
            .unwrap()
            .spec;
        let synthesis = haven_cfn::synth(&spec).unwrap();
        let bundle = Bundle::from_synthesis(&spec, &synthesis).unwrap();
        (spec, bundle)
    }

    fn describe_stacks(name: &str, outputs: &[(&str, &str)]) -> String {
        let outputs: String = outputs
            .iter()
            .map(|(k, v)| {
                format!("<member><OutputKey>{k}</OutputKey><OutputValue>{v}</OutputValue></member>")
            })
            .collect();
        format!(
            r#"<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult><Stacks><member>
    <StackName>{name}</StackName>
    <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/5c3f0a10-0000-4000-8000-000000000000</StackId>
    <CreationTime>2026-12-06T09:00:00.000Z</CreationTime>
    <StackStatus>CREATE_COMPLETE</StackStatus>
    <Outputs>{outputs}</Outputs>
  </member></Stacks></DescribeStacksResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</DescribeStacksResponse>"#
        )
    }

    fn list_stack_resources(resources: &[(String, &str, String)]) -> String {
        let members: String = resources
            .iter()
            .map(|(id, kind, physical)| {
                format!(
                    "<member><LogicalResourceId>{id}</LogicalResourceId>\
                     <PhysicalResourceId>{physical}</PhysicalResourceId>\
                     <ResourceType>{kind}</ResourceType>\
                     <LastUpdatedTimestamp>2026-12-06T09:00:00.000Z</LastUpdatedTimestamp>\
                     <ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>"
                )
            })
            .collect();
        format!(
            r#"<ListStackResourcesResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <ListStackResourcesResult><StackResourceSummaries>{members}</StackResourceSummaries></ListStackResourcesResult>
  <ResponseMetadata><RequestId>2</RequestId></ResponseMetadata>
</ListStackResourcesResponse>"#
        )
    }

    /// What moto cannot do, end to end on recorded AWS answers: `wait_ready` polls while a
    /// deployment rolls out and targets register, then `verify` runs drift detection (in
    /// progress, then drifted only where ECS works) and every other check, and passes.
    #[test]
    fn wait_ready_then_verify_on_recorded_answers() {
        let (spec, bundle) = fixture();
        let replay = Replay::start();
        let rule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/hello-production/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
        let topic = "arn:aws:sns:us-east-1:123456789012:hello-alerts";

        // Every stack of us-east-1 is complete; the network stack names the traffic rules.
        for s in bundle.stacks.iter().filter(|s| s.region == "us-east-1") {
            let outputs: &[(&str, &str)] = if s.kind == "network" {
                &[
                    ("ProductionTrafficRuleArn", rule),
                    ("StagingTrafficRuleArn", rule),
                ]
            } else {
                &[]
            };
            replay.on(
                &["Action=DescribeStacks", &format!("StackName={}", s.name)],
                vec![replay::xml(&describe_stacks(&s.name, outputs))],
            );
        }
        // The stacks' resources: every alarm and topic of the templates, the health checks.
        let mut resources = Vec::new();
        for s in bundle.stacks.iter().filter(|s| s.region == "us-east-1") {
            for (id, props) in template_resources(s, "AWS::CloudWatch::Alarm") {
                resources.push((
                    id,
                    "AWS::CloudWatch::Alarm",
                    props["AlarmName"].as_str().unwrap().to_owned(),
                ));
            }
            for (id, _) in template_resources(s, "AWS::SNS::Topic") {
                resources.push((id, "AWS::SNS::Topic", topic.to_owned()));
            }
        }
        resources.push((
            "UsEast1HealthCheck".into(),
            "AWS::Route53::HealthCheck",
            "hc-east".into(),
        ));
        resources.push((
            "UsWest2HealthCheck".into(),
            "AWS::Route53::HealthCheck",
            "hc-west".into(),
        ));
        let alarm_names: Vec<String> = resources
            .iter()
            .filter(|r| r.1 == "AWS::CloudWatch::Alarm")
            .map(|r| r.2.clone())
            .collect();
        assert!(alarm_names.len() > 3, "{alarm_names:?}");
        replay.on(
            &["Action=ListStackResources"],
            vec![replay::xml(&list_stack_resources(&resources))],
        );
        // Drift: the service stack drifted where ECS works; the others are in sync.
        replay
            .on(
                &["Action=DetectStackDrift", "hello-us-east-1-service"],
                vec![replay::xml(
                    &crate::live::tests_data::DETECT_STACK_DRIFT
                        .replace("2f2b2d60-df86-11ea-bf55-0a6e8a5ad3d9", "svc-detection"),
                )],
            )
            .on(
                &["Action=DetectStackDrift"],
                vec![replay::xml(crate::live::tests_data::DETECT_STACK_DRIFT)],
            )
            .on(
                &["Action=DescribeStackDriftDetectionStatus", "svc-detection"],
                vec![
                    replay::xml(&crate::live::tests_data::drift_status(
                        "DETECTION_IN_PROGRESS",
                        None,
                        None,
                    )),
                    replay::xml(&crate::live::tests_data::drift_status(
                        "DETECTION_COMPLETE",
                        Some("DRIFTED"),
                        Some(1),
                    )),
                ],
            )
            .on(
                &["Action=DescribeStackDriftDetectionStatus"],
                vec![replay::xml(&crate::live::tests_data::drift_status(
                    "DETECTION_COMPLETE",
                    Some("IN_SYNC"),
                    Some(0),
                ))],
            )
            .on(
                &["Action=DescribeStackResourceDrifts"],
                vec![replay::xml(
                    &crate::live::tests_data::resource_drifts_answer(&[
                        crate::live::tests_data::SERVICE_DRIFT,
                    ]),
                )],
            );
        // ECS: deploying twice, then steady, for both services.
        let both = |text: &str| {
            let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
            let mut staging = v["services"][0].clone();
            staging["serviceName"] = "hello-staging".into();
            v["services"].as_array_mut().unwrap().push(staging);
            v["failures"] = serde_json::json!([]);
            replay::json(&v.to_string())
        };
        replay.on(
            &["DescribeServices"],
            vec![
                both(crate::live::tests_data::DESCRIBE_SERVICES_DEPLOYING),
                both(crate::live::tests_data::DESCRIBE_SERVICES_DEPLOYING),
                both(crate::live::tests_data::DESCRIBE_SERVICES_STEADY),
            ],
        );
        replay.on(
            &["DescribeTaskDefinition"],
            vec![replay::json(
                r#"{"taskDefinition":{"family":"hello-production","revision":4,"containerDefinitions":[{"name":"hello","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/hello:v4","essential":true}]}}"#,
            )],
        );
        // The traffic rule forwards to green; its targets register, then are healthy.
        replay.on(
            &["Action=DescribeRules"],
            vec![replay::xml(crate::live::tests_data::DESCRIBE_RULES)],
        );
        let health = |state: &str| {
            replay::xml(&format!(
                r#"<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeTargetHealthResult><TargetHealthDescriptions>
    <member><HealthCheckPort>8080</HealthCheckPort><TargetHealth><State>{state}</State></TargetHealth><Target><Port>8080</Port><Id>10.0.11.5</Id></Target></member>
    <member><HealthCheckPort>8080</HealthCheckPort><TargetHealth><State>healthy</State></TargetHealth><Target><Port>8080</Port><Id>10.0.12.5</Id></Target></member>
  </TargetHealthDescriptions></DescribeTargetHealthResult>
</DescribeTargetHealthResponse>"#
            ))
        };
        replay.on(
            &["Action=DescribeTargetHealth"],
            vec![health("initial"), health("initial"), health("healthy")],
        );
        // Alarms all OK; the subscription confirmed; the image and the secret present.
        let alarms: String = alarm_names
            .iter()
            .map(|n| {
                format!(
                    "<member><AlarmName>{n}</AlarmName><StateValue>OK</StateValue>\
                     <StateReason>Threshold Crossed: no datapoints were breaching</StateReason></member>"
                )
            })
            .collect();
        replay.on(
            &["Action=DescribeAlarms"],
            vec![replay::xml(&format!(
                r#"<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><DescribeAlarmsResult><MetricAlarms>{alarms}</MetricAlarms></DescribeAlarmsResult></DescribeAlarmsResponse>"#
            ))],
        );
        replay.on(
            &["Action=ListSubscriptionsByTopic"],
            vec![replay::xml(
                r#"<ListSubscriptionsByTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ListSubscriptionsByTopicResult><Subscriptions><member><TopicArn>arn:aws:sns:us-east-1:123456789012:hello-alerts</TopicArn><Protocol>email</Protocol><SubscriptionArn>arn:aws:sns:us-east-1:123456789012:hello-alerts:698f9a0c</SubscriptionArn><Owner>123456789012</Owner><Endpoint>ops@example.com</Endpoint></member></Subscriptions></ListSubscriptionsByTopicResult></ListSubscriptionsByTopicResponse>"#,
            )],
        );
        replay.on(
            &["DescribeImages"],
            vec![replay::json(
                r#"{"imageDetails":[{"repositoryName":"hello","imageDigest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","imageTags":["v4"]}]}"#,
            )],
        );
        replay.on(
            &["AmazonSSM.GetParameter"],
            vec![replay::json(
                r#"{"Parameter":{"Name":"/hello/db-password","Type":"SecureString","Value":"AQICAHh...","Version":1}}"#,
            )],
        );
        replay
            .on(
                &["/2013-04-01/healthcheck/hc-east/status"],
                vec![replay::xml(
                    crate::live::tests_data::GET_HEALTH_CHECK_STATUS,
                )],
            )
            .on(
                &["/2013-04-01/healthcheck/hc-east"],
                vec![replay::xml(
                    &crate::live::tests_data::GET_HEALTH_CHECK
                        .replace("abcdef11-2222-3333-4444-555555fedcba", "hc-east"),
                )],
            );

        let notes = Mutex::new(Vec::new());
        let progress = |e: Event| {
            if let Event::Note { message, .. } = e {
                notes.lock().unwrap().push(message);
            }
        };
        let pace = Pace {
            first_poll: Duration::from_millis(1),
            max_poll: Duration::from_millis(5),
            drift_deadline: Duration::from_secs(30),
        };
        let report = block_on(async {
            let aws = replay.aws().await;
            wait_ready_at(
                &aws,
                &bundle,
                &spec,
                &["us-east-1".to_owned()],
                Duration::from_secs(30),
                pace,
                &progress,
            )
            .await
            .unwrap()
        });
        let failed: Vec<&Finding> = report.with(FindingStatus::Failed).collect();
        assert!(report.passed(), "{failed:#?}");
        let notes = notes.into_inner().unwrap();
        assert!(
            notes[0].starts_with("waiting for hello-production (us-east-1): 3/2 running"),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|n| n.contains("10.0.11.5:8080 initial")),
            "{notes:?}"
        );
        assert_eq!(
            notes.last().unwrap(),
            "every service is steady and its targets are healthy"
        );
        // Every check spoke, and the service stack's drift is ECS's own.
        let kinds: BTreeSet<CheckKind> = report.findings.iter().map(|f| f.check).collect();
        assert_eq!(kinds.len(), 9, "{kinds:?}");
        let drift = report
            .findings
            .iter()
            .find(|f| f.check == CheckKind::Drift && f.subject == "hello-us-east-1-service")
            .unwrap();
        assert_eq!(drift.status, FindingStatus::Ok);
        assert!(drift.detail.contains("(ProductionService)"), "{drift:?}");
        assert_eq!(
            report
                .findings
                .iter()
                .filter(|f| f.check == CheckKind::Drift && f.detail == "in sync")
                .count(),
            5
        );
        let images: Vec<(&str, &str)> = report
            .findings
            .iter()
            .filter(|f| f.check == CheckKind::Images)
            .map(|f| (f.subject.as_str(), f.detail.as_str()))
            .collect();
        assert_eq!(
            images,
            [(
                "hello:v4",
                "in the repository hello the us-east-1 tasks pull from"
            )]
        );
        // Only us-east-1 was asked about; Route 53 for us-east-1's check only.
        assert!(replay.received("/us-west-2/").is_empty());
        assert!(replay.received("hc-west").is_empty());
    }
}
