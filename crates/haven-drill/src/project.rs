//! What a drill would take on AWS: figures projected from the spec's cloud settings (never the
//! `[local]` profile's), each with its formula, the spec's values in it, and the documents its
//! values and behaviours come from.
//!
//! The figures are the time the documented mechanisms take at the configured settings: health
//! checks and their thresholds, alarm periods and datapoints, the alias records' fixed TTL,
//! cooldowns, bake time. Two are typical figures, not guarantees: a Fargate task's start and
//! ECR's replication time. Network and control-plane latencies are left out.

use haven_spec::Spec;
use haven_spec::model::{AlarmKind, Scenario, Strategy};

use crate::report::{Figure, Projection, SourceRef};

/// The figure the policy holds to the RTO.
pub const RTO: Figure = Figure::Rto;
pub const TIME_TO_DETECT: Figure = Figure::TimeToDetect;
pub const TIME_TO_ALARM: Figure = Figure::TimeToAlarm;
pub const TIME_TO_ROLL_BACK: Figure = Figure::TimeToRollBack;
pub const TIME_TO_SCALE_OUT: Figure = Figure::TimeToScaleOut;
pub const TIME_TO_SERVE_SCALED: Figure = Figure::TimeToServeScaled;
pub const SCALE_OUT_STEP: Figure = Figure::ScaleOutStep;
pub const REPLICATION_LAG: Figure = Figure::ReplicationLag;
pub const CATCH_UP: Figure = Figure::CatchUp;
pub const ADDED_LATENCY: Figure = Figure::AddedLatency;
pub const DRAIN: Figure = Figure::Drain;
pub const SEED_RTO: Figure = Figure::SeedRto;

/// A Fargate task's start, from the request to the application listening: typical, not
/// guaranteed (it grows with the image's size). AWS's answer on re:Post: "It is normal for new
/// AWS Fargate tasks to take 30-45 seconds or longer to start"; the upper end is taken.
pub const FARGATE_TASK_START_S: f64 = 45.0;
/// Route 53 alias records to an ELB load balancer take its fixed 60 s TTL; `routing.ttl` is
/// not used by them (haven synthesizes alias records).
pub const ALIAS_TTL_S: f64 = 60.0;
/// ECR: "The majority of images replicate in less than 30 minutes, but in rare cases the
/// replication might take longer."
pub const ECR_REPLICATION_S: f64 = 30.0 * 60.0;
/// The target-tracking policy's scale-out alarm, created by Application Auto Scaling: 3
/// datapoints of the service's 1-minute metric ("3 datapoints within 3 minutes").
pub const TARGET_TRACKING_DATAPOINTS: u32 = 3;
pub const METRIC_PERIOD_S: f64 = 60.0;
/// The seed's estimate of a regional failover (15-20 minutes); the upper end.
pub const SEED_RTO_S: f64 = 20.0 * 60.0;

/// The documents the values come from.
mod docs {
    use crate::report::SourceRef;

    fn doc(title: &str, url: &str) -> SourceRef {
        SourceRef {
            title: title.to_owned(),
            url: url.to_owned(),
        }
    }

