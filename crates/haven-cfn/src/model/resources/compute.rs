//! ECS on Fargate and Application Auto Scaling.

use crate::model::{Expr, ExprList, Tag, cfn_struct};

cfn_struct! {
    pub struct Cluster {
        cluster_name: String,
        cluster_settings: Vec<ClusterSetting>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct ClusterSetting {
        name: &'static str,
        value: &'static str,
    }
}

cfn_struct! {
    pub struct TaskDefinition {
        family: String,
        cpu: String,
        memory: String,
        network_mode: &'static str,
        requires_compatibilities: Vec<&'static str>,
        runtime_platform: RuntimePlatform,
        execution_role_arn: Expr,
        task_role_arn: Expr,
        container_definitions: Vec<ContainerDefinition>,
        volumes: Vec<Volume>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct RuntimePlatform {
        cpu_architecture: &'static str,
        operating_system_family: &'static str,
    }
}

cfn_struct! {
    pub struct Volume {
        name: String,
    }
}

cfn_struct! {
    pub struct ContainerDefinition {
        name: String,
        image: Expr,
        essential: bool,
        user: Option<String>,
        readonly_root_filesystem: bool,
        stop_timeout: u64,
        port_mappings: Vec<PortMapping>,
        environment: Vec<KeyValuePair>,
        secrets: Vec<Secret>,
        mount_points: Vec<MountPoint>,
        log_configuration: LogConfiguration,
    }
}

cfn_struct! {
    pub struct PortMapping {
        container_port: u16,
        protocol: &'static str,
    }
}

cfn_struct! {
    pub struct KeyValuePair {
        name: String,
        value: Expr,
    }
}

cfn_struct! {
    pub struct Secret {
        name: String,
        value_from: Expr,
    }
}

cfn_struct! {
    pub struct MountPoint {
        source_volume: String,
        container_path: String,
        read_only: bool,
    }
}

cfn_struct! {
    pub struct LogConfiguration {
        log_driver: &'static str,
        options: std::collections::BTreeMap<String, Expr>,
    }
}

cfn_struct! {
    pub struct Service {
        service_name: String,
        cluster: Expr,
        task_definition: Expr,
        desired_count: u32,
        launch_type: &'static str,
        platform_version: &'static str,
        propagate_tags: &'static str,
        #[serde(rename = "EnableECSManagedTags")]
        enable_ecs_managed_tags: bool,
        health_check_grace_period_seconds: Option<u64>,
        network_configuration: NetworkConfiguration,
        load_balancers: Vec<ServiceLoadBalancer>,
        deployment_controller: DeploymentController,
        deployment_configuration: DeploymentConfiguration,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct NetworkConfiguration {
        awsvpc_configuration: AwsVpcConfiguration,
    }
}

cfn_struct! {
    pub struct AwsVpcConfiguration {
        assign_public_ip: &'static str,
        subnets: ExprList,
        security_groups: ExprList,
    }
}

cfn_struct! {
    pub struct ServiceLoadBalancer {
        container_name: String,
        container_port: u16,
        target_group_arn: Expr,
        advanced_configuration: Option<AdvancedConfiguration>,
    }
}

cfn_struct! {
    /// ECS native blue/green: the alternate target group, the rules ECS shifts, and the role it
    /// shifts them with.
    pub struct AdvancedConfiguration {
        alternate_target_group_arn: Expr,
        production_listener_rule: Expr,
        test_listener_rule: Option<Expr>,
        role_arn: Expr,
    }
}

cfn_struct! {
    pub struct DeploymentController {
        r#type: &'static str,
    }
}

cfn_struct! {
    pub struct DeploymentConfiguration {
        strategy: &'static str,
        bake_time_in_minutes: Option<u64>,
        canary_configuration: Option<CanaryConfiguration>,
        linear_configuration: Option<LinearConfiguration>,
        maximum_percent: u32,
        minimum_healthy_percent: u32,
        alarms: Option<DeploymentAlarms>,
        deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    }
}

cfn_struct! {
    pub struct CanaryConfiguration {
        canary_percent: f64,
        canary_bake_time_in_minutes: u64,
    }
}

cfn_struct! {
    pub struct LinearConfiguration {
        step_percent: f64,
        step_bake_time_in_minutes: u64,
    }
}

cfn_struct! {
    pub struct DeploymentAlarms {
        alarm_names: Vec<String>,
        enable: bool,
        rollback: bool,
    }
}

cfn_struct! {
    pub struct DeploymentCircuitBreaker {
        enable: bool,
        rollback: bool,
    }
}

cfn_struct! {
    pub struct ScalableTarget {
        service_namespace: &'static str,
        scalable_dimension: &'static str,
        resource_id: String,
        min_capacity: u32,
        max_capacity: u32,
    }
}

cfn_struct! {
    pub struct ScalingPolicy {
        policy_name: String,
        policy_type: &'static str,
        scaling_target_id: Expr,
        target_tracking_scaling_policy_configuration: TargetTracking,
    }
}

cfn_struct! {
    pub struct TargetTracking {
        target_value: f64,
        scale_in_cooldown: u64,
        scale_out_cooldown: u64,
        predefined_metric_specification: PredefinedMetric,
    }
}

cfn_struct! {
    pub struct PredefinedMetric {
        predefined_metric_type: &'static str,
    }
}
