//! A resolved spec written back as a spec (`haven show`): every key of the schema set to the
//! value it resolved to, serialized from the schema's own types and laid out by its shape with
//! toml_edit. Values derived from others (AZ names, the pipeline's stages, the twin's health
//! check path) are comments, so the output validates and resolves to the same model.

use serde::Serialize;
use toml_edit::{DocumentMut, Item, Table};

use crate::duration::Dur;
use crate::model::{AlarmKind, Dr, DrScenario, Scenario, Spec};
use crate::schema;
use crate::shape::Shape;

/// The first lines of a rendered spec.
const HEADER: &str = "\
# The resolved spec: every key with the value it takes, defaults included. It is a valid
# haven.toml; values derived from others are comments.
";

impl Spec {
    /// The spec as `haven.toml` text that validates and resolves to this same spec.
    pub fn to_toml(&self) -> Result<String, toml_edit::ser::Error> {
        let mut doc = toml_edit::ser::to_document(&document(self))?;
        lay_out(doc.as_table_mut(), Shape::document());
        comment_derived(&mut doc, self);
        Ok(format!("{HEADER}{doc}"))
    }
}

/// The schema's document that resolves to `spec`, with every key set.
fn document(spec: &Spec) -> schema::Document {
    let s = &spec.service;
    let env = |e: &crate::model::Environment| schema::Environment {
        enabled: Some(true),
        desired: int(e.desired),
        min: int(e.min),
        max: int(e.max),
        cpu: int(e.cpu),
        memory: int(e.memory),
        environment: Some(e.environment.clone()),
    };
    let alarm = |kind: AlarmKind| {
        Some(
            match spec.monitoring.alarms.iter().find(|a| a.kind == kind) {
                Some(a) => schema::Alarm {
                    enabled: Some(true),
                    threshold: Some(a.threshold),
                    period: dur(a.period),
                    evaluation_periods: int(a.evaluation_periods),
                    datapoints_to_alarm: int(a.datapoints_to_alarm),
                    missing_data: word(&a.missing_data),
                },
                // A disabled alarm's settings are not in the model: the defaults validate.
                None => schema::Alarm {
                    enabled: Some(false),
                    ..Default::default()
                },
            },
        )
    };
    let local = &spec.local;
    schema::Document {
        project: Some(schema::Project {
            name: Some(spec.project.name.clone()),
            tags: Some(spec.project.tags.clone()),
        }),
        regions: Some(
            spec.regions
                .iter()
                .map(|r| schema::Region {
                    name: Some(r.name.clone()),
                    role: word(&r.role),
                    vpc_cidr: Some(r.vpc_cidr.to_string()),
                    azs: i64::try_from(r.azs.len()).ok(),
                    public_subnets: Some(r.public_subnets.iter().map(|c| c.to_string()).collect()),
                    private_subnets: Some(
                        r.private_subnets.iter().map(|c| c.to_string()).collect(),
                    ),
                    nat: word(&r.nat),
                })
                .collect(),
        ),
        service: Some(schema::Service {
            name: Some(s.name.clone()),
            command: Some(s.command.clone()),
            port: int(s.port),
            environment: Some(s.environment.clone()),
            secrets: Some(s.secrets.clone()),
            cpu: int(s.cpu),
            memory: int(s.memory),
            architecture: word(&s.architecture),
            desired: int(s.desired),
            min: int(s.min),
            max: int(s.max),
            read_only_root_filesystem: Some(s.read_only_root_filesystem),
            stop_timeout: dur(s.stop_timeout),
            dockerfile: Some(s.dockerfile.display().to_string()),
            health_check: Some(schema::HealthCheck {
                path: Some(s.health_check.path.clone()),
                interval: dur(s.health_check.interval),
                timeout: dur(s.health_check.timeout),
                healthy_threshold: int(s.health_check.healthy_threshold),
                unhealthy_threshold: int(s.health_check.unhealthy_threshold),
                success_codes: Some(s.health_check.success_codes.clone()),
                grace_period: dur(s.health_check.grace_period),
            }),
            load_balancer: Some(schema::LoadBalancer {
                algorithm: word(&s.load_balancer.algorithm),
                deregistration_delay: dur(s.load_balancer.deregistration_delay),
                idle_timeout: dur(s.load_balancer.idle_timeout),
                certificate_arn: s.load_balancer.certificate_arn.clone(),
            }),
            scaling: Some(schema::Scaling {
                cpu_target: int(s.scaling.cpu_target),
                memory_target: int(s.scaling.memory_target),
                scale_out_cooldown: dur(s.scaling.scale_out_cooldown),
                scale_in_cooldown: dur(s.scaling.scale_in_cooldown),
            }),
            deployment: Some(schema::Deployment {
                strategy: word(&s.deployment.strategy),
                bake_time: dur(s.deployment.bake_time),
                canary_percent: int(s.deployment.canary_percent),
                canary_bake_time: dur(s.deployment.canary_bake_time),
                linear_step_percent: int(s.deployment.linear_step_percent),
                linear_step_bake_time: dur(s.deployment.linear_step_bake_time),
                test_listener: Some(s.deployment.test_listener),
                rollback_on_alarm: Some(s.deployment.rollback_on_alarm),
                max_5xx_percent: int(s.deployment.max_5xx_percent),
            }),
        }),
        environments: Some(schema::Environments {
            staging: Some(match &spec.environments.staging {
                Some(e) => env(e),
                None => schema::Environment {
                    enabled: Some(false),
                    ..Default::default()
                },
            }),
            production: Some(schema::Environment {
                // Production cannot be disabled; saying so would only repeat the default.
                enabled: None,
                ..env(&spec.environments.production)
            }),
        }),
        registry: Some(schema::Registry {
            scan_on_push: Some(spec.registry.scan_on_push),
            immutable_tags: Some(spec.registry.immutable_tags),
            encryption: word(&spec.registry.encryption),
            replicate: Some(spec.registry.replicate),
            scan_fail_severity: word(&spec.registry.scan_fail_severity),
            advisory_db: spec.registry.advisory_db.as_deref().map(path),
            lifecycle: Some(
                spec.registry
                    .lifecycle
                    .iter()
                    .map(|l| schema::LifecycleRule {
                        priority: int(l.priority),
                        description: Some(l.description.clone()),
                        tag_status: word(&l.tag_status),
                        tag_prefixes: Some(l.tag_prefixes.clone()),
                        count_type: word(&l.count_type),
                        count: int(l.count),
                    })
                    .collect(),
            ),
        }),
        source: Some(schema::Source {
            provider: word(&spec.source.provider),
            repository: Some(
                spec.source
                    .hosted_repository
                    .clone()
                    .unwrap_or_else(|| spec.source.repository.clone()),
            ),
            branch: Some(spec.source.branch.clone()),
            protected_branches: Some(spec.source.protected_branches.clone()),
            replicate: Some(spec.source.replicate),
        }),
        build: Some(schema::Build {
            // The model's buildspec is joined to the directory; the key is relative to it.
            buildspec: Some(path(
                spec.build
                    .buildspec
                    .strip_prefix(&spec.build.directory)
                    .unwrap_or(&spec.build.buildspec),
            )),
            directory: Some(path(&spec.build.directory)),
            timeout: dur(spec.build.timeout),
            compute_type: Some(spec.build.compute_type.clone()),
            image: Some(spec.build.image.clone()),
        }),
        pipeline: Some(schema::Pipeline {
            execution_mode: word(&spec.pipeline.execution_mode),
            staging: Some(spec.pipeline.stages.contains(&"Staging")),
            approval: Some(schema::Approval {
                enabled: Some(spec.pipeline.approval.enabled),
                timeout: dur(spec.pipeline.approval.timeout),
                notify: Some(spec.pipeline.approval.notify.clone()),
            }),
        }),
        monitoring: Some(schema::Monitoring {
            log_retention_days: int(spec.monitoring.log_retention_days),
            dashboard: Some(spec.monitoring.dashboard),
            notify: Some(spec.monitoring.notify.clone()),
            alarms: Some(schema::Alarms {
                cpu: alarm(AlarmKind::Cpu),
                memory: alarm(AlarmKind::Memory),
                http_5xx: alarm(AlarmKind::Http5xx),
                unhealthy_targets: alarm(AlarmKind::UnhealthyTargets),
                pipeline_failure: alarm(AlarmKind::PipelineFailure),
            }),
        }),
        notifications: Some(schema::Notifications {
            from: Some(spec.notifications.from.clone()),
            topics: Some(
                spec.notifications
                    .topics
                    .iter()
                    .map(|(name, t)| {
                        let topic = schema::Topic {
                            email: Some(t.email.clone()),
                            webhooks: Some(t.webhooks.clone()),
                            webhook_secret: t.webhook_secret.clone(),
                        };
                        (name.clone(), topic)
                    })
                    .collect(),
            ),
        }),
        routing: Some(schema::Routing {
            mode: word(&spec.routing.mode),
            health_check_interval: dur(spec.routing.health_check_interval),
            failure_threshold: int(spec.routing.failure_threshold),
            ttl: int(spec.routing.ttl),
            domain: spec.routing.domain.clone(),
            hosted_zone_id: spec.routing.hosted_zone_id.clone(),
        }),
        dr: Some(dr(&spec.dr)),
        network: (!spec.network.rules.is_empty()).then(|| schema::NetworkSection {
            rules: Some(
                spec.network
                    .rules
                    .iter()
                    .map(|r| schema::NetworkRule {
                        group: word(&r.group),
                        direction: word(&r.direction),
                        ports: Some(if r.from_port == r.to_port {
                            r.from_port.to_string()
                        } else {
                            format!("{}-{}", r.from_port, r.to_port)
                        }),
                        cidr: Some(r.cidr.to_string()),
                        description: Some(r.description.clone()),
                    })
                    .collect(),
            ),
        }),
        local: Some(schema::Local {
            state_dir: Some(path(&local.state_dir)),
            bind: Some(local.bind.to_string()),
            edge_port: int(local.edge_port),
            alb_port_base: int(local.alb_port_base),
            dashboard_port: int(local.dashboard_port),
            smtp_relay: local.smtp_relay.clone(),
            health_check_interval: dur(local.health_check.interval),
            health_check_timeout: dur(local.health_check.timeout),
            healthy_threshold: int(local.health_check.healthy_threshold),
            unhealthy_threshold: int(local.health_check.unhealthy_threshold),
            deregistration_delay: dur(local.deregistration_delay),
            stop_timeout: dur(local.stop_timeout),
            metrics_interval: dur(local.metrics_interval),
            scale_out_cooldown: dur(local.scale_out_cooldown),
            scale_in_cooldown: dur(local.scale_in_cooldown),
            bake_time: dur(local.bake_time),
            alarm_period: dur(local.alarm_period),
            approval_timeout: dur(local.approval_timeout),
            edge_health_check_interval: dur(local.edge_health_check_interval),
            edge_failure_threshold: int(local.edge_failure_threshold),
            access_logs: Some(local.access_logs),
            runtime: word(&local.runtime),
            network: word(&local.network),
        }),
    }
}

