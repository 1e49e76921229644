//! The stacks, one module per lifecycle, and what they share: a builder that records where each
//! stack parameter's value comes from, and the names of the outputs that feed them.

mod delivery;
mod global;
mod monitoring;
mod network;
mod registry;
mod service;

pub use delivery::is_arm_image;

use std::collections::BTreeMap;

use haven_spec::Spec;
use haven_spec::model::{Environment, Region, Role};

use crate::buildspec::UserBuildspec;
use crate::model::{Expr, Output, Parameter, Resource, Template};
use crate::names::{Names, pascal};
use crate::{StackKind, SynthError};

/// One synthesized stack.
#[derive(Debug, Clone)]
pub struct Stack {
    pub kind: StackKind,
    /// Where it is deployed (the primary region for the global stack).
    pub region: String,
    pub name: String,
    pub template: Template,
    /// How the deployer fills each parameter, in parameter-name order.
    pub inputs: Vec<Input>,
}

/// Where a stack parameter's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub parameter: String,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Another stack's output, read after that stack is deployed (it may be in another region).
    Output { stack: String, output: String },
    /// A value only the deployer knows; the text says what it is.
    DeployTime { description: String },
}

/// Builds one stack's template and records its inputs.
pub struct Builder {
    stack: Stack,
}

impl Builder {
    pub fn new(kind: StackKind, region: &str, name: String, description: String) -> Self {
        Self {
            stack: Stack {
                kind,
                region: region.to_owned(),
                name,
                template: Template {
                    description,
                    ..Template::default()
                },
                inputs: Vec::new(),
            },
        }
    }

    pub fn add(&mut self, id: &str, resource: impl Into<Resource>) {
        let previous = self
            .stack
            .template
            .resources
            .insert(id.to_owned(), resource.into());
        debug_assert!(previous.is_none(), "logical id {id} used twice");
    }

    /// A parameter filled from another stack's output; returns a `Ref` to it.
    pub fn from_output(
        &mut self,
        name: &str,
        r#type: &'static str,
        description: &str,
        stack: &str,
        output: &str,
    ) -> Expr {
        self.parameter(name, r#type, description, None);
        self.stack.inputs.push(Input {
            parameter: name.to_owned(),
            source: Source::Output {
                stack: stack.to_owned(),
                output: output.to_owned(),
            },
        });
        Expr::r#ref(name)
    }

    /// The region's KMS key, a parameter wired from the network stack's output.
    pub fn network_key(&mut self, cx: Cx<'_>, region: &str) -> Expr {
        self.from_output(
            out::KEY_ARN,
            "String",
            "The region's KMS key (network stack)",
            &cx.stack_name(region, StackKind::Network),
            out::KEY_ARN,
        )
    }

    /// A parameter the deployer supplies; returns a `Ref` to it.
    pub fn deploy_time(&mut self, name: &str, description: &str, pattern: &str) -> Expr {
        self.parameter(name, "String", description, Some(pattern));
        self.stack.inputs.push(Input {
            parameter: name.to_owned(),
            source: Source::DeployTime {
                description: description.to_owned(),
            },
        });
        Expr::r#ref(name)
    }

    fn parameter(
        &mut self,
        name: &str,
        r#type: &'static str,
        description: &str,
        pattern: Option<&str>,
    ) {
        self.stack.template.parameters.insert(
            name.to_owned(),
            Parameter {
                r#type,
                description: description.to_owned(),
                allowed_pattern: pattern.map(str::to_owned),
                ..Parameter::default()
            },
        );
    }

    pub fn output(&mut self, name: &str, description: &str, value: Expr) {
        self.stack.template.outputs.insert(
            name.to_owned(),
            Output {
                description: description.to_owned(),
                value,
            },
        );
    }

    pub fn finish(mut self) -> Stack {
        self.stack
            .inputs
            .sort_by(|a, b| a.parameter.cmp(&b.parameter));
        self.stack
    }
}

/// What every stack builder reads.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    pub spec: &'a Spec,
    pub names: Names<'a>,
}

impl<'a> Cx<'a> {
    pub fn stack_name(&self, region: &str, kind: StackKind) -> String {
        self.names.stack(region, kind)
    }

