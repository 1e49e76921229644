//! The monitoring stack: the SNS topics (KMS-encrypted, with the spec's subscriptions), the
//! alarms on each environment's service and ALB, the alarm ECS rolls back on, the dashboard,
//! and in the primary the rule that reports failed pipeline executions.
//!
//! It deploys before the service stack: alarms have fixed names, so the services can name their
//! rollback alarm, and the pipeline's approval action can name its topic.

use std::collections::BTreeMap;

use haven_spec::model::{Alarm as SpecAlarm, AlarmKind, Environment, MissingData, Region, Role};
use serde_json::{Value, json};

use crate::StackKind;
use crate::iam::{PolicyDocument, Principal, Statement};
use crate::model::Expr;
use crate::model::resources::observe::{
    Alarm, Dashboard, Dimension, EventRule, EventTarget, InputTransformer, Metric, MetricDataQuery,
    MetricStat, Subscription, Topic, TopicPolicy,
};
use crate::names::pascal;
use crate::stacks::{Builder, Cx, Stack, out, topic_id, topics_in};

pub fn build(cx: Cx<'_>, region: &Region) -> Stack {
    let mut b = Builder::new(
        StackKind::Monitoring,
        &region.name,
        cx.stack_name(&region.name, StackKind::Monitoring),
        format!(
            "haven {}: {} monitoring: topics, alarms, dashboard",
            cx.names.project(),
            region.name
        ),
    );
    let network = cx.stack_name(&region.name, StackKind::Network);
    let key = b.network_key(cx, &region.name);
    let topics = topics_in(cx.spec, region);
    for topic in &topics {
        self::topic(&mut b, cx, topic, &topic_id(cx.spec, topic), &key);
    }
    let notify = Expr::r#ref(format!(
        "{}Topic",
        topic_id(cx.spec, &cx.spec.monitoring.notify)
    ));

    let mut alarm_names = Vec::new();
    for env in cx.environments(region) {
        for (what, description) in [
            (out::ALB_NAME, "The ALB's CloudWatch dimension"),
            (
                out::BLUE_TG_NAME,
                "The blue target group's CloudWatch dimension",
            ),
            (
                out::GREEN_TG_NAME,
                "The green target group's CloudWatch dimension",
            ),
        ] {
            let name = out::env(env, what);
            b.from_output(&name, "String", description, &network, &name);
        }
        alarm_names.extend(alarms(&mut b, cx, env, &notify));
    }
    if region.role == Role::Primary && alarm(cx, AlarmKind::PipelineFailure).is_some() {
        pipeline_failed(&mut b, cx, &notify);
    }
    if cx.spec.monitoring.dashboard {
        dashboard(&mut b, cx, region, &alarm_names);
    }
    b.finish()
}

