//! Every validation rule, as a table: a bad spec and the diagnostics it must produce.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use haven_spec::{LoadError, load_str};

const BASE: &str = r#"
[project]
name = "hello"

[service]
command = ["bin/hello"]

[notifications.topics.alerts]
email = ["ops@example.com"]
"#;

/// Loads `text` in a directory holding a buildspec, returning one compact line per
/// diagnostic: `line:col key [code] message | hint`.
fn diagnostics(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
    let file = dir.path().join("haven.toml");
    match load_str(text, Path::new("haven.toml"), dir.path()) {
        Ok(loaded) => loaded.warnings.iter().map(compact).collect(),
        Err(LoadError::Invalid(d)) => d.iter().map(compact).collect(),
        Err(e) => panic!("unexpected error for {}: {e}", file.display()),
    }
}

fn compact(d: &haven_spec::Diagnostic) -> String {
    let at = match (d.line, d.column) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        _ => "-".into(),
    };
    let hint = d
        .hint
        .as_deref()
        .map(|h| format!(" | {h}"))
        .unwrap_or_default();
    format!("{at} {} [{}] {}{hint}", d.key, d.code, d.message)
}

/// `BASE` plus `extra` must produce diagnostics whose lines contain each of `expect`, in order.
#[track_caller]
fn check(extra: &str, expect: &[&str]) {
    let text = format!("{BASE}{extra}");
    let got = diagnostics(&text);
    assert_eq!(
        got.len(),
        expect.len(),
        "for:\n{extra}\ngot:\n{}",
        got.join("\n")
    );
    for (g, e) in got.iter().zip(expect) {
        assert!(
            g.contains(e),
            "expected `{e}` in\n{g}\nall:\n{}",
            got.join("\n")
        );
    }
}

#[test]
fn base_spec_is_valid() {
    check("", &[]);
}

#[test]
fn syntax_errors() {
    check(
        "[service\n",
        &["10:9  [syntax] invalid TOML: unclosed table, expected `]`"],
    );
    check("x = \n", &["[syntax] invalid TOML"]);
}

#[test]
fn unknown_keys_suggest_the_closest() {
    check(
        "[service.helth_check]\npath = \"/\"\n",
        &[
            "10:10 service.helth_check [unknown-key] unknown key `helth_check` in `service` | did you mean `health_check`?",
        ],
    );
    check(
        "[regoins]\n",
        &["unknown key `regoins` | did you mean `regions`?"],
    );
    check(
        "[local]\nedge_prot = 1\nhealth_chek_interval = \"1s\"\n",
        &[
            "11:1 local.edge_prot [unknown-key] unknown key `edge_prot` in `local` | did you mean `edge_port`?",
            "12:1 local.health_chek_interval [unknown-key] unknown key `health_chek_interval` in `local` | did you mean `health_check_interval`?",
        ],
    );
    check(
        "[routing]\nzzz = 1\n",
        &["unknown key `zzz` in `routing` | routing accepts `mode`"],
    );
}

#[test]
fn wrong_types_are_all_reported_with_semantic_errors() {
    check(
        "[routing]\nttl = \"sixty\"\nfailure_threshold = 99\n",
        &[
            "routing.ttl [wrong-type] wrong type: found string \"sixty\", expected an integer",
            "routing.failure_threshold [out-of-range] a failure threshold must be from 1 to 10, not 99",
        ],
    );
    // Unknown keys and wrong types together, each where it stands, with the rules that still
    // apply to the rest.
    check(
        "[service.scaling]\ncpu_target = \"70%\"\nmemory_targte = 70\n[[regions]]\nname = \"us-east-1\"\nazs = [2]\npublic_subnets = [\"10.0.1.0/24\", 2]\nrole = \"primry\"\n[local]\naccess_logs = \"yes\"\n",
        &[
            "11:14 service.scaling.cpu_target [wrong-type] wrong type: found string \"70%\", expected an integer",
            "12:1 service.scaling.memory_targte [unknown-key] unknown key `memory_targte` in `service.scaling` | did you mean `memory_target`?",
            "15:7 regions[0].azs [wrong-type] wrong type: found an array, expected an integer",
            "16:18 regions[0].public_subnets [subnet-count] 1 subnets for 2 availability zones",
            "16:34 regions[0].public_subnets[1] [wrong-type] wrong type: found integer 2, expected a string",
            "17:8 regions[0].role [unknown-value] `primry` is not a valid value",
            "19:15 local.access_logs [wrong-type] wrong type: found string \"yes\", expected `true` or `false`",
        ],
    );
}