/// `[dr]` and every scenario with each key it takes; keys that belong to another scenario are
/// left out (they would not validate).
fn dr(dr: &Dr) -> schema::Dr {
    let scenario = |s: Scenario, d: &DrScenario| schema::DrScenario {
        rto: dur(d.rto),
        rpo: dur(d.rpo),
        max_failed_requests: i64::try_from(d.max_failed_requests).ok(),
        max_p99: d.max_p99.and_then(dur),
        rps: int(d.rps),
        path: Some(d.path.clone()),
        hold: dur(d.hold),
        timeout: dur(d.timeout),
        rollback: (s == Scenario::BadRelease).then_some(d.rollback),
        scale_out: (s == Scenario::LoadSpike).then_some(d.scale_out),
        delay: (s == Scenario::DependencyLatency)
            .then(|| dur(d.delay))
            .flatten(),
        jitter: (s == Scenario::DependencyLatency)
            .then(|| dur(d.jitter))
            .flatten(),
        image: d.image.clone().filter(|_| s == Scenario::BadRelease),
    };
    schema::Dr {
        rto: dur(dr.rto),
        rpo: dur(dr.rpo),
        rps: int(dr.rps),
        path: Some(dr.path.clone()),
        hold: dur(dr.hold),
        timeout: dur(dr.timeout),
        scenarios: Some(
            Scenario::ALL
                .into_iter()
                .map(|s| (s.name().to_owned(), scenario(s, dr.scenario(s))))
                .collect(),
        ),
    }
}