    pub fn route53_health() -> SourceRef {
        doc(
            "How Amazon Route 53 determines whether a health check is healthy",
            "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html",
        )
    }
    pub fn route53_alias() -> SourceRef {
        doc(
            "Choosing between alias and non-alias records (Amazon Route 53)",
            "https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resource-record-sets-choosing-alias-non-alias.html",
        )
    }
    pub fn route53_faq() -> SourceRef {
        doc(
            "Amazon Route 53 FAQs (DNS failover: alias records to ELB have a fixed 60 s TTL)",
            "https://aws.amazon.com/route53/faqs/",
        )
    }
    pub fn alb_health() -> SourceRef {
        doc(
            "Health checks for Application Load Balancer target groups",
            "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html",
        )
    }
    pub fn alb_deregistration() -> SourceRef {
        doc(
            "Edit target group attributes: deregistration delay (Application Load Balancers)",
            "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay",
        )
    }
    pub fn ecs_services() -> SourceRef {
        doc(
            "Amazon ECS services (the service scheduler replaces stopped and unhealthy tasks)",
            "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html",
        )
    }
    pub fn fargate_start() -> SourceRef {
        doc(
            "AWS re:Post: How to speed up provisioning of ECS Fargate task (30-45 s is normal)",
            "https://repost.aws/questions/QUjZAzJd27SZWxXM7MgyxOZw/how-to-speed-up-provisioning-of-ecs-fargate-task",
        )
    }
    pub fn fargate_pull() -> SourceRef {
        doc(
            "Linux containers on Fargate container image pull behavior for Amazon ECS",
            "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-pull-behavior.html",
        )
    }
    pub fn alarm_evaluation() -> SourceRef {
        doc(
            "Alarm evaluation (Amazon CloudWatch)",
            "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html",
        )
    }
    pub fn ecs_blue_green() -> SourceRef {
        doc(
            "Amazon ECS blue/green deployments",
            "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html",
        )
    }
    pub fn ecs_deployment_alarms() -> SourceRef {
        doc(
            "How CloudWatch alarms detect Amazon ECS deployment failures",
            "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html",
        )
    }
    pub fn ecs_target_tracking() -> SourceRef {
        doc(
            "Use a target metric to scale Amazon ECS services",
            "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-autoscaling-targettracking.html",
        )
    }
    pub fn app_autoscaling_target_tracking() -> SourceRef {
        doc(
            "Target tracking scaling policies for Application Auto Scaling (cooldown periods)",
            "https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html",
        )
    }
    pub fn ecr_replication() -> SourceRef {
        doc(
            "Private image replication in Amazon ECR (considerations)",
            "https://docs.aws.amazon.com/AmazonECR/latest/userguide/replication.html",
        )
    }
}

/// The projected AWS figures of `scenario` under `spec`.
pub fn project(spec: &Spec, scenario: Scenario) -> Vec<Projection> {
    let p = Parts::of(spec);
    match scenario {
        Scenario::TaskLoss => {
            let mut out = vec![p.alb_detect("the task's target stops answering")];
            out.extend(p.unhealthy_alarm());
            // ECS sees a task's exit itself: the replacement starts at once.
            out.push(p.replacement("ECS replaces the stopped task", 0.0, String::new()));
            out
        }
        Scenario::AzPowerInterruption => {
            let detect = p.alb_detect("the zone's targets stop answering");
            let after = detect.seconds;
            let mut out = vec![detect];
            out.extend(p.unhealthy_alarm());
            // Tasks on hosts that lost power are found by the ALB's health checks.
            out.push(p.replacement(
                "ECS replaces the tasks the ALB finds unhealthy, in the other zones",
                after,
                format!("{} to detect + ", s(after)),
            ));
            out
        }
        Scenario::RegionLoss => {
            let mut out = p.region_failover();
            out.extend(p.replication_lag("images pushed shortly before the loss"));
            out
        }
        Scenario::CrossRegionConnectivity => {
            let mut out: Vec<Projection> = p
                .replication_lag("images pushed during the partition")
                .into_iter()
                .collect();
            out.extend(p.catch_up());
            out
        }
        Scenario::BadRelease => p.bad_release(),
        Scenario::DependencyLatency => p.dependency_latency(),
        Scenario::LoadSpike => p.load_spike(),
    }
}

/// Seconds as a formula writes them: `30 s`, `0.22 s`.
fn s(seconds: f64) -> String {
    format!("{} s", num(seconds))
}

/// A number without a needless fraction: `30`, `0.22`.
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        // Rounded to the millisecond the durations are given in.
        let rounded = (x * 1000.0).round() / 1000.0;
        format!("{rounded}")
    }
}

fn plural(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn projection(
    figure: Figure,
    seconds: f64,
    formula: String,
    sources: Vec<SourceRef>,
) -> Projection {
    Projection {
        figure,
        seconds,
        formula: format!("{formula} = {}", s(seconds)),
        sources,
    }
}

/// The spec's cloud settings the figures are made of, in seconds.
struct Parts<'a> {
    spec: &'a Spec,
    hc_interval: f64,
    unhealthy_threshold: u32,
}