#[test]
fn thousands_of_problems_are_all_reported() {
    let extra: String = (0..3000).map(|i| format!("key{i} = {i}\n")).collect();
    let got = diagnostics(&format!("{BASE}[service.health_check]\n{extra}"));
    assert_eq!(got.len(), 3000, "{:#?}", &got[..3]);
    assert!(
        got[2999].contains("service.health_check.key2999 [unknown-key] unknown key `key2999`"),
        "{}",
        got[2999]
    );
}

#[test]
fn regions() {
    let region = |name: &str, role: &str, cidr: &str| {
        format!("[[regions]]\nname = \"{name}\"\nrole = \"{role}\"\nvpc_cidr = \"{cidr}\"\n")
    };
    check(
        &format!(
            "{}{}",
            region("us-east-1", "primary", "10.0.0/16"),
            region("us-west-2", "secondary", "10.1.0.0/16")
        ),
        &["regions[0].vpc_cidr [bad-cidr] `10.0.0` is not an IPv4 address"],
    );
    check(
        &format!(
            "{}{}",
            region("us-east-1", "primary", "10.0.0.0/16"),
            region("us-west-2", "secondary", "10.0.128.0/17")
        ),
        &[
            "regions[1].vpc_cidr [cidr-overlap] VPC 10.0.128.0/17 of us-west-2 overlaps VPC 10.0.0.0/16 of us-east-1",
        ],
    );
    check(
        &format!(
            "{}{}",
            region("us-east-1", "primary", "10.0.0.0/16"),
            region("us-west-2", "primary", "10.1.0.0/16")
        ),
        &["regions [primary-count] exactly one region must be primary, found 2"],
    );
    check(
        &format!(
            "{}{}",
            region("us-east-1", "secondary", "10.0.0.0/16"),
            region("us-west-2", "secondary", "10.1.0.0/16")
        ),
        &["exactly one region must be primary, found 0"],
    );
    check(
        &format!(
            "{}{}",
            region("us-east-1", "primary", "10.0.0.0/16"),
            region("us-wst-2", "secondary", "10.1.0.0/16")
        ),
        &[
            "regions[1].name [unknown-region] `us-wst-2` is not an AWS region | did you mean `us-west-2`?",
        ],
    );
    check(
        &format!("{}azs = 1\n", region("us-east-1", "primary", "10.0.0.0/16")),
        &[
            "regions[0].azs [too-few-azs] 1 availability zone cannot survive the loss of one | the architecture's high availability depends on at least 2 AZs",
        ],
    );
    check(
        &format!(
            "{}role = \"primry\"\n",
            "[[regions]]\nname = \"us-east-1\"\n"
        ),
        &[
            "regions[0].role [unknown-value] `primry` is not a valid value | did you mean `primary`?",
        ],
    );
    check(
        &format!(
            "{}public_subnets = [\"10.0.1.0/24\", \"10.9.2.0/24\"]\nprivate_subnets = [\"10.0.11.0/24\", \"10.0.11.128/25\"]\n",
            region("us-east-1", "primary", "10.0.0.0/16")
        ),
        &[
            "regions[0].public_subnets[1] [subnet-outside-vpc] subnet 10.9.2.0/24 is outside the region's VPC 10.0.0.0/16",
            "regions[0].private_subnets[1] [cidr-overlap] subnet 10.0.11.128/25 overlaps subnet 10.0.11.0/24 (regions[0].private_subnets[0])",
        ],
    );
    check(
        &format!(
            "{}public_subnets = [\"10.0.1.0/24\"]\n",
            region("us-east-1", "primary", "10.0.0.0/16")
        ),
        &["regions[0].public_subnets [subnet-count] 1 subnets for 2 availability zones"],
    );
}