fn int(v: impl Into<i64>) -> Option<i64> {
    Some(v.into())
}

fn dur(d: Dur) -> Option<String> {
    Some(d.to_string())
}

/// Paths in the model are as written, so they came from text.
fn path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A model enum's spelling, which is the word the spec takes for it (the round-trip tests
/// hold every one to that).
fn word<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Lays a serialized document out as a person writes a spec: each schema struct a `[table]`,
/// each array of them an `[[array]]`, maps of tables (topics) tables of tables; maps of strings
/// (tags, environment) and arrays of strings stay inline. Every table follows a blank line.
fn lay_out(table: &mut Table, shape: &Shape) {
    for (key, item) in table.iter_mut() {
        let field = match shape {
            Shape::Table(fields) => fields
                .iter()
                .find(|(name, _)| name == key.get())
                .map(|(_, s)| s),
            Shape::Map(value) => Some(&**value),
            _ => None,
        };
        match field {
            Some(s) if holds_tables(s) => match std::mem::take(item).into_table() {
                Ok(mut t) => {
                    lay_out(&mut t, s);
                    // A table that only holds tables needs no header of its own.
                    let only_tables = t.iter().all(|(_, i)| i.is_table());
                    t.set_implicit(only_tables && !t.is_empty());
                    t.decor_mut().set_prefix("\n");
                    *item = Item::Table(t);
                }
                Err(i) => *item = i,
            },
            // An empty array has no `[[...]]` form: it stays `key = []`.
            Some(Shape::Array(inner))
                if matches!(**inner, Shape::Table(_))
                    && !item.as_array().is_some_and(toml_edit::Array::is_empty) =>
            {
                match std::mem::take(item).into_array_of_tables() {
                    Ok(mut tables) => {
                        for t in tables.iter_mut() {
                            lay_out(t, inner);
                            t.decor_mut().set_prefix("\n");
                        }
                        *item = Item::ArrayOfTables(tables);
                    }
                    Err(i) => *item = i,
                }
            }
            _ => {}
        }
    }
}

