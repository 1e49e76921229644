//! What the control APIs take and answer: the twin's status (as `haven status --json` prints
//! it), chaos drills, releases and reloads. The processes that answer and the CLI that asks
//! share these types, states included; none reads the other's JSON by hand.

use haven_proxy::TargetState;
use haven_spec::model::{Role, RoutingMode, Strategy};
use serde::{Deserialize, Serialize};

haven_state::spelled! {
    /// A region process as the supervisor sees it.
    pub enum RegionState ("region state") {
        Running = "running",
        /// Stopped by `haven chaos kill-region` (or not started).
        Stopped = "stopped",
        /// Started, its control API not answering yet.
        Starting = "starting",
        /// Exited without being asked to; the supervisor restarts it.
        Crashed = "crashed",
    }
}

haven_state::spelled! {
    /// An ECS service's state: `FAILED` when the circuit breaker stopped launching tasks.
    pub enum ServiceState ("service state") {
        Active = "ACTIVE",
        Failed = "FAILED",
    }
}

haven_state::spelled! {
    /// How the twin builds images and runs tasks, as decided from `local.runtime` on this
    /// machine.
    pub enum Runtime ("runtime") {
        /// The Dockerfile built with buildah; tasks as OCI containers under their Fargate limits.
        Container = "container",
        /// The build's artifacts packaged as an image; tasks as host processes, no limits.
        Process = "process",
    }
}

haven_state::spelled! {
    /// Where the twin's traffic between the ALBs and the tasks flows (`local.network`).
    pub enum NetworkMode ("network mode") {
        /// Each region's VPC as network namespaces, its security groups and ACL enforced.
        Vpc = "vpc",
        /// The host's loopback, each task on a port of its own.
        Loopback = "loopback",
    }
}

/// The runtime in use and why it was chosen (`local.runtime`, or what `auto` found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeStatus {
    pub mode: Runtime,
    pub reason: String,
}

/// A task's Fargate size as enforced on its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLimits {
    /// CPU units (1024 = 1 vCPU), held as a CPU quota.
    pub cpu_units: u32,
    /// A hard memory limit; past it the kernel kills the task (`OutOfMemoryError`).
    pub memory_mib: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub project: String,
    pub supervisor_pid: u32,
    /// The supervisor's control API (it needs the state directory's token).
    pub control_url: String,
    /// The dashboard's page (`monitoring.dashboard`); `None` when it is turned off.
    #[serde(default)]
    pub dashboard_url: Option<String>,
    pub state_dir: String,
    pub edge: EdgeStatus,
    pub regions: Vec<RegionStatus>,
    /// Each region's repository (CodeCommit twin): heads of the protected branches and lag.
    #[serde(default)]
    pub source: Vec<SourceStatus>,
    /// The regions are cut from each other (`haven chaos partition`): nothing replicates
    /// between them until `haven chaos heal`.
    #[serde(default)]
    pub partitioned: bool,
    /// How tasks run (`local.runtime` as decided on this machine, and why).
    #[serde(default)]
    pub runtime: Option<RuntimeStatus>,
    /// Where the traffic flows (`local.network`).
    #[serde(default)]
    pub network_mode: Option<NetworkMode>,
    /// Why that network: the spec's choice, or what `auto` found.
    #[serde(default)]
    pub network_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeStatus {
    pub url: String,
    pub pid: Option<u32>,
    #[serde(with = "crate::wire")]
    pub mode: RoutingMode,
    /// Regions the edge sends traffic to right now.
    pub serving_regions: Vec<String>,
    pub regions: Vec<EdgeTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EdgeTarget {
    pub region: String,
    pub alb_url: String,
    /// The Route 53-style health of the region's ALB.
    #[serde(with = "crate::wire")]
    pub health: TargetState,
    pub priority: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionStatus {
    pub name: String,
    #[serde(with = "crate::wire")]
    pub role: Role,
    pub state: RegionState,
    pub pid: Option<u32>,
    /// The production ALB twin's URL.
    pub alb_url: String,
    /// The region's Prometheus endpoint (no token needed).
    #[serde(default)]
    pub metrics_url: String,
    /// Every production service has its desired count of healthy tasks.
    pub healthy: bool,
    pub impaired_azs: Vec<String>,
    pub services: Vec<ServiceStatus>,
    /// Network latency injected between the region's ALBs and its tasks (`haven chaos net`),
    /// until `haven chaos heal` or a restart of the region.
    #[serde(default)]
    pub latency: Option<Latency>,
    /// AZs whose subnets `haven chaos blackhole` cut (the VPC twin), until `haven chaos heal`.
    #[serde(default)]
    pub blackholed_azs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub environment: String,
    pub alb_url: String,
    /// The test listener: it reaches a release's green task set before production does.
    pub test_url: String,
    pub state: ServiceState,
    pub failure: Option<String>,
    pub image: String,
    pub desired: u32,
    /// Tasks whose process runs.
    pub running: u32,
    /// Tasks that pass the ALB's health checks.
    pub healthy: u32,
    pub min: u32,
    pub max: u32,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub scaling_activities: Vec<ScalingActivity>,
    pub tasks: Vec<TaskStatus>,
    pub events: Vec<String>,
    /// The ALB twin writes access logs (the spec's `local.access_logs`, or `haven reload`'s).
    #[serde(default)]
    pub access_logs: bool,
}

/// Switches a region's ALB access logs (`PUT /access-logs`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AccessLogs {
    pub enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScalingActivity {
    pub at_ms: u64,
    pub from: u32,
    pub to: u32,
    pub cause: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatus {
    pub id: String,
    pub az: String,
    pub pid: Option<u32>,
    pub address: String,
    /// The ALB target state (`draining` once the task is being stopped).
    #[serde(with = "crate::wire")]
    pub health: TargetState,
    /// ECS's lastStatus.
    pub status: haven_state::TaskStatus,
    pub image: String,
    /// The ECS task set: the primary's, or a release's green set.
    pub task_set: String,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    /// The digest of the image the task runs (what `image` resolved to when it started).
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub runtime: Option<Runtime>,
    /// The CPU and memory limits its container is held to; none for a host process.
    #[serde(default)]
    pub limits: Option<TaskLimits>,
}

/// `POST /chaos/kill-task` on a region.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KillTask {
    pub task: Option<String>,
    pub az: Option<String>,
    pub service: Option<String>,
}

/// `POST /chaos/latency` on a region: every request its ALBs forward to a task (in `az` only,
/// when given), and every health check of one, waits `delay_ms` ± a uniform `jitter_ms`. In
/// memory: a restart of the region ends it, as `POST /chaos/heal` does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Latency {
    pub delay_ms: u64,
    pub jitter_ms: u64,
    #[serde(default)]
    pub az: Option<String>,
}

/// `POST /chaos/kill-az` on a region.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KillAz {
    pub az: String,
}