#[test]
fn task_counts_and_sizes() {
    let service = |extra: &str| BASE.replace("[service]\n", &format!("[service]\n{extra}\n"));
    let check_service = |extra: &str, expect: &[&str]| {
        let got = diagnostics(&service(extra));
        assert_eq!(got.len(), expect.len(), "{extra}: {got:#?}");
        for (g, e) in got.iter().zip(expect) {
            assert!(g.contains(e), "expected `{e}` in `{g}`");
        }
    };
    check_service(
        "min = 3\ndesired = 2",
        &["service.desired [task-counts] desired (2) is below min (3)"],
    );
    check_service(
        "desired = 11",
        &["service.desired [task-counts] desired (11) is above max (10)"],
    );
    check_service(
        "min = 0\ndesired = 0",
        &["service.min [task-counts] min must be at least 1"],
    );
    check_service(
        "port = 70000",
        &["service.port [out-of-range] a port must be from 1 to 65535, not 70000"],
    );
    check_service("port = 0", &["a port must be from 1 to 65535, not 0"]);
    check_service(
        "cpu = 300",
        &["service.cpu [fargate-size] 300 is not a Fargate CPU size"],
    );
    check_service(
        "cpu = 256\nmemory = 4096",
        &[
            "service.memory [fargate-size] 4096 MiB is not a Fargate memory size for 256 CPU units | with cpu = 256, memory is 512, 1024, 2048",
        ],
    );
    check_service(
        "secrets = { DB = \"/aws/db\", \"bad name\" = \"/x/y\" }",
        &[
            "service.secrets.DB [bad-ssm-name] SSM parameter name `/aws/db` starts with `aws`",
            "service.secrets.\"bad name\" [bad-env-name] `bad name` is not a valid environment variable name",
        ],
    );
    check_service(
        "secrets = { DB = \"db/password\" }",
        &["is hierarchical but does not start with `/`"],
    );
    check_service(
        "environment = { PORT = \"1\" }",
        &["service.environment.PORT [reserved-env]"],
    );
    let empty = diagnostics(&BASE.replace("command = [\"bin/hello\"]", "command = []"));
    assert_eq!(empty.len(), 1, "{empty:#?}");
    assert!(empty[0].contains("service.command [empty-command] the command is empty"));
}

#[test]
fn percentages_and_health_checks() {
    check(
        "[service.scaling]\ncpu_target = 0\nmemory_target = 101\n",
        &[
            "service.scaling.cpu_target [out-of-range] a percentage must be from 1 to 100, not 0",
            "service.scaling.memory_target [out-of-range] a percentage must be from 1 to 100, not 101",
        ],
    );
    check(
        "[monitoring.alarms.cpu]\nthreshold = 120\n",
        &[
            "monitoring.alarms.cpu.threshold [out-of-range] a percentage must be from 1 to 100, not 120",
        ],
    );
    check(
        "[service.health_check]\ninterval = \"10s\"\ntimeout = \"10s\"\n",
        &[
            "service.health_check.timeout [timeout-interval] the timeout (10s) must be shorter than the interval (10s)",
        ],
    );
    check(
        "[service.health_check]\nhealthy_threshold = 1\nunhealthy_threshold = 11\n",
        &[
            "service.health_check.healthy_threshold [out-of-range] a threshold must be from 2 to 10, not 1",
            "service.health_check.unhealthy_threshold [out-of-range] a threshold must be from 2 to 10, not 11",
        ],
    );
    check(
        "[service.health_check]\ninterval = \"2s\"\n",
        &["service.health_check.interval [out-of-range] `2s` is outside 5s..=5m"],
    );
    check(
        "[service.health_check]\ninterval = \"30\"\n",
        &["[bad-duration] `30` has no unit | write a number and a unit"],
    );
    check(
        "[service.health_check]\nsuccess_codes = \"200-199\"\npath = \"health\"\n",
        &[
            "service.health_check.success_codes [bad-matcher]",
            "service.health_check.path [bad-path] `health` is not a URL path",
        ],
    );
    check(
        "[service.deployment]\nstrategy = \"bluegreen\"\nbake_time = \"90s\"\n",
        &[
            "service.deployment.strategy [unknown-value] `bluegreen` is not a valid value | did you mean `blue-green`?",
            "service.deployment.bake_time [bad-duration] `90s` is not a whole number of minutes",
        ],
    );
}

#[test]
fn notifications_and_monitoring() {
    check(
        "[notifications.topics.oncall]\nemail = [\"ops@@example\", \"a@b.co\"]\nwebhooks = [\"ftp://x\"]\n",
        &[
            "notifications.topics.oncall.email[0] [bad-email] `ops@@example` is not a valid e-mail address",
            "notifications.topics.oncall.webhooks[0] [bad-url]",
        ],
    );
    check(
        "[notifications.topics.empty]\n",
        &["notifications.topics.empty [no-subscription] topic `empty` has no subscription"],
    );
    check(
        "[monitoring]\nnotify = \"alert\"\nlog_retention_days = 31\n",
        &[
            "monitoring.notify [unknown-topic] no topic named `alert` | did you mean `alerts`?",
            "monitoring.log_retention_days [log-retention] 31 days is not a CloudWatch Logs retention period | the nearest allowed value is 30",
        ],
    );
    check(
        "[monitoring.alarms.http_5xx]\nevaluation_periods = 2\ndatapoints_to_alarm = 3\nperiod = \"45s\"\n",
        &[
            "monitoring.alarms.http_5xx.datapoints_to_alarm [alarm-datapoints] 3 datapoints out of 2 evaluation periods",
            "monitoring.alarms.http_5xx.period [alarm-period] 45s is not a CloudWatch alarm period",
        ],
    );
}

