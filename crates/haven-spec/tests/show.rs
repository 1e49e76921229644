//! `haven show`'s text (`Spec::to_toml`) is a spec: it validates and resolves to the same model,
//! and showing that again prints the same text.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use haven_spec::{LoadError, Spec, load_str};

/// A spec that sets nearly every key to something other than its default.
const MANY_KEYS: &str = r#"
[project]
name = "shop-api"
tags = { team = "payments", "cost center" = "42" }

[[regions]]
name = "eu-west-1"
role = "secondary"
vpc_cidr = "10.20.0.0/16"
azs = 3
public_subnets = ["10.20.0.0/24", "10.20.1.0/24", "10.20.2.0/24"]
private_subnets = ["10.20.100.0/24", "10.20.101.0/24", "10.20.102.0/24"]
nat = "per-az"

[[regions]]
name = "eu-central-1"
role = "primary"
vpc_cidr = "10.30.0.0/20"
public_subnets = ["10.30.0.0/24", "10.30.1.0/24"]
private_subnets = ["10.30.8.0/24", "10.30.9.0/24"]

[[regions]]
name = "us-east-2"
vpc_cidr = "10.40.0.0/16"

[service]
name = "api"
command = ["bin/api", "--port", "$PORT", "with \"quotes\" and # hash"]
port = 9000
environment = { RUST_LOG = "debug", MODE = "live" }
secrets = { DB_PASSWORD = "/shop/db-password", API_KEY = "shop-key" }
cpu = 1024
memory = 3072
architecture = "arm64"
desired = 3
min = 2
max = 6
read_only_root_filesystem = false
stop_timeout = "45s"

[service.health_check]
path = "/ready?deep=1"
interval = "15s"
timeout = "3s"
healthy_threshold = 3
unhealthy_threshold = 4
success_codes = "200-204,302"
grace_period = "90s"

[service.load_balancer]
algorithm = "least_outstanding_requests"
deregistration_delay = "45s"
idle_timeout = "2m"
certificate_arn = "arn:aws:acm:eu-central-1:123456789012:certificate/abc"

[service.scaling]
cpu_target = 55
memory_target = 65
scale_out_cooldown = "90s"
scale_in_cooldown = "10m"

[service.deployment]
strategy = "canary"
bake_time = "10m"
canary_percent = 25
canary_bake_time = "3m"
linear_step_percent = 20
linear_step_bake_time = "2m"
test_listener = false
rollback_on_alarm = false
max_5xx_percent = 5

[environments.staging]
enabled = false

[environments.production]
desired = 4
min = 3
max = 8
cpu = 2048
memory = 4096
environment = { MODE = "production" }

[registry]
scan_on_push = false
immutable_tags = false
encryption = "aes256"
replicate = false
scan_fail_severity = "critical"
advisory_db = "vendor/advisory-db"

[[registry.lifecycle]]
priority = 5
description = "Keep releases"
tag_status = "tagged"
tag_prefixes = ["v", "release-"]
count_type = "image_count_more_than"
count = 100

[[registry.lifecycle]]
priority = 9
tag_status = "any"
count_type = "since_image_pushed"
count = 90

[source]
repository = "shop.api"
branch = "trunk"
protected_branches = ["trunk", "release/1.x"]
replicate = false

[build]
directory = "app"
buildspec = "ci/buildspec.yml"
timeout = "90m"
compute_type = "BUILD_GENERAL1_LARGE"
image = "aws/codebuild/amazonlinux-aarch64-standard:3.0"

[pipeline]
execution_mode = "queued"
staging = false

[pipeline.approval]
enabled = false
timeout = "2h"
notify = "oncall"

[monitoring]
log_retention_days = 30
dashboard = false
notify = "oncall"

[monitoring.alarms.cpu]
threshold = 90.5
period = "30s"
evaluation_periods = 5
datapoints_to_alarm = 3
missing_data = "breaching"

[monitoring.alarms.memory]
enabled = false

[monitoring.alarms.http_5xx]
threshold = 0
period = "5m"
missing_data = "ignore"

[notifications]
from = "alerts@shop.example"

[notifications.topics.oncall]
email = ["ops@shop.example", "lead@shop.example"]
webhooks = ["https://hooks.shop.example/haven"]
webhook_secret = "/shop/webhook-key"

[notifications.topics.team_updates]
webhooks = ["http://127.0.0.1:9999/hook"]