impl<'a> Parts<'a> {
    fn of(spec: &'a Spec) -> Self {
        let hc = &spec.service.health_check;
        Parts {
            spec,
            hc_interval: secs(hc.interval),
            unhealthy_threshold: hc.unhealthy_threshold,
        }
    }

    /// The ALB's health checks marking a silent target unhealthy.
    fn alb_detect(&self, what: &str) -> Projection {
        let t = self.hc_interval * f64::from(self.unhealthy_threshold);
        projection(
            TIME_TO_DETECT,
            t,
            format!(
                "{what}: ALB health checks every {} × {} (unhealthy threshold)",
                s(self.hc_interval),
                plural(self.unhealthy_threshold, "failed check", "failed checks")
            ),
            vec![docs::alb_health()],
        )
    }

    /// The unhealthy-targets alarm, once the ALB counts the target unhealthy. `None` when the
    /// spec turns the alarm off.
    fn unhealthy_alarm(&self) -> Option<Projection> {
        let alarm = self.alarm(AlarmKind::UnhealthyTargets)?;
        let detect = self.hc_interval * f64::from(self.unhealthy_threshold);
        let t = detect + alarm.0 * f64::from(alarm.1);
        Some(projection(
            TIME_TO_ALARM,
            t,
            format!(
                "unhealthy-targets alarm: {} to detect + {} period × {}",
                s(detect),
                s(alarm.0),
                plural(alarm.1, "datapoint", "datapoints")
            ),
            vec![docs::alb_health(), docs::alarm_evaluation()],
        ))
    }

    /// An alarm's period and the datapoints that must breach, when the spec has it.
    fn alarm(&self, kind: AlarmKind) -> Option<(f64, u32)> {
        self.spec
            .monitoring
            .alarms
            .iter()
            .find(|a| a.kind == kind)
            .map(|a| (secs(a.period), a.datapoints_to_alarm))
    }

    /// A replacement task serving: the scheduler starts it (after `after` seconds, spelled
    /// `after_text`), Fargate starts it, the ALB passes it on its first health check.
    fn replacement(&self, why: &str, after: f64, after_text: String) -> Projection {
        let t = after + FARGATE_TASK_START_S + self.hc_interval;
        let sources = vec![
            docs::ecs_services(),
            docs::fargate_start(),
            docs::fargate_pull(),
            docs::alb_health(),
        ];
        projection(
            RTO,
            t,
            format!(
                "{why}: {after_text}{} Fargate task start (typical, not guaranteed) + {} until \
                 its first health check passes (a new target needs one)",
                s(FARGATE_TASK_START_S),
                s(self.hc_interval)
            ),
            sources,
        )
    }

    /// Route 53 stops answering with the lost region once its health check fails, and
    /// resolvers drop the cached answer after the alias record's TTL.
    fn region_failover(&self) -> Vec<Projection> {
        let r = &self.spec.routing;
        let interval = secs(r.health_check_interval);
        let detect = interval * f64::from(r.failure_threshold);
        let mut out = vec![projection(
            TIME_TO_DETECT,
            detect,
            format!(
                "Route 53 health checks every {} × {} (failure threshold)",
                s(interval),
                plural(r.failure_threshold, "failed check", "failed checks")
            ),
            vec![docs::route53_health()],
        )];
        if self.spec.secondaries().next().is_none() {
            // No region to fail over to: nothing recovers until the region does.
            return out;
        }
        let rto = detect + ALIAS_TTL_S;
        out.push(projection(
            RTO,
            rto,
            format!(
                "Route 53 failover: {} interval × {} + {} alias TTL (the ALB's; the seed \
                 estimates 15-20 min)",
                s(interval),
                plural(r.failure_threshold, "failure", "failures"),
                s(ALIAS_TTL_S)
            ),
            vec![
                docs::route53_health(),
                docs::route53_alias(),
                docs::route53_faq(),
            ],
        ));
        out.push(projection(
            SEED_RTO,
            SEED_RTO_S,
            format!(
                "the seed estimates 15-20 min for a regional failover; its upper end, {} more \
                 than Route 53's {}: 20 min × 60 s",
                s(SEED_RTO_S - rto),
                s(rto)
            ),
            Vec::new(),
        ));
        out
    }