fn topic(b: &mut Builder, cx: Cx<'_>, topic: &str, id: &str, key: &Expr) {
    let spec = &cx.spec.notifications.topics[topic];
    let mut subscription: Vec<Subscription> = spec
        .email
        .iter()
        .map(|e| Subscription {
            protocol: "email",
            endpoint: e.clone(),
        })
        .collect();
    subscription.extend(spec.webhooks.iter().map(|url| Subscription {
        protocol: if url.starts_with("https://") {
            "https"
        } else {
            "http"
        },
        endpoint: url.clone(),
    }));
    let topic_id = format!("{id}Topic");
    b.add(
        &topic_id,
        Topic {
            topic_name: cx.names.topic(topic),
            display_name: format!("{} {topic}", cx.names.project()),
            kms_master_key_id: key.clone(),
            subscription,
            tags: Vec::new(),
        },
    );
    b.add(
        &format!("{id}TopicPolicy"),
        TopicPolicy {
            topics: vec![Expr::r#ref(&topic_id)],
            policy_document: PolicyDocument::new(vec![
                Statement::allow(&["sns:Publish"], vec![Expr::r#ref(&topic_id)])
                    .sid("AlarmsAndRulesPublish")
                    .principal(Principal::Service(vec![
                        "cloudwatch.amazonaws.com".into(),
                        "events.amazonaws.com".into(),
                    ]))
                    .condition(
                        "StringEquals",
                        "aws:SourceAccount",
                        vec![Expr::r#ref("AWS::AccountId")],
                    ),
            ]),
        },
    );
    b.output(
        &out::topic_arn(id),
        &format!("The `{topic}` topic"),
        Expr::r#ref(&topic_id),
    );
}

fn alarm(cx: Cx<'_>, kind: AlarmKind) -> Option<&SpecAlarm> {
    cx.spec.monitoring.alarms.iter().find(|a| a.kind == kind)
}

fn missing(m: MissingData) -> &'static str {
    match m {
        MissingData::Missing => "missing",
        MissingData::NotBreaching => "notBreaching",
        MissingData::Breaching => "breaching",
        MissingData::Ignore => "ignore",
    }
}

/// A metric of the ALB (or one of its target groups), for metric-math alarms.
fn alb_metric(
    id: &str,
    name: &'static str,
    stat: &'static str,
    dims: Vec<Dimension>,
    period: u64,
) -> MetricDataQuery {
    MetricDataQuery {
        id: id.to_owned(),
        metric_stat: Some(MetricStat {
            metric: Metric {
                namespace: "AWS/ApplicationELB",
                metric_name: name,
                dimensions: dims,
            },
            period,
            stat,
        }),
        ..MetricDataQuery::default()
    }
}

/// The environment's alarms; returns their names. Counts alarm at or above the threshold,
/// percentages above it ("CPU > 80 %").
fn alarms(b: &mut Builder, cx: Cx<'_>, env: &Environment, notify: &Expr) -> Vec<String> {
    let e = pascal(&env.name);
    let service = cx.names.ecs_service(env);
    let alb = Dimension {
        name: "LoadBalancer",
        value: Expr::r#ref(out::env(env, out::ALB_NAME)),
    };
    let tg = |what: &str| Dimension {
        name: "TargetGroup",
        value: Expr::r#ref(out::env(env, what)),
    };
    let ecs_dims = vec![
        Dimension {
            name: "ClusterName",
            value: cx.names.cluster().into(),
        },
        Dimension {
            name: "ServiceName",
            value: service.clone().into(),
        },
    ];
    let base = |name: String, description: String, a: &SpecAlarm, op: &'static str| Alarm {
        alarm_name: name,
        alarm_description: description,
        actions_enabled: true,
        alarm_actions: vec![notify.clone()],
        ok_actions: vec![notify.clone()],
        evaluation_periods: a.evaluation_periods,
        datapoints_to_alarm: a.datapoints_to_alarm,
        threshold: a.threshold,
        comparison_operator: op,
        treat_missing_data: missing(a.missing_data),
        ..Alarm::default()
    };
    let mut names = Vec::new();
    let mut add = |b: &mut Builder, id: String, alarm: Alarm| {
        names.push(alarm.alarm_name.clone());
        b.add(&id, alarm);
    };

    for (kind, metric, key) in [
        (AlarmKind::Cpu, "CPUUtilization", "cpu"),
        (AlarmKind::Memory, "MemoryUtilization", "memory"),
    ] {
        let Some(a) = alarm(cx, kind) else { continue };
        add(
            b,
            format!("{e}{}Alarm", pascal(key)),
            Alarm {
                namespace: Some("AWS/ECS"),
                metric_name: Some(metric),
                dimensions: ecs_dims.clone(),
                statistic: Some("Average"),
                period: Some(a.period.as_secs()),
                ..base(
                    cx.names.alarm(env, key),
                    format!(
                        "{service}: average {key} above {}% (monitoring.alarms.{key})",
                        a.threshold
                    ),
                    a,
                    "GreaterThanThreshold",
                )
            },
        );
    }
    if let Some(a) = alarm(cx, AlarmKind::Http5xx) {
        for (id, metric, what, origin) in [
            (
                "Alb5xx",
                "HTTPCode_ELB_5XX_Count",
                "alb-5xx",
                "the ALB itself",
            ),
            (
                "Target5xx",
                "HTTPCode_Target_5XX_Count",
                "target-5xx",
                "the tasks",
            ),
        ] {
            add(
                b,
                format!("{e}{id}Alarm"),
                Alarm {
                    namespace: Some("AWS/ApplicationELB"),
                    metric_name: Some(metric),
                    dimensions: vec![alb.clone()],
                    statistic: Some("Sum"),
                    period: Some(a.period.as_secs()),
                    ..base(
                        cx.names.alarm(env, what),
                        format!(
                            "{service}: {} or more 5xx responses from {origin} per period \
                             (monitoring.alarms.http_5xx)",
                            a.threshold
                        ),
                        a,
                        "GreaterThanOrEqualToThreshold",
                    )
                },
            );
        }
    }
    if let Some(a) = alarm(cx, AlarmKind::UnhealthyTargets) {
        let p = a.period.as_secs();
        // Blue/green alternates between two target groups; the worse of the two counts.
        add(
            b,
            format!("{e}UnhealthyTargetsAlarm"),
            Alarm {
                metrics: vec![
                    alb_metric(
                        "blue",
                        "UnHealthyHostCount",
                        "Maximum",
                        vec![tg(out::BLUE_TG_NAME), alb.clone()],
                        p,
                    ),
                    alb_metric(
                        "green",
                        "UnHealthyHostCount",
                        "Maximum",
                        vec![tg(out::GREEN_TG_NAME), alb.clone()],
                        p,
                    ),
                    MetricDataQuery {
                        id: "unhealthy".into(),
                        label: Some("Unhealthy targets".into()),
                        expression: Some("MAX([blue, green])".into()),
                        return_data: true,
                        ..MetricDataQuery::default()
                    },
                ],
                ..base(
                    cx.names.alarm(env, "unhealthy-targets"),
                    format!(
                        "{service}: {} or more unhealthy targets (monitoring.alarms.unhealthy_targets)",
                        a.threshold
                    ),
                    a,
                    "GreaterThanOrEqualToThreshold",
                )
            },
        );
    }

    let d = &cx.spec.service.deployment;
    if d.rollback_on_alarm {
        // The alarm ECS watches during a deployment's bake time: the share of 5xx responses.
        let rollback = SpecAlarm {
            kind: AlarmKind::Http5xx,
            threshold: f64::from(d.max_5xx_percent),
            period: haven_spec::Dur::secs(60),
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            missing_data: MissingData::NotBreaching,
        };
        add(
            b,
            format!("{e}RollbackAlarm"),
            Alarm {
                metrics: vec![
                    alb_metric("requests", "RequestCount", "Sum", vec![alb.clone()], 60),
                    alb_metric(
                        "target5xx",
                        "HTTPCode_Target_5XX_Count",
                        "Sum",
                        vec![alb.clone()],
                        60,
                    ),
                    alb_metric(
                        "alb5xx",
                        "HTTPCode_ELB_5XX_Count",
                        "Sum",
                        vec![alb.clone()],
                        60,
                    ),
                    MetricDataQuery {
                        id: "rate".into(),
                        label: Some("5xx responses (%)".into()),
                        expression: Some(
                            "100 * (FILL(target5xx, 0) + FILL(alb5xx, 0)) / requests".into(),
                        ),
                        return_data: true,
                        ..MetricDataQuery::default()
                    },
                ],
                ..base(
                    rollback_alarm_name(cx, env),
                    format!(
                        "{service}: more than {}% of responses are 5xx; ECS rolls a deployment \
                         back on it (service.deployment.max_5xx_percent)",
                        d.max_5xx_percent
                    ),
                    &rollback,
                    "GreaterThanThreshold",
                )
            },
        );
    }
    names
}

/// The alarm an environment's deployments roll back on (named here and in the service stack).
pub fn rollback_alarm_name(cx: Cx<'_>, env: &Environment) -> String {
    cx.names.alarm(env, "5xx-rate")
}

fn pipeline_failed(b: &mut Builder, cx: Cx<'_>, notify: &Expr) {
    let pipeline = cx.names.pipeline();
    b.add(
        "PipelineFailedRule",
        EventRule {
            name: cx.names.rule("pipeline-failed"),
            description: format!(
                "Notifies when an execution of the {pipeline} pipeline fails \
                 (monitoring.alarms.pipeline_failure)"
            ),
            state: "ENABLED",
            event_pattern: json!({
                "source": ["aws.codepipeline"],
                "detail-type": ["CodePipeline Pipeline Execution State Change"],
                "detail": {"pipeline": [pipeline], "state": ["FAILED"]}
            }),
            targets: vec![EventTarget {
                id: "notify".into(),
                arn: notify.clone(),
                role_arn: None,
                input_transformer: Some(InputTransformer {
                    input_paths_map: BTreeMap::from([
                        ("execution".into(), "$.detail.execution-id".into()),
                        ("pipeline".into(), "$.detail.pipeline".into()),
                        ("region".into(), "$.region".into()),
                        ("time".into(), "$.time".into()),
                    ]),
                    input_template: "\"Pipeline <pipeline> execution <execution> failed at \
                                     <time> in <region>.\""
                        .into(),
                }),
            }],
        },
    );
}

fn dashboard(b: &mut Builder, cx: Cx<'_>, region: &Region, alarm_names: &[String]) {
    let r = region.name.as_str();
    let cluster = cx.names.cluster();
    let mut widgets = Vec::new();
    let mut y = 0;
    let mut widget = |title: String, props: Value, width: u32| {
        let mut props = props;
        props["title"] = json!(title);
        props["region"] = json!(r);
        props["view"] = json!("timeSeries");
        widgets.push(json!({"type": "metric", "x": 0, "y": y, "width": width, "height": 6, "properties": props}));
        y += 6;
    };
    for env in cx.environments(region) {
        let service = cx.names.ecs_service(env);
        let alb = format!("${{{}}}", out::env(env, out::ALB_NAME));
        let blue = format!("${{{}}}", out::env(env, out::BLUE_TG_NAME));
        let green = format!("${{{}}}", out::env(env, out::GREEN_TG_NAME));
        widget(
            format!("{service}: CPU and memory (%)"),
            json!({"stat": "Average", "period": 60, "metrics": [
                ["AWS/ECS", "CPUUtilization", "ClusterName", cluster, "ServiceName", service],
                [".", "MemoryUtilization", ".", ".", ".", "."]
            ]}),
            24,
        );
        widget(
            format!("{service}: requests and 5xx responses"),
            json!({"stat": "Sum", "period": 60, "metrics": [
                ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", alb],
                [".", "HTTPCode_Target_5XX_Count", ".", "."],
                [".", "HTTPCode_ELB_5XX_Count", ".", "."]
            ]}),
            24,
        );
        widget(
            format!("{service}: response time (s)"),
            json!({"period": 60, "metrics": [
                ["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", alb, {"stat": "p50"}],
                ["...", {"stat": "p99"}]
            ]}),
            24,
        );
        widget(
            format!("{service}: healthy and unhealthy targets"),
            json!({"stat": "Maximum", "period": 60, "metrics": [
                ["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", blue, "LoadBalancer", alb],
                [".", "UnHealthyHostCount", ".", ".", ".", "."],
                [".", "HealthyHostCount", ".", green, ".", "."],
                [".", "UnHealthyHostCount", ".", ".", ".", "."]
            ]}),
            24,
        );
    }
    if region.role == Role::Primary {
        let build = cx.names.codebuild("build");
        widget(
            format!(
                "pipeline {}: builds and failed executions",
                cx.names.pipeline()
            ),
            json!({"stat": "Sum", "period": 300, "metrics": [
                ["AWS/CodeBuild", "SucceededBuilds", "ProjectName", build],
                [".", "FailedBuilds", ".", "."],
                ["AWS/Events", "TriggeredRules", "RuleName", cx.names.rule("pipeline-failed")]
            ]}),
            24,
        );
        widget(
            format!("pipeline {}: build duration (s)", cx.names.pipeline()),
            json!({"stat": "Average", "period": 300, "metrics": [
                ["AWS/CodeBuild", "Duration", "ProjectName", build]
            ]}),
            24,
        );
    }
    let alarm_arns: Vec<String> = alarm_names
        .iter()
        .map(|n| format!("arn:${{AWS::Partition}}:cloudwatch:{r}:${{AWS::AccountId}}:alarm:{n}"))
        .collect();
    if !alarm_arns.is_empty() {
        widgets.push(
            json!({"type": "alarm", "x": 0, "y": y, "width": 24, "height": 4,
            "properties": {"title": "Alarms", "alarms": alarm_arns}}),
        );
    }
    let body = json!({ "widgets": widgets }).to_string();
    b.add(
        "Dashboard",
        Dashboard {
            dashboard_name: cx.names.dashboard(r),
            dashboard_body: Expr::sub(body),
        },
    );
}
