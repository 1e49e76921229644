//! The service stack: the ECS cluster, the task roles, and per environment a task definition, a
//! Fargate service in the private subnets deployed by ECS native blue/green (or the spec's other
//! strategy), and target-tracking scaling on CPU and memory.

use std::collections::BTreeMap;

use haven_spec::model::{Architecture, Environment, Region, Role as SpecRole, Strategy};

use crate::iam::{PolicyDocument, Statement};
use crate::model::resources::compute::{
    AdvancedConfiguration, AwsVpcConfiguration, CanaryConfiguration, Cluster, ClusterSetting,
    ContainerDefinition, DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration,
    DeploymentController, KeyValuePair, LinearConfiguration, LogConfiguration, MountPoint,
    NetworkConfiguration, PortMapping, PredefinedMetric, RuntimePlatform, ScalableTarget,
    ScalingPolicy, Secret, Service, ServiceLoadBalancer, TargetTracking, TaskDefinition, Volume,
};
use crate::model::resources::iam::{InlinePolicy, Role};
use crate::model::resources::observe::LogGroup;
use crate::model::{Expr, ExprList, Resource};
use crate::names::pascal;
use crate::stacks::{Builder, Cx, Stack, monitoring, out};
use crate::{StackKind, SynthError};

pub fn build(cx: Cx<'_>, region: &Region) -> Result<Stack, SynthError> {
    let mut b = Builder::new(
        StackKind::Service,
        &region.name,
        cx.stack_name(&region.name, StackKind::Service),
        format!(
            "haven {}: {} service: ECS cluster, task definitions, services, scaling",
            cx.names.project(),
            region.name
        ),
    );
    let network = cx.stack_name(&region.name, StackKind::Network);
    let key = b.network_key(cx, &region.name);
    let subnets = b.from_output(
        out::PRIVATE_SUBNETS,
        "List<AWS::EC2::Subnet::Id>",
        "The private subnets (network stack)",
        &network,
        out::PRIVATE_SUBNETS,
    );
    let task_sg = b.from_output(
        out::TASK_SECURITY_GROUP,
        "AWS::EC2::SecurityGroup::Id",
        "The tasks' security group (network stack)",
        &network,
        out::TASK_SECURITY_GROUP,
    );
    b.deploy_time(
        "ImageTag",
        "The image tag to run, present in this region's repository: the first build's tag on \
         the first deployment, afterwards the tag the pipeline deployed last (read it from the \
         service's task definition)",
        "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
    );

    b.add(
        "Cluster",
        Cluster {
            cluster_name: cx.names.cluster().to_owned(),
            cluster_settings: vec![ClusterSetting {
                name: "containerInsights",
                value: "enabled",
            }],
            tags: Vec::new(),
        },
    );
    let envs = cx.environments(region);
    roles(&mut b, cx, region, &envs, &key);
    for env in &envs {
        environment(
            &mut b,
            cx,
            region,
            env,
            &Wiring {
                key: &key,
                subnets: &subnets,
                task_sg: &task_sg,
            },
        )?;
    }
    Ok(b.finish())
}

struct Wiring<'a> {
    key: &'a Expr,
    subnets: &'a Expr,
    task_sg: &'a Expr,
}

/// Where a region's tasks pull their image: its own replica, or the primary's repository when
/// replication is off.
fn image_region<'a>(cx: Cx<'a>, region: &'a Region) -> &'a str {
    if region.role == SpecRole::Primary || cx.spec.registry.replicate {
        &region.name
    } else {
        &cx.primary().name
    }
}