    /// ECR's replication of an image pushed to the primary; none without replication.
    fn replication_lag(&self, which: &str) -> Option<Projection> {
        (self.spec.registry.replicate && self.spec.secondaries().next().is_some()).then(|| {
            projection(
                REPLICATION_LAG,
                ECR_REPLICATION_S,
                format!(
                    "{which} may be missing from the secondaries: the majority of images \
                     replicate in less than 30 min (ECR; rarely longer)"
                ),
                vec![docs::ecr_replication()],
            )
        })
    }

    /// After a partition, images pushed during it replicate on their own: ECR replicates
    /// each push, and its documented time is the bound.
    fn catch_up(&self) -> Option<Projection> {
        (self.spec.registry.replicate && self.spec.secondaries().next().is_some()).then(|| {
            projection(
                CATCH_UP,
                ECR_REPLICATION_S,
                "after the heal, each image pushed during the partition replicates as any \
                 push does: the majority in less than 30 min (ECR)"
                    .to_owned(),
                vec![docs::ecr_replication()],
            )
        })
    }

    /// A release that serves errors rolls back on the deployment's 5xx-rate alarm: traffic
    /// goes back to the old version at once (it still runs through the bake time).
    fn bad_release(&self) -> Vec<Projection> {
        let d = &self.spec.service.deployment;
        if !d.rollback_on_alarm {
            return Vec::new();
        }
        // The rollback alarm haven-cfn synthesizes: one 60 s datapoint of the 5xx rate.
        let (period, datapoints) = (METRIC_PERIOD_S, 1);
        let detect = period * f64::from(datapoints);
        let strategy = match d.strategy {
            Strategy::BlueGreen => "blue/green",
            Strategy::Canary => "canary",
            Strategy::Linear => "linear",
            Strategy::Rolling => "rolling",
        };
        let bake = secs(d.bake_time);
        let mut out = vec![
            projection(
                TIME_TO_DETECT,
                detect,
                format!(
                    "the deployment's alarm on more than {}% 5xx: {} period × {}",
                    d.max_5xx_percent,
                    s(period),
                    plural(datapoints, "datapoint", "datapoints")
                ),
                vec![docs::alarm_evaluation(), docs::ecs_deployment_alarms()],
            ),
            projection(
                TIME_TO_ROLL_BACK,
                detect,
                format!(
                    "{strategy}: {} to alarm + 0 s to send traffic back (the old version runs \
                     through the {} bake time)",
                    s(detect),
                    s(bake)
                ),
                vec![docs::ecs_deployment_alarms(), docs::ecs_blue_green()],
            ),
            projection(
                RTO,
                detect,
                format!(
                    "5xx answers from the traffic shift to the rollback: {} to alarm + 0 s back \
                     to the old version; a release whose tasks cannot start never takes \
                     production traffic",
                    s(detect)
                ),
                vec![docs::ecs_deployment_alarms(), docs::ecs_blue_green()],
            ),
        ];
        let drain = secs(self.spec.service.load_balancer.deregistration_delay);
        out.push(projection(
            DRAIN,
            drain,
            format!(
                "the failed version's targets drain for the deregistration delay of {} before \
                 its tasks stop",
                s(drain)
            ),
            vec![docs::alb_deregistration()],
        ));
        out
    }

    /// Latency between the load balancer and the tasks: no alarm watches latency, so it is
    /// seen only when the health checks time out.
    fn dependency_latency(&self) -> Vec<Projection> {
        let p = self.spec.dr.scenario(Scenario::DependencyLatency);
        let (delay, jitter) = (secs(p.delay), secs(p.jitter));
        let worst = delay + jitter;
        let mut out = vec![projection(
            ADDED_LATENCY,
            worst,
            format!(
                "each request and health check waits {} + {} jitter at worst; no alarm watches \
                 latency",
                s(delay),
                s(jitter)
            ),
            vec![docs::alb_health()],
        )];
        let timeout = secs(self.spec.service.health_check.timeout);
        if worst >= timeout {
            let detect = self.hc_interval * f64::from(self.unhealthy_threshold);
            out.push(projection(
                TIME_TO_DETECT,
                detect,
                format!(
                    "health checks time out ({} ≥ {} timeout): every {} × {} (unhealthy \
                     threshold)",
                    s(worst),
                    s(timeout),
                    s(self.hc_interval),
                    plural(self.unhealthy_threshold, "failed check", "failed checks")
                ),
                vec![docs::alb_health()],
            ));
            out.extend(self.unhealthy_alarm());
        }
        out
    }

