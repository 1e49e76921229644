//! A region's CloudWatch twin at work: every metrics interval it records the services' ECS and
//! ALB metrics under AWS's names and dimensions, evaluates the spec's alarms, and publishes each
//! state change to the spec's topic through the SNS twin.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use haven_metrics::catalog as cw;
use haven_metrics::{
    AlarmSpec, Comparison, MetricStore, MissingData, Observation, Sample, Stat, StatisticSet,
    Transition, Unit,
};
use haven_notify::{AlarmChange, AlarmState, Message, Notifier};
use haven_proxy::MetricsSnapshot;
use haven_spec::model::{AlarmKind, Spec};
use tokio::sync::watch;

use super::service::ServiceTwin;
use crate::lock;

/// Dimensions of a service's metrics, as the twin names its resources.
pub struct Names {
    pub cluster: String,
    pub service: String,
    pub load_balancer: String,
    pub target_group: String,
}

impl Names {
    pub fn of(project: &str, svc: &ServiceTwin) -> Self {
        Self::new(project, &svc.settings.name)
    }

    /// The names of service `name` (`hello-production`) of `project`; the dashboard asks for
    /// metrics by them.
    pub fn new(project: &str, name: &str) -> Self {
        Self {
            cluster: project.to_owned(),
            service: name.to_owned(),
            load_balancer: format!("app/{name}-alb/local"),
            target_group: format!("targetgroup/{name}-tg/local"),
        }
    }
}

/// One datapoint to record.
struct Point<'a> {
    dims: [(&'static str, &'a str); 2],
    namespace: &'static str,
    name: &'static str,
    unit: Unit,
    value: Observation,
}

pub struct Monitor {
    pub store: Mutex<MetricStore>,
    pub notifier: Option<Notifier>,
    project: String,
    region: String,
    services: Vec<(Arc<ServiceTwin>, Names)>,
}

/// The spec's alarms for one service, on the `[local]` profile's alarm period, named, compared
/// and treating missing data as `haven synth` has them.
pub fn alarm_specs(spec: &Spec, names: &Names, environment: &str) -> Vec<AlarmSpec> {
    use haven_spec::model::MissingData as Treat;
    let period: Duration = spec.local.alarm_period.into();
    let svc_dims = [
        (cw::CLUSTER_NAME.to_owned(), names.cluster.clone()),
        (cw::SERVICE_NAME.to_owned(), names.service.clone()),
    ];
    let lb_dims = [
        (cw::LOAD_BALANCER.to_owned(), names.load_balancer.clone()),
        (cw::TARGET_GROUP.to_owned(), names.target_group.clone()),
    ];
    let over = Comparison::GreaterThanThreshold;
    let at_least = Comparison::GreaterThanOrEqualToThreshold;
    let mut out = Vec::new();
    for a in &spec.monitoring.alarms {
        // (name suffix, namespace, metric, dimensions, statistic, comparison)
        let defs = match a.kind {
            AlarmKind::Cpu => vec![(
                "cpu",
                cw::ECS,
                cw::CPU_UTILIZATION,
                &svc_dims,
                Stat::Average,
                over,
            )],
            AlarmKind::Memory => vec![(
                "memory",
                cw::ECS,
                cw::MEMORY_UTILIZATION,
                &svc_dims,
                Stat::Average,
                over,
            )],
            AlarmKind::Http5xx => vec![
                (
                    "alb-5xx",
                    cw::ALB,
                    cw::HTTP_CODE_ELB_5XX,
                    &lb_dims,
                    Stat::Sum,
                    at_least,
                ),
                (
                    "target-5xx",
                    cw::ALB,
                    cw::HTTP_CODE_TARGET_5XX,
                    &lb_dims,
                    Stat::Sum,
                    at_least,
                ),
            ],
            AlarmKind::UnhealthyTargets => vec![(
                "unhealthy-targets",
                cw::ALB,
                cw::UNHEALTHY_HOST_COUNT,
                &lb_dims,
                Stat::Maximum,
                at_least,
            )],
            // Not a metric alarm: on AWS an EventBridge rule reports failed executions, and on
            // the twin the pipeline process publishes them to the topic itself.
            AlarmKind::PipelineFailure => Vec::new(),
        };
        for (label, namespace, metric, dims, stat, comparison) in defs {
            out.push(AlarmSpec {
                name: format!("{}-{label}", names.service),
                description: Some(format!("{metric} of {} ({environment})", names.service)),
                namespace: namespace.to_owned(),
                metric: metric.to_owned(),
                dims: dims.to_vec(),
                unit: None,
                stat,
                period,
                evaluation_periods: a.evaluation_periods,
                datapoints_to_alarm: a.datapoints_to_alarm,
                threshold: a.threshold,
                comparison,
                missing_data: match a.missing_data {
                    Treat::Missing => MissingData::Missing,
                    Treat::NotBreaching => MissingData::NotBreaching,
                    Treat::Breaching => MissingData::Breaching,
                    Treat::Ignore => MissingData::Ignore,
                },
                actions_topic: Some(spec.monitoring.notify.clone()),
            });
        }
    }
    out
}

impl Monitor {
    pub fn new(
        store: MetricStore,
        notifier: Option<Notifier>,
        project: &str,
        region: &str,
        services: Vec<(Arc<ServiceTwin>, Names)>,
    ) -> Self {
        Self {
            store: Mutex::new(store),
            notifier,
            project: project.to_owned(),
            region: region.to_owned(),
            services,
        }
    }