/// Whether a shape is written as a `[table]`: a struct is; a map is when its values are.
fn holds_tables(shape: &Shape) -> bool {
    match shape {
        Shape::Table(_) => true,
        Shape::Map(value) => matches!(**value, Shape::Table(_)),
        _ => false,
    }
}

/// Values that other keys decide, shown as comments where they apply.
fn comment_derived(doc: &mut DocumentMut, spec: &Spec) {
    if let Some(Item::ArrayOfTables(regions)) = doc.get_mut("regions") {
        for (table, region) in regions.iter_mut().zip(&spec.regions) {
            if let Some(v) = table.get_mut("azs").and_then(Item::as_value_mut) {
                v.decor_mut()
                    .set_suffix(format!("  # {}", region.azs.join(", ")));
            }
        }
    }
    if let Some(t) = doc.get_mut("pipeline").and_then(Item::as_table_mut) {
        t.decor_mut().set_prefix(format!(
            "\n# Stages, in order: {}.\n",
            spec.pipeline.stages.join(", ")
        ));
    }
    if let Some(t) = doc.get_mut("dr").and_then(Item::as_table_mut) {
        t.decor_mut().set_prefix(
            "\n# The drills' policy (`haven drill run`): every scenario, with [dr]'s values where it\n\
             # sets none of its own.\n",
        );
    }
    if let Some(t) = doc.get_mut("local").and_then(Item::as_table_mut) {
        let hc = &spec.local.health_check;
        t.decor_mut().set_prefix(format!(
            "\n# The twin's health checks ask for `{}` and expect {}, as the service's do.\n",
            hc.path, hc.success_codes
        ));
    }
}