    /// Target tracking: the scale-out alarm, then new tasks start and pass a health check;
    /// a further step waits for the scale-out cooldown.
    fn load_spike(&self) -> Vec<Projection> {
        let alarm = METRIC_PERIOD_S * f64::from(TARGET_TRACKING_DATAPOINTS);
        let cooldown = secs(self.spec.service.scaling.scale_out_cooldown);
        let serving = alarm + FARGATE_TASK_START_S + self.hc_interval;
        vec![
            projection(
                TIME_TO_SCALE_OUT,
                alarm,
                format!(
                    "target tracking's scale-out alarm (average CPU above its {}% target, or \
                     memory above its {}%): {} datapoints × {} metric period",
                    self.spec.service.scaling.cpu_target,
                    self.spec.service.scaling.memory_target,
                    TARGET_TRACKING_DATAPOINTS,
                    s(METRIC_PERIOD_S)
                ),
                vec![
                    docs::ecs_target_tracking(),
                    docs::app_autoscaling_target_tracking(),
                ],
            ),
            projection(
                TIME_TO_SERVE_SCALED,
                serving,
                format!(
                    "{} to scale out + {} Fargate task start (typical, not guaranteed) + {} \
                     until the first health check passes",
                    s(alarm),
                    s(FARGATE_TASK_START_S),
                    s(self.hc_interval)
                ),
                vec![
                    docs::ecs_target_tracking(),
                    docs::fargate_start(),
                    docs::alb_health(),
                ],
            ),
            projection(
                SCALE_OUT_STEP,
                cooldown,
                format!(
                    "a further scale-out waits for the scale-out cooldown of {} unless it asks \
                     for more",
                    s(cooldown)
                ),
                vec![docs::app_autoscaling_target_tracking()],
            ),
        ]
    }
}

