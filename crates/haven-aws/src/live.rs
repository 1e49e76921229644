//! Read-only questions to the live account, one function per question, each answer typed: the
//! status words AWS answers with (a stack's drift, an ECS rollout, a target's health, an
//! alarm's state, a subscription's confirmation, a Route 53 checker's report) are parsed into
//! enums here or in `states.rs`, at the boundary, and nothing after them compares the text.
//!
//! CloudFormation goes through its SDK; ECS and ECR through JSON 1.1, ELBv2, CloudWatch and SNS
//! through the Query protocol and Route 53 through REST-XML (`api.rs`). Route 53 is global: its
//! calls are signed for us-east-1.

pub use crate::states::{DeploymentStatus, Rollout};

use std::collections::BTreeMap;

use aws_sdk_cloudformation::types::{
    DifferenceType, StackDriftDetectionStatus, StackDriftStatus, StackResourceDriftStatus,
    StackStatus,
};
use serde::Serialize;
use serde_json::json;

use crate::{Aws, Error, api, cfn};

/// Route 53's control plane answers in us-east-1, for every region's health checks.
pub const ROUTE53_REGION: &str = "us-east-1";

const ELBV2: (&str, &str) = ("elasticloadbalancing", "2015-12-01");
const CLOUDWATCH: (&str, &str) = ("monitoring", "2010-08-01");
const SNS: (&str, &str) = ("sns", "2010-03-31");

// ---------------------------------------------------------------------------------------------
// CloudFormation

/// Where a stack stands, from its CloudFormation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StackCondition {
    /// Created or updated: `CREATE_COMPLETE`, `UPDATE_COMPLETE`, `IMPORT_COMPLETE`.
    Complete,
    /// The last update failed and was rolled back: the stack is stable at its previous state.
    RolledBack,
    /// Creation failed, or a rollback or deletion failed: the stack needs attention.
    Failed,
    /// CloudFormation is working on it.
    InProgress,
    /// Made by a change set that was never executed.
    Review,
}

impl StackCondition {
    /// Parses CloudFormation's status word.
    pub fn of(status: &str) -> Self {
        match StackStatus::from(status) {
            StackStatus::CreateComplete
            | StackStatus::UpdateComplete
            | StackStatus::ImportComplete => Self::Complete,
            StackStatus::UpdateRollbackComplete | StackStatus::ImportRollbackComplete => {
                Self::RolledBack
            }
            StackStatus::ReviewInProgress => Self::Review,
            s if s.as_str().ends_with("_IN_PROGRESS") => Self::InProgress,
            _ => Self::Failed,
        }
    }
}

/// One resource of a stack, as ListStackResources names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub logical_id: String,
    pub resource_type: String,
    pub physical_id: Option<String>,
    /// Deleted, or being deleted (a resource whose deletion failed is not).
    pub deleted: bool,
}

/// Every resource of the stack (an emulator may list resources it skipped with no type).
pub async fn stack_resources(
    aws: &Aws,
    region: &str,
    stack: &str,
) -> Result<Vec<StackResource>, Error> {
    use aws_sdk_cloudformation::types::ResourceStatus;
    // The SDK's paginator follows the next tokens.
    let mut pages = aws
        .cloudformation(region)
        .list_stack_resources()
        .stack_name(stack)
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(r) = pages.next().await {
        let r = r.map_err(|e| cfn::call_error(Some(stack), region, "ListStackResources", e))?;
        out.push(StackResource {
            logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
            resource_type: r.resource_type().unwrap_or_default().to_owned(),
            physical_id: r.physical_resource_id().map(str::to_owned),
            deleted: matches!(
                r.resource_status(),
                Some(ResourceStatus::DeleteComplete | ResourceStatus::DeleteInProgress)
            ),
        });
    }
    Ok(out)
}

/// Starts drift detection on the stack; its detection id. Tried three times at most, not the
/// client's eight: drift is a check on top, reported as not checked when it cannot run, and an
/// endpoint without it (moto answers HTTP 500) should not hold verification up for a minute.
pub async fn start_drift_detection(aws: &Aws, region: &str, stack: &str) -> Result<String, Error> {
    use aws_sdk_cloudformation::config::retry::RetryConfig;

    let out = aws
        .cloudformation(region)
        .detect_stack_drift()
        .stack_name(stack)
        .customize()
        .config_override(
            aws_sdk_cloudformation::config::Builder::default()
                .retry_config(RetryConfig::standard().with_max_attempts(3)),
        )
        .send()
        .await
        .map_err(|e| cfn::call_error(Some(stack), region, "DetectStackDrift", e))?;
    Ok(out
        .stack_drift_detection_id()
        .unwrap_or_default()
        .to_owned())
}

/// How far a drift detection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Detection {
    InProgress,
    Complete,
    /// Some resources could not be checked; the drift status covers the others.
    Failed,
}

/// A stack's drift, as drift detection found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Drift {
    InSync,
    Drifted,
    NotChecked,
    Unknown,
}

/// The state of one drift detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftDetection {
    pub detection: Detection,
    pub drift: Option<Drift>,
    pub reason: Option<String>,
    pub drifted_resources: Option<i32>,
}

/// DescribeStackDriftDetectionStatus.
pub async fn drift_detection(
    aws: &Aws,
    region: &str,
    stack: &str,
    detection_id: &str,
) -> Result<DriftDetection, Error> {
    let out = aws
        .cloudformation(region)
        .describe_stack_drift_detection_status()
        .stack_drift_detection_id(detection_id)
        .send()
        .await
        .map_err(|e| {
            cfn::call_error(Some(stack), region, "DescribeStackDriftDetectionStatus", e)
        })?;
    Ok(DriftDetection {
        detection: match out.detection_status() {
            Some(StackDriftDetectionStatus::DetectionComplete) => Detection::Complete,
            Some(StackDriftDetectionStatus::DetectionFailed) => Detection::Failed,
            _ => Detection::InProgress,
        },
        drift: out.stack_drift_status().map(|s| match s {
            StackDriftStatus::InSync => Drift::InSync,
            StackDriftStatus::Drifted => Drift::Drifted,
            StackDriftStatus::NotChecked => Drift::NotChecked,
            _ => Drift::Unknown,
        }),
        reason: out.detection_status_reason().map(str::to_owned),
        drifted_resources: out.drifted_stack_resource_count(),
    })
}

/// How one resource differs from its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceDriftKind {
    Modified,
    Deleted,
}

/// One property that differs: its path (`/DesiredCount`) and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PropertyDifference {
    pub path: String,
    pub kind: DifferenceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DifferenceKind {
    Add,
    Remove,
    NotEqual,
}

/// A resource that drifted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub resource_type: String,
    pub kind: ResourceDriftKind,
    pub differences: Vec<PropertyDifference>,
}

