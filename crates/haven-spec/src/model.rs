//! The validated model: every value typed, checked and defaulted to the seed architecture.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Serialize;

// One definition of ECR's vocabulary for the spec, the templates and the ECR twin.
pub use haven_ecr::{CountType, LifecycleRule, Severity, TagStatus};

use crate::cidr::Cidr;
use crate::duration::Dur;

/// A whole, valid spec. Built only by [`crate::load`], so every field holds a checked value.
#[derive(Debug, Clone, Serialize)]
pub struct Spec {
    /// The spec file, and the directory relative paths in it are resolved against.
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(skip)]
    pub root: PathBuf,
    pub project: Project,
    pub regions: Vec<Region>,
    pub service: Service,
    pub environments: Environments,
    pub registry: Registry,
    pub source: Source,
    pub build: Build,
    pub pipeline: Pipeline,
    pub monitoring: Monitoring,
    pub notifications: Notifications,
    pub routing: Routing,
    /// The disaster-recovery drills' policy (`haven drill run`).
    pub dr: Dr,
    /// What users add to the network the seed needs (`[network]`).
    pub network: NetworkSpec,
    pub local: Local,
}

/// `[network]`, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NetworkSpec {
    /// Security group rules of the user's own, after the seed's, in the templates and the twin.
    pub rules: Vec<NetworkRule>,
}

/// Which of the region's two security groups a rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleGroup {
    Alb,
    Tasks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    Ingress,
    Egress,
}

/// One TCP rule: the group, the direction, the ports and the address block it admits or reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkRule {
    pub group: RuleGroup,
    pub direction: RuleDirection,
    pub from_port: u16,
    pub to_port: u16,
    pub cidr: Cidr,
    pub description: String,
}

impl Spec {
    /// The service's ECR repository, in every region and in the ECR twin: the project's name,
    /// or `project/service` when they differ.
    pub fn image_repository(&self) -> String {
        if self.service.name == self.project.name {
            self.project.name.clone()
        } else {
            format!("{}/{}", self.project.name, self.service.name)
        }
    }

    /// The one primary region (validation guarantees there is exactly one).
    pub fn primary(&self) -> &Region {
        self.regions
            .iter()
            .find(|r| r.role == Role::Primary)
            .unwrap_or(&self.regions[0])
    }