#[test]
fn registry_source_pipeline_routing() {
    check(
        "[[registry.lifecycle]]\npriority = 1\ntag_status = \"any\"\ncount = 5\n[[registry.lifecycle]]\npriority = 1\ntag_status = \"tagged\"\ncount = 3\n",
        &[
            "registry.lifecycle[1].tag_prefixes [lifecycle-prefixes] a `tagged` rule needs tag prefixes",
            "registry.lifecycle[1].priority [lifecycle-priority] priority 1 is used by rule 0 too",
        ],
    );
    check(
        "[source]\nbranch = \"ma in\"\nprotected_branches = [\"main\", \"-x\"]\n",
        &[
            "source.branch [bad-branch] `ma in` is not a valid git branch name",
            "source.protected_branches[1] [bad-branch] `-x` is not a valid git branch name",
        ],
    );
    check(
        "[environments.staging]\nenabled = false\n",
        &["pipeline.staging [staging-disabled]"],
    );
    check(
        "[routing]\nhealth_check_interval = \"20s\"\ndomain = \"app.example.com\"\n",
        &[
            "routing.hosted_zone_id [routing-zone] a domain and a hosted zone go together",
            "routing.health_check_interval [out-of-range] Route 53 checks every 10s or 30s, not 20s",
        ],
    );
    check(
        "[local]\nbind = \"localhost\"\n",
        &["local.bind [bad-address] `localhost` is not an IP address"],
    );
    check(
        "[local]\nbind = \"0.0.0.0\"\n",
        &["local.bind [public-bind] the twin will listen on 0.0.0.0"],
    );
}

#[test]
fn project_and_build() {
    let text = "[project]\nname = \"Hello_World\"\n[service]\ncommand = [\"x\"]\n[notifications.topics.alerts]\nemail = [\"a@b.co\"]\n";
    let got = diagnostics(text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].contains("project.name [bad-name] `Hello_World` is not a valid name"));

    let got = diagnostics("[service]\ncommand = [\"x\"]\n[build]\nbuildspec = \"missing.yml\"\n");
    assert!(
        got.iter()
            .any(|g| g.contains("- project.name [missing-key] the project has no name")),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|g| g.contains("build.buildspec [missing-file] buildspec `")
                && g.contains("missing.yml` does not exist")),
        "{got:#?}"
    );
}

#[test]
fn rendered_report_snapshot() {
    let text = "[project]\nname = \"hello\"\n\n[service]\ncommand = [\"bin/hello\"]\nport = 99999\n\n[service.helth_check]\npath = \"/\"\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
    let Err(LoadError::Invalid(d)) = load_str(text, Path::new("haven.toml"), dir.path()) else {
        panic!("spec should be invalid");
    };
    insta::assert_snapshot!(d.to_string());
}

