//! The command line: every command and flag, with help text.
//!
//! One dialect, as cargo and uv speak theirs: a command's or flag's short help is an imperative
//! fragment ("Show ...") and the details go to its long help; positional arguments say what they
//! are; a listing is `ls` (with `list` as a visible alias); a choice is a `ValueEnum`; a duration
//! is a duration string (`30s`, `10m`, `1h`); a flag sits on the subcommands that use it.
//! `tests/help.rs` snapshots every command's help and checks these rules.
//!
//! This file depends on nothing else of the binary, so that `tests/help.rs` can walk the same
//! command tree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use haven_spec::Dur;

/// haven: one small spec, a highly available two-region web architecture, on AWS or on this
/// machine.
#[derive(Debug, Parser)]
#[command(
    name = "haven",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

// In help, a command's own flags come first (the spec's flag is flattened after them), then the
// `aws` group's, the spec, and the global flags last.
#[derive(Debug, Args)]
#[command(next_display_order = 800)]
pub struct Global {
    /// Print data as JSON on stdout
    #[arg(long, global = true)]
    pub json: bool,
    /// Choose when to colour output
    ///
    /// Each stream is decided on its own: `auto` colours stdout only when stdout is a terminal,
    /// and stderr only when stderr is; a non-empty NO_COLOR turns `auto` off.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorChoice::Auto
    )]
    pub color: ColorChoice,
    /// Print no progress, only data and errors
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// `--color`: `auto` colours a stream when it is a terminal and NO_COLOR is unset or empty,
/// `always` colours both streams (even into a pipe or a file), `never` neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone)]
#[command(next_display_order = 700)]
pub struct SpecArg {
    /// Read the spec from FILE
    #[arg(
        long,
        short = 's',
        value_name = "FILE",
        default_value = "haven.toml",
        env = "HAVEN_SPEC",
        global = true
    )]
    pub spec: PathBuf,
}