    pub fn primary(&self) -> &'a Region {
        self.spec.primary()
    }

    pub fn environments(&self, region: &Region) -> Vec<&'a Environment> {
        self.names.environments(region.role)
    }
}

/// Output names shared by the stacks that write them and the stacks that read them.
pub mod out {
    use haven_spec::model::Environment;

    use crate::names::pascal;

    pub const KEY_ARN: &str = "KeyArn";
    pub const VPC_ID: &str = "VpcId";
    pub const PRIVATE_SUBNETS: &str = "PrivateSubnetIds";
    pub const TASK_SECURITY_GROUP: &str = "TaskSecurityGroupId";
    pub const REPOSITORY_URI: &str = "RepositoryUri";
    /// The primary's delivery stack, with a hosted source: the connection to authorise.
    pub const SOURCE_CONNECTION_ARN: &str = "SourceConnectionArn";

    /// A per-environment output: `ProductionBlueTargetGroupArn`.
    pub fn env(env: &Environment, what: &str) -> String {
        format!("{}{what}", pascal(&env.name))
    }

    pub fn topic_arn(topic: &str) -> String {
        format!("{}TopicArn", pascal(topic))
    }

    pub const BLUE_TG: &str = "BlueTargetGroupArn";
    pub const GREEN_TG: &str = "GreenTargetGroupArn";
    pub const BLUE_TG_NAME: &str = "BlueTargetGroupFullName";
    pub const GREEN_TG_NAME: &str = "GreenTargetGroupFullName";
    pub const TRAFFIC_RULE: &str = "TrafficRuleArn";
    pub const TEST_RULE: &str = "TestRuleArn";
    pub const ALB_NAME: &str = "LoadBalancerFullName";
    pub const ALB_DNS: &str = "LoadBalancerDnsName";
    pub const ALB_ZONE: &str = "LoadBalancerHostedZoneId";
}

/// Every stack, in deploy order: each region's network, registry (secondaries only with
/// replication) and monitoring stacks, primary first; the secondaries' delivery stacks, then the
/// primary's (its pipeline writes to their artifact buckets, its mirror job pushes to their
/// repositories); each region's service stack (its image must exist, which the delivery stacks
/// make possible); the global stack.
pub fn all(spec: &Spec, buildspec: &UserBuildspec) -> Result<Vec<Stack>, SynthError> {
    let cx = Cx {
        spec,
        names: Names::new(spec),
    };
    let regions: Vec<&Region> = std::iter::once(spec.primary())
        .chain(spec.secondaries())
        .collect();
    let mut stacks = Vec::new();
    for region in &regions {
        stacks.push(network::build(cx, region));
        // Without replication, every region's tasks pull from the primary's repository.
        if region.role == Role::Primary || spec.registry.replicate {
            stacks.push(registry::build(cx, region));
        }
        stacks.push(monitoring::build(cx, region));
    }
    for region in regions.iter().rev() {
        stacks.push(delivery::build(cx, region, buildspec));
    }
    for region in &regions {
        stacks.push(service::build(cx, region)?);
    }
    stacks.push(global::build(cx));
    Ok(stacks)
}

/// The topics a region's resources notify: the monitoring topic everywhere, the approval topic
/// in the primary (where the pipeline runs).
pub fn topics_in(spec: &Spec, region: &Region) -> Vec<String> {
    let mut topics = vec![spec.monitoring.notify.clone()];
    if region.role == Role::Primary && spec.pipeline.approval.enabled {
        topics.push(spec.pipeline.approval.notify.clone());
    }
    topics.sort();
    topics.dedup();
    topics
}

/// The logical-id fragment of a topic (`on-call` → `OnCall`), unique among the spec's topics
/// even when two names differ only in punctuation, and the same in every stack.
pub fn topic_id(spec: &Spec, topic: &str) -> String {
    let mut taken: BTreeMap<String, u32> = BTreeMap::new();
    for name in spec.notifications.topics.keys() {
        let base = pascal(name);
        let n = taken.entry(base.clone()).or_insert(0);
        *n += 1;
        if name == topic {
            return if *n == 1 { base } else { format!("{base}{n}") };
        }
    }
    pascal(topic)
}

/// The common tags haven puts on resources that show a name in the console.
pub fn name_tag(value: impl Into<Expr>) -> Vec<crate::model::Tag> {
    crate::model::Tag::name(value)
}