/// The stack's modified and deleted resources, from its latest drift detection.
pub async fn resource_drifts(
    aws: &Aws,
    region: &str,
    stack: &str,
) -> Result<Vec<ResourceDrift>, Error> {
    // The SDK's paginator follows the next tokens.
    let mut pages = aws
        .cloudformation(region)
        .describe_stack_resource_drifts()
        .stack_name(stack)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Modified)
        .stack_resource_drift_status_filters(StackResourceDriftStatus::Deleted)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(|e| cfn::call_error(Some(stack), region, "DescribeStackResourceDrifts", e))?;
        for d in page.stack_resource_drifts() {
            let kind = match d.stack_resource_drift_status() {
                Some(StackResourceDriftStatus::Modified) => ResourceDriftKind::Modified,
                Some(StackResourceDriftStatus::Deleted) => ResourceDriftKind::Deleted,
                _ => continue,
            };
            out.push(ResourceDrift {
                logical_id: d.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: d.resource_type().unwrap_or_default().to_owned(),
                kind,
                differences: d
                    .property_differences()
                    .iter()
                    .map(|p| PropertyDifference {
                        path: p.property_path().unwrap_or_default().to_owned(),
                        kind: match p.difference_type() {
                            Some(DifferenceType::Add) => DifferenceKind::Add,
                            Some(DifferenceType::Remove) => DifferenceKind::Remove,
                            _ => DifferenceKind::NotEqual,
                        },
                    })
                    .collect(),
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// ECS

/// An ECS service's lifecycle status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceStatus {
    Active,
    Draining,
    Inactive,
    Other(String),
}

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployment {
    pub id: String,
    pub status: DeploymentStatus,
    /// `None` for deployment controllers that do not report one.
    pub rollout: Option<Rollout>,
    pub rollout_reason: Option<String>,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    pub failed_tasks: u32,
}

/// An ECS service as DescribeServices shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    pub status: ServiceStatus,
    pub desired: u32,
    pub running: u32,
    pub pending: u32,
    pub task_definition: String,
    pub deployments: Vec<Deployment>,
}

impl Service {
    /// At its desired count with one deployment, completed: what "stable" means for ECS.
    pub fn steady(&self) -> bool {
        self.status == ServiceStatus::Active
            && self.running == self.desired
            && self.pending == 0
            && self.deployments.len() == 1
            && self.deployments.iter().all(|d| {
                d.status == DeploymentStatus::Primary
                    && d.rollout.as_ref().is_none_or(|r| *r == Rollout::Completed)
            })
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServiceJson {
    service_name: String,
    #[serde(default)]
    status: String,
    #[serde(default, deserialize_with = "count")]
    desired_count: u32,
    #[serde(default, deserialize_with = "count")]
    running_count: u32,
    #[serde(default, deserialize_with = "count")]
    pending_count: u32,
    #[serde(default)]
    task_definition: String,
    #[serde(default)]
    deployments: Vec<DeploymentJson>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentJson {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    rollout_state: Option<String>,
    rollout_state_reason: Option<String>,
    #[serde(default, deserialize_with = "count")]
    desired_count: u32,
    #[serde(default, deserialize_with = "count")]
    running_count: u32,
    #[serde(default, deserialize_with = "count")]
    pending_count: u32,
    #[serde(default, deserialize_with = "count")]
    failed_tasks: u32,
}

/// A task count; a negative one (an emulator's arithmetic: moto answers `pendingCount: -1` when
/// more tasks run than are desired) is read as none.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = <i64 as serde::Deserialize>::deserialize(d)?;
    Ok(u32::try_from(n.max(0)).unwrap_or(u32::MAX))
}

impl From<ServiceJson> for Service {
    fn from(s: ServiceJson) -> Self {
        Self {
            status: match s.status.as_str() {
                "ACTIVE" => ServiceStatus::Active,
                "DRAINING" => ServiceStatus::Draining,
                "INACTIVE" => ServiceStatus::Inactive,
                _ => ServiceStatus::Other(s.status),
            },
            name: s.service_name,
            desired: s.desired_count,
            running: s.running_count,
            pending: s.pending_count,
            task_definition: s.task_definition,
            deployments: s
                .deployments
                .into_iter()
                .map(|d| Deployment {
                    status: DeploymentStatus::parse(d.status),
                    rollout: d.rollout_state.map(Rollout::parse),
                    id: d.id,
                    rollout_reason: d.rollout_state_reason,
                    desired: d.desired_count,
                    running: d.running_count,
                    pending: d.pending_count,
                    failed_tasks: d.failed_tasks,
                })
                .collect(),
        }
    }
}

/// The named services of the cluster, by name; a service ECS does not know is absent from the
/// map (DescribeServices reports it as a `MISSING` failure).
pub async fn services(
    aws: &Aws,
    region: &str,
    cluster: &str,
    names: &[String],
) -> Result<BTreeMap<String, Service>, Error> {
    let mut out = BTreeMap::new();
    // DescribeServices takes up to 10 services a call.
    for chunk in names.chunks(10) {
        let answer = api::json(
            aws,
            region,
            api::ECS,
            "DescribeServices",
            &json!({"cluster": cluster, "services": chunk}),
        )
        .await?;
        let list: Vec<ServiceJson> = serde_json::from_value(answer["services"].clone())
            .map_err(|e| malformed(region, "DescribeServices", &e))?;
        for s in list {
            let s = Service::from(s);
            out.insert(s.name.clone(), s);
        }
    }
    Ok(out)
}

/// The images a task definition's containers run.
pub async fn task_definition_images(
    aws: &Aws,
    region: &str,
    task_definition: &str,
) -> Result<Vec<String>, Error> {
    let answer = api::json(
        aws,
        region,
        api::ECS,
        "DescribeTaskDefinition",
        &json!({"taskDefinition": task_definition}),
    )
    .await?;
    Ok(answer["taskDefinition"]["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["image"].as_str().map(str::to_owned))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// ECR

/// An image in an ECR repository: `<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` or
/// `...@sha256:...`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct EcrImage {
    pub region: String,
    pub repository: String,
    pub reference: ImageRef,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageRef {
    Tag(String),
    Digest(String),
}

impl EcrImage {
    /// An ECR image URI; `None` for an image elsewhere (Docker Hub, ECR Public, ...).
    pub fn parse(uri: &str) -> Option<Self> {
        let (host, rest) = uri.split_once('/')?;
        let mut labels = host.split('.');
        let (_account, dkr, ecr, region) = (
            labels.next()?,
            labels.next()?,
            labels.next()?,
            labels.next()?,
        );
        if dkr != "dkr" || ecr != "ecr" {
            return None;
        }
        let (repository, reference) = match rest.split_once('@') {
            Some((repo, digest)) => (repo, ImageRef::Digest(digest.to_owned())),
            None => match rest.rsplit_once(':') {
                Some((repo, tag)) => (repo, ImageRef::Tag(tag.to_owned())),
                None => (rest, ImageRef::Tag("latest".to_owned())),
            },
        };
        Some(Self {
            region: region.to_owned(),
            repository: repository.to_owned(),
            reference,
        })
    }

    /// `repo:tag` or `repo@digest`.
    pub fn short(&self) -> String {
        match &self.reference {
            ImageRef::Tag(t) => format!("{}:{t}", self.repository),
            ImageRef::Digest(d) => format!("{}@{d}", self.repository),
        }
    }
}

/// Whether an image is in a repository of `region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImagePresence {
    Present,
    NoImage,
    NoRepository,
}

/// DescribeImages for one image in `region`'s repository of that name.
pub async fn image_presence(
    aws: &Aws,
    region: &str,
    repository: &str,
    reference: &ImageRef,
) -> Result<ImagePresence, Error> {
    let id = match reference {
        ImageRef::Tag(t) => json!({"imageTag": t}),
        ImageRef::Digest(d) => json!({"imageDigest": d}),
    };
    match api::json(
        aws,
        region,
        api::ECR,
        "DescribeImages",
        &json!({"repositoryName": repository, "imageIds": [id]}),
    )
    .await
    {
        Ok(answer)
            if answer["imageDetails"]
                .as_array()
                .is_some_and(|a| !a.is_empty()) =>
        {
            Ok(ImagePresence::Present)
        }
        Ok(_) => Ok(ImagePresence::NoImage),
        Err(Error::Call { code: Some(c), .. }) if c == "ImageNotFoundException" => {
            Ok(ImagePresence::NoImage)
        }
        Err(Error::Call { code: Some(c), .. }) if c == "RepositoryNotFoundException" => {
            Ok(ImagePresence::NoRepository)
        }
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// ELBv2

/// The target groups a listener rule forwards to, with their weights (`None` when the rule
/// forwards to one group without a weight).
pub async fn rule_target_groups(
    aws: &Aws,
    region: &str,
    rule_arn: &str,
) -> Result<Vec<(String, Option<u32>)>, Error> {
    let text = api::query(
        aws,
        region,
        ELBV2.0,
        ELBV2.1,
        "DescribeRules",
        &[("RuleArns.member.1", rule_arn.to_owned())],
    )
    .await?;
    let doc = xml::parse(&text).map_err(|e| malformed(region, "DescribeRules", &e))?;
    Ok(weights_of_rules(&doc))
}

fn weights_of_rules(doc: &xml::Node) -> Vec<(String, Option<u32>)> {
    let mut out = Vec::new();
    for action in doc.all(&[
        "DescribeRulesResult",
        "Rules",
        "member",
        "Actions",
        "member",
    ]) {
        if action.text_at(&["Type"]) != Some("forward") {
            continue;
        }
        let weighted = action.all(&["ForwardConfig", "TargetGroups", "member"]);
        if weighted.is_empty() {
            out.extend(
                action
                    .text_at(&["TargetGroupArn"])
                    .map(|a| (a.to_owned(), None)),
            );
        }
        for tg in weighted {
            if let Some(arn) = tg.text_at(&["TargetGroupArn"]) {
                let weight = tg.text_at(&["Weight"]).and_then(|w| w.parse().ok());
                out.push((arn.to_owned(), weight));
            }
        }
    }
    out
}

/// A target's health, as the load balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    UnhealthyDraining,
    Unused,
    Draining,
    Unavailable,
    Other(String),
}

impl TargetState {
    fn parse(s: &str) -> Self {
        match s {
            "initial" => Self::Initial,
            "healthy" => Self::Healthy,
            "unhealthy" => Self::Unhealthy,
            "unhealthy.draining" => Self::UnhealthyDraining,
            "unused" => Self::Unused,
            "draining" => Self::Draining,
            "unavailable" => Self::Unavailable,
            other => Self::Other(other.to_owned()),
        }
    }

    /// AWS's word for it, for messages.
    pub fn word(&self) -> &str {
        match self {
            Self::Initial => "initial",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::UnhealthyDraining => "unhealthy.draining",
            Self::Unused => "unused",
            Self::Draining => "draining",
            Self::Unavailable => "unavailable",
            Self::Other(s) => s,
        }
    }
}

/// One registered target and its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub id: String,
    pub port: Option<u16>,
    pub state: TargetState,
    /// `Target.ResponseCodeMismatch`, `Elb.InitialHealthChecking`, ...
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// DescribeTargetHealth: every target registered in the group.
pub async fn target_health(aws: &Aws, region: &str, group_arn: &str) -> Result<Vec<Target>, Error> {
    let text = api::query(
        aws,
        region,
        ELBV2.0,
        ELBV2.1,
        "DescribeTargetHealth",
        &[("TargetGroupArn", group_arn.to_owned())],
    )
    .await?;
    let doc = xml::parse(&text).map_err(|e| malformed(region, "DescribeTargetHealth", &e))?;
    Ok(targets_of(&doc))
}

fn targets_of(doc: &xml::Node) -> Vec<Target> {
    doc.all(&[
        "DescribeTargetHealthResult",
        "TargetHealthDescriptions",
        "member",
    ])
    .into_iter()
    .map(|m| Target {
        id: m.text_at(&["Target", "Id"]).unwrap_or_default().to_owned(),
        port: m.text_at(&["Target", "Port"]).and_then(|p| p.parse().ok()),
        state: TargetState::parse(m.text_at(&["TargetHealth", "State"]).unwrap_or_default()),
        reason: m.text_at(&["TargetHealth", "Reason"]).map(str::to_owned),
        description: m
            .text_at(&["TargetHealth", "Description"])
            .map(str::to_owned),
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// CloudWatch

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
    Other(String),
}

/// A metric alarm's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alarm {
    pub name: String,
    pub state: AlarmState,
    pub reason: Option<String>,
}

/// DescribeAlarms for these names; an alarm CloudWatch does not know is absent from the map.
pub async fn alarms(
    aws: &Aws,
    region: &str,
    names: &[String],
) -> Result<BTreeMap<String, Alarm>, Error> {
    let mut out = BTreeMap::new();
    // DescribeAlarms takes up to 100 names a call, and pages its answer.
    for chunk in names.chunks(100) {
        let mut token: Option<String> = None;
        loop {
            let mut params: Vec<(String, String)> = chunk
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("AlarmNames.member.{}", i + 1), n.clone()))
                .collect();
            params.push(("AlarmTypes.member.1".into(), "MetricAlarm".into()));
            if let Some(t) = token.take() {
                params.push(("NextToken".into(), t));
            }
            let params: Vec<(&str, String)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            let text = api::query(
                aws,
                region,
                CLOUDWATCH.0,
                CLOUDWATCH.1,
                "DescribeAlarms",
                &params,
            )
            .await?;
            let doc = xml::parse(&text).map_err(|e| malformed(region, "DescribeAlarms", &e))?;
            for a in alarms_of(&doc) {
                out.insert(a.name.clone(), a);
            }
            match doc.text_at(&["DescribeAlarmsResult", "NextToken"]) {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
    }
    Ok(out)
}

fn alarms_of(doc: &xml::Node) -> Vec<Alarm> {
    doc.all(&["DescribeAlarmsResult", "MetricAlarms", "member"])
        .into_iter()
        .map(|m| Alarm {
            name: m.text_at(&["AlarmName"]).unwrap_or_default().to_owned(),
            state: match m.text_at(&["StateValue"]).unwrap_or_default() {
                "OK" => AlarmState::Ok,
                "ALARM" => AlarmState::Alarm,
                "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
                other => AlarmState::Other(other.to_owned()),
            },
            reason: m.text_at(&["StateReason"]).map(str::to_owned),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// SNS

/// Whether a subscription receives messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confirmation {
    /// Confirmed: SNS names it by its ARN.
    Confirmed,
    /// Waiting for the recipient to follow the link SNS sent.
    Pending,
    Deleted,
}

/// One subscription of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub protocol: String,
    pub endpoint: String,
    pub confirmation: Confirmation,
}

/// ListSubscriptionsByTopic, every page.
pub async fn subscriptions(
    aws: &Aws,
    region: &str,
    topic_arn: &str,
) -> Result<Vec<Subscription>, Error> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = vec![("TopicArn", topic_arn.to_owned())];
        if let Some(t) = token.take() {
            params.push(("NextToken", t));
        }
        let text = api::query(
            aws,
            region,
            SNS.0,
            SNS.1,
            "ListSubscriptionsByTopic",
            &params,
        )
        .await?;
        let doc =
            xml::parse(&text).map_err(|e| malformed(region, "ListSubscriptionsByTopic", &e))?;
        out.extend(subscriptions_of(&doc));
        match doc.text_at(&["ListSubscriptionsByTopicResult", "NextToken"]) {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

fn subscriptions_of(doc: &xml::Node) -> Vec<Subscription> {
    doc.all(&["ListSubscriptionsByTopicResult", "Subscriptions", "member"])
        .into_iter()
        .map(|m| Subscription {
            protocol: m.text_at(&["Protocol"]).unwrap_or_default().to_owned(),
            endpoint: m.text_at(&["Endpoint"]).unwrap_or_default().to_owned(),
            // SNS puts a word where the ARN would be until the subscription is confirmed.
            confirmation: match m.text_at(&["SubscriptionArn"]).unwrap_or_default() {
                "PendingConfirmation" | "pending confirmation" => Confirmation::Pending,
                "Deleted" => Confirmation::Deleted,
                _ => Confirmation::Confirmed,
            },
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Route 53

/// A health check's settings that failover reads and changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    pub id: String,
    /// Route 53's counter of updates, sent back with an update so that a concurrent change is
    /// refused rather than overwritten.
    pub version: u64,
    pub inverted: bool,
    pub disabled: bool,
    pub fqdn: Option<String>,
}

/// GetHealthCheck.
pub async fn health_check(aws: &Aws, id: &str) -> Result<HealthCheck, Error> {
    let text = api::rest_xml(
        aws,
        ROUTE53_REGION,
        "route53",
        "GetHealthCheck",
        "GET",
        format!("/2013-04-01/healthcheck/{id}"),
        None,
    )
    .await?;
    let doc = xml::parse(&text).map_err(|e| malformed(ROUTE53_REGION, "GetHealthCheck", &e))?;
    health_check_of(&doc, &["HealthCheck"])
        .ok_or_else(|| malformed(ROUTE53_REGION, "GetHealthCheck", &"no HealthCheck element"))
}

/// The `HealthCheck` element at `path` in GetHealthCheck's or UpdateHealthCheck's answer.
pub(crate) fn health_check_of(doc: &xml::Node, path: &[&str]) -> Option<HealthCheck> {
    let hc = doc.at(path)?;
    let flag = |name: &str| hc.text_at(&["HealthCheckConfig", name]) == Some("true");
    Some(HealthCheck {
        id: hc.text_at(&["Id"])?.to_owned(),
        version: hc.text_at(&["HealthCheckVersion"])?.parse().ok()?,
        inverted: flag("Inverted"),
        disabled: flag("Disabled"),
        fqdn: hc
            .text_at(&["HealthCheckConfig", "FullyQualifiedDomainName"])
            .map(str::to_owned),
    })
}

/// What one Route 53 checker last saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckerStatus {
    Success,
    Failure,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// The checker's region.
    pub region: String,
    pub status: CheckerStatus,
    /// Route 53's report: `Success: HTTP Status Code 200, OK`, `Failure: ...`.
    pub report: String,
}

/// GetHealthCheckStatus: each checker's last report (of the endpoint, before any inversion).
pub async fn health_check_status(aws: &Aws, id: &str) -> Result<Vec<Observation>, Error> {
    let text = api::rest_xml(
        aws,
        ROUTE53_REGION,
        "route53",
        "GetHealthCheckStatus",
        "GET",
        format!("/2013-04-01/healthcheck/{id}/status"),
        None,
    )
    .await?;
    let doc =
        xml::parse(&text).map_err(|e| malformed(ROUTE53_REGION, "GetHealthCheckStatus", &e))?;
    Ok(observations_of(&doc))
}

fn observations_of(doc: &xml::Node) -> Vec<Observation> {
    doc.all(&["HealthCheckObservations", "HealthCheckObservation"])
        .into_iter()
        .map(|o| {
            let report = o
                .text_at(&["StatusReport", "Status"])
                .unwrap_or_default()
                .to_owned();
            Observation {
                region: o.text_at(&["Region"]).unwrap_or_default().to_owned(),
                status: if report.starts_with("Success") {
                    CheckerStatus::Success
                } else if report.starts_with("Failure") {
                    CheckerStatus::Failure
                } else {
                    CheckerStatus::Other
                },
                report,
            }
        })
        .collect()
}

/// Route 53 considers an endpoint healthy when more than 18% of its checkers report it healthy
/// (Route 53 Developer Guide, "How Amazon Route 53 determines whether a health check is
/// healthy").
pub fn endpoint_healthy(observations: &[Observation]) -> bool {
    let ok = observations
        .iter()
        .filter(|o| o.status == CheckerStatus::Success)
        .count();
    !observations.is_empty() && ok * 100 > observations.len() * 18
}

// ---------------------------------------------------------------------------------------------

fn malformed(region: &str, action: &'static str, e: &dyn std::fmt::Display) -> Error {
    Error::Call {
        stack: None,
        region: region.to_owned(),
        action,
        code: None,
        message: format!("unexpected answer: {e}"),
    }
}

/// XML answers as a small tree, for the nested shapes (`Actions/member/ForwardConfig/...`) that
/// `api::records`' flat entries cannot tell apart.
pub(crate) mod xml {
    /// An element: its local name, its own text, its child elements.
    #[derive(Debug, Default)]
    pub struct Node {
        pub name: String,
        pub text: String,
        pub children: Vec<Node>,
    }

    impl Node {
        /// The first child element named `name`.
        pub fn child(&self, name: &str) -> Option<&Node> {
            self.children.iter().find(|c| c.name == name)
        }

        /// The element at the end of `path` (first match at each step).
        pub fn at(&self, path: &[&str]) -> Option<&Node> {
            path.iter().try_fold(self, |node, name| node.child(name))
        }

        /// The text of the element at `path`, without surrounding whitespace.
        pub fn text_at(&self, path: &[&str]) -> Option<&str> {
            self.at(path).map(|n| n.text.trim())
        }

        /// Every element reachable along `path`, following every child of each name.
        pub fn all<'a>(&'a self, path: &[&str]) -> Vec<&'a Node> {
            let mut nodes = vec![self];
            for name in path {
                nodes = nodes
                    .into_iter()
                    .flat_map(|n| n.children.iter().filter(|c| c.name == *name))
                    .collect();
            }
            nodes
        }
    }

    /// The document element (paths are relative to it). Entities and character references are
    /// resolved; CDATA is taken as it is.
    pub fn parse(text: &str) -> Result<Node, String> {
        use quick_xml::events::Event;

        let mut reader = quick_xml::Reader::from_str(text);
        let mut stack = vec![Node::default()];
        let bad = |e: &dyn std::fmt::Display| format!("malformed XML: {e}");
        loop {
            let event = reader.read_event().map_err(|e| bad(&e))?;
            match event {
                Event::Start(e) => stack.push(Node {
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..Node::default()
                }),
                Event::Empty(e) => {
                    let node = Node {
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                        ..Node::default()
                    };
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(node);
                    }
                }
                Event::End(_) => {
                    let node = stack.pop().ok_or_else(|| bad(&"unbalanced end tag"))?;
                    let parent = stack.last_mut().ok_or_else(|| bad(&"unbalanced end tag"))?;
                    parent.children.push(node);
                }
                Event::Text(t) => {
                    if let Some(node) = stack.last_mut() {
                        node.text.push_str(&t.xml10_content().map_err(|e| bad(&e))?);
                    }
                }
                Event::CData(t) => {
                    if let Some(node) = stack.last_mut() {
                        node.text.push_str(&t.decode().map_err(|e| bad(&e))?);
                    }
                }
                Event::GeneralRef(r) => {
                    let c = match r.resolve_char_ref().map_err(|e| bad(&e))? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = r.decode().map_err(|e| bad(&e))?;
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| bad(&format!("unknown entity `&{name};`")))?
                                .to_owned()
                        }
                    };
                    if let Some(node) = stack.last_mut() {
                        node.text.push_str(&c);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        match (stack.pop(), stack.is_empty()) {
            (Some(mut root), true) => root.children.pop().ok_or_else(|| bad(&"no element")),
            _ => Err(bad(&"unclosed element")),
        }
    }
}

/// A loopback HTTP server that answers with recorded AWS responses, for the unit tests of what
/// moto cannot emulate: each request is matched, by a text it contains (an `X-Amz-Target`, an
/// `Action=`, a path), against the routes in order, and gets the route's next answer (its last
/// answer again once the others are used up). Every request is kept for assertions.
#[cfg(test)]
pub(crate) mod replay {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::VecDeque;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use crate::client::{ClientOptions, StaticKeys};

    /// One recorded answer.
    #[derive(Clone)]
    pub struct Answer {
        pub status: u16,
        pub content_type: &'static str,
        pub body: String,
    }

    pub fn xml(body: &str) -> Answer {
        Answer {
            status: 200,
            content_type: "text/xml",
            body: body.to_owned(),
        }
    }

    pub fn json(body: &str) -> Answer {
        Answer {
            status: 200,
            content_type: "application/x-amz-json-1.1",
            body: body.to_owned(),
        }
    }

    pub fn error(status: u16, content_type: &'static str, body: &str) -> Answer {
        Answer {
            status,
            content_type,
            body: body.to_owned(),
        }
    }

    type Routes = Vec<(Vec<String>, VecDeque<Answer>)>;

    pub struct Replay {
        pub url: String,
        routes: Arc<Mutex<Routes>>,
        pub requests: Arc<Mutex<Vec<String>>>,
    }

    impl Replay {
        pub fn start() -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let routes: Arc<Mutex<Routes>> = Arc::default();
            let requests: Arc<Mutex<Vec<String>>> = Arc::default();
            let (r, q) = (routes.clone(), requests.clone());
            // The thread ends with the test process; each connection answers one request.
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let mut reader = BufReader::new(stream);
                    let mut head = String::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                        head.push_str(&line);
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        continue;
                    }
                    let request = format!("{head}{}", String::from_utf8_lossy(&body));
                    let lower = request.to_ascii_lowercase();
                    let answer = {
                        let mut routes = r.lock().unwrap();
                        routes
                            .iter_mut()
                            .find(|(needles, _)| {
                                needles
                                    .iter()
                                    .all(|n| lower.contains(&n.to_ascii_lowercase()))
                            })
                            .map(|(_, answers)| {
                                if answers.len() > 1 {
                                    answers.pop_front().unwrap()
                                } else {
                                    answers[0].clone()
                                }
                            })
                    };
                    q.lock().unwrap().push(request);
                    let answer = answer.unwrap_or_else(|| {
                        error(404, "text/plain", "no recorded answer for this request")
                    });
                    let mut stream = reader.into_inner();
                    let text = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{}",
                        answer.status,
                        answer.content_type,
                        answer.body.len(),
                        answer.body
                    );
                    // A client that went away is the test's failure to report, not ours.
                    let _ignored = stream.write_all(text.as_bytes());
                }
            });
            Self {
                url,
                routes,
                requests,
            }
        }

        /// Answers requests containing every one of `needles` with `answers`, in order.
        pub fn on(&self, needles: &[&str], answers: Vec<Answer>) -> &Self {
            assert!(!answers.is_empty());
            self.routes.lock().unwrap().push((
                needles.iter().map(|n| (*n).to_owned()).collect(),
                answers.into(),
            ));
            self
        }

        /// The requests received that contain `needle`.
        pub fn received(&self, needle: &str) -> Vec<String> {
            let needle = needle.to_ascii_lowercase();
            self.requests
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.to_ascii_lowercase().contains(&needle))
                .cloned()
                .collect()
        }

        pub async fn aws(&self) -> crate::Aws {
            crate::Aws::load(
                &ClientOptions {
                    endpoint_url: Some(self.url.clone()),
                    static_keys: Some(StaticKeys {
                        access_key_id: "testing".into(),
                        secret_access_key: "testing".into(),
                    }),
                    max_attempts: 1,
                    ..ClientOptions::default()
                },
                "us-east-1",
            )
            .await
        }
    }

    pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }
}

