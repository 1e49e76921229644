//! The metrics the twin publishes, with AWS's namespaces, names, units and dimensions, and how
//! each appears in the Prometheus text (name, type, help).
//!
//! AWS/ECS publishes per service with `ClusterName` and `ServiceName`; AWS/ApplicationELB per load
//! balancer (`LoadBalancer`) and per target group (`TargetGroup` and `LoadBalancer`); AWS/CodeBuild
//! per project (`ProjectName`); AWS/CodePipeline per pipeline (`PipelineName`).

use crate::stats::Unit;

pub const ECS: &str = "AWS/ECS";
pub const ALB: &str = "AWS/ApplicationELB";
pub const CODEBUILD: &str = "AWS/CodeBuild";
pub const CODEPIPELINE: &str = "AWS/CodePipeline";

pub const CLUSTER_NAME: &str = "ClusterName";
pub const SERVICE_NAME: &str = "ServiceName";
pub const LOAD_BALANCER: &str = "LoadBalancer";
pub const TARGET_GROUP: &str = "TargetGroup";
pub const PROJECT_NAME: &str = "ProjectName";
pub const PIPELINE_NAME: &str = "PipelineName";

pub const CPU_UTILIZATION: &str = "CPUUtilization";
pub const MEMORY_UTILIZATION: &str = "MemoryUtilization";
pub const REQUEST_COUNT: &str = "RequestCount";
pub const TARGET_RESPONSE_TIME: &str = "TargetResponseTime";
pub const HTTP_CODE_TARGET_2XX: &str = "HTTPCode_Target_2XX_Count";
pub const HTTP_CODE_TARGET_4XX: &str = "HTTPCode_Target_4XX_Count";
pub const HTTP_CODE_TARGET_5XX: &str = "HTTPCode_Target_5XX_Count";
pub const HTTP_CODE_ELB_5XX: &str = "HTTPCode_ELB_5XX_Count";
pub const HEALTHY_HOST_COUNT: &str = "HealthyHostCount";
pub const UNHEALTHY_HOST_COUNT: &str = "UnHealthyHostCount";
pub const BUILDS: &str = "Builds";
pub const SUCCEEDED_BUILDS: &str = "SucceededBuilds";
pub const FAILED_BUILDS: &str = "FailedBuilds";
pub const BUILD_DURATION: &str = "Duration";
pub const FAILED_PIPELINE_EXECUTIONS: &str = "FailedPipelineExecutions";

/// How a metric is exposed to Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The latest value.
    Gauge,
    /// The running total of every value recorded (counts of events).
    Counter,
    /// Quantiles of the last minute's values, with the running sum and count.
    Summary,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Counter => "counter",
            Self::Summary => "summary",
        }
    }
}

/// A metric the twin publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    pub namespace: &'static str,
    pub name: &'static str,
    pub unit: Unit,
    /// The statistic AWS recommends for it.
    pub statistic: &'static str,
    pub prometheus: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn known(
    namespace: &'static str,
    name: &'static str,
    unit: Unit,
    statistic: &'static str,
    prometheus: &'static str,
    kind: Kind,
    help: &'static str,
) -> Known {
    Known {
        namespace,
        name,
        unit,
        statistic,
        prometheus,
        kind,
        help,
    }
}

