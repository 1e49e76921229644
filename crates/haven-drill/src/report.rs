//! What a drill run records: one [`Report`] per `haven drill run`, one [`Drill`] per scenario,
//! with the timeline, the events, the measured figures, the projected AWS figures and the
//! policy's verdicts. The engine writes it, the renderers and `haven drill show` read it.
//!
//! Times inside a drill are milliseconds since the drill's start (`t_ms`), so that the chart
//! and the tables need no clock; the drill's start is kept as epoch milliseconds.

use haven_metrics::StateValue;
use haven_notify::Protocol;
use haven_spec::model::Scenario;
use serde::{Deserialize, Serialize};

/// Format version of `report.json`, for readers of older runs.
pub const VERSION: u32 = 1;

/// One `haven drill run`: every drill it ran, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    /// The run's id: its start time and scenarios, e.g. `20261206-223015-region-loss`.
    pub id: String,
    pub project: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub finished_at: String,
    /// Every drill met its policy.
    pub passed: bool,
    pub drills: Vec<Drill>,
}

/// One scenario, run once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drill {
    pub scenario: Scenario,
    /// What was broken, e.g. `task 3f2a1c in us-east-1 (us-east-1a)`.
    pub target: String,
    /// The drill's start (load on), epoch milliseconds; every `t_ms` counts from here.
    pub started_at_ms: u64,
    /// When the fault was injected, the heal done, the drill over.
    pub fault_ms: u64,
    pub heal_ms: Option<u64>,
    pub end_ms: u64,
    /// The load the generator offered.
    pub load: LoadSummary,
    pub steady_before: SteadyState,
    pub steady_after: SteadyState,
    pub measured: Measured,
    /// What the same drill would take on AWS with the spec's cloud settings.
    pub projected: Vec<Projection>,
    /// The policy's checks, each passed or not.
    pub verdicts: Vec<Verdict>,
    pub passed: bool,
    /// One sample per [`Drill::sample_ms`].
    pub sample_ms: u64,
    pub timeline: Vec<Sample>,
    /// Everything that happened, in time order: the fault, detection, alarms,
    /// notifications, failover, recovery, the heal.
    pub events: Vec<Event>,
    pub alarms: Vec<AlarmChange>,
    pub notifications: Vec<Notification>,
    /// Anything the reader should know (what could not be measured, and why).
    pub notes: Vec<String>,
}

/// The load offered during a drill and what came of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// The URL requested (the edge's, or a region's ALB).
    pub url: String,
    /// Requests per second offered.
    pub rps: u32,
    pub sent: u64,
    pub ok: u64,
    /// Connection errors and 5xx answers.
    pub failed: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A steady-state check: the error rate and p99 over a short window without a fault.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SteadyState {
    pub requests: u64,
    pub failed: u64,
    pub error_percent: f64,
    pub p99_ms: f64,
    pub healthy_targets: u32,
    pub desired: u32,
    pub serving_regions: Vec<String>,
    pub passed: bool,
    /// Why it did not pass; empty when it did.
    pub reason: String,
}

/// The figures a drill measures. `None` when the drill has no such figure (a latency drill
/// has no RPO) or it could not be measured (then a note says why).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// From the fault to the first sign the system saw it.
    pub detect_ms: Option<u64>,
    /// What that first sign was.
    pub detected_by: Option<String>,
    /// From the fault to full service again (RTO).
    pub rto_ms: Option<u64>,
    /// Requests that failed from the fault to the end of the drill.
    pub failed_requests: u64,
    /// p99 latency from the fault to the end of the drill.
    pub p99_during_ms: f64,
    /// Data not yet in the secondaries when the fault started (or, for a partition, when
    /// it healed).
    pub rpo: Option<Rpo>,
    /// From the heal to the secondaries holding everything again.
    pub catch_up_ms: Option<u64>,
    /// For a release drill: whether it rolled back.
    pub rolled_back: Option<bool>,
    /// For a load drill: the desired count before and at its highest.
    pub scaled: Option<(u32, u32)>,
}

/// Data behind: what a region would lose if it had to serve alone at that moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rpo {
    /// Commits on the primary's protected branches not in every secondary.
    pub commits: u32,
    /// Images in the primary's registry not in every secondary's.
    pub images: u32,
    /// Age of the oldest of them (0 when nothing is behind): the data loss window.
    pub age_ms: u64,
    /// The same after the heal and catch-up; zero when replication caught up.
    pub after_catch_up: Option<Box<Rpo>>,
}