/// A duration flag's value: `500ms`, `30s`, `10m`, `2h`, `7d`, as the spec writes durations.
fn duration(text: &str) -> Result<Dur, String> {
    Dur::parse(text)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project: a commented haven.toml and the example service
    Init {
        /// The directory to create the project in
        #[arg(default_value = ".", value_name = "DIR")]
        dir: PathBuf,
        /// Overwrite an existing haven.toml and the example's files
        #[arg(long)]
        force: bool,
    },
    /// Check a spec and report every problem at once
    ///
    /// The exit status is 0 for a valid spec, 1 for an invalid one and 2 for a usage error.
    Validate(SpecArg),
    /// Print the resolved spec, with every default filled in
    Show(SpecArg),
    /// Run the spec's buildspec with the CodeBuild twin
    ///
    /// The result becomes the current build, which `haven image build` and `haven up` package.
    Build(SpecArg),
    /// Manage the ECR twin's images: build, list, inspect, tag, scan and remove them, and log in
    /// to its registry API
    #[command(visible_alias = "registry")]
    Image {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Write CloudFormation for the whole architecture
    ///
    /// Per-region stacks, a global stack, a manifest, the generated buildspec and task
    /// definition.
    Synth {
        /// Write the templates to DIR
        #[arg(long, short, value_name = "DIR", default_value = "cloudformation")]
        out: PathBuf,
        #[command(flatten)]
        spec: SpecArg,
    },
    /// Estimate the spec's monthly AWS cost, per region and line item
    Cost {
        #[command(flatten)]
        args: CostFlags,
        #[command(flatten)]
        spec: SpecArg,
    },
    /// Deploy to AWS from an empty account, verify it, fail over and back, destroy it
    Aws {
        #[command(flatten)]
        spec: SpecArg,
        #[command(flatten)]
        flags: AwsFlags,
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// Manage the local SSM Parameter Store: secrets for the twin's tasks, builds and webhooks
    Secret {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Run the whole architecture on this machine
    ///
    /// Both regions with their ALBs and tasks, and the edge router; a build first if there is
    /// none.
    Up(SpecArg),
    /// Stop the running twin: stop routing, drain, stop tasks
    Down(SpecArg),
    /// Show the running twin: edge, regions, services, tasks
    Status(SpecArg),
    /// Apply the spec file's changes to the running twin
    ///
    /// ALB access logs (`local.access_logs`) switch at once; other changes are listed for the
    /// next `haven up`; a spec that does not validate changes nothing. SIGHUP to `haven up`
    /// does the same.
    Reload(SpecArg),
    /// Release an image to the running twin, region by region
    ///
    /// With the spec's strategy (blue/green by default), the primary first, then each
    /// secondary; a release that fails rolls back on its own and stops there. `haven release
    /// ls` lists the releases.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        disable_help_subcommand = true
    )]
    Release {
        #[command(flatten)]
        args: ReleaseFlags,
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: Option<ReleaseCommand>,
    },
    /// Roll back to the image before the last successful release
    Rollback {
        /// Roll back this region only [default: every region]
        #[arg(long)]
        region: Option<String>,
        /// Roll back this environment's service
        #[arg(long, value_enum, default_value_t = Environment::Production)]
        environment: Environment,
        #[command(flatten)]
        spec: SpecArg,
    },
    /// List the releases with each step's time (`haven release ls`)
    #[command(hide = true)]
    Releases(SpecArg),
    /// Read the CloudWatch twin's metrics
    Metrics {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: MetricsCommand,
    },
    /// Show the spec's alarms on the running twin and their history
    Alarm {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: AlarmCommand,
    },
    /// List the alarms (`haven alarm ls`), or `history NAME`
    #[command(hide = true)]
    Alarms {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: Option<AlarmCommand>,
    },
    /// Show a log group's events merged by time, or list the groups
    ///
    /// Groups, named as `haven synth` names them on AWS: `/haven/<project>/ecs/<service>`
    /// (tasks' stdout and stderr, a stream `<environment>/<container>/<task-id>` per task) and,
    /// in the primary, `/haven/<project>/codebuild/build`; twin only:
    /// `/haven/<project>/alb/<service>` (the ALB twin's access log; S3 on AWS) and
    /// `/haven/<project>/codepipeline` (in the primary). Read from the state directory, so it
    /// works whether or not the twin is running. Without GROUP, as `haven logs ls`.
    #[command(args_conflicts_with_subcommands = true, disable_help_subcommand = true)]
    Logs {
        #[command(flatten)]
        args: LogsFlags,
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: Option<LogsCommand>,
    },
    /// Follow the CodePipeline twin: runs from pushes, their stages and logs, approvals, retries
    Pipeline {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: PipelineCommand,
    },
    /// Show where to push: the CodeCommit twin
    Source {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Break the running twin: kill tasks, AZs and regions, add latency, cut the regions apart
    Chaos {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: ChaosCommand,
    },
    /// Run disaster-recovery drills on the running twin and read their reports
    ///
    /// A drill is a chaos experiment: a steady-state check under load, the fault, observation
    /// until recovery, the heal, and a steady-state check after. Each drill measures time to
    /// detect, RTO, failed requests, RPO, the alarms and notifications, projects the same drill
    /// on AWS from the spec's cloud settings, and is judged against the spec's `[dr]` policy.
    Drill {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: DrillCommand,
    },
    /// Ask the network model whether traffic is allowed, and what decides it
    ///
    /// Computed from the spec's network: routes, network ACLs and security groups, as the
    /// templates declare them.
    Net {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: NetCommand,
    },
    /// Run one of the twin's own processes (started by `haven up`)
    #[command(hide = true)]
    Internal {
        #[command(subcommand)]
        command: InternalCommand,
    },
    /// Print shell completions
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `haven release IMAGE`'s flags.
#[derive(Debug, Args)]
pub struct ReleaseFlags {
    /// The image: a tag or digest in the registry (or a build id)
    #[arg(required = true)]
    pub image: Option<String>,
    /// Release to this region only [default: the primary, then each secondary]
    #[arg(long)]
    pub region: Option<String>,
    /// Use this strategy instead of the spec's
    #[arg(long, value_enum)]
    pub strategy: Option<Strategy>,
    /// Release to this environment's service
    #[arg(long, value_enum, default_value_t = Environment::Production)]
    pub environment: Environment,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// List the releases with each step's time
    #[command(visible_alias = "list")]
    Ls,
}

/// `--strategy`: the spec's `deployment.strategy`, spelled as the spec spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Shift all traffic to a green task set at once, then bake
    BlueGreen,
    /// Shift `canary_percent` of the traffic first, bake, then the rest
    Canary,
    /// Shift the traffic in steps of `linear_step_percent`, baking after each
    Linear,
    /// Replace the tasks in place, behind the same target group
    Rolling,
}

impl From<Strategy> for haven_spec::model::Strategy {
    fn from(s: Strategy) -> Self {
        match s {
            Strategy::BlueGreen => Self::BlueGreen,
            Strategy::Canary => Self::Canary,
            Strategy::Linear => Self::Linear,
            Strategy::Rolling => Self::Rolling,
        }
    }
}

/// `--environment`: which of the spec's environments (and so which service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// The production service, in every region
    Production,
    /// The staging service, in the primary region
    Staging,
}

impl Environment {
    /// The environment's name, as the spec and the twin's services carry it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "staging",
        }
    }
}