/// Every metric of the list. Prometheus names follow its conventions and pass
/// `promtool check metrics`: counters end in `_total`, gauges never end in `_count`, seconds are
/// the base unit; percentages keep CloudWatch's 0-100 scale and say so with `_percent`.
pub const KNOWN: &[Known] = &[
    known(
        ECS,
        CPU_UTILIZATION,
        Unit::Percent,
        "Average",
        "aws_ecs_cpu_utilization_percent",
        Kind::Gauge,
        "AWS/ECS CPUUtilization: CPU used by the service's tasks, percent (0-100) of the CPU reserved for them.",
    ),
    known(
        ECS,
        MEMORY_UTILIZATION,
        Unit::Percent,
        "Average",
        "aws_ecs_memory_utilization_percent",
        Kind::Gauge,
        "AWS/ECS MemoryUtilization: memory used by the service's tasks, percent (0-100) of the memory reserved for them.",
    ),
    known(
        ALB,
        REQUEST_COUNT,
        Unit::Count,
        "Sum",
        "aws_applicationelb_requests_total",
        Kind::Counter,
        "AWS/ApplicationELB RequestCount: requests processed.",
    ),
    known(
        ALB,
        TARGET_RESPONSE_TIME,
        Unit::Seconds,
        "Average",
        "aws_applicationelb_target_response_time_seconds",
        Kind::Summary,
        "AWS/ApplicationELB TargetResponseTime: seconds from the request leaving the load balancer to the target's response headers; quantiles over the last minute.",
    ),
    known(
        ALB,
        HTTP_CODE_TARGET_2XX,
        Unit::Count,
        "Sum",
        "aws_applicationelb_httpcode_target_2xx_total",
        Kind::Counter,
        "AWS/ApplicationELB HTTPCode_Target_2XX_Count: 2XX responses from targets.",
    ),
    known(
        ALB,
        HTTP_CODE_TARGET_4XX,
        Unit::Count,
        "Sum",
        "aws_applicationelb_httpcode_target_4xx_total",
        Kind::Counter,
        "AWS/ApplicationELB HTTPCode_Target_4XX_Count: 4XX responses from targets.",
    ),
    known(
        ALB,
        HTTP_CODE_TARGET_5XX,
        Unit::Count,
        "Sum",
        "aws_applicationelb_httpcode_target_5xx_total",
        Kind::Counter,
        "AWS/ApplicationELB HTTPCode_Target_5XX_Count: 5XX responses from targets.",
    ),
    known(
        ALB,
        HTTP_CODE_ELB_5XX,
        Unit::Count,
        "Sum",
        "aws_applicationelb_httpcode_elb_5xx_total",
        Kind::Counter,
        "AWS/ApplicationELB HTTPCode_ELB_5XX_Count: 5XX responses from the load balancer itself.",
    ),
    known(
        ALB,
        HEALTHY_HOST_COUNT,
        Unit::Count,
        "Minimum",
        "aws_applicationelb_healthy_hosts",
        Kind::Gauge,
        "AWS/ApplicationELB HealthyHostCount: targets considered healthy.",
    ),
    known(
        ALB,
        UNHEALTHY_HOST_COUNT,
        Unit::Count,
        "Maximum",
        "aws_applicationelb_unhealthy_hosts",
        Kind::Gauge,
        "AWS/ApplicationELB UnHealthyHostCount: targets considered unhealthy.",
    ),
    known(
        CODEBUILD,
        BUILDS,
        Unit::Count,
        "Sum",
        "aws_codebuild_builds_total",
        Kind::Counter,
        "AWS/CodeBuild Builds: builds triggered.",
    ),
    known(
        CODEBUILD,
        SUCCEEDED_BUILDS,
        Unit::Count,
        "Sum",
        "aws_codebuild_succeeded_builds_total",
        Kind::Counter,
        "AWS/CodeBuild SucceededBuilds: builds that succeeded.",
    ),
    known(
        CODEBUILD,
        FAILED_BUILDS,
        Unit::Count,
        "Sum",
        "aws_codebuild_failed_builds_total",
        Kind::Counter,
        "AWS/CodeBuild FailedBuilds: builds that failed (client error or timeout).",
    ),
    known(
        CODEBUILD,
        BUILD_DURATION,
        Unit::Seconds,
        "Average",
        "aws_codebuild_duration_seconds",
        Kind::Gauge,
        "AWS/CodeBuild Duration: seconds the latest build took.",
    ),
    known(
        CODEPIPELINE,
        FAILED_PIPELINE_EXECUTIONS,
        Unit::Count,
        "Sum",
        "aws_codepipeline_failed_pipeline_executions_total",
        Kind::Counter,
        "AWS/CodePipeline FailedPipelineExecutions: pipeline executions that failed.",
    ),
];

pub fn lookup(namespace: &str, name: &str) -> Option<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.namespace == namespace && k.name == name)
}
