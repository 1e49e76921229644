//! The global stack (deployed in the primary region; Route 53 is global): a health check on each
//! region's production ALB, and, when the spec names a hosted zone, the records that route the
//! domain: failover (primary, then the secondaries) or latency (active-active).

use haven_spec::model::{Region, RoutingMode};

use crate::StackKind;
use crate::model::resources::dns::{
    AliasTarget, HealthCheck, HealthCheckConfig, HealthCheckTag, RecordSet,
};
use crate::model::{Expr, Resource};
use crate::names::pascal;
use crate::stacks::{Builder, Cx, Stack, out};

pub fn build(cx: Cx<'_>) -> Stack {
    let spec = cx.spec;
    let primary = cx.primary();
    let mut b = Builder::new(
        StackKind::Global,
        &primary.name,
        cx.stack_name(&primary.name, StackKind::Global),
        format!(
            "haven {}: global routing: regional health checks{}",
            cx.names.project(),
            if spec.routing.hosted_zone_id.is_some() {
                " and Route 53 records"
            } else {
                ""
            }
        ),
    );
    let regions: Vec<&Region> = std::iter::once(primary).chain(spec.secondaries()).collect();
    let https = spec.service.load_balancer.certificate_arn.is_some();
    let production = &spec.environments.production;
    let zone = spec
        .routing
        .domain
        .as_ref()
        .zip(spec.routing.hosted_zone_id.as_ref());

    let mut targets = Vec::new();
    for region in &regions {
        let r = pascal(&region.name);
        let network = cx.stack_name(&region.name, StackKind::Network);
        let dns = b.from_output(
            &format!("{r}LoadBalancerDnsName"),
            "String",
            &format!("The production ALB's DNS name in {}", region.name),
            &network,
            &out::env(production, out::ALB_DNS),
        );
        b.add(
            &format!("{r}HealthCheck"),
            HealthCheck {
                health_check_config: HealthCheckConfig {
                    r#type: if https { "HTTPS" } else { "HTTP" },
                    fully_qualified_domain_name: dns.clone(),
                    port: if https { 443 } else { 80 },
                    resource_path: spec.service.health_check.path.clone(),
                    request_interval: spec.routing.health_check_interval.as_secs(),
                    failure_threshold: spec.routing.failure_threshold,
                    enable_sni: https.then_some(true),
                },
                health_check_tags: vec![HealthCheckTag {
                    key: "Name".into(),
                    value: format!("{}-{}", cx.names.alb(production), region.name),
                }],
            },
        );
        b.output(
            &format!("{r}HealthCheckId"),
            &format!("The health check of {}", region.name),
            Expr::r#ref(format!("{r}HealthCheck")),
        );
        if zone.is_some() {
            let zone_id = b.from_output(
                &format!("{r}LoadBalancerHostedZoneId"),
                "String",
                &format!("The production ALB's hosted zone in {}", region.name),
                &network,
                &out::env(production, out::ALB_ZONE),
            );
            targets.push((*region, r, dns, zone_id));
        }
    }

    if let Some((domain, zone_id)) = zone {
        let alias = |dns: &Expr, zone: &Expr| AliasTarget {
            dns_name: dns.clone(),
            hosted_zone_id: zone.clone(),
            evaluate_target_health: true,
        };
        let record = |name: &str, target: &(&Region, String, Expr, Expr)| RecordSet {
            hosted_zone_id: zone_id.clone(),
            name: name.to_owned(),
            r#type: "A",
            set_identifier: Some(target.0.name.clone()),
            health_check_id: Some(Expr::r#ref(format!("{}HealthCheck", target.1))),
            alias_target: alias(&target.2, &target.3),
            ..RecordSet::default()
        };
        match spec.routing.mode {
            RoutingMode::ActiveActive => {
                // Each client goes to the nearest healthy region.
                for t in &targets {
                    b.add(
                        &format!("{}Record", t.1),
                        RecordSet {
                            region: Some(t.0.name.clone()),
                            ..record(domain, t)
                        },
                    );
                }
            }
            RoutingMode::Failover => {
                let (first, rest) = targets
                    .split_first()
                    .map_or((None, &[][..]), |(f, r)| (Some(f), r));
                if let Some(p) = first {
                    b.add(
                        "PrimaryRecord",
                        RecordSet {
                            failover: Some("PRIMARY"),
                            ..record(domain, p)
                        },
                    );
                }
                match rest {
                    [] => {}
                    [only] => b.add(
                        "SecondaryRecord",
                        RecordSet {
                            failover: Some("SECONDARY"),
                            ..record(domain, only)
                        },
                    ),
                    many => {
                        // Failover has one SECONDARY: it points at a latency set of secondaries.
                        let inner = format!("secondaries.{domain}");
                        for t in many {
                            b.add(
                                &format!("{}SecondaryRecord", t.1),
                                RecordSet {
                                    region: Some(t.0.name.clone()),
                                    ..record(&inner, t)
                                },
                            );
                        }
                        let inner_ids: Vec<String> = many
                            .iter()
                            .map(|t| format!("{}SecondaryRecord", t.1))
                            .collect();
                        let inner_ids: Vec<&str> = inner_ids.iter().map(String::as_str).collect();
                        b.add(
                            "SecondaryRecord",
                            Resource::new(RecordSet {
                                hosted_zone_id: zone_id.clone(),
                                name: domain.clone(),
                                r#type: "A",
                                set_identifier: Some("secondaries".into()),
                                failover: Some("SECONDARY"),
                                alias_target: AliasTarget {
                                    dns_name: inner.clone().into(),
                                    hosted_zone_id: zone_id.clone().into(),
                                    evaluate_target_health: true,
                                },
                                ..RecordSet::default()
                            })
                            // The alias names records of this stack, not resources it references.
                            .depends_on(&inner_ids),
                        );
                    }
                }
            }
        }
    }
    b.finish()
}
