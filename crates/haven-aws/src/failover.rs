//! `haven aws failover --to REGION` and `haven aws failback`: the seed's manual failover
//! ("update DNS to point to the secondary") done the way AWS recommends for a failover that
//! must work while a region is impaired: the DNS records are not edited; the primary's Route 53
//! health check is **inverted** (UpdateHealthCheck with `Inverted`), so Route 53 considers the
//! primary unhealthy and its failover records answer with the secondary. Failback un-inverts.
//!
//! Sources: Route 53 Developer Guide, "Inverting health checks"
//! (<https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/health-checks-invert.html>: "If
//! you invert a health check, Route 53 considers the health check to be unhealthy when the
//! status is healthy and vice versa"); Application Recovery Controller's routing controls work
//! the same way, as health checks attached to failover records whose state is switched
//! (<https://docs.aws.amazon.com/r53recovery/latest/dg/routing-control.about.html>); and "Creating
//! Disaster Recovery Mechanisms Using Amazon Route 53" (AWS Networking & Content Delivery blog),
//! which recommends failing over through health checks, answered by Route 53's data plane,
//! rather than by changing records. Inverting is one call to Route 53's API (in us-east-1); ARC
//! routing controls are the step up when even that call must not be needed.
//!
//! Generalised to any number of regions: failing over to R inverts every other region's check
//! and un-inverts R's, so failover records (and the latency set of several secondaries) answer
//! R only; failback un-inverts them all. Both are idempotent. Before moving traffic, the
//! target's capacity is checked: it must run at least as many healthy tasks as the primary's
//! production service wants, unless forced.

use std::collections::BTreeMap;

use haven_cfn::names::Names;
use haven_spec::model::RoutingMode;
use serde::Serialize;

use crate::live::{self, HealthCheck};
use crate::{Aws, Bundle, Error, Event, Progress, cfn, verify};

/// Why a failover or failback did not happen.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error(transparent)]
    Aws(#[from] Error),
    #[error(
        "the spec routes no domain (routing.domain and routing.hosted_zone_id), so there are no \
         Route 53 records whose answers a health check could change"
    )]
    NoRecords,
    #[error("unknown region `{region}`: the spec's regions are {}", known.join(", "))]
    UnknownRegion { region: String, known: Vec<String> },
    #[error(
        "`{0}` is the primary region, which failover records already prefer: `haven aws failback` \
         sends the traffic back to it"
    )]
    ToPrimary(String),
    #[error("the global stack `{0}` is not deployed: deploy first")]
    NotDeployed(String),
    #[error("the global stack `{stack}` has no health check for {region}")]
    NoHealthCheck { stack: String, region: String },
    #[error(
        "{region} runs {healthy} healthy tasks, fewer than the {desired} the primary ({primary}) \
         wants for production{}: it may not carry the traffic; pass --force to fail over anyway",
        note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
    )]
    UnderSized {
        region: String,
        healthy: u32,
        primary: String,
        desired: u32,
        note: Option<String>,
    },
}

/// A region's health check, as failover sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheckState {
    pub region: String,
    pub id: String,
    /// Route 53 treats the region as unhealthy while this is true.
    pub inverted: bool,
    #[serde(skip)]
    version: u64,
}

/// One health check to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub region: String,
    pub id: String,
    /// `true`: invert it (traffic leaves the region); `false`: un-invert it.
    pub invert: bool,
}

/// Where the primary's desired count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DesiredSource {
    /// ECS in the primary region (what Application Auto Scaling set).
    Live,
    /// The spec, because the primary's ECS did not answer (the region may be down).
    Spec,
}

/// The target region's capacity against the primary's needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub region: String,
    /// Tasks running and healthy behind the load balancer: the healthy targets of the groups
    /// the production traffic rule forwards to, at most the service's running tasks.
    pub healthy_tasks: u32,
    pub running_tasks: u32,
    pub healthy_targets: u32,
    pub primary: String,
    pub primary_desired: u32,
    pub primary_desired_from: DesiredSource,
    /// What could not be read, when something could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Capacity {
    pub fn enough(&self) -> bool {
        self.healthy_tasks >= self.primary_desired
    }
}

/// What failover or failback would do.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverPlan {
    /// The region traffic goes to; `None` for failback.
    pub to: Option<String>,
    pub health_checks: Vec<HealthCheckState>,
    pub changes: Vec<Change>,
    /// The target's capacity (failover with changes to make).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