    pub fn secondaries(&self) -> impl Iterator<Item = &Region> {
        self.regions.iter().filter(|r| r.role == Role::Secondary)
    }

    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// A path from the spec (relative to its directory, as written) made usable from here.
    pub fn path(&self, relative: &std::path::Path) -> PathBuf {
        self.root.join(relative)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Project {
    pub name: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NatMode {
    /// One NAT gateway in the first AZ, as the seed draws it: cheaper, one AZ's egress.
    Single,
    /// One NAT gateway per AZ: egress survives the loss of an AZ.
    PerAz,
}

#[derive(Debug, Clone, Serialize)]
pub struct Region {
    pub name: String,
    pub role: Role,
    pub vpc_cidr: Cidr,
    /// AZ names, `<region>a`, `<region>b`, ...
    pub azs: Vec<String>,
    pub public_subnets: Vec<Cidr>,
    pub private_subnets: Vec<Cidr>,
    pub nat: NatMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    X86_64,
    Arm64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    /// The entrypoint and its arguments; the program is relative to the image root.
    pub command: Vec<String>,
    pub port: u16,
    pub environment: BTreeMap<String, String>,
    /// Environment variable → SSM parameter name.
    pub secrets: BTreeMap<String, String>,
    /// Fargate CPU units (1024 = 1 vCPU) and memory in MiB.
    pub cpu: u32,
    pub memory: u32,
    pub architecture: Architecture,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    pub read_only_root_filesystem: bool,
    /// The image's Dockerfile, relative to the spec's directory (the build context): what
    /// CodeBuild's `docker build` builds on AWS and buildah builds for the twin.
    pub dockerfile: PathBuf,
    /// SIGTERM to SIGKILL (ECS `stopTimeout`).
    pub stop_timeout: Dur,
    pub health_check: HealthCheck,
    pub load_balancer: LoadBalancer,
    pub scaling: Scaling,
    pub deployment: Deployment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Dur,
    pub timeout: Dur,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    /// ALB matcher syntax: `200`, `200-299`, `200,302`.
    pub success_codes: String,
    /// ECS `healthCheckGracePeriodSeconds`: failures in this window after start are ignored.
    pub grace_period: Dur,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    RoundRobin,
    LeastOutstandingRequests,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadBalancer {
    pub algorithm: Algorithm,
    pub deregistration_delay: Dur,
    pub idle_timeout: Dur,
    /// With a certificate the ALB listens on HTTPS and redirects HTTP to it.
    pub certificate_arn: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scaling {
    pub cpu_target: u8,
    pub memory_target: u8,
    pub scale_out_cooldown: Dur,
    pub scale_in_cooldown: Dur,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    BlueGreen,
    Canary,
    Linear,
    Rolling,
}

#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub strategy: Strategy,
    pub bake_time: Dur,
    pub canary_percent: u8,
    pub canary_bake_time: Dur,
    pub linear_step_percent: u8,
    pub linear_step_bake_time: Dur,
    /// Expose the green task set on a test listener before shifting production traffic.
    pub test_listener: bool,
    pub rollback_on_alarm: bool,
    /// During bake, roll back when more than this share of responses are 5xx.
    pub max_5xx_percent: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct Environments {
    /// In the primary region only; `None` when disabled.
    pub staging: Option<Environment>,
    /// In every region.
    pub production: Environment,
}

#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    pub cpu: u32,
    pub memory: u32,
    /// Added to (and overriding) the service's environment.
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    Kms,
    Aes256,
}

#[derive(Debug, Clone, Serialize)]
pub struct Registry {
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    pub encryption: Encryption,
    /// Replicate images from the primary's registry to every secondary's.
    pub replicate: bool,
    /// A scan finding at or above this severity fails the pipeline's Build stage.
    pub scan_fail_severity: Severity,
    /// A RustSec-format advisory database directory. Paths in the model are as written,
    /// relative to the spec's directory; [`Spec::path`] resolves them.
    pub advisory_db: Option<PathBuf>,
    pub lifecycle: Vec<LifecycleRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// Where the pipeline reads the source on AWS. The local twin keeps its own git
    /// repositories whatever the provider is.
    pub provider: SourceProvider,
    /// A repository name without an owner: CodeCommit's repository and the twin's. For a hosted
    /// provider, the name part of [`Source::hosted_repository`].
    pub repository: String,
    /// `owner/name` at GitHub, GitLab or Bitbucket, as the pipeline's connection reads it;
    /// `None` with CodeCommit.
    pub hosted_repository: Option<String>,
    /// The branch the pipeline follows.
    pub branch: String,
    pub protected_branches: Vec<String>,
    pub replicate: bool,
}

/// `source.provider`: CodeCommit in the primary region, or a Git host the pipeline reaches
/// through a CodeConnections connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceProvider {
    CodeCommit,
    GitHub,
    GitLab,
    Bitbucket,
}

impl SourceProvider {
    /// A Git host outside AWS (reached through a connection), not CodeCommit.
    pub fn is_hosted(self) -> bool {
        self != Self::CodeCommit
    }

    /// The provider as AWS spells it (`ProviderType` of a connection, the console's name).
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::CodeCommit => "CodeCommit",
            Self::GitHub => "GitHub",
            Self::GitLab => "GitLab",
            Self::Bitbucket => "Bitbucket",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Build {
    /// Relative to the spec's directory, like every path in the model.
    pub buildspec: PathBuf,
    /// The source root.
    pub directory: PathBuf,
    pub timeout: Dur,
    pub compute_type: String,
    pub image: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionMode {
    Superseded,
    Queued,
    Parallel,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pipeline {
    pub execution_mode: ExecutionMode,
    /// Source, Build, Staging, Approval, Production: the stages that run, in order.
    pub stages: Vec<&'static str>,
    pub approval: Approval,
}

#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub enabled: bool,
    pub timeout: Dur,
    pub notify: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Monitoring {
    pub log_retention_days: u32,
    pub dashboard: bool,
    pub notify: String,
    pub alarms: Vec<Alarm>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Cpu,
    Memory,
    Http5xx,
    UnhealthyTargets,
    PipelineFailure,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MissingData {
    #[serde(rename = "missing")]
    Missing,
    #[serde(rename = "notBreaching")]
    NotBreaching,
    #[serde(rename = "breaching")]
    Breaching,
    #[serde(rename = "ignore")]
    Ignore,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub kind: AlarmKind,
    pub threshold: f64,
    pub period: Dur,
    pub evaluation_periods: u32,
    pub datapoints_to_alarm: u32,
    pub missing_data: MissingData,
}

#[derive(Debug, Clone, Serialize)]
pub struct Notifications {
    pub from: String,
    pub topics: BTreeMap<String, Topic>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Topic {
    pub email: Vec<String>,
    pub webhooks: Vec<String>,
    /// SSM parameter holding the HMAC key for webhook signatures.
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingMode {
    Failover,
    ActiveActive,
}

#[derive(Debug, Clone, Serialize)]
pub struct Routing {
    pub mode: RoutingMode,
    pub health_check_interval: Dur,
    pub failure_threshold: u32,
    pub ttl: u32,
    pub domain: Option<String>,
    pub hosted_zone_id: Option<String>,
}

/// The `[local]` profile: how the local twin runs. Times are fast so drills take seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Local {
    pub state_dir: PathBuf,
    pub bind: std::net::IpAddr,
    /// 0 picks a free port.
    pub edge_port: u16,
    /// Region i's ALB twin listens on `alb_port_base + i`; staging's after the last region.
    pub alb_port_base: u16,
    pub dashboard_port: u16,
    pub smtp_relay: Option<String>,
    pub health_check: HealthCheck,
    pub deregistration_delay: Dur,
    pub stop_timeout: Dur,
    pub metrics_interval: Dur,
    pub scale_out_cooldown: Dur,
    pub scale_in_cooldown: Dur,
    pub bake_time: Dur,
    pub alarm_period: Dur,
    pub approval_timeout: Dur,
    pub edge_health_check_interval: Dur,
    pub edge_failure_threshold: u32,
    /// The ALB twins write access logs (`haven logs /haven/<project>/alb/<service>`, a group
    /// only the twin has: on AWS the ALB writes them to the log bucket).
    pub access_logs: bool,
    /// How the twin builds images and runs tasks.
    pub runtime: Runtime,
    /// Where the twin's traffic flows: the spec's VPC as network namespaces, or loopback.
    pub network: Network,
}

/// `local.network`: where the twin's traffic between the ALBs and the tasks flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// The loopback twin for now: the VPC twin is opt-in until its latency injection and flow
    /// logs are built.
    Auto,
    /// Each region's VPC as network namespaces: tasks at their subnets' addresses on the
    /// service's port, the ALB's nodes in the public subnets, security groups and the network
    /// ACL enforced with nftables. Needs root, `ip` and `nft`.
    Vpc,
    /// Everything on the host's loopback, each task on a port of its own.
    Loopback,
}

/// `local.runtime`: how the twin builds images and runs tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// Containers where a builder and an OCI runtime are installed and permitted, else processes.
    Auto,
    /// The service's Dockerfile built with buildah; each task an OCI container under its
    /// Fargate size's CPU and memory limits. Refused where the machine cannot run them.
    Container,
    /// The build's artifacts packaged as an image; each task a host process.
    Process,
}

/// The `[dr]` policy: the load disaster-recovery drills offer, how long they hold a fault, and
/// what each must meet (RTO, RPO, failed requests). `[dr]` sets what every scenario shares;
/// `[dr.scenarios.<name>]` overrides it for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dr {
    /// The longest full service may take to come back (RTO): the twin's measure and the
    /// projected AWS figure are both held to it. The seed estimates 15-20 minutes.
    pub rto: Dur,
    /// The most data (commits, images) a region may lack when it must serve alone (RPO). The
    /// seed says "near zero"; one minute of pushes.
    pub rpo: Dur,
    /// The load the drills offer, in requests per second.
    pub rps: u32,
    /// The path the load requests (with its query, if any).
    pub path: String,
    /// The least time a held fault (an AZ, a region, a partition, latency) stays before the heal.
    pub hold: Dur,
    /// The longest a drill waits for recovery; longer than `hold`.
    pub timeout: Dur,
    /// Every scenario, resolved: its own keys over the `[dr]` ones over the defaults.
    pub scenarios: BTreeMap<Scenario, DrScenario>,
}

/// One scenario's policy, every value resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrScenario {
    pub rto: Dur,
    pub rpo: Dur,
    /// Requests that may fail from the fault to the end of the drill.
    pub max_failed_requests: u64,
    /// The highest p99 latency allowed from the fault to the end of the drill; none: unchecked.
    pub max_p99: Option<Dur>,
    /// `load-spike` offers [`Dr::LOAD_SPIKE_FACTOR`] times `[dr].rps` unless it says otherwise.
    pub rps: u32,
    pub path: String,
    pub hold: Dur,
    pub timeout: Dur,
    /// `bad-release` only: the release must roll back (false for every other scenario).
    pub rollback: bool,
    /// `load-spike` only: the service must scale out (false for every other scenario).
    pub scale_out: bool,
    /// `dependency-latency` only: the latency added and its jitter (zero for the others).
    pub delay: Dur,
    pub jitter: Dur,
    /// `bad-release` only: the failing image (tag or digest) to release; none: the drill
    /// derives one whose tasks cannot start.
    pub image: Option<String>,
}

impl Dr {
    pub const DEFAULT_RTO: Dur = Dur::secs(20 * 60);
    pub const DEFAULT_RPO: Dur = Dur::secs(60);
    pub const DEFAULT_RPS: u32 = 50;
    pub const MAX_RPS: u32 = 5000;
    pub const DEFAULT_PATH: &'static str = "/";
    pub const DEFAULT_HOLD: Dur = Dur::secs(5);
    pub const DEFAULT_TIMEOUT: Dur = Dur::secs(60);
    /// `load-spike`'s load, as a multiple of `[dr].rps` (at most [`Dr::MAX_RPS`]).
    pub const LOAD_SPIKE_FACTOR: u32 = 5;
    pub const DEFAULT_DELAY: Dur = Dur::millis(200);
    pub const DEFAULT_JITTER: Dur = Dur::millis(20);

    /// The policy of `scenario`. Never panics: a `Dr` built by loading holds every scenario,
    /// and one built by hand without it gets the scenario's defaults.
    pub fn scenario(&self, scenario: Scenario) -> &DrScenario {
        match self.scenarios.get(&scenario) {
            Some(s) => s,
            None => {
                static DEFAULTS: OnceLock<[DrScenario; 7]> = OnceLock::new();
                let defaults = DEFAULTS.get_or_init(|| {
                    let dr = Dr::default();
                    Scenario::ALL.map(|s| DrScenario::inherited(s, &dr))
                });
                let i = Scenario::ALL
                    .iter()
                    .position(|s| *s == scenario)
                    .unwrap_or_default();
                &defaults[i]
            }
        }
    }
}

impl Default for Dr {
    /// The defaults, every scenario included.
    fn default() -> Self {
        let mut dr = Dr {
            rto: Dr::DEFAULT_RTO,
            rpo: Dr::DEFAULT_RPO,
            rps: Dr::DEFAULT_RPS,
            path: Dr::DEFAULT_PATH.to_owned(),
            hold: Dr::DEFAULT_HOLD,
            timeout: Dr::DEFAULT_TIMEOUT,
            scenarios: BTreeMap::new(),
        };
        dr.scenarios = Scenario::ALL
            .into_iter()
            .map(|s| (s, DrScenario::inherited(s, &dr)))
            .collect();
        dr
    }
}

impl DrScenario {
    /// What `scenario` takes when its own table sets nothing: `dr`'s values and the
    /// scenario's defaults.
    pub fn inherited(scenario: Scenario, dr: &Dr) -> Self {
        let latency = scenario == Scenario::DependencyLatency;
        DrScenario {
            rto: dr.rto,
            rpo: dr.rpo,
            max_failed_requests: 0,
            max_p99: None,
            rps: match scenario {
                Scenario::LoadSpike => dr
                    .rps
                    .saturating_mul(Dr::LOAD_SPIKE_FACTOR)
                    .min(Dr::MAX_RPS),
                _ => dr.rps,
            },
            path: dr.path.clone(),
            hold: dr.hold,
            timeout: dr.timeout,
            rollback: scenario == Scenario::BadRelease,
            scale_out: scenario == Scenario::LoadSpike,
            delay: if latency {
                Dr::DEFAULT_DELAY
            } else {
                Dur::millis(0)
            },
            jitter: if latency {
                Dr::DEFAULT_JITTER
            } else {
                Dur::millis(0)
            },
            image: None,
        }
    }
}

/// A disaster-recovery drill (`haven drill run`), named after AWS Fault Injection Service's
/// scenario where one exists. `[dr.scenarios.<name>]` keys and the CLI spell them as
/// [`Scenario::name`] does.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// One task killed under load; the service replaces it.
    TaskLoss,
    /// Every task of one AZ killed and the AZ kept down until the drill heals it.
    AzPowerInterruption,
    /// The primary region killed; the edge fails over.
    RegionLoss,
    /// The regions cut from each other while traffic flows: replication stops.
    CrossRegionConnectivity,
    /// A release of a failing image, expected to roll back.
    BadRelease,
    /// Latency added between the load balancer and the tasks.
    DependencyLatency,
    /// Load above what the running tasks hold, expected to scale out.
    LoadSpike,
}

impl Scenario {
    /// Every scenario, in the order `haven drill run --all` runs them.
    pub const ALL: [Scenario; 7] = [
        Scenario::TaskLoss,
        Scenario::AzPowerInterruption,
        Scenario::RegionLoss,
        Scenario::CrossRegionConnectivity,
        Scenario::BadRelease,
        Scenario::DependencyLatency,
        Scenario::LoadSpike,
    ];

    /// The name the spec and the CLI use.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::TaskLoss => "task-loss",
            Scenario::AzPowerInterruption => "az-power-interruption",
            Scenario::RegionLoss => "region-loss",
            Scenario::CrossRegionConnectivity => "cross-region-connectivity",
            Scenario::BadRelease => "bad-release",
            Scenario::DependencyLatency => "dependency-latency",
            Scenario::LoadSpike => "load-spike",
        }
    }

    /// The scenario named `name`, as [`Scenario::name`] spells it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