/// `haven logs GROUP`'s flags.
#[derive(Debug, Args)]
pub struct LogsFlags {
    /// The group, e.g. `/haven/hello/ecs/hello-production`
    pub group: Option<String>,
    /// Keep printing new events until Ctrl-C
    #[arg(long, short)]
    pub follow: bool,
    /// Show only events of the last DURATION, e.g. `10m`, `1h`, `2d`
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub since: Option<Dur>,
    /// Show only events whose message contains PATTERN (case-sensitive)
    #[arg(long, value_name = "PATTERN")]
    pub grep: Option<String>,
    /// Read this region's group [default: the primary]
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// List the log groups with their streams and sizes
    #[command(visible_alias = "list")]
    Ls {
        /// List this region's groups only [default: every region]
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// SIGKILL one task; the service replaces it
    ///
    /// The task is named by its id or a prefix of it, or is the first in `--az`, or the first
    /// task of the region.
    KillTask {
        /// Pick the task in this region [default: the primary]
        #[arg(long)]
        region: Option<String>,
        /// Pick a task in this AZ
        #[arg(long)]
        az: Option<String>,
        /// The task id or a prefix of it
        task: Option<String>,
    },
    /// Lose an AZ: kill its tasks and keep it down until `haven chaos heal`
    KillAz {
        /// The AZ's region
        region: String,
        /// The AZ, e.g. `us-east-1a`
        az: String,
    },
    /// SIGKILL a region's whole process group; it stays down until `haven chaos heal`
    KillRegion {
        /// The region to kill
        region: String,
    },
    /// Slow the network between a region's ALBs and its tasks until `haven chaos heal`
    ///
    /// Every request the region's ALB twins (production, staging and test listeners) forward to
    /// a task, and every health check of one, waits the delay ± a uniform jitter, as AWS FIS's
    /// network latency actions add it; the target response time includes it. The region keeps
    /// it in memory: a restart of the region ends it too.
    Net {
        /// Delay the tasks of this region [default: the primary]
        #[arg(long)]
        region: Option<String>,
        /// Delay only the tasks in this AZ
        #[arg(long)]
        az: Option<String>,
        /// Add DURATION to every request to a task, e.g. `200ms`
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        delay: Dur,
        /// Vary each delay by up to DURATION either way, uniformly
        #[arg(long, value_name = "DURATION", value_parser = duration)]
        jitter: Option<Dur>,
    },
    /// Cut an AZ's subnets off: they drop everything until `haven chaos heal` (the VPC twin)
    ///
    /// The router drops every packet that enters or leaves the AZ's subnets, its NAT gateway
    /// included, as AWS FIS's network disruption of an AZ's subnets does: with `nat = "single"`
    /// the other AZ's egress goes with it. Needs `local.network = "vpc"`.
    Blackhole {
        /// Cut an AZ of this region [default: the primary]
        #[arg(long)]
        region: Option<String>,
        /// Cut this AZ's subnets, e.g. `us-east-1a`
        #[arg(long)]
        az: String,
    },
    /// Cut the regions from each other: nothing replicates until `haven chaos heal`
    ///
    /// Pushes to the primary's repository still start pipeline runs; the secondaries'
    /// repositories and registries catch up once healed, and a stage that must replicate an
    /// image waits for it. `haven down` ends the partition too.
    Partition,
    /// Bring back killed regions and AZs, and end latency and the partition
    ///
    /// Without a region every region is healed and the partition between them ends; with one,
    /// only that region's killed process, lost AZs and latency.
    Heal {
        /// The region to heal [default: every region]
        region: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// Run drills against the running twin and judge them against the `[dr]` policy
    ///
    /// The exit status is 0 when every drill meets its policy and 1 when one misses it. The
    /// report (JSON, a self-contained HTML page and a Markdown summary) is kept in the state
    /// directory; `haven drill show` prints it.
    Run {
        /// The scenarios to run, in order
        #[arg(value_enum, required_unless_present = "all", conflicts_with = "all")]
        scenarios: Vec<DrillScenario>,
        /// Run every scenario
        #[arg(long)]
        all: bool,
        /// Offer RPS requests per second [default: the spec's `dr.rps`; five times it for load-spike]
        #[arg(long, value_name = "RPS", value_parser = clap::value_parser!(u32).range(1..=5000))]
        load: Option<u32>,
        /// Release IMAGE in the bad-release drill [default: one whose tasks cannot start]
        #[arg(long, value_name = "IMAGE")]
        image: Option<String>,
    },
    /// List the drill runs, newest first
    #[command(visible_alias = "list")]
    Ls,
    /// Show a drill run's summary and where its report is
    Show {
        /// The run: its id, a unique prefix of it, or `latest`
        #[arg(default_value = "latest")]
        run: String,
    },
}

/// A drill's scenario, named after AWS Fault Injection Service's where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DrillScenario {
    /// Kill one task under load; the service replaces it
    TaskLoss,
    /// Lose one AZ of the primary until the drill heals it
    AzPowerInterruption,
    /// Lose the primary region; the edge fails over
    RegionLoss,
    /// Cut the regions from each other; replication stops and catches up after
    CrossRegionConnectivity,
    /// Release a failing image; it must roll back
    BadRelease,
    /// Add latency between the load balancer and the tasks
    DependencyLatency,
    /// Offer more load than the tasks hold; the service must scale out
    LoadSpike,
}

impl From<DrillScenario> for haven_spec::model::Scenario {
    fn from(s: DrillScenario) -> Self {
        use haven_spec::model::Scenario as S;
        match s {
            DrillScenario::TaskLoss => S::TaskLoss,
            DrillScenario::AzPowerInterruption => S::AzPowerInterruption,
            DrillScenario::RegionLoss => S::RegionLoss,
            DrillScenario::CrossRegionConnectivity => S::CrossRegionConnectivity,
            DrillScenario::BadRelease => S::BadRelease,
            DrillScenario::DependencyLatency => S::DependencyLatency,
            DrillScenario::LoadSpike => S::LoadSpike,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a parameter's value, read from stdin; each set is a new version
    ///
    /// On a terminal the value is asked for and not echoed; from a pipe, stdin is read to its
    /// end (one trailing newline removed).
    Set {
        /// The parameter, or a `service.secrets` variable standing for its parameter
        name: String,
    },
    /// List the parameters: name, version and last change, never a value
    ///
    /// The parameters the spec uses that are not set follow as warnings.
    #[command(visible_alias = "list")]
    Ls,
    /// Delete a parameter
    Rm {
        /// The parameter, or a `service.secrets` variable standing for its parameter
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum InternalCommand {
    /// Run a region process
    Region {
        /// The region to run
        region: String,
        /// Read the spec from FILE
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
    },
    /// Run the edge router process
    Edge {
        /// Read the spec from FILE
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
    },
    /// Run the pipeline process (CodePipeline and CodeCommit replication)
    Pipeline {
        /// Read the spec from FILE
        #[arg(long, value_name = "FILE")]
        spec: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// List the runs, newest first, with each stage's status
    #[command(visible_alias = "list")]
    Ls,
    /// Show one run: its commit, image and every stage with its time and message
    Show {
        /// The run's number
        run: u64,
    },
    /// Print a run's stage logs
    ///
    /// The Build stage's log includes the build's own.
    Logs {
        /// The run's number
        run: u64,
        /// Print this stage's log only
        #[arg(long)]
        stage: Option<String>,
        /// Keep printing as the run goes on, until it ends
        #[arg(short, long)]
        follow: bool,
    },
    /// Let a run waiting at its Approval stage through to Production
    ///
    /// Needs the control token, which only the state directory's owner can read.
    Approve {
        /// The run's number
        run: u64,
        /// Record this comment with the decision
        #[arg(long)]
        comment: Option<String>,
    },
    /// Stop a run waiting at its Approval stage; the run fails
    Reject {
        /// The run's number
        run: u64,
        /// Record this comment with the decision
        #[arg(long)]
        comment: Option<String>,
    },
    /// Run a failed stage of a failed run again; the run carries on from there
    Retry {
        /// The run's number
        run: u64,
        /// Run this stage again
        #[arg(long)]
        stage: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Print the primary repository's URL
    ///
    /// `git clone` it; a push to the spec's branch starts a pipeline run.
    Url,
}

#[derive(Debug, Subcommand)]
pub enum NetCommand {
    /// Say whether FROM can open a TCP connection to TO:PORT, and which route, network ACL rule
    /// or security group rule decides
    ///
    /// FROM and TO are `internet`, `alb`, `task`, `nat` or a subnet (`public-1`, `private-2`).
    /// The exit status is 0 when allowed, 1 when not, 2 for a place or port that is not one.
    Reach {
        /// Where the connection starts
        from: String,
        /// Where it goes and the port: `task:8080`
        #[arg(value_name = "TO:PORT")]
        to: String,
        /// Ask of this region's VPC [default: the primary's]
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Confirm the answer with a real connection on a throwaway copy of the region's VPC
        /// (network namespaces, routes and nftables; needs root)
        #[arg(long)]
        probe: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Package the current build as an image in the primary region's registry
    Build {
        /// Tag the image TAG [default: the build id's first 12 characters]
        #[arg(long)]
        tag: Option<String>,
        /// Bake an environment variable into the image, over the spec's (repeatable)
        #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
        env: Vec<(String, String)>,
    },
    /// List the images
    #[command(visible_alias = "list")]
    Ls,
    /// Show an image's manifest, config and layers
    Inspect {
        /// The image: a tag or digest
        reference: String,
    },
    /// Tag an image
    ///
    /// Refused for an existing tag when the registry's tags are immutable.
    Tag {
        /// The image: a tag or digest
        reference: String,
        /// The new tag
        tag: String,
    },
    /// Remove a tag, or an image by digest
    Rm {
        /// The tag, or the image's digest
        reference: String,
    },
    /// Scan an image for secrets and vulnerable dependencies
    ///
    /// Advisories come from `registry.advisory_db`; the exit status is 1 when a finding is at
    /// or above `registry.scan_fail_severity`.
    Scan {
        /// The image: a tag or digest
        reference: String,
    },
    /// Apply the spec's lifecycle rules to the primary's registry
    ///
    /// Images in use by the twin are never expired.
    Lifecycle {
        /// Show what would expire, and change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// What docker, podman and skopeo need to log in to the running twin's registries
    ///
    /// Each region's ECR twin speaks the OCI Distribution API on a loopback port, with ECR's
    /// login: user `AWS` and a password (a token kept in the state directory).
    Login {
        /// Show only this region's registry [default: every region's]
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Print only the password, as `aws ecr get-login-password` does, for a
        /// `--password-stdin` login
        #[arg(long)]
        password: bool,
    },
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not K=V"))
}

/// `--nat`: how many NAT gateways a region has, as the spec's `nat` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Nat {
    /// One NAT gateway in the first AZ
    Single,
    /// One NAT gateway per AZ
    PerAz,
}

impl From<Nat> for haven_spec::model::NatMode {
    fn from(n: Nat) -> Self {
        match n {
            Nat::Single => Self::Single,
            Nat::PerAz => Self::PerAz,
        }
    }
}

#[derive(Debug, Args)]
pub struct CostFlags {
    /// Price every task on ARM64 (Graviton)
    #[arg(long)]
    pub arm64: bool,
    /// Price staging's tasks on Fargate Spot
    #[arg(long)]
    pub spot_staging: bool,
    /// Price NAT gateways this way in every region, instead of each region's `nat`
    #[arg(long, value_enum)]
    pub nat: Option<Nat>,
    /// Assume GB a month through each region's NAT gateways
    #[arg(long, value_name = "GB")]
    pub nat_gb: Option<f64>,
    /// Assume GB of logs ingested a month per region
    #[arg(long, value_name = "GB")]
    pub log_gb: Option<f64>,
    /// Assume this many LCUs on average for a production ALB
    #[arg(long)]
    pub lcu: Option<f64>,
    /// Assume N pipeline runs (pushes) a month
    #[arg(long, value_name = "N")]
    pub builds_per_month: Option<u32>,
    /// Assume a build takes DURATION, e.g. `8m`
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub build_time: Option<Dur>,
    /// Assume one image is GB in size
    #[arg(long, value_name = "GB")]
    pub image_gb: Option<f64>,
    /// Assume N images kept in each registry
    #[arg(long, value_name = "N")]
    pub images: Option<u32>,
    /// Assume Fargate Spot is PERCENT cheaper than on-demand
    #[arg(long, value_name = "PERCENT")]
    pub spot_discount: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Show one metric's statistics, as GetMetricStatistics gives them
    ///
    /// Read from the region's metrics store, so it works whether or not the twin is running.
    Get(MetricsArgs),
}

/// `haven metrics get`'s arguments.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The namespace, e.g. `AWS/ECS`, `AWS/ApplicationELB`
    pub namespace: String,
    /// The metric, e.g. `CPUUtilization`, `RequestCount`
    pub metric: String,
    /// Select by a dimension, e.g. `ServiceName=hello-production` (repeatable)
    #[arg(long = "dim", value_name = "K=V", value_parser = parse_env)]
    pub dims: Vec<(String, String)>,
    /// Compute Average, Sum, Minimum, Maximum, SampleCount or pNN (repeatable) [default:
    /// Average]
    #[arg(long = "stat", value_name = "STAT")]
    pub stats: Vec<String>,
    /// Aggregate over periods of DURATION
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "60s")]
    pub period: Dur,
    /// Read the last DURATION
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "15m")]
    pub since: Dur,
    /// Read this region's metrics [default: the primary]
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AlarmCommand {
    /// List the spec's alarms on the running twin, with their states
    #[command(visible_alias = "list")]
    Ls,
    /// Show an alarm's state changes, newest first
    History {
        /// The alarm's name
        name: String,
        /// Read this region's alarm [default: the first region that has it]
        #[arg(long)]
        region: Option<String>,
    },
}

/// The flags every `haven aws` command takes; the others sit on the commands that use them.
#[derive(Debug, Args)]
#[command(next_display_order = 600)]
pub struct AwsFlags {
    /// Act on this region's stacks only (repeatable) [default: every region]
    #[arg(long = "region", global = true, value_name = "REGION")]
    pub regions: Vec<String>,
    /// Send every request to URL instead of AWS, e.g. an emulator such as moto
    ///
    /// AWS_ENDPOINT_URL works too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Use the templates `haven synth` wrote to DIR instead of synthesizing the spec
    #[arg(long, global = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `--yes`, for the commands that ask.
#[derive(Debug, Args)]
pub struct YesFlag {
    /// Go ahead without asking (required when stdin is not a terminal)
    #[arg(long)]
    pub yes: bool,
}

/// `--timeout`, for the commands that wait for stacks.
#[derive(Debug, Args)]
pub struct TimeoutFlag {
    /// Wait at most DURATION for one stack or change set [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub timeout: Option<Dur>,
}

/// `--parameter`, for the commands that make change sets.
#[derive(Debug, Args)]
pub struct ParameterFlag {
    /// Set a deploy-time stack parameter: ImageTag=TAG, CertificateArn=ARN (repeatable)
    #[arg(long = "parameter", value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
}

/// `--method`: how `haven aws deploy` applies changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum DeployMethod {
    /// Execute the change set that was shown (AWS's reviewed path)
    #[default]
    ChangeSet,
    /// Call CreateStack/UpdateStack with the same template and parameters (for emulators
    /// such as moto, which drop the outputs of change-set stacks)
    Direct,
}

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Show what deploy would change, stack by stack
    ///
    /// Through change sets, which are deleted afterwards.
    Diff {
        #[command(flatten)]
        parameters: ParameterFlag,
        #[command(flatten)]
        timeout: TimeoutFlag,
    },
    /// Show the changes, ask, then create or update every stack in order
    Deploy {
        #[command(flatten)]
        yes: YesFlag,
        /// Apply the changes this way
        #[arg(long, value_enum, default_value_t = DeployMethod::ChangeSet)]
        method: DeployMethod,
        /// Run the image tagged TAG in every service
        ///
        /// Without it, a service that exists keeps the image it runs (its live task
        /// definition's), and a new one gets the image of the project's git HEAD, which is
        /// built in AWS (the Build project, on `git archive HEAD`) when the repository lacks it.
        #[arg(long, value_name = "TAG")]
        image_tag: Option<String>,
        #[command(flatten)]
        parameters: ParameterFlag,
        #[command(flatten)]
        timeout: TimeoutFlag,
    },
    /// Show each stack's state and outputs
    Status,
    /// Check the live account against the spec, and say what differs
    ///
    /// Every stack complete and not drifted (CloudFormation drift detection; what ECS and
    /// Application Auto Scaling change on purpose, the desired count, the task definition and
    /// the blue/green weights, is not a difference), each ECS service at its desired count with
    /// its deployment complete, every target the traffic reaches healthy, no alarm in ALARM,
    /// the Route 53 health checks healthy, the running image in the repository its tasks pull
    /// from, every SSM parameter of `service.secrets` in every region, and SNS subscriptions
    /// confirmed (pending is a warning). Exits 0 when nothing failed, 1 otherwise.
    Verify,
    /// Send the traffic to REGION by inverting the other regions' Route 53 health checks
    ///
    /// The records are not edited: the other regions' health checks are inverted, so that
    /// Route 53 treats them as unhealthy and its failover records answer with REGION, as
    /// Application Recovery Controller's routing controls do. First REGION's capacity is
    /// checked: it must run as many healthy production tasks as the primary wants, unless
    /// --force. Running it again changes nothing; `haven aws failback` undoes it.
    Failover {
        /// Send the traffic to this region
        #[arg(long, value_name = "REGION")]
        to: String,
        #[command(flatten)]
        yes: YesFlag,
        /// Fail over even when REGION runs fewer healthy tasks than the primary wants
        #[arg(long)]
        force: bool,
    },
    /// Send the traffic back: un-invert every region's Route 53 health check
    ///
    /// Route 53 then answers as its health checks see the regions again: the primary while it
    /// is healthy. Running it again changes nothing.
    Failback {
        #[command(flatten)]
        yes: YesFlag,
    },
    /// Delete every stack, last deployed first
    Destroy {
        #[command(flatten)]
        yes: YesFlag,
        /// Empty the buckets haven created first, and delete the secrets
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        timeout: TimeoutFlag,
    },
    /// Manage secret values, stored as SSM SecureString parameters
    Secret {
        #[command(subcommand)]
        command: AwsSecretCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AwsSecretCommand {
    /// Store a secret's value, read from stdin, in every region
    ///
    /// On a terminal the value is asked for and not echoed; from a pipe, stdin is read to its
    /// end (one trailing newline removed).
    Set {
        /// A `service.secrets` variable, or its parameter
        name: String,
    },
}