/// `POST /chaos/blackhole` on a region: the AZ's subnets drop everything (the VPC twin only).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Blackhole {
    pub az: String,
}

/// Answer to `POST /reload`: what the running twin took from the spec file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadResult {
    /// Settings applied while running, as `key = value`.
    pub applied: Vec<String>,
    /// Settings changed in the spec that take effect only when the twin starts again.
    pub restart_needed: Vec<String>,
    /// Anything else to know, e.g. a region that was down and takes the file's values when
    /// it starts.
    pub notes: Vec<String>,
}

impl ReloadResult {
    /// One line for the terminal.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.applied.is_empty() {
            parts.push("nothing to apply".to_owned());
        } else {
            parts.push(format!("applied {}", self.applied.join(", ")));
        }
        if !self.restart_needed.is_empty() {
            parts.push(format!(
                "changed, applied at the next `haven up`: {}",
                self.restart_needed.join(", ")
            ));
        }
        parts.extend(self.notes.iter().cloned());
        parts.join("; ")
    }
}

/// Answer to chaos calls: what was done.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChaosResult {
    pub killed_tasks: Vec<String>,
    pub message: String,
}

/// `POST /chaos/kill-region` and `/chaos/heal` on the supervisor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegionTarget {
    pub region: Option<String>,
}

/// `POST /services/<name>/releases` on a region; no strategy takes the spec's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartRelease {
    pub image: String,
    #[serde(default, with = "crate::wire::optional")]
    pub strategy: Option<Strategy>,
}

/// Answer to [`StartRelease`]: the release's id, to follow at `GET /releases/<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseStarted {
    pub release: String,
}

/// One region's repository as `haven status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceStatus {
    pub region: String,
    #[serde(with = "crate::wire")]
    pub role: Role,
    /// The remote to clone from and push to (the primary's is where pushes go).
    pub url: String,
    pub branches: Vec<BranchStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BranchStatus {
    pub branch: String,
    pub commit: Option<String>,
    /// Whether this region's head equals the primary's.
    pub in_sync: bool,
    /// Replication lag in milliseconds (secondaries only): the last replication's when in
    /// sync, the time waited so far when not.
    pub lag_ms: Option<u64>,
}
