//! Where each `haven.toml` knob lands: one row per knob, a TOML fragment added to a minimal spec,
//! and the value expected at a JSON pointer into one synthesized file (`docs/components.md` lists
//! the same places). Knobs only the local twin reads are checked to change no AWS file at all.

mod common;

use serde_json::{Value, json};

const BASE: &str = "project.name = \"hello\"\n";
const COMMAND: &str = "service.command = [\"bin/hello\"]\n";

/// The minimal spec plus a fragment (which may set the command itself).
fn spec_text(fragment: &str) -> String {
    let command = if fragment.contains("service.command") {
        ""
    } else {
        COMMAND
    };
    format!("{BASE}{command}{fragment}\n")
}

enum Expect {
    /// The value at the pointer.
    Eq(Value),
    /// Nothing at the pointer.
    Absent,
    /// The (text) file contains this.
    Contains(&'static str),
    /// Every file is exactly what the minimal spec gives.
    Unchanged,
}

use Expect::*;

struct Row {
    knob: &'static str,
    toml: &'static str,
    file: &'static str,
    pointer: String,
    expect: Expect,
}

fn row(
    knob: &'static str,
    toml: &'static str,
    file: &'static str,
    pointer: &str,
    expect: Expect,
) -> Row {
    Row {
        knob,
        toml,
        file,
        pointer: pointer.to_owned(),
        expect,
    }
}

fn twin_only(knob: &'static str, toml: &'static str) -> Row {
    row(knob, toml, "", "", Unchanged)
}

const NET: &str = "us-east-1/network.json";
const SVC: &str = "us-east-1/service.json";
const MON: &str = "us-east-1/monitoring.json";
const DEL: &str = "us-east-1/delivery.json";
const REG: &str = "us-east-1/registry.json";
const GLOBAL: &str = "global.json";
const MANIFEST: &str = "manifest.json";
const TD: &str = "/Resources/ProductionTaskDefinition/Properties";
const C0: &str = "/Resources/ProductionTaskDefinition/Properties/ContainerDefinitions/0";
const PS: &str = "/Resources/ProductionService/Properties";
const BLUE: &str = "/Resources/ProductionBlueTargetGroup/Properties";
const STAGES: &str = "/Resources/Pipeline/Properties/Stages";

fn rows() -> Vec<Row> {
    vec![
        // [project]
        row(
            "project.name",
            "",
            MANIFEST,
            "/stacks/0/name",
            Eq(json!("hello-us-east-1-network")),
        ),
        row(
            "project.tags",
            "project.tags = { team = \"web\" }",
            MANIFEST,
            "/stacks/0/tags/team",
            Eq(json!("web")),
        ),
        // [[regions]]
        row(
            "regions[].name, role",
            "[[regions]]\nname = \"eu-west-1\"\nrole = \"primary\"\n",
            MANIFEST,
            "/primary_region",
            Eq(json!("eu-west-1")),
        ),
        row(
            "regions[].vpc_cidr",
            "[[regions]]\nname = \"us-east-1\"\nvpc_cidr = \"10.9.0.0/16\"\n",
            NET,
            "/Resources/Vpc/Properties/CidrBlock",
            Eq(json!("10.9.0.0/16")),
        ),
        row(
            "regions[].azs",
            "[[regions]]\nname = \"us-east-1\"\nazs = 3\n",
            NET,
            "/Resources/PrivateSubnet3/Properties/AvailabilityZone",
            Eq(json!({"Fn::Select": [2, {"Fn::GetAZs": ""}]})),
        ),
        row(
            "regions[].public_subnets",
            "[[regions]]\nname = \"us-east-1\"\npublic_subnets = [\"10.0.4.0/24\", \"10.0.5.0/24\"]\n",
            NET,
            "/Resources/PublicSubnet2/Properties/CidrBlock",
            Eq(json!("10.0.5.0/24")),
        ),
        row(
            "regions[].private_subnets",
            "[[regions]]\nname = \"us-east-1\"\nprivate_subnets = [\"10.0.20.0/22\", \"10.0.24.0/22\"]\n",
            NET,
            "/Resources/PrivateSubnet1/Properties/CidrBlock",
            Eq(json!("10.0.20.0/22")),
        ),
        row(
            "regions[].nat = single",
            "",
            NET,
            "/Resources/PrivateDefaultRoute2/Properties/NatGatewayId",
            Eq(json!({"Ref": "NatGateway1"})),
        ),
        row(
            "regions[].nat = per-az",
            "[[regions]]\nname = \"us-east-1\"\nnat = \"per-az\"\n",
            NET,
            "/Resources/PrivateDefaultRoute2/Properties/NatGatewayId",
            Eq(json!({"Ref": "NatGateway2"})),
        ),
        // [service]
        row(
            "service.name",
            "service.name = \"web\"",
            SVC,
            "/Resources/ProductionService/Properties/ServiceName",
            Eq(json!("web-production")),
        ),
        twin_only(
            "service.command",
            "service.command = [\"bin/other\", \"--flag\"]",
        ),
        row(
            "service.port",
            "service.port = 9000",
            SVC,
            &const_format(C0, "/PortMappings/0/ContainerPort"),
            Eq(json!(9000)),
        ),
        row(
            "service.environment",
            "service.environment = { A = \"b\" }",
            SVC,
            &const_format(C0, "/Environment/0"),
            Eq(json!({"Name": "A", "Value": "b"})),
        ),
        row(
            "service.secrets",
            "service.secrets = { DB = \"/hello/db\" }",
            SVC,
            &const_format(C0, "/Secrets/0"),
            Eq(
                json!({"Name": "DB", "ValueFrom": {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/hello/db"}}),
            ),
        ),
        row(
            "service.secrets (deployer)",
            "service.secrets = { DB = \"/hello/db\" }",
            MANIFEST,
            "/secrets/0/parameter",
            Eq(json!("/hello/db")),
        ),
        row(
            "service.cpu",
            "service.cpu = 1024\nservice.memory = 2048",
            SVC,
            &const_format(TD, "/Cpu"),
            Eq(json!("1024")),
        ),
        row(
            "service.memory",
            "service.memory = 2048",
            SVC,
            &const_format(TD, "/Memory"),
            Eq(json!("2048")),
        ),
        row(
            "service.architecture",
            "service.architecture = \"arm64\"",
            SVC,
            &const_format(TD, "/RuntimePlatform/CpuArchitecture"),
            Eq(json!("ARM64")),
        ),
        row(
            "service.desired",
            "service.desired = 3",
            SVC,
            &const_format(PS, "/DesiredCount"),
            Eq(json!(3)),
        ),
        row(
            "service.min",
            "service.min = 1\nservice.desired = 1",
            SVC,
            "/Resources/ProductionScalableTarget/Properties/MinCapacity",
            Eq(json!(1)),
        ),
        row(
            "service.max",
            "service.max = 20",
            SVC,
            "/Resources/ProductionScalableTarget/Properties/MaxCapacity",
            Eq(json!(20)),
        ),
        row(
            "service.read_only_root_filesystem",
            "service.read_only_root_filesystem = false",
            SVC,
            &const_format(C0, "/ReadonlyRootFilesystem"),
            Eq(json!(false)),
        ),
        row(
            "service.stop_timeout",
            "service.stop_timeout = \"90s\"",
            SVC,
            &const_format(C0, "/StopTimeout"),
            Eq(json!(90)),
        ),
        // [service.health_check]
        row(
            "service.health_check.path",
            "service.health_check.path = \"/up\"",
            NET,
            &const_format(BLUE, "/HealthCheckPath"),
            Eq(json!("/up")),
        ),
        row(
            "service.health_check.path (global)",
            "service.health_check.path = \"/up\"",
            GLOBAL,
            "/Resources/UsEast1HealthCheck/Properties/HealthCheckConfig/ResourcePath",
            Eq(json!("/up")),
        ),
        row(
            "service.health_check.interval",
            "service.health_check.interval = \"10s\"",
            NET,
            &const_format(BLUE, "/HealthCheckIntervalSeconds"),
            Eq(json!(10)),
        ),
        row(
            "service.health_check.timeout",
            "service.health_check.timeout = \"3s\"",
            NET,
            &const_format(BLUE, "/HealthCheckTimeoutSeconds"),
            Eq(json!(3)),
        ),
        row(
            "service.health_check.healthy_threshold",
            "service.health_check.healthy_threshold = 3",
            NET,
            &const_format(BLUE, "/HealthyThresholdCount"),
            Eq(json!(3)),
        ),
        row(
            "service.health_check.unhealthy_threshold",
            "service.health_check.unhealthy_threshold = 4",
            NET,
            &const_format(BLUE, "/UnhealthyThresholdCount"),
            Eq(json!(4)),
        ),
        row(
            "service.health_check.success_codes",
            "service.health_check.success_codes = \"200-299\"",
            NET,
            &const_format(BLUE, "/Matcher/HttpCode"),
            Eq(json!("200-299")),
        ),
        row(
            "service.health_check.grace_period",
            "service.health_check.grace_period = \"20s\"",
            SVC,
            &const_format(PS, "/HealthCheckGracePeriodSeconds"),
            Eq(json!(20)),
        ),
        // [service.load_balancer]
        row(
            "service.load_balancer.algorithm",
            "service.load_balancer.algorithm = \"least_outstanding_requests\"",
            NET,
            &const_format(BLUE, "/TargetGroupAttributes/1"),
            Eq(
                json!({"Key": "load_balancing.algorithm.type", "Value": "least_outstanding_requests"}),
            ),
        ),
        row(
            "service.load_balancer.deregistration_delay",
            "service.load_balancer.deregistration_delay = \"30s\"",
            NET,
            &const_format(BLUE, "/TargetGroupAttributes/0"),
            Eq(json!({"Key": "deregistration_delay.timeout_seconds", "Value": "30"})),
        ),
        row(
            "service.load_balancer.idle_timeout",
            "service.load_balancer.idle_timeout = \"90s\"",
            NET,
            "/Resources/ProductionLoadBalancer/Properties/LoadBalancerAttributes/4",
            Eq(json!({"Key": "idle_timeout.timeout_seconds", "Value": "90"})),
        ),
        row(
            "service.load_balancer.certificate_arn",
            "service.load_balancer.certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/x\"",
            NET,
            "/Resources/ProductionHttpsListener/Properties/Certificates/0/CertificateArn",
            Eq(json!("arn:aws:acm:us-east-1:123456789012:certificate/x")),
        ),
        row(
            "service.load_balancer.certificate_arn (redirect)",
            "service.load_balancer.certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/x\"",
            NET,
            "/Resources/ProductionHttpListener/Properties/DefaultActions/0/Type",
            Eq(json!("redirect")),
        ),
        row(
            "service.load_balancer.certificate_arn (other regions)",
            "service.load_balancer.certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/x\"",
            "us-west-2/network.json",
            "/Resources/ProductionHttpsListener/Properties/Certificates/0/CertificateArn",
            Eq(json!({"Ref": "CertificateArn"})),
        ),
        row(
            "no certificate: HTTP",
            "",
            NET,
            "/Resources/ProductionHttpListener/Properties/DefaultActions/0/Type",
            Eq(json!("fixed-response")),
        ),
        // [service.scaling]
        row(
            "service.scaling.cpu_target",
            "service.scaling.cpu_target = 55",
            SVC,
            "/Resources/ProductionCpuScalingPolicy/Properties/TargetTrackingScalingPolicyConfiguration/TargetValue",
            Eq(json!(55.0)),
        ),
        row(
            "service.scaling.memory_target",
            "service.scaling.memory_target = 65",
            SVC,
            "/Resources/ProductionMemoryScalingPolicy/Properties/TargetTrackingScalingPolicyConfiguration/TargetValue",
            Eq(json!(65.0)),
        ),
        row(
            "service.scaling.scale_out_cooldown",
            "service.scaling.scale_out_cooldown = \"60s\"",
            SVC,
            "/Resources/ProductionCpuScalingPolicy/Properties/TargetTrackingScalingPolicyConfiguration/ScaleOutCooldown",
            Eq(json!(60)),
        ),
        row(
            "service.scaling.scale_in_cooldown",
            "service.scaling.scale_in_cooldown = \"120s\"",
            SVC,
            "/Resources/ProductionMemoryScalingPolicy/Properties/TargetTrackingScalingPolicyConfiguration/ScaleInCooldown",
            Eq(json!(120)),
        ),
        // [service.deployment]
        row(
            "service.deployment.strategy = blue-green",
            "",
            SVC,
            &const_format(PS, "/DeploymentConfiguration/Strategy"),
            Eq(json!("BLUE_GREEN")),
        ),
        row(
            "service.deployment.strategy = rolling",
            "service.deployment.strategy = \"rolling\"",
            SVC,
            &const_format(PS, "/DeploymentConfiguration/DeploymentCircuitBreaker"),
            Eq(json!({"Enable": true, "Rollback": true})),
        ),
        row(
            "service.deployment.bake_time",
            "service.deployment.bake_time = \"12m\"",
            SVC,
            &const_format(PS, "/DeploymentConfiguration/BakeTimeInMinutes"),
            Eq(json!(12)),
        ),
        row(
            "service.deployment.canary_percent, canary_bake_time",
            "[service.deployment]\nstrategy = \"canary\"\ncanary_percent = 15\ncanary_bake_time = \"7m\"\n",
            SVC,
            &const_format(PS, "/DeploymentConfiguration/CanaryConfiguration"),
            Eq(json!({"CanaryPercent": 15.0, "CanaryBakeTimeInMinutes": 7})),
        ),
        row(
            "service.deployment.linear_step_percent, linear_step_bake_time",
            "[service.deployment]\nstrategy = \"linear\"\nlinear_step_percent = 20\nlinear_step_bake_time = \"3m\"\n",
            SVC,
            &const_format(PS, "/DeploymentConfiguration/LinearConfiguration"),
            Eq(json!({"StepPercent": 20.0, "StepBakeTimeInMinutes": 3})),
        ),
        row(
            "service.deployment.test_listener",
            "",
            SVC,
            &const_format(
                PS,
                "/LoadBalancers/0/AdvancedConfiguration/TestListenerRule",
            ),
            Eq(json!({"Ref": "ProductionTestRuleArn"})),
        ),
        row(
            "service.deployment.test_listener = false",
            "service.deployment.test_listener = false",
            NET,
            "/Resources/ProductionTestRule",
            Absent,
        ),
        row(
            "service.deployment.rollback_on_alarm",
            "",
            SVC,
            &const_format(PS, "/DeploymentConfiguration/Alarms/AlarmNames/0"),
            Eq(json!("hello-production-5xx-rate")),
        ),
        row(
            "service.deployment.rollback_on_alarm = false",
            "service.deployment.rollback_on_alarm = false",
            SVC,
            &const_format(PS, "/DeploymentConfiguration/Alarms"),
            Absent,
        ),
        row(
            "service.deployment.max_5xx_percent",
            "service.deployment.max_5xx_percent = 4",
            MON,
            "/Resources/ProductionRollbackAlarm/Properties/Threshold",
            Eq(json!(4.0)),
        ),
        // [environments]
        row(
            "environments.staging.enabled = false",
            "environments.staging.enabled = false\npipeline.staging = false",
            SVC,
            "/Resources/StagingService",
            Absent,
        ),
        row(
            "environments.staging.desired",
            "environments.staging.desired = 2\nenvironments.staging.max = 3",
            SVC,
            "/Resources/StagingService/Properties/DesiredCount",
            Eq(json!(2)),
        ),
        row(
            "environments.staging.min",
            "environments.staging.min = 2\nenvironments.staging.desired = 2",
            SVC,
            "/Resources/StagingScalableTarget/Properties/MinCapacity",
            Eq(json!(2)),
        ),
        row(
            "environments.staging.max",
            "environments.staging.max = 5",
            SVC,
            "/Resources/StagingScalableTarget/Properties/MaxCapacity",
            Eq(json!(5)),
        ),
        row(
            "environments.staging.cpu",
            "environments.staging.cpu = 256\nenvironments.staging.memory = 512",
            SVC,
            "/Resources/StagingTaskDefinition/Properties/Cpu",
            Eq(json!("256")),
        ),
        row(
            "environments.staging.memory",
            "environments.staging.memory = 2048",
            SVC,
            "/Resources/StagingTaskDefinition/Properties/Memory",
            Eq(json!("2048")),
        ),
        row(
            "environments.staging.environment",
            "environments.staging.environment = { A = \"s\" }",
            SVC,
            "/Resources/StagingTaskDefinition/Properties/ContainerDefinitions/0/Environment/0",
            Eq(json!({"Name": "A", "Value": "s"})),
        ),
        row(
            "environments.production.desired",
            "environments.production.desired = 4",
            SVC,
            &const_format(PS, "/DesiredCount"),
            Eq(json!(4)),
        ),
        row(
            "environments.production.max",
            "environments.production.max = 30",
            SVC,
            "/Resources/ProductionScalableTarget/Properties/MaxCapacity",
            Eq(json!(30)),
        ),
        row(
            "environments.production.cpu",
            "environments.production.cpu = 2048\nenvironments.production.memory = 4096",
            SVC,
            &const_format(TD, "/Cpu"),
            Eq(json!("2048")),
        ),
        row(
            "environments.production.environment",
            "environments.production.environment = { A = \"p\" }",
            SVC,
            &const_format(C0, "/Environment/0"),
            Eq(json!({"Name": "A", "Value": "p"})),
        ),
        // [registry]
        row(
            "registry.scan_on_push",
            "registry.scan_on_push = false",
            REG,
            "/Resources/Repository/Properties/ImageScanningConfiguration/ScanOnPush",
            Eq(json!(false)),
        ),
        row(
            "registry.immutable_tags",
            "registry.immutable_tags = false",
            REG,
            "/Resources/Repository/Properties/ImageTagMutability",
            Eq(json!("MUTABLE")),
        ),
        row(
            "registry.encryption",
            "registry.encryption = \"aes256\"",
            REG,
            "/Resources/Repository/Properties/EncryptionConfiguration/EncryptionType",
            Eq(json!("AES256")),
        ),
        row(
            "registry.replicate",
            "",
            REG,
            "/Resources/Replication/Properties/ReplicationConfiguration/Rules/0/Destinations/0/Region",
            Eq(json!("us-west-2")),
        ),
        row(
            "registry.replicate = false",
            "registry.replicate = false",
            REG,
            "/Resources/Replication",
            Absent,
        ),
        row(
            "registry.scan_fail_severity",
            "registry.scan_fail_severity = \"critical\"",
            "release-buildspec.yml",
            "",
            Contains("FAIL_SEVERITIES: \"CRITICAL\""),
        ),
        twin_only(
            "registry.advisory_db",
            "registry.advisory_db = \"advisories\"",
        ),
        row(
            "registry.lifecycle",
            "[[registry.lifecycle]]\npriority = 3\ntag_status = \"any\"\ncount_type = \"image_count_more_than\"\ncount = 7\n",
            REG,
            "/Resources/Repository/Properties/LifecyclePolicy/LifecyclePolicyText",
            Eq(json!(
                "{\"rules\":[{\"rulePriority\":3,\"selection\":{\"tagStatus\":\"any\",\"countType\":\"imageCountMoreThan\",\"countNumber\":7},\"action\":{\"type\":\"expire\"}}]}"
            )),
        ),
        // [source]
        row(
            "source.provider",
            "source.provider = \"github\"\nsource.repository = \"octo-org/web\"",
            DEL,
            "/Resources/SourceConnection/Properties/ProviderType",
            Eq(json!("GitHub")),
        ),
        row(
            "source.provider, repository (the source action)",
            "source.provider = \"gitlab\"\nsource.repository = \"octo-org/web\"",
            DEL,
            &const_format(STAGES, "/0/Actions/0/Configuration/FullRepositoryId"),
            Eq(json!("octo-org/web")),
        ),
        row(
            "source.provider, branch (the trigger)",
            "source.provider = \"bitbucket\"\nsource.repository = \"octo-org/web\"\nsource.branch = \"trunk\"",
            DEL,
            "/Resources/Pipeline/Properties/Triggers/0/GitConfiguration/Push/0/Branches/Includes/0",
            Eq(json!("trunk")),
        ),
        row(
            "source.provider (the console step)",
            "source.provider = \"github\"\nsource.repository = \"octo-org/web\"",
            MANIFEST,
            "/source_connection/name",
            Eq(json!("hello-github")),
        ),
        row(
            "source.provider (no CodeCommit repository)",
            "source.provider = \"github\"\nsource.repository = \"octo-org/web\"",
            DEL,
            "/Resources/SourceRepository",
            Absent,
        ),
        row(
            "source.repository",
            "source.repository = \"web-src\"",
            DEL,
            "/Resources/SourceRepository/Properties/RepositoryName",
            Eq(json!("web-src")),
        ),
        row(
            "source.branch",
            "source.branch = \"trunk\"",
            DEL,
            &const_format(STAGES, "/0/Actions/0/Configuration/BranchName"),
            Eq(json!("trunk")),
        ),
        row(
            "source.protected_branches",
            "source.protected_branches = [\"main\", \"release\"]",
            DEL,
            "/Resources/ProtectBranchesPolicy/Properties/PolicyDocument/Statement/0/Condition/StringEqualsIfExists/codecommit:References/1",
            Eq(json!("refs/heads/release")),
        ),
        row(
            "source.protected_branches (approval rule)",
            "source.protected_branches = [\"main\", \"release\"]",
            MANIFEST,
            "/approval_rule_template/content/DestinationReferences/1",
            Eq(json!("refs/heads/release")),
        ),
        row(
            "source.replicate",
            "",
            "us-west-2/delivery.json",
            "/Resources/SourceRepository/Properties/RepositoryName",
            Eq(json!("hello")),
        ),
        row(
            "source.replicate = false",
            "source.replicate = false",
            DEL,
            "/Resources/MirrorProject",
            Absent,
        ),
        // [build]
        row(
            "build.buildspec",
            "build.buildspec = \"buildspec.yml\"",
            "buildspec.yml",
            "",
            Contains("make"),
        ),
        row(
            "build.timeout",
            "build.timeout = \"20m\"",
            DEL,
            "/Resources/BuildProject/Properties/TimeoutInMinutes",
            Eq(json!(20)),
        ),
        row(
            "build.compute_type",
            "build.compute_type = \"BUILD_GENERAL1_MEDIUM\"",
            DEL,
            "/Resources/BuildProject/Properties/Environment/ComputeType",
            Eq(json!("BUILD_GENERAL1_MEDIUM")),
        ),
        row(
            "build.image",
            "build.image = \"aws/codebuild/standard:7.0\"",
            DEL,
            "/Resources/BuildProject/Properties/Environment/Image",
            Eq(json!("aws/codebuild/standard:7.0")),
        ),
        // [pipeline]
        row(
            "pipeline.execution_mode",
            "pipeline.execution_mode = \"queued\"",
            DEL,
            "/Resources/Pipeline/Properties/ExecutionMode",
            Eq(json!("QUEUED")),
        ),
        row(
            "pipeline.staging",
            "",
            DEL,
            &const_format(STAGES, "/2/Name"),
            Eq(json!("Staging")),
        ),
        row(
            "pipeline.staging = false",
            "pipeline.staging = false",
            DEL,
            &const_format(STAGES, "/2/Name"),
            Eq(json!("Approval")),
        ),
        row(
            "pipeline.approval.enabled = false",
            "pipeline.approval.enabled = false",
            DEL,
            &const_format(STAGES, "/3/Name"),
            Eq(json!("Production")),
        ),
        row(
            "pipeline.approval.timeout",
            "pipeline.approval.timeout = \"2h\"",
            DEL,
            &const_format(STAGES, "/3/Actions/0/TimeoutInMinutes"),
            Eq(json!(120)),
        ),
        row(
            "pipeline.approval.notify",
            "pipeline.approval.notify = \"releases\"\n[notifications.topics.alerts]\n[notifications.topics.releases]\n",
            DEL,
            &const_format(STAGES, "/3/Actions/0/Configuration/NotificationArn"),
            Eq(json!({"Ref": "ReleasesTopicArn"})),
        ),
        // [monitoring]
        row(
            "monitoring.log_retention_days",
            "monitoring.log_retention_days = 30",
            SVC,
            "/Resources/ProductionLogGroup/Properties/RetentionInDays",
            Eq(json!(30)),
        ),
        row(
            "monitoring.dashboard = false",
            "monitoring.dashboard = false",
            MON,
            "/Resources/Dashboard",
            Absent,
        ),
        row(
            "monitoring.notify",
            "monitoring.notify = \"ops\"\n[notifications.topics.alerts]\n[notifications.topics.ops]\n",
            MON,
            "/Resources/ProductionCpuAlarm/Properties/AlarmActions/0",
            Eq(json!({"Ref": "OpsTopic"})),
        ),
        row(
            "monitoring.alarms.cpu.threshold",
            "monitoring.alarms.cpu.threshold = 70",
            MON,
            "/Resources/ProductionCpuAlarm/Properties/Threshold",
            Eq(json!(70.0)),
        ),
        row(
            "monitoring.alarms.memory.period",
            "monitoring.alarms.memory.period = \"5m\"",
            MON,
            "/Resources/ProductionMemoryAlarm/Properties/Period",
            Eq(json!(300)),
        ),
        row(
            "monitoring.alarms.http_5xx.evaluation_periods",
            "monitoring.alarms.http_5xx.evaluation_periods = 3",
            MON,
            "/Resources/ProductionTarget5xxAlarm/Properties/EvaluationPeriods",
            Eq(json!(3)),
        ),
        row(
            "monitoring.alarms.http_5xx.threshold",
            "monitoring.alarms.http_5xx.threshold = 25",
            MON,
            "/Resources/ProductionAlb5xxAlarm/Properties/Threshold",
            Eq(json!(25.0)),
        ),
        row(
            "monitoring.alarms.unhealthy_targets.datapoints_to_alarm",
            "[monitoring.alarms.unhealthy_targets]\nevaluation_periods = 3\ndatapoints_to_alarm = 2\n",
            MON,
            "/Resources/ProductionUnhealthyTargetsAlarm/Properties/DatapointsToAlarm",
            Eq(json!(2)),
        ),
        row(
            "monitoring.alarms.cpu.missing_data",
            "monitoring.alarms.cpu.missing_data = \"breaching\"",
            MON,
            "/Resources/ProductionCpuAlarm/Properties/TreatMissingData",
            Eq(json!("breaching")),
        ),
        row(
            "monitoring.alarms.memory.enabled = false",
            "monitoring.alarms.memory.enabled = false",
            MON,
            "/Resources/ProductionMemoryAlarm",
            Absent,
        ),
        row(
            "monitoring.alarms.pipeline_failure",
            "",
            MON,
            "/Resources/PipelineFailedRule/Properties/EventPattern/detail/state/0",
            Eq(json!("FAILED")),
        ),
        row(
            "monitoring.alarms.pipeline_failure.enabled = false",
            "monitoring.alarms.pipeline_failure.enabled = false",
            MON,
            "/Resources/PipelineFailedRule",
            Absent,
        ),
        // [notifications]
        twin_only(
            "notifications.from",
            "notifications.from = \"haven@example.org\"",
        ),
        row(
            "notifications.topics.<name>.email",
            "[notifications.topics.alerts]\nemail = [\"a@example.com\"]\n",
            MON,
            "/Resources/AlertsTopic/Properties/Subscription/0",
            Eq(json!({"Protocol": "email", "Endpoint": "a@example.com"})),
        ),
        row(
            "notifications.topics.<name>.webhooks",
            "[notifications.topics.alerts]\nwebhooks = [\"https://hooks.example.com/x\"]\n",
            MON,
            "/Resources/AlertsTopic/Properties/Subscription/0",
            Eq(json!({"Protocol": "https", "Endpoint": "https://hooks.example.com/x"})),
        ),
        twin_only(
            "notifications.topics.<name>.webhook_secret",
            "[notifications.topics.alerts]\nwebhook_secret = \"/hello/hook-key\"\n",
        ),
        // [routing]
        row(
            "routing.mode = failover",
            "routing.domain = \"app.example.com\"\nrouting.hosted_zone_id = \"Z0123\"",
            GLOBAL,
            "/Resources/PrimaryRecord/Properties/Failover",
            Eq(json!("PRIMARY")),
        ),
        row(
            "routing.mode = active-active",
            "routing.mode = \"active-active\"\nrouting.domain = \"app.example.com\"\nrouting.hosted_zone_id = \"Z0123\"",
            GLOBAL,
            "/Resources/UsWest2Record/Properties/Region",
            Eq(json!("us-west-2")),
        ),
        row(
            "routing.domain",
            "routing.domain = \"app.example.com\"\nrouting.hosted_zone_id = \"Z0123\"",
            GLOBAL,
            "/Resources/PrimaryRecord/Properties/Name",
            Eq(json!("app.example.com")),
        ),
        row(
            "routing.hosted_zone_id",
            "routing.domain = \"app.example.com\"\nrouting.hosted_zone_id = \"Z0123\"",
            GLOBAL,
            "/Resources/SecondaryRecord/Properties/HostedZoneId",
            Eq(json!("Z0123")),
        ),
        row(
            "no hosted zone: no records",
            "",
            GLOBAL,
            "/Resources/PrimaryRecord",
            Absent,
        ),
        row(
            "routing.health_check_interval",
            "routing.health_check_interval = \"10s\"",
            GLOBAL,
            "/Resources/UsWest2HealthCheck/Properties/HealthCheckConfig/RequestInterval",
            Eq(json!(10)),
        ),
        row(
            "routing.failure_threshold",
            "routing.failure_threshold = 5",
            GLOBAL,
            "/Resources/UsEast1HealthCheck/Properties/HealthCheckConfig/FailureThreshold",
            Eq(json!(5)),
        ),
        twin_only("routing.ttl", "routing.ttl = 30"),
        // [local]
        twin_only(
            "local.*",
            "[local]\nstate_dir = \".x\"\nedge_port = 5000\nalb_port_base = 5001\nhealth_check_interval = \"2s\"\nbake_time = \"4s\"\n",
        ),
    ]
}

/// A pointer under one of the prefixes above.
fn const_format(prefix: &str, rest: &str) -> String {
    format!("{prefix}{rest}")
}

#[test]
fn every_knob_lands_where_the_docs_say() {
    let (_base_dir, base_spec) = common::spec_from(&spec_text(""));
    let base = common::synth(&base_spec);
    let mut failures = Vec::new();
    for r in rows() {
        let (_dir, spec) = common::spec_from(&spec_text(r.toml));
        let s = common::synth(&spec);
        let problem = match &r.expect {
            Unchanged => (s.files != base.files).then(|| {
                let changed: Vec<String> = s
                    .files
                    .iter()
                    .filter(|f| !base.files.contains(f))
                    .map(|(p, _)| p.display().to_string())
                    .collect();
                format!("changed {changed:?}, but only the local twin should read it")
            }),
            Contains(needle) => {
                let text = s.file(r.file).unwrap_or_default();
                (!text.contains(needle)).then(|| format!("{} lacks {needle:?}", r.file))
            }
            Eq(want) => {
                let got = common::json(&s, r.file).pointer(&r.pointer).cloned();
                (got.as_ref() != Some(want))
                    .then(|| format!("{}{}: want {want}, got {got:?}", r.file, r.pointer))
            }
            Absent => {
                let got = common::json(&s, r.file).pointer(&r.pointer).cloned();
                got.map(|g| format!("{}{}: want nothing, got {g}", r.file, r.pointer))
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", r.knob));
        }
    }
    assert!(
        failures.is_empty(),
        "{} knobs misplaced:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