/// A figure the same drill would take on AWS, with how it is computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    pub figure: Figure,
    pub seconds: f64,
    /// The formula with the spec's values in it, e.g. `30 s × 3 + 60 s TTL = 150 s`.
    pub formula: String,
    /// The documents its values come from.
    pub sources: Vec<SourceRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    pub title: String,
    pub url: String,
}

/// One policy check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub check: Check,
    /// What the check is about when a check is made more than once, e.g. `us-west-2 image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The figure found, as text (`2.4 s`, `0`, `yes`).
    pub found: String,
    /// The limit or expectation, as text (`≤ 20m`, `0`, `yes`).
    pub limit: String,
    pub passed: bool,
}

/// Which figure a projection is; [`Figure::label`] is how the reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Figure {
    TimeToDetect,
    TimeToAlarm,
    /// The figure the policy holds to the RTO.
    Rto,
    TimeToRollBack,
    TimeToScaleOut,
    TimeToServeScaled,
    ScaleOutStep,
    ReplicationLag,
    CatchUp,
    AddedLatency,
    Drain,
    /// The seed's own estimate, beside the projection.
    SeedRto,
}

impl Figure {
    pub fn label(self) -> &'static str {
        match self {
            Figure::TimeToDetect => "time to detect",
            Figure::TimeToAlarm => "time to alarm",
            Figure::Rto => "RTO",
            Figure::TimeToRollBack => "time to roll back",
            Figure::TimeToScaleOut => "time to scale out",
            Figure::TimeToServeScaled => "time to serve on the added tasks",
            Figure::ScaleOutStep => "time between scale-out steps",
            Figure::ReplicationLag => "replication lag",
            Figure::CatchUp => "time to catch up",
            Figure::AddedLatency => "added latency",
            Figure::Drain => "time to drain the failed version",
            Figure::SeedRto => "RTO, the seed's estimate",
        }
    }
}

impl std::fmt::Display for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What a verdict checks; [`Check::label`] is how the reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    SteadyBefore,
    SteadyAfter,
    RtoTwin,
    RtoAws,
    Rpo,
    CaughtUp,
    FailedRequests,
    P99,
    RolledBack,
    ScaledOut,
    /// A secondary holds what it needs to serve alone (its subject says what).
    RunsAlone,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Check::SteadyBefore => "steady state before",
            Check::SteadyAfter => "steady state after",
            Check::RtoTwin => "RTO (twin)",
            Check::RtoAws => "RTO (AWS, projected)",
            Check::Rpo => "RPO",
            Check::CaughtUp => "caught up",
            Check::FailedRequests => "failed requests",
            Check::P99 => "p99",
            Check::RolledBack => "rolled back",
            Check::ScaledOut => "scaled out",
            Check::RunsAlone => "runs alone",
        }
    }
}

impl Verdict {
    /// The check as the reports name it, with its subject: `RTO (twin)`,
    /// `runs alone: us-west-2 image`.
    pub fn name(&self) -> String {
        match &self.subject {
            Some(s) => format!("{}: {s}", self.check.label()),
            None => self.check.label().to_owned(),
        }
    }
}

/// One point of the timeline: what the load saw and what the twin reported in one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The interval's start, since the drill's start.
    pub t_ms: u64,
    pub requests: u32,
    pub errors: u32,
    /// p99 latency of the interval's answered requests (0 when none).
    pub p99_ms: f64,
    /// Healthy targets of the production services, over every region.
    pub healthy_targets: u32,
    pub serving_regions: Vec<String>,
}

/// Something that happened during a drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub t_ms: u64,
    pub kind: EventKind,
    pub text: String,
}

/// What kind of thing happened; the chart marks each kind its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The fault was injected.
    Fault,
    /// The first sign the system saw it.
    Detected,
    /// The edge changed the regions it serves.
    Failover,
    /// An alarm changed state.
    Alarm,
    /// A notification reached (or failed to reach) a subscriber.
    Notification,
    /// A release moved (started, rolled back, completed).
    Release,
    /// The desired count changed.
    Scaling,
    /// Full service again.
    Recovered,
    /// The fault was undone.
    Healed,
    /// Replication caught up after a partition.
    CaughtUp,
}

/// An alarm's state change during a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlarmChange {
    pub t_ms: u64,
    pub region: String,
    pub alarm: String,
    pub from: StateValue,
    pub to: StateValue,
}

/// A notification the SNS twin sent during a drill, and whether it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// When it was published.
    pub t_ms: u64,
    pub subject: String,
    pub protocol: Protocol,
    pub endpoint: String,
    pub delivered: bool,
    /// When it was delivered, since the drill's start.
    pub delivered_ms: Option<u64>,
    /// The last error, when not delivered.
    pub error: Option<String>,
}