[routing]
mode = "active-active"
health_check_interval = "10s"
failure_threshold = 5
ttl = 30
domain = "api.shop.example"
hosted_zone_id = "Z0123456789ABCDEFGHIJ"

[dr]
rto = "15m"
rpo = "0ms"
rps = 80
path = "/health?deep=1"
hold = "10s"
timeout = "2m"

[dr.scenarios.task-loss]
rto = "30s"
max_failed_requests = 3
max_p99 = "750ms"

[dr.scenarios.bad-release]
rollback = false
image = "v2-broken"
timeout = "5m"

[dr.scenarios.dependency-latency]
delay = "1s"
jitter = "100ms"
hold = "30s"

[dr.scenarios.load-spike]
rps = 1000
path = "/work?ms=5"
scale_out = false

[local]
state_dir = "var/twin"
bind = "0.0.0.0"
edge_port = 0
alb_port_base = 5001
dashboard_port = 5100
smtp_relay = "127.0.0.1:2525"
health_check_interval = "250ms"
health_check_timeout = "100ms"
healthy_threshold = 3
unhealthy_threshold = 3
deregistration_delay = "0ms"
stop_timeout = "2s"
metrics_interval = "500ms"
scale_out_cooldown = "1s"
scale_in_cooldown = "2s"
bake_time = "1s"
alarm_period = "2s"
approval_timeout = "10m"
edge_health_check_interval = "300ms"
edge_failure_threshold = 4
access_logs = false
"#;

/// Loads spec text as `haven.toml` in `root`; every problem fails the test, warnings are
/// returned.
fn load(text: &str, root: &Path) -> (Spec, Vec<String>) {
    match load_str(text, Path::new("haven.toml"), root) {
        Ok(loaded) => (
            loaded.spec,
            loaded.warnings.iter().map(|d| d.code.to_owned()).collect(),
        ),
        Err(LoadError::Invalid(d)) => panic!("invalid:\n{d}\n---\n{text}"),
        Err(e) => panic!("{e}"),
    }
}

/// Shows the spec `text` loads to, loads what was shown and checks it is the same model with
/// the same warnings, and that showing it again prints the same text. Returns the text shown.
#[track_caller]
fn round_trip(text: &str, root: &Path) -> String {
    let (spec, warnings) = load(text, root);
    let shown = spec.to_toml().unwrap();
    let (again, again_warnings) = load(&shown, root);
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&spec).unwrap(),
        "the shown spec resolves to another model:\n{shown}"
    );
    assert_eq!(again_warnings, warnings, "{shown}");
    assert_eq!(again.to_toml().unwrap(), shown, "showing is not stable");
    shown
}

#[test]
fn the_bundled_example_round_trips() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello/haven.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let shown = round_trip(&text, example.parent().unwrap());
    insta::assert_snapshot!("example_shown", shown);
}

#[test]
fn specs_setting_many_keys_or_none_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app/ci")).unwrap();
    std::fs::write(dir.path().join("app/ci/buildspec.yml"), "version: 0.2\n").unwrap();
    std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();

    let shown = round_trip(MANY_KEYS, dir.path());
    // Derived values are comments, not keys.
    assert!(
        shown.contains("azs = 3  # eu-west-1a, eu-west-1b, eu-west-1c\n"),
        "{shown}"
    );
    assert!(
        shown.contains("# Stages, in order: Source, Build, Production.\n[pipeline]\n"),
        "{shown}"
    );
    assert!(
        shown.contains("tags = { \"cost center\" = \"42\", team = \"payments\" }\n"),
        "{shown}"
    );
    // Scenarios show [dr]'s values they inherit, and only the keys they take.
    assert!(
        shown.contains("[dr.scenarios.region-loss]\nrto = \"15m\"\nrpo = \"0ms\"\nmax_failed_requests = 0\nrps = 80\n"),
        "{shown}"
    );
    assert!(shown.contains("max_p99 = \"750ms\"\nrps = 80\n"), "{shown}");

    let minimal = "[project]\nname = \"x\"\n[service]\ncommand = [\"x\"]\n";
    round_trip(minimal, dir.path());
    // No lifecycle rule at all is not the default rules.
    let shown = round_trip(
        &format!("{minimal}[registry]\nlifecycle = []\n"),
        dir.path(),
    );
    assert!(shown.contains("lifecycle = []\n"), "{shown}");
}
