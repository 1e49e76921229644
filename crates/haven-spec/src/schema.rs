//! The raw `haven.toml` schema: serde types, every key optional, unknown keys rejected.
//!
//! These are the only types that derive `Deserialize`. Enums, durations and CIDRs are plain
//! strings and numbers are `i64` here, so that validation (in `model`) can report every problem
//! at once with its key path and a hint, instead of serde stopping at the first. `Serialize`
//! writes a resolved spec back as a document (`haven show`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub project: Option<Project>,
    pub regions: Option<Vec<Region>>,
    pub service: Option<Service>,
    pub environments: Option<Environments>,
    pub registry: Option<Registry>,
    pub source: Option<Source>,
    pub build: Option<Build>,
    pub pipeline: Option<Pipeline>,
    pub monitoring: Option<Monitoring>,
    pub notifications: Option<Notifications>,
    pub routing: Option<Routing>,
    pub dr: Option<Dr>,
    pub network: Option<NetworkSection>,
    pub local: Option<Local>,
}

/// `[network]`: what users add to the network the seed needs.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub rules: Option<Vec<NetworkRule>>,
}

/// `[[network.rules]]`: one security group rule of the user's own.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRule {
    pub group: Option<String>,
    pub direction: Option<String>,
    pub ports: Option<String>,
    pub cidr: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    pub name: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub name: Option<String>,
    pub role: Option<String>,
    pub vpc_cidr: Option<String>,
    pub azs: Option<i64>,
    pub public_subnets: Option<Vec<String>>,
    pub private_subnets: Option<Vec<String>>,
    pub nat: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: Option<String>,
    pub command: Option<Vec<String>>,
    pub port: Option<i64>,
    pub environment: Option<BTreeMap<String, String>>,
    pub secrets: Option<BTreeMap<String, String>>,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    pub architecture: Option<String>,
    pub desired: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub read_only_root_filesystem: Option<bool>,
    pub stop_timeout: Option<String>,
    pub dockerfile: Option<String>,
    pub health_check: Option<HealthCheck>,
    pub load_balancer: Option<LoadBalancer>,
    pub scaling: Option<Scaling>,
    pub deployment: Option<Deployment>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub path: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub healthy_threshold: Option<i64>,
    pub unhealthy_threshold: Option<i64>,
    pub success_codes: Option<String>,
    pub grace_period: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    pub algorithm: Option<String>,
    pub deregistration_delay: Option<String>,
    pub idle_timeout: Option<String>,
    pub certificate_arn: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    pub cpu_target: Option<i64>,
    pub memory_target: Option<i64>,
    pub scale_out_cooldown: Option<String>,
    pub scale_in_cooldown: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub strategy: Option<String>,
    pub bake_time: Option<String>,
    pub canary_percent: Option<i64>,
    pub canary_bake_time: Option<String>,
    pub linear_step_percent: Option<i64>,
    pub linear_step_bake_time: Option<String>,
    pub test_listener: Option<bool>,
    pub rollback_on_alarm: Option<bool>,
    pub max_5xx_percent: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environments {
    pub staging: Option<Environment>,
    pub production: Option<Environment>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub enabled: Option<bool>,
    pub desired: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub cpu: Option<i64>,
    pub memory: Option<i64>,
    pub environment: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    pub scan_on_push: Option<bool>,
    pub immutable_tags: Option<bool>,
    pub encryption: Option<String>,
    pub replicate: Option<bool>,
    pub scan_fail_severity: Option<String>,
    pub advisory_db: Option<String>,
    pub lifecycle: Option<Vec<LifecycleRule>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRule {
    pub priority: Option<i64>,
    pub description: Option<String>,
    pub tag_status: Option<String>,
    pub tag_prefixes: Option<Vec<String>>,
    pub count_type: Option<String>,
    pub count: Option<i64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub provider: Option<String>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub protected_branches: Option<Vec<String>>,
    pub replicate: Option<bool>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    pub buildspec: Option<String>,
    pub directory: Option<String>,
    pub timeout: Option<String>,
    pub compute_type: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    pub execution_mode: Option<String>,
    pub staging: Option<bool>,
    pub approval: Option<Approval>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    pub enabled: Option<bool>,
    pub timeout: Option<String>,
    pub notify: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    pub log_retention_days: Option<i64>,
    pub dashboard: Option<bool>,
    pub notify: Option<String>,
    pub alarms: Option<Alarms>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Alarms {
    pub cpu: Option<Alarm>,
    pub memory: Option<Alarm>,
    pub http_5xx: Option<Alarm>,
    pub unhealthy_targets: Option<Alarm>,
    pub pipeline_failure: Option<Alarm>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    pub enabled: Option<bool>,
    pub threshold: Option<f64>,
    pub period: Option<String>,
    pub evaluation_periods: Option<i64>,
    pub datapoints_to_alarm: Option<i64>,
    pub missing_data: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    pub from: Option<String>,
    pub topics: Option<BTreeMap<String, Topic>>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub email: Option<Vec<String>>,
    pub webhooks: Option<Vec<String>>,
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    pub mode: Option<String>,
    pub health_check_interval: Option<String>,
    pub failure_threshold: Option<i64>,
    pub ttl: Option<i64>,
    pub domain: Option<String>,
    pub hosted_zone_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Dr {
    pub rto: Option<String>,
    pub rpo: Option<String>,
    pub rps: Option<i64>,
    pub path: Option<String>,
    pub hold: Option<String>,
    pub timeout: Option<String>,
    /// Keyed by scenario name; which names exist, and which keys a scenario takes, is checked
    /// when the model is resolved, so that the errors can name the scenario.
    pub scenarios: Option<BTreeMap<String, DrScenario>>,
}

/// Every key any scenario takes; the scenario-only ones are checked against the scenario.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DrScenario {
    pub rto: Option<String>,
    pub rpo: Option<String>,
    pub max_failed_requests: Option<i64>,
    pub max_p99: Option<String>,
    pub rps: Option<i64>,
    pub path: Option<String>,
    pub hold: Option<String>,
    pub timeout: Option<String>,
    pub rollback: Option<bool>,
    pub scale_out: Option<bool>,
    pub delay: Option<String>,
    pub jitter: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Local {
    pub state_dir: Option<String>,
    pub bind: Option<String>,
    pub edge_port: Option<i64>,
    pub alb_port_base: Option<i64>,
    pub dashboard_port: Option<i64>,
    pub smtp_relay: Option<String>,
    pub health_check_interval: Option<String>,
    pub health_check_timeout: Option<String>,
    pub healthy_threshold: Option<i64>,
    pub unhealthy_threshold: Option<i64>,
    pub deregistration_delay: Option<String>,
    pub stop_timeout: Option<String>,
    pub metrics_interval: Option<String>,
    pub scale_out_cooldown: Option<String>,
    pub scale_in_cooldown: Option<String>,
    pub bake_time: Option<String>,
    pub alarm_period: Option<String>,
    pub approval_timeout: Option<String>,
    pub edge_health_check_interval: Option<String>,
    pub edge_failure_threshold: Option<i64>,
    pub access_logs: Option<bool>,
    pub runtime: Option<String>,
    pub network: Option<String>,
}