/// Recorded answers, in the shapes the API references document, for the unit tests here and
/// in `verify` and `failover`.
#[cfg(test)]
pub(crate) mod tests_data {
    // Recorded answers, in the shapes the API references document.

    pub(crate) const DESCRIBE_RULES: &str = r#"<DescribeRulesResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeRulesResult>
    <Rules>
      <member>
        <IsDefault>false</IsDefault>
        <Conditions><member><Field>path-pattern</Field><Values><member>/*</member></Values></member></Conditions>
        <Priority>10</Priority>
        <Actions>
          <member>
            <Type>forward</Type>
            <Order>1</Order>
            <ForwardConfig>
              <TargetGroups>
                <member><TargetGroupArn>arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello-blue/73e2d6bc24d8a067</TargetGroupArn><Weight>0</Weight></member>
                <member><TargetGroupArn>arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello-green/09cda1b2c3d4e5f6</TargetGroupArn><Weight>100</Weight></member>
              </TargetGroups>
              <TargetGroupStickinessConfig><Enabled>false</Enabled></TargetGroupStickinessConfig>
            </ForwardConfig>
          </member>
        </Actions>
        <RuleArn>arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/hello-production/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee</RuleArn>
      </member>
    </Rules>
  </DescribeRulesResult>
  <ResponseMetadata><RequestId>74926cf3-f3a3-11e5-b543-9f2c3fbb9bee</RequestId></ResponseMetadata>
</DescribeRulesResponse>"#;

    pub(crate) const DESCRIBE_TARGET_HEALTH: &str = r#"<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeTargetHealthResult>
    <TargetHealthDescriptions>
      <member>
        <HealthCheckPort>8080</HealthCheckPort>
        <TargetHealth><State>healthy</State></TargetHealth>
        <Target><Port>8080</Port><Id>10.0.11.5</Id><AvailabilityZone>us-east-1a</AvailabilityZone></Target>
      </member>
      <member>
        <HealthCheckPort>8080</HealthCheckPort>
        <TargetHealth>
          <Reason>Target.ResponseCodeMismatch</Reason>
          <Description>Health checks failed with these codes: [404]</Description>
          <State>unhealthy</State>
        </TargetHealth>
        <Target><Port>8080</Port><Id>10.0.12.7</Id></Target>
      </member>
    </TargetHealthDescriptions>
  </DescribeTargetHealthResult>
  <ResponseMetadata><RequestId>c534f810-f389-11e5-9192-3fff33344cfa</RequestId></ResponseMetadata>
</DescribeTargetHealthResponse>"#;

    pub(crate) const DESCRIBE_ALARMS: &str = r#"<DescribeAlarmsResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <DescribeAlarmsResult>
    <MetricAlarms>
      <member>
        <AlarmName>hello-production-cpu</AlarmName>
        <StateValue>OK</StateValue>
        <StateReason>Threshold Crossed: 1 datapoint [12.5 (06/12/26 10:00:00)] was not greater than the threshold (80.0).</StateReason>
      </member>
      <member>
        <AlarmName>hello-production-5xx-rate</AlarmName>
        <StateValue>ALARM</StateValue>
        <StateReason>Threshold Crossed: 1 out of the last 1 datapoints [7.2 (06/12/26 10:01:00)] was greater than the threshold (1.0).</StateReason>
      </member>
      <member>
        <AlarmName>hello-staging-cpu</AlarmName>
        <StateValue>INSUFFICIENT_DATA</StateValue>
        <StateReason>Unchecked: Initial alarm creation</StateReason>
      </member>
    </MetricAlarms>
    <CompositeAlarms/>
  </DescribeAlarmsResult>
  <ResponseMetadata><RequestId>f3b0e3c5-0000-4000-8000-000000000000</RequestId></ResponseMetadata>
</DescribeAlarmsResponse>"#;

    pub(crate) const LIST_SUBSCRIPTIONS_BY_TOPIC: &str = r#"<ListSubscriptionsByTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <ListSubscriptionsByTopicResult>
    <Subscriptions>
      <member>
        <TopicArn>arn:aws:sns:us-east-1:123456789012:hello-alerts</TopicArn>
        <Protocol>email</Protocol>
        <SubscriptionArn>arn:aws:sns:us-east-1:123456789012:hello-alerts:698f9a0c-9f7e-4d53-a6b6-7b4ea3d4d7a1</SubscriptionArn>
        <Owner>123456789012</Owner>
        <Endpoint>ops@example.com</Endpoint>
      </member>
      <member>
        <TopicArn>arn:aws:sns:us-east-1:123456789012:hello-alerts</TopicArn>
        <Protocol>email</Protocol>
        <SubscriptionArn>PendingConfirmation</SubscriptionArn>
        <Owner>123456789012</Owner>
        <Endpoint>oncall@example.com</Endpoint>
      </member>
    </Subscriptions>
  </ListSubscriptionsByTopicResult>
  <ResponseMetadata><RequestId>b9275252-3774-11df-9540-99d0768312d3</RequestId></ResponseMetadata>
</ListSubscriptionsByTopicResponse>"#;

    pub(crate) const GET_HEALTH_CHECK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<GetHealthCheckResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
   <HealthCheck>
      <Id>abcdef11-2222-3333-4444-555555fedcba</Id>
      <CallerReference>hello-global-UsEast1HealthCheck-1ABCDEF</CallerReference>
      <HealthCheckConfig>
         <Port>80</Port>
         <Type>HTTP</Type>
         <ResourcePath>/health</ResourcePath>
         <FullyQualifiedDomainName>hello-production-1.us-east-1.elb.amazonaws.com</FullyQualifiedDomainName>
         <RequestInterval>30</RequestInterval>
         <FailureThreshold>3</FailureThreshold>
         <MeasureLatency>false</MeasureLatency>
         <Inverted>false</Inverted>
         <Disabled>false</Disabled>
         <EnableSNI>false</EnableSNI>
      </HealthCheckConfig>
      <HealthCheckVersion>2</HealthCheckVersion>
   </HealthCheck>
</GetHealthCheckResponse>"#;

    pub(crate) const GET_HEALTH_CHECK_STATUS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<GetHealthCheckStatusResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
   <HealthCheckObservations>
      <HealthCheckObservation>
         <Region>us-east-1</Region>
         <IPAddress>192.0.2.197</IPAddress>
         <StatusReport>
            <Status>Success: HTTP Status Code 200, OK</Status>
            <CheckedTime>2026-12-06T17:48:27.221Z</CheckedTime>
         </StatusReport>
      </HealthCheckObservation>
      <HealthCheckObservation>
         <Region>us-west-1</Region>
         <IPAddress>192.0.2.9</IPAddress>
         <StatusReport>
            <Status>Success: HTTP Status Code 200, OK</Status>
            <CheckedTime>2026-12-06T17:48:25.038Z</CheckedTime>
         </StatusReport>
      </HealthCheckObservation>
      <HealthCheckObservation>
         <Region>eu-west-1</Region>
         <IPAddress>192.0.2.12</IPAddress>
         <StatusReport>
            <Status>Failure: Connection timed out. The endpoint or the internet connection is down, or requests are being blocked by your firewall.</Status>
            <CheckedTime>2026-12-06T17:48:26.117Z</CheckedTime>
         </StatusReport>
      </HealthCheckObservation>
   </HealthCheckObservations>
</GetHealthCheckStatusResponse>"#;

    /// ECS DescribeServices during a deployment: the new deployment is half way, the old one
    /// still runs.
    pub(crate) const DESCRIBE_SERVICES_DEPLOYING: &str = r#"{
  "failures": [],
  "services": [{
    "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/hello/hello-production",
    "serviceName": "hello-production",
    "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/hello",
    "status": "ACTIVE",
    "desiredCount": 2,
    "runningCount": 3,
    "pendingCount": 1,
    "launchType": "FARGATE",
    "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-production:4",
    "deployments": [
      {"id": "ecs-svc/4817365522781273650", "status": "PRIMARY", "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-production:4",
       "desiredCount": 2, "pendingCount": 1, "runningCount": 1, "failedTasks": 0, "createdAt": 1796550000.0, "updatedAt": 1796550060.0,
       "launchType": "FARGATE", "rolloutState": "IN_PROGRESS", "rolloutStateReason": "ECS deployment ecs-svc/4817365522781273650 in progress."},
      {"id": "ecs-svc/0920338842731662811", "status": "ACTIVE", "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-production:3",
       "desiredCount": 2, "pendingCount": 0, "runningCount": 2, "failedTasks": 0, "createdAt": 1796540000.0, "updatedAt": 1796540300.0,
       "launchType": "FARGATE", "rolloutState": "COMPLETED", "rolloutStateReason": "ECS deployment ecs-svc/0920338842731662811 completed."}
    ],
    "events": []
  }]
}"#;

    /// ... and once it completed.
    pub(crate) const DESCRIBE_SERVICES_STEADY: &str = r#"{
  "failures": [{"arn": "arn:aws:ecs:us-east-1:123456789012:service/hello/hello-staging", "reason": "MISSING"}],
  "services": [{
    "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/hello/hello-production",
    "serviceName": "hello-production",
    "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/hello",
    "status": "ACTIVE",
    "desiredCount": 2,
    "runningCount": 2,
    "pendingCount": 0,
    "launchType": "FARGATE",
    "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-production:4",
    "deployments": [
      {"id": "ecs-svc/4817365522781273650", "status": "PRIMARY", "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/hello-production:4",
       "desiredCount": 2, "pendingCount": 0, "runningCount": 2, "failedTasks": 0, "createdAt": 1796550000.0, "updatedAt": 1796550300.0,
       "launchType": "FARGATE", "rolloutState": "COMPLETED", "rolloutStateReason": "ECS deployment ecs-svc/4817365522781273650 completed."}
    ],
    "events": []
  }]
}"#;

    pub(crate) const DETECT_STACK_DRIFT: &str = r#"<DetectStackDriftResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DetectStackDriftResult>
    <StackDriftDetectionId>2f2b2d60-df86-11ea-bf55-0a6e8a5ad3d9</StackDriftDetectionId>
  </DetectStackDriftResult>
  <ResponseMetadata><RequestId>3b5f3c6e-0000-4000-8000-000000000001</RequestId></ResponseMetadata>
</DetectStackDriftResponse>"#;

    pub(crate) fn drift_status(detection: &str, drift: Option<&str>, count: Option<u32>) -> String {
        format!(
            r#"<DescribeStackDriftDetectionStatusResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStackDriftDetectionStatusResult>
    <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/hello-us-east-1-service/c3a1b870-df85-11ea-8d8c-0e8bd2b1b1c1</StackId>
    <StackDriftDetectionId>2f2b2d60-df86-11ea-bf55-0a6e8a5ad3d9</StackDriftDetectionId>
    {}
    <DetectionStatus>{detection}</DetectionStatus>
    {}
    <Timestamp>2026-12-06T10:00:00.000Z</Timestamp>
  </DescribeStackDriftDetectionStatusResult>
  <ResponseMetadata><RequestId>3b5f3c6e-0000-4000-8000-000000000002</RequestId></ResponseMetadata>
</DescribeStackDriftDetectionStatusResponse>"#,
            drift
                .map(|d| format!("<StackDriftStatus>{d}</StackDriftStatus>"))
                .unwrap_or_default(),
            count
                .map(|c| format!("<DriftedStackResourceCount>{c}</DriftedStackResourceCount>"))
                .unwrap_or_default(),
        )
    }

    /// Drift after a blue/green deployment and a scale-out (both on purpose) ...
    pub(crate) const SERVICE_DRIFT: &str = r#"      <member>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/hello-us-east-1-service/c3a1b870-df85-11ea-8d8c-0e8bd2b1b1c1</StackId>
        <LogicalResourceId>ProductionService</LogicalResourceId>
        <PhysicalResourceId>arn:aws:ecs:us-east-1:123456789012:service/hello/hello-production</PhysicalResourceId>
        <ResourceType>AWS::ECS::Service</ResourceType>
        <ExpectedProperties>{"DesiredCount":2}</ExpectedProperties>
        <ActualProperties>{"DesiredCount":4}</ActualProperties>
        <PropertyDifferences>
          <member>
            <PropertyPath>/DesiredCount</PropertyPath>
            <ExpectedValue>2</ExpectedValue>
            <ActualValue>4</ActualValue>
            <DifferenceType>NOT_EQUAL</DifferenceType>
          </member>
          <member>
            <PropertyPath>/TaskDefinition</PropertyPath>
            <ExpectedValue>arn:aws:ecs:us-east-1:123456789012:task-definition/hello-production:1</ExpectedValue>
            <ActualValue>arn:aws:ecs:us-east-1:123456789012:task-definition/hello-production:4</ActualValue>
            <DifferenceType>NOT_EQUAL</DifferenceType>
          </member>
        </PropertyDifferences>
        <StackResourceDriftStatus>MODIFIED</StackResourceDriftStatus>
        <Timestamp>2026-12-06T10:00:05.000Z</Timestamp>
      </member>"#;

    /// ... and a policy someone attached to a role by hand.
    pub(crate) const ROLE_DRIFT: &str = r#"      <member>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/hello-us-east-1-service/c3a1b870-df85-11ea-8d8c-0e8bd2b1b1c1</StackId>
        <LogicalResourceId>TaskRole</LogicalResourceId>
        <PhysicalResourceId>hello-us-east-1-task</PhysicalResourceId>
        <ResourceType>AWS::IAM::Role</ResourceType>
        <ExpectedProperties>{}</ExpectedProperties>
        <ActualProperties>{}</ActualProperties>
        <PropertyDifferences>
          <member>
            <PropertyPath>/ManagedPolicyArns/0</PropertyPath>
            <ExpectedValue>null</ExpectedValue>
            <ActualValue>arn:aws:iam::aws:policy/AdministratorAccess</ActualValue>
            <DifferenceType>ADD</DifferenceType>
          </member>
        </PropertyDifferences>
        <StackResourceDriftStatus>MODIFIED</StackResourceDriftStatus>
        <Timestamp>2026-12-06T10:00:05.000Z</Timestamp>
      </member>"#;

    /// DescribeStackResourceDrifts answering with these members.
    pub(crate) fn resource_drifts_answer(members: &[&str]) -> String {
        format!(
            r#"<DescribeStackResourceDriftsResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStackResourceDriftsResult>
    <StackResourceDrifts>
{}
    </StackResourceDrifts>
  </DescribeStackResourceDriftsResult>
  <ResponseMetadata><RequestId>3b5f3c6e-0000-4000-8000-000000000003</RequestId></ResponseMetadata>
</DescribeStackResourceDriftsResponse>"#,
            members.join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::replay::{self, Replay, block_on};
    use super::tests_data::*;
    use super::*;

    #[test]
    fn stack_statuses_become_conditions() {
        for (status, want) in [
            ("CREATE_COMPLETE", StackCondition::Complete),
            ("UPDATE_COMPLETE", StackCondition::Complete),
            ("UPDATE_ROLLBACK_COMPLETE", StackCondition::RolledBack),
            ("ROLLBACK_COMPLETE", StackCondition::Failed),
            ("CREATE_FAILED", StackCondition::Failed),
            ("UPDATE_ROLLBACK_FAILED", StackCondition::Failed),
            ("UPDATE_IN_PROGRESS", StackCondition::InProgress),
            (
                "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
                StackCondition::InProgress,
            ),
            ("REVIEW_IN_PROGRESS", StackCondition::Review),
        ] {
            assert_eq!(StackCondition::of(status), want, "{status}");
        }
    }

    #[test]
    fn the_traffic_rule_names_its_groups_and_weights() {
        let doc = xml::parse(DESCRIBE_RULES).unwrap();
        assert_eq!(
            weights_of_rules(&doc),
            [
                (
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello-blue/73e2d6bc24d8a067".to_owned(),
                    Some(0)
                ),
                (
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/hello-green/09cda1b2c3d4e5f6".to_owned(),
                    Some(100)
                ),
            ]
        );
        // A simple forward action names one group, without a weight.
        let simple = xml::parse(
            "<DescribeRulesResponse><DescribeRulesResult><Rules><member><Actions><member>\
             <Type>forward</Type><TargetGroupArn>arn:tg</TargetGroupArn></member></Actions>\
             </member></Rules></DescribeRulesResult></DescribeRulesResponse>",
        )
        .unwrap();
        assert_eq!(weights_of_rules(&simple), [("arn:tg".to_owned(), None)]);
    }

    #[test]
    fn target_health_is_read_with_reasons() {
        let doc = xml::parse(DESCRIBE_TARGET_HEALTH).unwrap();
        let targets = targets_of(&doc);
        assert_eq!(
            targets,
            [
                Target {
                    id: "10.0.11.5".into(),
                    port: Some(8080),
                    state: TargetState::Healthy,
                    reason: None,
                    description: None,
                },
                Target {
                    id: "10.0.12.7".into(),
                    port: Some(8080),
                    state: TargetState::Unhealthy,
                    reason: Some("Target.ResponseCodeMismatch".into()),
                    description: Some("Health checks failed with these codes: [404]".into()),
                },
            ]
        );
        for (word, state) in [
            ("initial", TargetState::Initial),
            ("unhealthy.draining", TargetState::UnhealthyDraining),
            ("unavailable", TargetState::Unavailable),
            ("draining", TargetState::Draining),
            ("unused", TargetState::Unused),
            ("new-state", TargetState::Other("new-state".into())),
        ] {
            assert_eq!(TargetState::parse(word), state);
            assert_eq!(state.word(), word);
        }
    }

    #[test]
    fn alarm_states_are_read() {
        let doc = xml::parse(DESCRIBE_ALARMS).unwrap();
        let states: Vec<(String, AlarmState)> = alarms_of(&doc)
            .into_iter()
            .map(|a| (a.name, a.state))
            .collect();
        assert_eq!(
            states,
            [
                ("hello-production-cpu".to_owned(), AlarmState::Ok),
                ("hello-production-5xx-rate".to_owned(), AlarmState::Alarm),
                ("hello-staging-cpu".to_owned(), AlarmState::InsufficientData),
            ]
        );
    }

    #[test]
    fn pending_subscriptions_are_told_from_confirmed_ones() {
        let doc = xml::parse(LIST_SUBSCRIPTIONS_BY_TOPIC).unwrap();
        let subs = subscriptions_of(&doc);
        assert_eq!(
            subs.iter()
                .map(|s| (s.endpoint.as_str(), &s.confirmation))
                .collect::<Vec<_>>(),
            [
                ("ops@example.com", &Confirmation::Confirmed),
                ("oncall@example.com", &Confirmation::Pending),
            ]
        );
        assert!(subs.iter().all(|s| s.protocol == "email"));
    }

    #[test]
    fn health_checks_and_their_observations_are_read() {
        let doc = xml::parse(GET_HEALTH_CHECK).unwrap();
        let hc = health_check_of(&doc, &["HealthCheck"]).unwrap();
        assert_eq!(
            hc,
            HealthCheck {
                id: "abcdef11-2222-3333-4444-555555fedcba".into(),
                version: 2,
                inverted: false,
                disabled: false,
                fqdn: Some("hello-production-1.us-east-1.elb.amazonaws.com".into()),
            }
        );
        let doc = xml::parse(GET_HEALTH_CHECK_STATUS).unwrap();
        let obs = observations_of(&doc);
        assert_eq!(
            obs.iter().map(|o| &o.status).collect::<Vec<_>>(),
            [
                &CheckerStatus::Success,
                &CheckerStatus::Success,
                &CheckerStatus::Failure
            ]
        );
        // Two of three checkers is well over Route 53's 18%.
        assert!(endpoint_healthy(&obs));
        assert!(!endpoint_healthy(&obs[2..]));
        assert!(!endpoint_healthy(&[]));
        // One of six is 16.7%: not healthy; one of five is 20%: healthy.
        let one_of = |n: usize| {
            let mut v = vec![obs[2].clone(); n - 1];
            v.push(obs[0].clone());
            v
        };
        assert!(!endpoint_healthy(&one_of(6)));
        assert!(endpoint_healthy(&one_of(5)));
    }

    #[test]
    fn ecs_services_are_steady_only_with_one_completed_deployment() {
        let deploying: Vec<ServiceJson> = serde_json::from_value(
            serde_json::from_str::<serde_json::Value>(DESCRIBE_SERVICES_DEPLOYING).unwrap()
                ["services"]
                .clone(),
        )
        .unwrap();
        let s = Service::from(deploying.into_iter().next().unwrap());
        assert_eq!(s.deployments.len(), 2);
        assert_eq!(s.deployments[0].rollout, Some(Rollout::InProgress));
        assert!(!s.steady());
        let steady: Vec<ServiceJson> = serde_json::from_value(
            serde_json::from_str::<serde_json::Value>(DESCRIBE_SERVICES_STEADY).unwrap()
                ["services"]
                .clone(),
        )
        .unwrap();
        let s = Service::from(steady.into_iter().next().unwrap());
        assert!(s.steady(), "{s:?}");
        // One deployment at its count, but the tasks are not all running: not steady.
        let short = Service { running: 1, ..s };
        assert!(!short.steady());
        // moto's arithmetic: more running than desired leaves a negative pending count.
        let moto: ServiceJson = serde_json::from_str(
            r#"{"serviceName":"hello-staging","status":"ACTIVE","desiredCount":1,
                "runningCount":2,"pendingCount":-1,"deployments":[]}"#,
        )
        .unwrap();
        assert_eq!(Service::from(moto).pending, 0);
    }

    #[test]
    fn ecr_image_uris_are_parsed() {
        assert_eq!(
            EcrImage::parse("123456789012.dkr.ecr.us-west-2.amazonaws.com/hello:v1"),
            Some(EcrImage {
                region: "us-west-2".into(),
                repository: "hello".into(),
                reference: ImageRef::Tag("v1".into()),
            })
        );
        let digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let by_digest = EcrImage::parse(&format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/hello@{digest}"
        ))
        .unwrap();
        assert_eq!(by_digest.repository, "team/hello");
        assert_eq!(by_digest.reference, ImageRef::Digest(digest.into()));
        assert_eq!(by_digest.short(), format!("team/hello@{digest}"));
        assert_eq!(EcrImage::parse("public.ecr.aws/nginx/nginx:1"), None);
        assert_eq!(EcrImage::parse("nginx:1"), None);
    }

    #[test]
    fn xml_errors_are_reported() {
        assert!(xml::parse("").is_err());
        assert!(xml::parse("<a><b></a>").is_err());
        let doc = xml::parse("<a><b>x &amp; y &#65;</b><c/></a>").unwrap();
        assert_eq!(doc.name, "a");
        assert_eq!(doc.text_at(&["b"]), Some("x & y A"));
        assert_eq!(doc.text_at(&["c"]), Some(""));
        assert_eq!(doc.text_at(&["d"]), None);
    }

    /// Drift detection through the CloudFormation SDK, against recorded answers: started,
    /// polled while in progress, read once complete, and the drifted resources listed.
    #[test]
    fn drift_detection_round_trip() {
        let replay = Replay::start();
        replay
            .on(
                &["Action=DetectStackDrift"],
                vec![replay::xml(DETECT_STACK_DRIFT)],
            )
            .on(
                &["Action=DescribeStackDriftDetectionStatus"],
                vec![
                    replay::xml(&drift_status("DETECTION_IN_PROGRESS", None, None)),
                    replay::xml(&drift_status(
                        "DETECTION_COMPLETE",
                        Some("DRIFTED"),
                        Some(2),
                    )),
                ],
            )
            .on(
                &["Action=DescribeStackResourceDrifts"],
                vec![replay::xml(&resource_drifts_answer(&[
                    SERVICE_DRIFT,
                    ROLE_DRIFT,
                ]))],
            );
        block_on(async {
            let aws = replay.aws().await;
            let stack = "hello-us-east-1-service";
            let id = start_drift_detection(&aws, "us-east-1", stack)
                .await
                .unwrap();
            assert_eq!(id, "2f2b2d60-df86-11ea-bf55-0a6e8a5ad3d9");
            let first = drift_detection(&aws, "us-east-1", stack, &id)
                .await
                .unwrap();
            assert_eq!(first.detection, Detection::InProgress);
            assert_eq!(first.drift, None);
            let done = drift_detection(&aws, "us-east-1", stack, &id)
                .await
                .unwrap();
            assert_eq!(
                done,
                DriftDetection {
                    detection: Detection::Complete,
                    drift: Some(Drift::Drifted),
                    reason: None,
                    drifted_resources: Some(2),
                }
            );
            let drifts = resource_drifts(&aws, "us-east-1", stack).await.unwrap();
            assert_eq!(drifts.len(), 2);
            assert_eq!(drifts[0].logical_id, "ProductionService");
            assert_eq!(
                drifts[0]
                    .differences
                    .iter()
                    .map(|d| (d.path.as_str(), d.kind))
                    .collect::<Vec<_>>(),
                [
                    ("/DesiredCount", DifferenceKind::NotEqual),
                    ("/TaskDefinition", DifferenceKind::NotEqual)
                ]
            );
            assert_eq!(drifts[1].differences[0].kind, DifferenceKind::Add);
        });
        // Only modified and deleted resources were asked for.
        let asked = replay.received("Action=DescribeStackResourceDrifts");
        assert_eq!(asked.len(), 1);
        assert!(asked[0].contains("StackResourceDriftStatusFilters.member.1=MODIFIED"));
        assert!(asked[0].contains("StackResourceDriftStatusFilters.member.2=DELETED"));
    }

    /// ECS through JSON 1.1 against recorded answers: the target header, and a missing
    /// service left out.
    #[test]
    fn ecs_services_round_trip() {
        let replay = Replay::start();
        replay.on(
            &["AmazonEC2ContainerServiceV20141113.DescribeServices"],
            vec![replay::json(DESCRIBE_SERVICES_STEADY)],
        );
        let services = block_on(async {
            let aws = replay.aws().await;
            services(
                &aws,
                "us-east-1",
                "hello",
                &["hello-production".into(), "hello-staging".into()],
            )
            .await
            .unwrap()
        });
        assert_eq!(services.keys().collect::<Vec<_>>(), ["hello-production"]);
        assert!(services["hello-production"].steady());
        let request = &replay.received("DescribeServices")[0];
        assert!(request.contains(r#""cluster":"hello""#), "{request}");
        // Signed for ECS in the region asked.
        assert!(request.contains("/us-east-1/ecs/aws4_request"), "{request}");
    }

    /// ECR signs as `ecr` (its host is `api.ecr.<region>`), and a missing image is an answer,
    /// not an error.
    #[test]
    fn ecr_image_presence_round_trip() {
        let replay = Replay::start();
        replay
            .on(
                &["DescribeImages", "\"hello\"", "\"v1\""],
                vec![replay::json(
                    r#"{"imageDetails":[{"registryId":"123456789012","repositoryName":"hello","imageDigest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","imageTags":["v1"],"imageSizeInBytes":12345,"imagePushedAt":1796550000.0}]}"#,
                )],
            )
            .on(
                &["DescribeImages", "\"v2\""],
                vec![replay::error(
                    400,
                    "application/x-amz-json-1.1",
                    r#"{"__type":"ImageNotFoundException","message":"The image with imageId {imageDigest:'null', imageTag:'v2'} does not exist within the repository with name 'hello' in the registry with id '123456789012'"}"#,
                )],
            )
            .on(
                &["DescribeImages", "\"other\""],
                vec![replay::error(
                    400,
                    "application/x-amz-json-1.1",
                    r#"{"__type":"RepositoryNotFoundException","message":"The repository with name 'other' does not exist in the registry with id '123456789012'"}"#,
                )],
            );
        block_on(async {
            let aws = replay.aws().await;
            let tag = |t: &str| ImageRef::Tag(t.to_owned());
            assert_eq!(
                image_presence(&aws, "us-west-2", "hello", &tag("v1"))
                    .await
                    .unwrap(),
                ImagePresence::Present
            );
            assert_eq!(
                image_presence(&aws, "us-west-2", "hello", &tag("v2"))
                    .await
                    .unwrap(),
                ImagePresence::NoImage
            );
            assert_eq!(
                image_presence(&aws, "us-west-2", "other", &tag("v1"))
                    .await
                    .unwrap(),
                ImagePresence::NoRepository
            );
        });
        let request = &replay.received("DescribeImages")[0];
        assert!(request.contains("/us-west-2/ecr/aws4_request"), "{request}");
        assert!(
            request.contains("AmazonEC2ContainerRegistry_V20150921.DescribeImages"),
            "{request}"
        );
    }
}