fn roles(b: &mut Builder, cx: Cx<'_>, region: &Region, envs: &[&Environment], key: &Expr) {
    let repo = cx.names.repository();
    let mut statements = vec![
        Statement::allow(&["ecr:GetAuthorizationToken"], vec![Expr::str("*")]).sid("EcrLogin"),
        Statement::allow(
            &[
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            vec![Expr::arn_in(
                image_region(cx, region),
                "ecr",
                &format!("repository/{repo}"),
            )],
        )
        .sid("PullImage"),
        Statement::allow(
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            envs.iter()
                .map(|e| {
                    Expr::arn(
                        "logs",
                        &format!("log-group:{}:*", cx.names.task_log_group(e)),
                    )
                })
                .collect(),
        )
        .sid("WriteLogs"),
    ];
    let secrets = &cx.spec.service.secrets;
    if !secrets.is_empty() {
        let mut params: Vec<&String> = secrets.values().collect();
        params.sort();
        params.dedup();
        statements.push(
            Statement::allow(
                &["ssm:GetParameters"],
                params
                    .iter()
                    .map(|p| Expr::arn("ssm", &format!("parameter/{}", p.trim_start_matches('/'))))
                    .collect(),
            )
            .sid("ReadSecrets"),
        );
        // SecureString values are encrypted with the region's key (see the manifest's secrets).
        statements.push(
            Statement::allow(&["kms:Decrypt"], vec![key.clone()])
                .sid("DecryptSecrets")
                .condition(
                    "StringEquals",
                    "kms:ViaService",
                    vec![Expr::sub("ssm.${AWS::Region}.amazonaws.com")],
                ),
        );
    }
    b.add(
        "TaskExecutionRole",
        Role {
            role_name: cx.names.role(&region.name, "task-execution"),
            description: "ECS pulls the image, writes the task logs and reads the secrets".into(),
            assume_role_policy_document: PolicyDocument::assume_by("ecs-tasks.amazonaws.com"),
            policies: vec![InlinePolicy {
                policy_name: "start-tasks".into(),
                policy_document: PolicyDocument::new(statements),
            }],
            tags: Vec::new(),
        },
    );
    // The application's own identity: it calls no AWS API, so it is granted nothing.
    b.add(
        "TaskRole",
        Role {
            role_name: cx.names.role(&region.name, "task"),
            description: "The service's tasks; grants nothing, add what the application calls"
                .into(),
            assume_role_policy_document: PolicyDocument::assume_by("ecs-tasks.amazonaws.com"),
            ..Role::default()
        },
    );

    // ECS native blue/green moves traffic by editing these rules and target groups.
    let mut rules = Vec::new();
    let mut groups = Vec::new();
    let mut listeners = Vec::new();
    for env in envs {
        rules.push(Expr::r#ref(out::env(env, out::TRAFFIC_RULE)));
        if cx.spec.service.deployment.test_listener {
            rules.push(Expr::r#ref(out::env(env, out::TEST_RULE)));
        }
        groups.push(Expr::r#ref(out::env(env, out::BLUE_TG)));
        groups.push(Expr::r#ref(out::env(env, out::GREEN_TG)));
        listeners.push(Expr::arn(
            "elasticloadbalancing",
            &format!("listener/app/{}/*", cx.names.alb(env)),
        ));
    }
    b.add(
        "EcsInfrastructureRole",
        Role {
            role_name: cx.names.role(&region.name, "ecs-infrastructure"),
            description: "ECS shifts traffic between target groups during deployments".into(),
            assume_role_policy_document: PolicyDocument::assume_by_service("ecs.amazonaws.com"),
            policies: vec![InlinePolicy {
                policy_name: "shift-traffic".into(),
                policy_document: PolicyDocument::new(vec![
                    Statement::allow(
                        &[
                            "elasticloadbalancing:DescribeListeners",
                            "elasticloadbalancing:DescribeRules",
                            "elasticloadbalancing:DescribeTargetGroups",
                            "elasticloadbalancing:DescribeTargetHealth",
                        ],
                        vec![Expr::str("*")],
                    )
                    .sid("Describe"),
                    Statement::allow(&["elasticloadbalancing:ModifyRule"], rules).sid("ShiftRules"),
                    Statement::allow(&["elasticloadbalancing:ModifyListener"], listeners)
                        .sid("ShiftListeners"),
                    Statement::allow(
                        &[
                            "elasticloadbalancing:DeregisterTargets",
                            "elasticloadbalancing:RegisterTargets",
                        ],
                        groups,
                    )
                    .sid("RegisterTasks"),
                ]),
            }],
            tags: Vec::new(),
        },
    );
}

fn environment(
    b: &mut Builder,
    cx: Cx<'_>,
    region: &Region,
    env: &Environment,
    w: &Wiring<'_>,
) -> Result<(), SynthError> {
    let e = pascal(&env.name);
    let s = &cx.spec.service;
    let network = cx.stack_name(&region.name, StackKind::Network);
    let import = |b: &mut Builder, what: &str, description: &str| {
        let name = out::env(env, what);
        b.from_output(&name, "String", description, &network, &name)
    };
    let blue = import(b, out::BLUE_TG, "The blue target group (network stack)");
    let green = import(b, out::GREEN_TG, "The green target group (network stack)");
    let production_rule = import(b, out::TRAFFIC_RULE, "The production rule (network stack)");
    let test_rule = s
        .deployment
        .test_listener
        .then(|| import(b, out::TEST_RULE, "The test rule (network stack)"));

    let log_group = cx.names.task_log_group(env);
    b.add(
        &format!("{e}LogGroup"),
        LogGroup {
            log_group_name: log_group.clone(),
            retention_in_days: cx.spec.monitoring.log_retention_days,
            kms_key_id: w.key.clone(),
            tags: Vec::new(),
        },
    );

    let mut environment: BTreeMap<String, Expr> = s
        .environment
        .iter()
        .chain(&env.environment)
        .map(|(k, v)| (k.clone(), Expr::str(v)))
        .collect();
    environment.insert("PORT".into(), s.port.to_string().into());
    environment.insert("HAVEN_SERVICE".into(), cx.names.ecs_service(env).into());
    environment.insert("HAVEN_REGION".into(), Expr::r#ref("AWS::Region"));

    let read_only = s.read_only_root_filesystem;
    // `${ImageTag}` is the stack parameter.
    let image = Expr::Sub(format!(
        "${{AWS::AccountId}}.dkr.ecr.{}.${{AWS::URLSuffix}}/{}:${{ImageTag}}",
        image_region(cx, region),
        cx.names.repository()
    ));
    let container = ContainerDefinition {
        name: cx.names.container().to_owned(),
        image,
        essential: true,
        // The image's own USER, on AWS as in the twin's containers: one image, one user.
        user: None,
        readonly_root_filesystem: read_only,
        stop_timeout: s.stop_timeout.as_secs(),
        port_mappings: vec![PortMapping {
            container_port: s.port,
            protocol: "tcp",
        }],
        environment: environment
            .into_iter()
            .map(|(name, value)| KeyValuePair { name, value })
            .collect(),
        secrets: s
            .secrets
            .iter()
            .map(|(name, param)| Secret {
                name: name.clone(),
                value_from: Expr::arn(
                    "ssm",
                    &format!("parameter/{}", param.trim_start_matches('/')),
                ),
            })
            .collect(),
        // A read-only root keeps a writable /tmp, on the task's own ephemeral storage.
        mount_points: if read_only {
            vec![MountPoint {
                source_volume: "tmp".into(),
                container_path: "/tmp".into(),
                read_only: false,
            }]
        } else {
            Vec::new()
        },
        log_configuration: LogConfiguration {
            log_driver: "awslogs",
            options: BTreeMap::from([
                ("awslogs-group".into(), Expr::r#ref(format!("{e}LogGroup"))),
                ("awslogs-region".into(), Expr::r#ref("AWS::Region")),
                ("awslogs-stream-prefix".into(), Expr::str(&env.name)),
            ]),
        },
    };
    b.add(
        &format!("{e}TaskDefinition"),
        TaskDefinition {
            family: cx.names.task_family(env),
            cpu: env.cpu.to_string(),
            memory: env.memory.to_string(),
            network_mode: "awsvpc",
            requires_compatibilities: vec!["FARGATE"],
            runtime_platform: RuntimePlatform {
                cpu_architecture: match s.architecture {
                    Architecture::X86_64 => "X86_64",
                    Architecture::Arm64 => "ARM64",
                },
                operating_system_family: "LINUX",
            },
            execution_role_arn: Expr::get_att("TaskExecutionRole", "Arn"),
            task_role_arn: Expr::get_att("TaskRole", "Arn"),
            container_definitions: vec![container],
            volumes: if read_only {
                vec![Volume { name: "tmp".into() }]
            } else {
                Vec::new()
            },
            tags: Vec::new(),
        },
    );

    let d = &s.deployment;
    let minutes = |key: &'static str, dur: haven_spec::Dur| -> Result<u64, SynthError> {
        let m = dur.as_secs() / 60;
        if m > 1440 {
            return Err(SynthError::Unsupported {
                key,
                problem: format!("{dur} is longer than ECS's 24 hours"),
            });
        }
        Ok(m)
    };
    let (strategy, canary, linear) = match d.strategy {
        Strategy::BlueGreen => ("BLUE_GREEN", None, None),
        Strategy::Rolling => ("ROLLING", None, None),
        Strategy::Canary => (
            "CANARY",
            Some(CanaryConfiguration {
                canary_percent: f64::from(d.canary_percent),
                canary_bake_time_in_minutes: minutes(
                    "service.deployment.canary_bake_time",
                    d.canary_bake_time,
                )?,
            }),
            None,
        ),
        Strategy::Linear => {
            if d.linear_step_percent < 3 {
                return Err(SynthError::Unsupported {
                    key: "service.deployment.linear_step_percent",
                    problem: format!(
                        "ECS shifts linear deployments in steps of 3% to 100%, not {}%",
                        d.linear_step_percent
                    ),
                });
            }
            (
                "LINEAR",
                None,
                Some(LinearConfiguration {
                    step_percent: f64::from(d.linear_step_percent),
                    step_bake_time_in_minutes: minutes(
                        "service.deployment.linear_step_bake_time",
                        d.linear_step_bake_time,
                    )?,
                }),
            )
        }
    };
    let rolling = d.strategy == Strategy::Rolling;
    let service_id = format!("{e}Service");
    b.add(
        &service_id,
        Service {
            service_name: cx.names.ecs_service(env),
            cluster: Expr::r#ref("Cluster"),
            task_definition: Expr::r#ref(format!("{e}TaskDefinition")),
            desired_count: env.desired,
            launch_type: "FARGATE",
            platform_version: "LATEST",
            propagate_tags: "SERVICE",
            enable_ecs_managed_tags: true,
            health_check_grace_period_seconds: Some(s.health_check.grace_period.as_secs()),
            network_configuration: NetworkConfiguration {
                awsvpc_configuration: AwsVpcConfiguration {
                    assign_public_ip: "DISABLED",
                    subnets: ExprList::Whole(w.subnets.clone()),
                    security_groups: ExprList::Items(vec![w.task_sg.clone()]),
                },
            },
            load_balancers: vec![ServiceLoadBalancer {
                container_name: cx.names.container().to_owned(),
                container_port: s.port,
                target_group_arn: blue,
                // A rolling update serves from the blue group alone; the others shift traffic.
                advanced_configuration: (!rolling).then(|| AdvancedConfiguration {
                    alternate_target_group_arn: green,
                    production_listener_rule: production_rule,
                    test_listener_rule: test_rule,
                    role_arn: Expr::get_att("EcsInfrastructureRole", "Arn"),
                }),
            }],
            deployment_controller: DeploymentController { r#type: "ECS" },
            deployment_configuration: DeploymentConfiguration {
                strategy,
                bake_time_in_minutes: (!rolling)
                    .then(|| minutes("service.deployment.bake_time", d.bake_time))
                    .transpose()?,
                canary_configuration: canary,
                linear_configuration: linear,
                maximum_percent: 200,
                minimum_healthy_percent: 100,
                alarms: d.rollback_on_alarm.then(|| DeploymentAlarms {
                    alarm_names: vec![monitoring::rollback_alarm_name(cx, env)],
                    enable: true,
                    rollback: true,
                }),
                deployment_circuit_breaker: rolling.then_some(DeploymentCircuitBreaker {
                    enable: true,
                    rollback: true,
                }),
            },
            tags: Vec::new(),
        },
    );

    let resource_id = format!(
        "service/{}/{}",
        cx.names.cluster(),
        cx.names.ecs_service(env)
    );
    b.add(
        &format!("{e}ScalableTarget"),
        Resource::new(ScalableTarget {
            service_namespace: "ecs",
            scalable_dimension: "ecs:service:DesiredCount",
            resource_id,
            min_capacity: env.min,
            max_capacity: env.max,
        })
        // The resource id is written out (not a Ref), so the order is stated.
        .depends_on(&[&service_id]),
    );
    let sc = &s.scaling;
    for (what, metric, target) in [
        ("Cpu", "ECSServiceAverageCPUUtilization", sc.cpu_target),
        (
            "Memory",
            "ECSServiceAverageMemoryUtilization",
            sc.memory_target,
        ),
    ] {
        b.add(
            &format!("{e}{what}ScalingPolicy"),
            ScalingPolicy {
                policy_name: format!("{}-{}", cx.names.ecs_service(env), what.to_lowercase()),
                policy_type: "TargetTrackingScaling",
                scaling_target_id: Expr::r#ref(format!("{e}ScalableTarget")),
                target_tracking_scaling_policy_configuration: TargetTracking {
                    target_value: f64::from(target),
                    scale_in_cooldown: sc.scale_in_cooldown.as_secs(),
                    scale_out_cooldown: sc.scale_out_cooldown.as_secs(),
                    predefined_metric_specification: PredefinedMetric {
                        predefined_metric_type: metric,
                    },
                },
            },
        );
    }
    Ok(())
}