fn secs(d: haven_spec::Dur) -> f64 {
    std::time::Duration::from(d).as_secs_f64()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::{Path, PathBuf};

    use super::*;

    fn example() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello")
    }

    fn default_spec() -> Spec {
        haven_spec::load(&example().join("haven.toml"))
            .unwrap()
            .spec
    }

    /// The example with `edit` applied to its text, loaded from a copy beside its buildspec.
    fn edited(edit: impl Fn(String) -> String) -> Spec {
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(example().join("haven.toml")).unwrap();
        let changed = edit(text.clone());
        assert_ne!(changed, text, "the edit changed nothing");
        std::fs::write(dir.path().join("haven.toml"), changed).unwrap();
        std::fs::copy(
            example().join("buildspec.yml"),
            dir.path().join("buildspec.yml"),
        )
        .unwrap();
        haven_spec::load(&dir.path().join("haven.toml"))
            .unwrap()
            .spec
    }

    fn figure(spec: &Spec, scenario: Scenario, name: Figure) -> Option<f64> {
        project(spec, scenario)
            .into_iter()
            .find(|p| p.figure == name)
            .map(|p| p.seconds)
    }

    // The documented values, as the documents give them.
    /// Route 53: request interval (the spec's 30 s) × failure threshold (3).
    const R53: f64 = 30.0 * 3.0;
    /// The alias record's TTL: an ELB load balancer's, fixed at 60 s.
    const TTL: f64 = 60.0;
    /// The ALB: interval (30 s) × unhealthy threshold (2).
    const ALB: f64 = 30.0 * 2.0;
    /// A typical Fargate start (30-45 s, the upper end), then one health check (30 s).
    const START_AND_CHECK: f64 = 45.0 + 30.0;
    /// The unhealthy-targets alarm: 60 s period × 2 datapoints.
    const UNHEALTHY_ALARM: f64 = 60.0 * 2.0;

    #[test]
    fn the_example_projects_the_documented_figures() {
        let spec = default_spec();
        use Scenario::*;
        let cases: &[(Scenario, Figure, f64)] = &[
            (TaskLoss, TIME_TO_DETECT, ALB),
            (TaskLoss, TIME_TO_ALARM, ALB + UNHEALTHY_ALARM),
            (TaskLoss, RTO, START_AND_CHECK),
            (AzPowerInterruption, TIME_TO_DETECT, ALB),
            (AzPowerInterruption, TIME_TO_ALARM, ALB + UNHEALTHY_ALARM),
            (AzPowerInterruption, RTO, ALB + START_AND_CHECK),
            (RegionLoss, TIME_TO_DETECT, R53),
            (RegionLoss, RTO, R53 + TTL),
            (RegionLoss, SEED_RTO, 20.0 * 60.0),
            (RegionLoss, REPLICATION_LAG, 30.0 * 60.0),
            (CrossRegionConnectivity, REPLICATION_LAG, 30.0 * 60.0),
            (CrossRegionConnectivity, CATCH_UP, 30.0 * 60.0),
            // The rollback alarm: one 60 s datapoint; blue still runs, so traffic is back at once.
            (BadRelease, TIME_TO_DETECT, 60.0),
            (BadRelease, TIME_TO_ROLL_BACK, 60.0),
            (BadRelease, RTO, 60.0),
            (BadRelease, DRAIN, 300.0),
            (DependencyLatency, ADDED_LATENCY, 0.2 + 0.02),
            // Target tracking: 3 datapoints of 1 min; then a start and a health check.
            (LoadSpike, TIME_TO_SCALE_OUT, 3.0 * 60.0),
            (
                LoadSpike,
                TIME_TO_SERVE_SCALED,
                3.0 * 60.0 + START_AND_CHECK,
            ),
            (LoadSpike, SCALE_OUT_STEP, 300.0),
        ];
        for &(scenario, name, expect) in cases {
            let got = figure(&spec, scenario, name);
            assert!(
                got.is_some_and(|g| (g - expect).abs() < 1e-9),
                "{scenario} {name}: {got:?}, expected {expect}"
            );
        }
        // Every figure of every scenario is listed above, and none is left unexplained.
        for scenario in Scenario::ALL {
            for p in project(&spec, scenario) {
                assert!(
                    cases
                        .iter()
                        .any(|(s, n, _)| *s == scenario && *n == p.figure),
                    "{scenario}: {} is not checked",
                    p.figure
                );
                assert!(
                    p.formula.ends_with(&format!("= {}", s(p.seconds))),
                    "{}",
                    p.formula
                );
                assert!(
                    !p.sources.is_empty() || p.figure == SEED_RTO,
                    "{scenario}: {} has no source",
                    p.figure
                );
                for src in &p.sources {
                    assert!(src.url.starts_with("https://"), "{}", src.url);
                }
            }
        }
        // Dependency latency stays under the health check's timeout: no alarm sees it.
        assert_eq!(figure(&spec, DependencyLatency, TIME_TO_DETECT), None);
    }

    #[test]
    fn formulas_carry_the_specs_values() {
        let spec = default_spec();
        let formula = |scenario, name: Figure| {
            project(&spec, scenario)
                .into_iter()
                .find(|p| p.figure == name)
                .map(|p| p.formula)
                .unwrap()
        };
        insta::assert_snapshot!(
            Scenario::ALL
                .into_iter()
                .flat_map(|s| project(&spec, s)
                    .into_iter()
                    .map(move |p| format!("{s} | {}: {}", p.figure, p.formula)))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(
            formula(Scenario::RegionLoss, RTO),
            "Route 53 failover: 30 s interval × 3 failures + 60 s alias TTL (the ALB's; the \
             seed estimates 15-20 min) = 150 s"
        );
    }

    #[test]
    fn changed_settings_move_the_figures() {
        use Scenario::*;
        type Edit = fn(String) -> String;
        let cases: &[(&str, Edit, Scenario, Figure, f64)] = &[
            (
                "Route 53 checks every 10 s, 2 failures",
                |t| {
                    t.replace(
                        "health_check_interval = \"30s\"         # 10s or 30s\nfailure_threshold = 3",
                        "health_check_interval = \"10s\"\nfailure_threshold = 2",
                    )
                },
                RegionLoss,
                RTO,
                10.0 * 2.0 + TTL,
            ),
            (
                "ALB checks every 10 s, 3 failures",
                |t| {
                    t.replace(
                        "interval = \"30s\"                      # ALB",
                        "interval = \"10s\"                      # ALB",
                    )
                    .replace("unhealthy_threshold = 2 ", "unhealthy_threshold = 3 ")
                },
                AzPowerInterruption,
                RTO,
                10.0 * 3.0 + 45.0 + 10.0,
            ),
            (
                "the unhealthy-targets alarm over 3 datapoints of 30 s",
                |t| {
                    t.replace(
                        "[monitoring.alarms.unhealthy_targets]\nthreshold = 1",
                        "[monitoring.alarms.unhealthy_targets]\nthreshold = 1\nperiod = \"30s\"\nevaluation_periods = 3",
                    )
                },
                TaskLoss,
                TIME_TO_ALARM,
                ALB + 30.0 * 3.0,
            ),
            (
                "a 60 s scale-out cooldown",
                |t| {
                    t.replace(
                        "scale_out_cooldown = \"300s\"",
                        "scale_out_cooldown = \"60s\"",
                    )
                },
                LoadSpike,
                SCALE_OUT_STEP,
                60.0,
            ),
            (
                "a 30 s deregistration delay",
                |t| {
                    t.replace(
                        "deregistration_delay = \"300s\"",
                        "deregistration_delay = \"30s\"",
                    )
                },
                BadRelease,
                DRAIN,
                30.0,
            ),
            (
                "a 1 s delay with 100 ms jitter",
                |t| {
                    t.replace(
                        "[dr.scenarios.load-spike]",
                        "[dr.scenarios.dependency-latency]\ndelay = \"1s\"\njitter = \"100ms\"\n\n[dr.scenarios.load-spike]",
                    )
                },
                DependencyLatency,
                ADDED_LATENCY,
                1.1,
            ),
            (
                "latency past the health check's timeout",
                |t| {
                    t.replace(
                        "[dr.scenarios.load-spike]",
                        "[dr.scenarios.dependency-latency]\ndelay = \"5s\"\n\n[dr.scenarios.load-spike]",
                    )
                },
                DependencyLatency,
                TIME_TO_DETECT,
                ALB,
            ),
        ];
        let spec = default_spec();
        for (what, edit, scenario, name, expect) in cases {
            let before = figure(&spec, *scenario, *name);
            let after = figure(&edited(edit), *scenario, *name);
            assert!(
                after.is_some_and(|a| (a - expect).abs() < 1e-9),
                "{what}: {scenario} {name} is {after:?}, expected {expect}"
            );
            assert_ne!(before, after, "{what}: {scenario} {name} did not move");
        }
    }

    #[test]
    fn figures_a_spec_turns_off_are_not_projected() {
        use Scenario::*;
        let no_rollback = edited(|t| {
            t.replace(
                "max_5xx_percent = 1 ",
                "rollback_on_alarm = false\nmax_5xx_percent = 1 ",
            )
        });
        assert!(project(&no_rollback, BadRelease).is_empty());
        let no_alarm = edited(|t| {
            t.replace(
                "[monitoring.alarms.unhealthy_targets]\nthreshold = 1",
                "[monitoring.alarms.unhealthy_targets]\nenabled = false",
            )
        });
        assert_eq!(figure(&no_alarm, TaskLoss, TIME_TO_ALARM), None);
        let no_replication = edited(|t| {
            t.replace(
                "replicate = true                      # primary -> secondaries",
                "replicate = false",
            )
        });
        assert_eq!(figure(&no_replication, RegionLoss, REPLICATION_LAG), None);
        assert_eq!(
            figure(&no_replication, CrossRegionConnectivity, CATCH_UP),
            None
        );
    }
}