#[test]
fn drill_policy() {
    check(
        "[dr]\nrps = 0\npath = \"work\"\nhold = \"2m\"\ntimeout = \"1m\"\n",
        &[
            "dr.rps [out-of-range] requests per second must be from 1 to 5000, not 0 | the drills' load generator offers 1 to 5000 requests per second",
            "dr.path [bad-path] `work` is not a path to request",
            "dr.timeout [drill-timeout] the timeout (1m) must be longer than the hold (2m)",
        ],
    );
    check(
        "[dr.scenarios.task-los]\nrto = \"1m\"\n[dr.scenarios.zzz]\n",
        &[
            "dr.scenarios.task-los [unknown-scenario] `task-los` is not a drill scenario | did you mean `task-loss`? (one of `task-loss`, `az-power-interruption`, `region-loss`, `cross-region-connectivity`, `bad-release`, `dependency-latency`, `load-spike`)",
            "dr.scenarios.zzz [unknown-scenario] `zzz` is not a drill scenario | one of `task-loss`",
        ],
    );
    check(
        "[dr.scenarios.task-loss]\nrollback = false\nimage = \"v2\"\nscale_out = true\ndelay = \"1s\"\njitter = \"1ms\"\nrolback = true\n",
        &[
            "dr.scenarios.task-loss.rollback [scenario-key] only `bad-release` takes `rollback` | set it under [dr.scenarios.bad-release]",
            "dr.scenarios.task-loss.image [scenario-key] only `bad-release` takes `image`",
            "dr.scenarios.task-loss.scale_out [scenario-key] only `load-spike` takes `scale_out`",
            "dr.scenarios.task-loss.delay [scenario-key] only `dependency-latency` takes `delay`",
            "dr.scenarios.task-loss.jitter [scenario-key] only `dependency-latency` takes `jitter`",
            "dr.scenarios.task-loss.rolback [unknown-key] unknown key `rolback` in `dr.scenarios.task-loss` | did you mean `rollback`?",
        ],
    );
    check(
        "[dr.scenarios.dependency-latency]\ndelay = \"10ms\"\njitter = \"20ms\"\nmax_p99 = \"0ms\"\nmax_failed_requests = -1\n",
        &[
            "dr.scenarios.dependency-latency.jitter [drill-jitter] the jitter (20ms) is larger than the delay (10ms)",
            "dr.scenarios.dependency-latency.max_p99 [out-of-range] `0ms` is outside 1ms..=1h | a drill takes 1ms to 1h",
            "dr.scenarios.dependency-latency.max_failed_requests [out-of-range] a count of requests must be 0 or more, not -1",
        ],
    );
    check(
        "[dr.scenarios.bad-release]\nimage = \"v1/broken\"\nhold = \"90s\"\nrpo = \"soon\"\n",
        &[
            "dr.scenarios.bad-release.image [bad-image] `v1/broken` is not an image tag or digest: a tag has only letters, digits, `_`, `.` and `-`",
            "dr.scenarios.bad-release.hold [drill-timeout] the timeout (1m) must be longer than the hold (90s)",
            "dr.scenarios.bad-release.rpo [bad-duration] `soon` is not a duration",
        ],
    );
    // Valid values of every kind, each where it belongs.
    check(
        "[dr]\nrto = \"2m\"\nrpo = \"0ms\"\n[dr.scenarios.bad-release]\nimage = \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\nrollback = false\n[dr.scenarios.load-spike]\npath = \"/work?ms=5\"\nmax_p99 = \"250ms\"\n",
        &[],
    );
}

#[test]
fn network_rules() {
    check(
        "[[network.rules]]\ngroup = \"tasks\"\ndirection = \"egress\"\nports = \"5432\"\ncidr = \"10.0.0.0/16\"\ndescription = \"To the database\"\n",
        &[],
    );
    check(
        "[[network.rules]]\ngroup = \"task\"\ndirection = \"out\"\nports = \"9100-9000\"\ncidr = \"10.0.0.1/16\"\ndescription = \"no <tags>\"\n",
        &[
            "network.rules[0].group [unknown-value] `task` is not a valid value | did you mean `tasks`?",
            "network.rules[0].direction [unknown-value] `out` is not a valid value",
            "network.rules[0].ports [bad-ports] `9100-9000` runs backwards",
            "network.rules[0].cidr [bad-cidr] `10.0.0.1/16` has host bits set",
            "network.rules[0].description [bad-description] `no <tags>` is not a description AWS accepts",
        ],
    );
    check(
        "[[network.rules]]\ngroup = \"alb\"\n",
        &[
            "network.rules[0].cidr [missing-key]",
            "network.rules[0].description [missing-key]",
            "network.rules[0].direction [missing-key]",
            "network.rules[0].ports [missing-key]",
        ],
    );
}

#[test]
fn runtime_and_dockerfile() {
    check(
        "[local]\nnetwork = \"vcp\"\n",
        &["local.network [unknown-value] `vcp` is not a valid value | did you mean `vpc`?"],
    );
    check(
        "[local]\nruntime = \"containers\"\n",
        &[
            "local.runtime [unknown-value] `containers` is not a valid value | did you mean `container`?",
        ],
    );
    let text = BASE.replace(
        "[service]\n",
        "[service]\ndockerfile = \"/abs/Dockerfile\"\n",
    );
    let got = diagnostics(&text);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].contains(
            "service.dockerfile [bad-path] `/abs/Dockerfile` is not a path relative to the spec's directory"
        ),
        "{got:#?}"
    );
}
