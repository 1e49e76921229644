//! The command line: every command and flag, with help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::printer::ColorChoice;

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

#[derive(Debug, Args)]
pub struct Global {
    /// Print data as JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// When to colour output; NO_COLOR is honoured by `auto`.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print no progress, only data and errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone)]
pub struct SpecArg {
    /// The spec file.
    #[arg(
        long,
        short = 's',
        default_value = "haven.toml",
        env = "HAVEN_SPEC",
        global = true
    )]
    pub spec: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a working project: a commented haven.toml and the example service.
    Init {
        /// Where to create the project.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite an existing haven.toml (other files are overwritten only with this too).
        #[arg(long)]
        force: bool,
    },
    /// Check a spec and report every problem at once (exit 0 valid, 1 invalid, 2 usage).
    Validate(SpecArg),
    /// Print the fully resolved spec, with every default filled in.
    Show(SpecArg),
    /// Run the spec's buildspec with the CodeBuild twin; the result becomes the current build.
    Build(SpecArg),
    /// The ECR twin: package builds as images, list, inspect, tag and remove them.
    Image {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Write CloudFormation for the whole architecture: per-region stacks, a global stack, a
    /// manifest, the generated buildspec and task definition.
    Synth {
        #[command(flatten)]
        spec: SpecArg,
        /// Where to write the templates.
        #[arg(long, short, default_value = "cloudformation")]
        out: PathBuf,
    },
    /// The monthly AWS cost of the spec, per region and line item.
    Cost {
        #[command(flatten)]
        spec: SpecArg,
        #[command(flatten)]
        args: CostFlags,
    },
    /// Deploy to AWS through change sets; status, destroy, secrets.
    Aws {
        #[command(flatten)]
        spec: SpecArg,
        #[command(flatten)]
        flags: AwsFlags,
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// The local SSM Parameter Store: secrets for the twin's tasks, builds and webhooks.
    Secret {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// Run the whole architecture on this machine: both regions, ALBs, tasks, edge router.
    Up(SpecArg),
    /// Stop a running twin: stop routing, drain, stop tasks.
    Down(SpecArg),
    /// Show the running twin: edge, regions, services, tasks.
    Status(SpecArg),
    /// Apply the spec file's changes to the running twin
    ///
    /// ALB access logs (`local.access_logs`) switch at once; other changes are listed for the
    /// next `haven up`; a spec that does not validate changes nothing. SIGHUP to `haven up`
    /// does the same.
    Reload(SpecArg),
    /// Release an image to the running twin (blue/green by default), region by region.
    Release {
        #[command(flatten)]
        spec: SpecArg,
        /// The image: a tag or digest in the registry (or a build id).
        image: String,
        /// Only this region (default: the primary, then each secondary).
        #[arg(long)]
        region: Option<String>,
        /// Override the spec's strategy.
        #[arg(long, value_parser = ["blue-green", "canary", "linear", "rolling"])]
        strategy: Option<String>,
        /// The environment to release to.
        #[arg(long, default_value = "production", value_parser = ["production", "staging"])]
        environment: String,
    },
    /// Return to the image before the last successful release.
    Rollback {
        #[command(flatten)]
        spec: SpecArg,
        #[arg(long)]
        region: Option<String>,
        #[arg(long, default_value = "production", value_parser = ["production", "staging"])]
        environment: String,
    },
    /// The release history with each step's time.
    Releases(SpecArg),
    /// The CloudWatch twin's metrics.
    Metrics {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: MetricsCommand,
    },
    /// The spec's alarms on the running twin, with their states; `history NAME` for one.
    Alarms {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: Option<AlarmsCommand>,
    },
    /// The CloudWatch Logs twin: the log groups, or a group's events merged by time.
    ///
    /// Groups, named as `haven synth` names them on AWS: `/haven/<project>/ecs/<service>`
    /// (tasks' stdout and stderr, a stream `<environment>/<container>/<task-id>` per task) and,
    /// in the primary, `/haven/<project>/codebuild/build`; twin only:
    /// `/haven/<project>/alb/<service>` (the ALB twin's access log; S3 on AWS) and
    /// `/haven/<project>/codepipeline` (in the primary). Read from the state directory, so it
    /// works whether or not the twin is running.
    Logs {
        #[command(flatten)]
        spec: SpecArg,
        /// The group, e.g. `/haven/hello/ecs/hello-production`; without it, every group is
        /// listed.
        group: Option<String>,
        /// Keep printing new events until Ctrl-C.
        #[arg(long, short)]
        follow: bool,
        /// Only events of the last D, e.g. `10m`, `1h`, `2d`.
        #[arg(long, value_name = "D")]
        since: Option<String>,
        /// Only events whose message contains PATTERN (case-sensitive).
        #[arg(long, value_name = "PATTERN")]
        grep: Option<String>,
        /// The region (default: the primary; without GROUP, every region).
        #[arg(long)]
        region: Option<String>,
    },
    /// The CodePipeline twin: runs from pushes, their stages and logs, approvals, retries.
    Pipeline {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: PipelineCommand,
    },
    /// The CodeCommit twin: where to push.
    Source {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// Disaster drills on the running twin.
    Chaos {
        #[command(flatten)]
        spec: SpecArg,
        #[command(subcommand)]
        command: ChaosCommand,
    },
    /// The twin's own processes (started by `haven up`).
    #[command(hide = true)]
    Internal {
        #[command(subcommand)]
        command: InternalCommand,
    },
    /// Print shell completions for SHELL.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ChaosCommand {
    /// SIGKILL one task (by id or prefix, or the first in an AZ); the service replaces it.
    KillTask {
        /// The region (default: the primary).
        #[arg(long)]
        region: Option<String>,
        /// Pick a task in this AZ.
        #[arg(long)]
        az: Option<String>,
        /// The task id or a prefix of it.
        task: Option<String>,
    },
    /// Lose an AZ: kill its tasks and keep it down until `haven chaos heal`.
    KillAz { region: String, az: String },
    /// SIGKILL a region's whole process group; it stays down until `haven chaos heal`.
    KillRegion { region: String },
    /// Bring back killed regions and AZs (all, or one region's).
    Heal { region: Option<String> },
}

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store NAME (a parameter, or a `service.secrets` variable) from stdin, not echoed; each
    /// set is a new version.
    Set { name: String },
    /// Name, version and last change of every parameter (never a value), and the spec's unset
    /// ones.
    Ls,
    /// Delete NAME.
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
pub enum InternalCommand {
    /// A region process.
    Region {
        region: String,
        #[arg(long)]
        spec: PathBuf,
    },
    /// The edge router process.
    Edge {
        #[arg(long)]
        spec: PathBuf,
    },
    /// The pipeline process (CodePipeline and CodeCommit replication).
    Pipeline {
        #[arg(long)]
        spec: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Runs, newest first, with each stage's status.
    Ls,
    /// One run: its commit, image and every stage with its time and message.
    Show { run: u64 },
    /// A run's stage logs (the Build stage's includes the build's log).
    Logs {
        run: u64,
        /// Only this stage.
        #[arg(long)]
        stage: Option<String>,
        /// Keep printing as the run goes on, until it ends.
        #[arg(short, long)]
        follow: bool,
    },
    /// Let a run waiting at its Approval stage through to Production (needs the control token).
    Approve {
        run: u64,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Stop a run waiting at its Approval stage; the run fails.
    Reject {
        run: u64,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Run a failed stage of a failed run again; the run carries on from there.
    Retry {
        run: u64,
        #[arg(long)]
        stage: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// The primary repository's URL: `git clone` it, push to the spec's branch to start a run.
    Url,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Package the current build as an image in the primary region's registry.
    Build {
        /// The tag (default: the build id's first 12 characters).
        #[arg(long)]
        tag: Option<String>,
        /// An environment variable baked into the image, over the spec's.
        #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
        env: Vec<(String, String)>,
    },
    /// List images.
    Ls,
    /// Show an image's manifest, config and layers.
    Inspect { reference: String },
    /// Tag an image (refused for an existing tag when tags are immutable).
    Tag { reference: String, tag: String },
    /// Remove a tag, or an image by digest.
    Rm { reference: String },
    /// Scan an image for secrets and vulnerable dependencies (`registry.advisory_db`); exit 1
    /// when a finding is at or above `registry.scan_fail_severity`.
    Scan { reference: String },
    /// Apply the spec's lifecycle rules to the primary's registry; images in use by the twin
    /// are never expired.
    Lifecycle {
        /// Show what would expire, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not K=V"))
}

#[derive(Debug, Args)]
pub struct CostFlags {
    /// Price every task on ARM64 (Graviton).
    #[arg(long)]
    pub arm64: bool,
    /// Price staging's tasks on Fargate Spot.
    #[arg(long)]
    pub spot_staging: bool,
    /// NAT gateways for every region, instead of each region's `nat`.
    #[arg(long, value_parser = ["single", "per-az"])]
    pub nat: Option<String>,
    /// GB a month through each region's NAT gateways.
    #[arg(long)]
    pub nat_gb: Option<f64>,
    /// GB of logs ingested a month per region.
    #[arg(long)]
    pub log_gb: Option<f64>,
    /// Average LCUs of a production ALB.
    #[arg(long)]
    pub lcu: Option<f64>,
    /// Pipeline runs (pushes) a month.
    #[arg(long)]
    pub builds_per_month: Option<u32>,
    /// Minutes a build takes.
    #[arg(long)]
    pub build_minutes: Option<f64>,
    /// Size of one image in GB.
    #[arg(long)]
    pub image_gb: Option<f64>,
    /// Images kept in each registry.
    #[arg(long)]
    pub images: Option<u32>,
    /// Fargate Spot discount in percent.
    #[arg(long)]
    pub spot_discount: Option<f64>,
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Statistics of one metric, as GetMetricStatistics gives them.
    Get {
        /// e.g. `AWS/ECS`, `AWS/ApplicationELB`.
        namespace: String,
        /// e.g. `CPUUtilization`, `RequestCount`.
        metric: String,
        /// A dimension, e.g. `ServiceName=hello-production`.
        #[arg(long = "dim", value_name = "K=V", value_parser = parse_env)]
        dims: Vec<(String, String)>,
        /// Average, Sum, Minimum, Maximum, SampleCount or pNN (repeatable).
        #[arg(long = "stat")]
        stats: Vec<String>,
        #[arg(long, default_value = "60s")]
        period: String,
        #[arg(long, default_value = "15m")]
        since: String,
        /// The region (default: the primary).
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlarmsCommand {
    /// An alarm's state changes, newest first.
    History {
        name: String,
        #[arg(long)]
        region: Option<String>,
    },
}

/// The flags of every `haven aws` command.
#[derive(Debug, Args)]
pub struct AwsFlags {
    /// Only this region's stacks (repeatable; default: every region).
    #[arg(long = "region", global = true, value_name = "REGION")]
    pub regions: Vec<String>,
    /// Send every request here instead of AWS (an emulator such as moto); AWS_ENDPOINT_URL works
    /// too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, global = true)]
    pub yes: bool,
    /// destroy: empty the buckets haven created first, and delete the secrets.
    #[arg(long, global = true)]
    pub force: bool,
    /// How deploy applies the changes it showed.
    #[arg(long, global = true, value_enum, default_value = "change-set")]
    pub method: crate::commands::aws::DeployMethod,
    /// Deploy the templates `haven synth` wrote to DIR instead of synthesizing the spec.
    #[arg(long, global = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A deploy-time stack parameter (repeatable): ImageTag=TAG, CertificateArn=ARN.
    #[arg(long = "parameter", global = true, value_name = "NAME=VALUE")]
    pub parameters: Vec<String>,
    /// Minutes to wait for one stack.
    #[arg(long, global = true, value_name = "MINUTES")]
    pub timeout: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Show what deploy would change, stack by stack (change sets, deleted afterwards).
    Diff,
    /// Show the changes, ask, then create or update every stack in order.
    Deploy,
    /// Each stack's state and outputs, the endpoints and the secrets.
    Status,
    /// Delete every stack, last deployed first.
    Destroy,
    /// Secret values, stored as SSM SecureString parameters.
    Secret {
        #[command(subcommand)]
        command: AwsSecretCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AwsSecretCommand {
    /// Store the value of NAME (a `service.secrets` variable or parameter), read from stdin.
    Set { name: String },
}