    /// Records, evaluates and publishes every `interval` until `shutdown`.
    pub async fn run(self: Arc<Self>, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Vec<Option<MetricsSnapshot>> = vec![None; self.services.len()];
        let mut last_compact = Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let now = haven_time::now();
            self.record(now, &mut last);
            let transitions = {
                let mut store = lock(&self.store);
                if last_compact.elapsed() >= Duration::from_secs(60) {
                    last_compact = Instant::now();
                    if let Err(e) = store.compact(now) {
                        tracing::warn!("metrics compaction: {e}");
                    }
                }
                match store
                    .evaluate_alarms(now)
                    .and_then(|_| store.pending_transitions())
                {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!("alarm evaluation: {e}");
                        Vec::new()
                    }
                }
            };
            for t in transitions {
                self.publish(&t).await;
            }
        }
    }

    fn record(&self, now: SystemTime, last: &mut [Option<MetricsSnapshot>]) {
        let mut points: Vec<Point<'_>> = Vec::new();
        for (i, (svc, names)) in self.services.iter().enumerate() {
            let svc_dims = [
                (cw::CLUSTER_NAME, names.cluster.as_str()),
                (cw::SERVICE_NAME, names.service.as_str()),
            ];
            let lb_dims = [
                (cw::LOAD_BALANCER, names.load_balancer.as_str()),
                (cw::TARGET_GROUP, names.target_group.as_str()),
            ];
            let ecs = |name, value: f64| Point {
                dims: svc_dims,
                namespace: cw::ECS,
                name,
                unit: Unit::Percent,
                value: value.into(),
            };
            let alb = |name, unit, value: Observation| Point {
                dims: lb_dims,
                namespace: cw::ALB,
                name,
                unit,
                value,
            };
            if let Some((cpu, mem)) = svc.utilisation() {
                points.push(ecs(cw::CPU_UTILIZATION, cpu));
                points.push(ecs(cw::MEMORY_UTILIZATION, mem));
            }
            let (healthy, unhealthy) = svc.host_counts();
            points.push(alb(
                cw::HEALTHY_HOST_COUNT,
                Unit::Count,
                (healthy as f64).into(),
            ));
            points.push(alb(
                cw::UNHEALTHY_HOST_COUNT,
                Unit::Count,
                (unhealthy as f64).into(),
            ));
            let snap = svc.listener_metrics();
            // Counters become per-interval counts, as CloudWatch's Sum over a period expects.
            if let Some(prev) = &last[i] {
                let delta = |now: u64, before: u64| (now.saturating_sub(before) as f64).into();
                for (name, value) in [
                    (
                        cw::REQUEST_COUNT,
                        delta(snap.request_count, prev.request_count),
                    ),
                    (
                        cw::HTTP_CODE_TARGET_2XX,
                        delta(snap.http_code_target_2xx, prev.http_code_target_2xx),
                    ),
                    (
                        cw::HTTP_CODE_TARGET_4XX,
                        delta(snap.http_code_target_4xx, prev.http_code_target_4xx),
                    ),
                    (
                        cw::HTTP_CODE_TARGET_5XX,
                        delta(snap.http_code_target_5xx, prev.http_code_target_5xx),
                    ),
                    (
                        cw::HTTP_CODE_ELB_5XX,
                        delta(snap.http_code_elb_5xx, prev.http_code_elb_5xx),
                    ),
                ] {
                    points.push(alb(name, Unit::Count, value));
                }
                let count = snap
                    .target_response_time_count
                    .saturating_sub(prev.target_response_time_count);
                if count > 0 {
                    let sum = snap
                        .target_response_time_sum
                        .saturating_sub(prev.target_response_time_sum)
                        .as_secs_f64();
                    let avg = sum / count as f64;
                    let set = StatisticSet {
                        sample_count: count as f64,
                        sum,
                        minimum: avg,
                        maximum: avg,
                    };
                    points.push(alb(cw::TARGET_RESPONSE_TIME, Unit::Seconds, set.into()));
                }
            }
            last[i] = Some(snap);
        }
        let samples: Vec<Sample<'_>> = points
            .iter()
            .map(|p| Sample::new(p.namespace, p.name, &p.dims, p.unit, p.value, now))
            .collect();
        if let Err(e) = lock(&self.store).put_many(&samples) {
            tracing::warn!("cannot record metrics: {e}");
        }
    }

    async fn publish(&self, t: &Transition) {
        let Some(notifier) = &self.notifier else {
            self.mark(t.id);
            return;
        };
        let state = |s: haven_metrics::StateValue| match s {
            haven_metrics::StateValue::Ok => AlarmState::Ok,
            haven_metrics::StateValue::Alarm => AlarmState::Alarm,
            haven_metrics::StateValue::InsufficientData => AlarmState::InsufficientData,
        };
        let change = AlarmChange {
            name: t.alarm.clone(),
            description: t.description.clone(),
            region: self.region.clone(),
            service: t.dim(cw::SERVICE_NAME).map(str::to_owned),
            condition: Some(t.condition.clone()),
            old_state: state(t.from),
            new_state: state(t.to),
            reason: t.reason.clone(),
            at: t.at,
        };
        let topic = t
            .actions_topic
            .clone()
            .unwrap_or_else(|| "alerts".to_owned());
        match notifier
            .publish(Message::alarm(&self.project, &topic, &change))
            .await
        {
            Ok(_) => self.mark(t.id),
            Err(e) => tracing::warn!("cannot publish alarm {}'s change: {e}", t.alarm),
        }
    }

    fn mark(&self, id: i64) {
        if let Err(e) = lock(&self.store).mark_published(id) {
            tracing::warn!("cannot mark an alarm change published: {e}");
        }
    }
}