impl FailoverPlan {
    /// Refuses an under-sized target unless `force`.
    pub fn check_capacity(&self, force: bool) -> Result<(), FailoverError> {
        match &self.capacity {
            Some(c) if !c.enough() && !force => Err(FailoverError::UnderSized {
                region: c.region.clone(),
                healthy: c.healthy_tasks,
                primary: c.primary.clone(),
                desired: c.primary_desired,
                note: c.note.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// What was done, and the health checks afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    pub to: Option<String>,
    pub changed: Vec<Change>,
    pub health_checks: Vec<HealthCheckState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

/// Reads the health checks and works out what failing over to `to` (or failing back, with
/// `None`) changes; for a failover that changes something, the target's capacity too.
pub async fn plan(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    to: Option<&str>,
) -> Result<FailoverPlan, FailoverError> {
    if spec.routing.domain.is_none() || spec.routing.hosted_zone_id.is_none() {
        return Err(FailoverError::NoRecords);
    }
    if let Some(region) = to {
        if !bundle.regions.iter().any(|r| r == region) {
            return Err(FailoverError::UnknownRegion {
                region: region.to_owned(),
                known: bundle.regions.clone(),
            });
        }
        if region == bundle.primary_region && spec.routing.mode == RoutingMode::Failover {
            return Err(FailoverError::ToPrimary(region.to_owned()));
        }
    }
    let health_checks = health_checks(aws, bundle).await?;
    let changes = changes(&health_checks, to);
    let capacity = match to {
        Some(region) if !changes.is_empty() => Some(capacity(aws, bundle, spec, region).await?),
        _ => None,
    };
    Ok(FailoverPlan {
        to: to.map(str::to_owned),
        health_checks,
        changes,
        capacity,
    })
}

/// Every region's health check, in the bundle's region order.
pub async fn health_checks(
    aws: &Aws,
    bundle: &Bundle,
) -> Result<Vec<HealthCheckState>, FailoverError> {
    let global = bundle
        .stacks
        .iter()
        .find(|s| s.kind == "global")
        .ok_or_else(|| Error::Bundle("the manifest has no global stack".into()))?;
    let cf = aws.cloudformation(&global.region);
    let state = cfn::describe(&cf, &global.region, &global.name)
        .await?
        .ok_or_else(|| FailoverError::NotDeployed(global.name.clone()))?;
    let ids = verify::health_check_ids(aws, &global.region, &state.id, &bundle.regions).await?;
    let mut out = Vec::new();
    for region in &bundle.regions {
        let id = ids
            .get(region)
            .ok_or_else(|| FailoverError::NoHealthCheck {
                stack: global.name.clone(),
                region: region.clone(),
            })?;
        let hc = live::health_check(aws, id).await?;
        out.push(state_of(region, &hc));
    }
    Ok(out)
}

fn state_of(region: &str, hc: &HealthCheck) -> HealthCheckState {
    HealthCheckState {
        region: region.to_owned(),
        id: hc.id.clone(),
        inverted: hc.inverted,
        version: hc.version,
    }
}

/// The changes that make `to` the only region Route 53 sees healthy (every check un-inverted
/// for failback): un-inversions first, so that no moment has every region inverted.
pub fn changes(checks: &[HealthCheckState], to: Option<&str>) -> Vec<Change> {
    let mut out: Vec<Change> = checks
        .iter()
        .filter_map(|c| {
            let invert = to.is_some_and(|t| t != c.region);
            (c.inverted != invert).then(|| Change {
                region: c.region.clone(),
                id: c.id.clone(),
                invert,
            })
        })
        .collect();
    out.sort_by_key(|c| c.invert);
    out
}

/// `to`'s healthy production tasks against the primary's desired count.
pub async fn capacity(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    to: &str,
) -> Result<Capacity, Error> {
    let names = Names::new(spec);
    let production = &spec.environments.production;
    let service = names.ecs_service(production);
    let cluster = names.cluster();
    let mut notes = Vec::new();

    let primary = bundle.primary_region.clone();
    let (primary_desired, primary_desired_from) =
        match live::services(aws, &primary, cluster, std::slice::from_ref(&service)).await {
            Ok(s) if s.contains_key(&service) => (
                s.get(&service).map_or(production.desired, |s| s.desired),
                DesiredSource::Live,
            ),
            Ok(_) => {
                notes.push(format!(
                    "{primary} has no service {service}; the spec's count"
                ));
                (production.desired, DesiredSource::Spec)
            }
            Err(e) => {
                notes.push(format!("{primary} did not answer ({e}); the spec's count"));
                (production.desired, DesiredSource::Spec)
            }
        };

    let running_tasks = match live::services(aws, to, cluster, std::slice::from_ref(&service))
        .await?
        .get(&service)
    {
        Some(s) => s.running,
        None => {
            notes.push(format!("{to} has no service {service}"));
            0
        }
    };
    let healthy_targets = match healthy_targets(aws, bundle, to, production).await {
        Ok(n) => n,
        Err(why) => {
            notes.push(why);
            0
        }
    };
    Ok(Capacity {
        region: to.to_owned(),
        healthy_tasks: running_tasks.min(healthy_targets),
        running_tasks,
        healthy_targets,
        primary,
        primary_desired,
        primary_desired_from,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// Healthy targets in the groups the environment's traffic rule forwards to in `region`.
async fn healthy_targets(
    aws: &Aws,
    bundle: &Bundle,
    region: &str,
    env: &haven_spec::model::Environment,
) -> Result<u32, String> {
    let network = bundle
        .stacks
        .iter()
        .find(|s| s.region == region && s.kind == "network")
        .ok_or_else(|| format!("the manifest has no network stack in {region}"))?;
    let cf = aws.cloudformation(region);
    let state = cfn::describe(&cf, region, &network.name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{} is not deployed", network.name))?;
    let groups = verify::serving_groups(aws, region, &state.outputs, env).await?;
    let mut healthy = 0;
    for arn in groups {
        let targets = live::target_health(aws, region, &arn)
            .await
            .map_err(|e| e.to_string())?;
        healthy += targets
            .iter()
            .filter(|t| t.state == live::TargetState::Healthy)
            .count();
    }
    Ok(u32::try_from(healthy).unwrap_or(u32::MAX))
}

/// Makes the plan's changes, one health check at a time, and reads them all back.
pub async fn execute(
    aws: &Aws,
    plan: &FailoverPlan,
    progress: Progress<'_>,
) -> Result<FailoverReport, FailoverError> {
    let mut states: BTreeMap<String, HealthCheckState> = plan
        .health_checks
        .iter()
        .map(|s| (s.region.clone(), s.clone()))
        .collect();
    for change in &plan.changes {
        let version = states.get(&change.region).map_or(1, |s| s.version);
        let hc = set_inverted(aws, &change.id, change.invert, version).await?;
        progress(Event::Note {
            stack: None,
            message: format!(
                "{} the health check of {} ({}): Route 53 now treats {} as {}",
                if change.invert {
                    "inverted"
                } else {
                    "un-inverted"
                },
                change.region,
                change.id,
                change.region,
                if change.invert {
                    "unhealthy"
                } else {
                    "what its endpoint answers"
                }
            ),
            warning: false,
        });
        states.insert(change.region.clone(), state_of(&change.region, &hc));
    }
    let health_checks = plan
        .health_checks
        .iter()
        .filter_map(|s| states.remove(&s.region))
        .collect();
    Ok(FailoverReport {
        to: plan.to.clone(),
        changed: plan.changes.clone(),
        health_checks,
        capacity: plan.capacity.clone(),
    })
}

/// UpdateHealthCheck with `Inverted`, and the version read before (Route 53 refuses the update
/// with `HealthCheckVersionMismatch` if someone changed the check since).
async fn set_inverted(
    aws: &Aws,
    id: &str,
    inverted: bool,
    version: u64,
) -> Result<HealthCheck, Error> {
    let body = update_body(inverted, version);
    let text = crate::api::rest_xml(
        aws,
        live::ROUTE53_REGION,
        "route53",
        "UpdateHealthCheck",
        "POST",
        format!("/2013-04-01/healthcheck/{id}"),
        Some(body),
    )
    .await?;
    let doc = live::xml::parse(&text).map_err(|e| Error::Call {
        stack: None,
        region: live::ROUTE53_REGION.to_owned(),
        action: "UpdateHealthCheck",
        code: None,
        message: format!("unexpected answer: {e}"),
    })?;
    match live::health_check_of(&doc, &["HealthCheck"]) {
        Some(hc) => Ok(hc),
        // An answer without the check: read it back rather than guess.
        None => live::health_check(aws, id).await,
    }
}

/// The UpdateHealthCheck request (elements in the order of the API reference's syntax).
fn update_body(inverted: bool, version: u64) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <UpdateHealthCheckRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
         <HealthCheckVersion>{version}</HealthCheckVersion>\
         <Inverted>{inverted}</Inverted>\
         </UpdateHealthCheckRequest>"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::live::replay::{self, Replay, block_on};
    use crate::live::tests_data::GET_HEALTH_CHECK;

    fn check(region: &str, inverted: bool) -> HealthCheckState {
        HealthCheckState {
            region: region.into(),
            id: format!("hc-{region}"),
            inverted,
            version: 1,
        }
    }

    fn plan_of(changes: &[Change]) -> Vec<(&str, bool)> {
        changes
            .iter()
            .map(|c| (c.region.as_str(), c.invert))
            .collect()
    }

    #[test]
    fn failover_inverts_every_other_region_and_failback_none() {
        let normal = [
            check("us-east-1", false),
            check("us-west-2", false),
            check("eu-west-1", false),
        ];
        let to_west = [
            check("us-east-1", true),
            check("us-west-2", false),
            check("eu-west-1", true),
        ];
        for (checks, to, want) in [
            (
                &normal,
                Some("us-west-2"),
                vec![("us-east-1", true), ("eu-west-1", true)],
            ),
            // Idempotent: already there.
            (&to_west, Some("us-west-2"), vec![]),
            // From one secondary to another: the new target first, so that some region is
            // always healthy.
            (
                &to_west,
                Some("eu-west-1"),
                vec![("eu-west-1", false), ("us-west-2", true)],
            ),
            (
                &to_west,
                None,
                vec![("us-east-1", false), ("eu-west-1", false)],
            ),
            (&normal, None, vec![]),
        ] {
            assert_eq!(plan_of(&changes(checks, to)), want, "{to:?}");
        }
    }

    fn capacity(healthy: u32, desired: u32) -> Capacity {
        Capacity {
            region: "us-west-2".into(),
            healthy_tasks: healthy,
            running_tasks: healthy,
            healthy_targets: healthy,
            primary: "us-east-1".into(),
            primary_desired: desired,
            primary_desired_from: DesiredSource::Live,
            note: None,
        }
    }

    #[test]
    fn an_under_sized_target_is_refused_unless_forced() {
        let plan = |c: Capacity| FailoverPlan {
            to: Some("us-west-2".into()),
            health_checks: vec![],
            changes: vec![],
            capacity: Some(c),
        };
        let small = plan(capacity(1, 2));
        let err = small.check_capacity(false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "us-west-2 runs 1 healthy tasks, fewer than the 2 the primary (us-east-1) wants for \
             production: it may not carry the traffic; pass --force to fail over anyway"
        );
        assert!(small.check_capacity(true).is_ok());
        assert!(plan(capacity(2, 2)).check_capacity(false).is_ok());
        assert!(plan(capacity(3, 2)).check_capacity(false).is_ok());
    }

    /// UpdateHealthCheck as the API reference spells it, against a recorded answer.
    #[test]
    fn inverting_sends_the_version_read_and_reads_the_answer() {
        let replay = Replay::start();
        let answer = GET_HEALTH_CHECK
            .replace("GetHealthCheckResponse", "UpdateHealthCheckResponse")
            .replace("<Inverted>false</Inverted>", "<Inverted>true</Inverted>")
            .replace(
                "<HealthCheckVersion>2</HealthCheckVersion>",
                "<HealthCheckVersion>3</HealthCheckVersion>",
            );
        replay.on(
            &["POST /2013-04-01/healthcheck/abcdef11-2222-3333-4444-555555fedcba"],
            vec![replay::xml(&answer)],
        );
        let hc = block_on(async {
            let aws = replay.aws().await;
            set_inverted(&aws, "abcdef11-2222-3333-4444-555555fedcba", true, 2)
                .await
                .unwrap()
        });
        assert!(hc.inverted);
        assert_eq!(hc.version, 3);
        let request = &replay.received("UpdateHealthCheckRequest")[0];
        assert!(
            request.ends_with(
                "<UpdateHealthCheckRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
                 <HealthCheckVersion>2</HealthCheckVersion><Inverted>true</Inverted>\
                 </UpdateHealthCheckRequest>"
            ),
            "{request}"
        );
        // Route 53 is signed for us-east-1, whatever region the stacks are in.
        assert!(
            request.contains("/us-east-1/route53/aws4_request"),
            "{request}"
        );
    }

    /// A concurrent change is Route 53's error, named.
    #[test]
    fn a_version_mismatch_is_reported() {
        let replay = Replay::start();
        replay.on(
            &["UpdateHealthCheckRequest"],
            vec![replay::error(
                409,
                "text/xml",
                r#"<?xml version="1.0"?>
<ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error><Type>Sender</Type><Code>HealthCheckVersionMismatch</Code><Message>The value of HealthCheckVersion in the request doesn't match the value of HealthCheckVersion in the health check.</Message></Error><RequestId>5</RequestId></ErrorResponse>"#,
            )],
        );
        let err = block_on(async {
            let aws = replay.aws().await;
            set_inverted(&aws, "hc", true, 1).await.unwrap_err()
        });
        match err {
            Error::Call { code, action, .. } => {
                assert_eq!(code.as_deref(), Some("HealthCheckVersionMismatch"));
                assert_eq!(action, "UpdateHealthCheck");
            }
            other => panic!("{other:?}"),
        }
    }
}
