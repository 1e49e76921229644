//! From what a drill recorded (requests, status polls) and what the twin kept (alarm history,
//! the SNS twin's outboxes) to the drill's figures, timeline and events.

use std::time::{Duration, Instant};

use haven_metrics::{AlarmStatus, HistoryItem, HistoryKind, StateValue};
use haven_notify::{DeliveryState, Outbox};
use haven_spec::model::{DrScenario, Scenario};

use crate::Error;
use crate::engine::{Ctx, SAMPLE};
use crate::load::{Record, quantile};
use crate::observe::Observation;
use crate::report::{
    AlarmChange, Drill, Event, EventKind, LoadSummary, Measured, Notification, Sample, SteadyState,
};
use crate::scenarios::Watch;

/// A drill's phases, in milliseconds since its start (`started_at_ms` is the start itself).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub started_at_ms: u64,
    pub fault_ms: u64,
    /// The steady-state check after the heal starts here.
    pub after_from: u64,
    pub end_ms: u64,
}

pub(crate) struct Inputs<'a> {
    pub url: String,
    pub rps: u32,
    pub target: String,
    pub window: Window,
    pub heal_ms: Option<u64>,
    pub recovered_ms: Option<u64>,
    pub records: &'a [Record],
    pub observations: &'a [Observation],
    pub before: &'a Observation,
    pub watch: &'a Watch,
    pub events: Vec<Event>,
    pub notes: Vec<String>,
}

/// How long the SNS twin may take to settle the drill's notifications (retries included)
/// before the report says what it knows.
const NOTIFY_SETTLE: Duration = Duration::from_secs(15);

pub(crate) async fn assemble(
    ctx: &Ctx<'_>,
    scenario: Scenario,
    policy: &DrScenario,
    i: Inputs<'_>,
) -> Result<Drill, Error> {
    let w = i.window;
    let mut events = i.events;
    let mut notes = i.notes;

    let alarms = alarm_changes(ctx, w).await;
    let alarms = match alarms {
        Ok(a) => a,
        Err(e) => {
            notes.push(format!("alarm history could not be read: {e}"));
            Vec::new()
        }
    };
    let notifications = notifications(ctx, w).await?;

    // Detection: the scenario's own first sign, or the first alarm, whichever came first.
    let own = detection(i.watch, i.observations, i.before, w);
    let first_alarm = alarms
        .iter()
        .find(|a| a.to == StateValue::Alarm && a.t_ms >= w.fault_ms)
        .map(|a| (a.t_ms, format!("alarm {} in {}", a.alarm, a.region)));
    let detected = match (own, first_alarm) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    };
    if let Some((t, what)) = &detected {
        events.push(Event {
            t_ms: *t,
            kind: EventKind::Detected,
            text: what.clone(),
        });
    }
    if let Some(t) = i.recovered_ms {
        events.push(Event {
            t_ms: t,
            kind: EventKind::Recovered,
            text: "full service".into(),
        });
    }
    events.extend(changes(i.observations, i.before));
    if let Watch::Release {
        ended: Some(release),
        ..
    } = i.watch
    {
        for step in &release.steps {
            events.push(Event {
                t_ms: step.at_ms.saturating_sub(w.started_at_ms),
                kind: EventKind::Release,
                text: step.step.clone(),
            });
        }
    }
    for a in &alarms {
        events.push(Event {
            t_ms: a.t_ms,
            kind: EventKind::Alarm,
            text: format!(
                "{} in {}: {} → {}",
                a.alarm,
                a.region,
                a.from.as_str(),
                a.to.as_str()
            ),
        });
    }
    for n in &notifications {
        events.push(Event {
            t_ms: n.delivered_ms.unwrap_or(n.t_ms),
            kind: EventKind::Notification,
            text: format!(
                "{} {} to {}: {}",
                if n.delivered {
                    "delivered"
                } else {
                    "not delivered"
                },
                n.protocol_name(),
                n.endpoint,
                n.subject
            ),
        });
    }
    events.sort_by_key(|e| (e.t_ms, e.kind));

    let during: Vec<&Record> = i
        .records
        .iter()
        .filter(|r| r.sent_ms >= w.fault_ms)
        .collect();
    let mut during_latency: Vec<f64> = i
        .records
        .iter()
        .filter(|r| r.sent_ms >= w.fault_ms && r.sent_ms < w.after_from && !r.failed())
        .map(|r| r.latency_ms)
        .collect();
    let scaled = match i.watch {
        Watch::Spike { region, desired } => Some((
            *desired,
            i.observations
                .iter()
                .filter_map(|o| o.region(region))
                .map(|r| r.desired)
                .max()
                .unwrap_or(*desired),
        )),
        _ => None,
    };
    let measured = Measured {
        detect_ms: detected.as_ref().map(|(t, _)| t.saturating_sub(w.fault_ms)),
        detected_by: detected.map(|(_, what)| what),
        rto_ms: i.recovered_ms.map(|t| t.saturating_sub(w.fault_ms)),
        failed_requests: during.iter().filter(|r| r.failed()).count() as u64,
        p99_during_ms: quantile(&mut during_latency, 0.99),
        rpo: None,
        catch_up_ms: None,
        rolled_back: None,
        scaled,
    };

    let max_5xx = f64::from(ctx.spec.service.deployment.max_5xx_percent);
    let max_p99 = policy
        .max_p99
        .map(|d| Duration::from(d).as_secs_f64() * 1000.0);
    let steady_before = steady(
        i.records,
        w.fault_ms
            .saturating_sub(crate::millis(crate::engine::STEADY)),
        w.fault_ms,
        crate::engine::at(i.observations, w.fault_ms),
        max_5xx,
        max_p99,
    );
    let steady_after = steady(
        i.records,
        w.after_from,
        w.end_ms,
        crate::engine::at(i.observations, w.end_ms),
        max_5xx,
        max_p99,
    );

    let mut all_latency: Vec<f64> = i
        .records
        .iter()
        .filter(|r| !r.failed())
        .map(|r| r.latency_ms)
        .collect();
    let load = LoadSummary {
        url: i.url,
        rps: i.rps,
        sent: i.records.len() as u64,
        ok: i.records.iter().filter(|r| !r.failed()).count() as u64,
        failed: i.records.iter().filter(|r| r.failed()).count() as u64,
        p50_ms: quantile(&mut all_latency, 0.5),
        p99_ms: quantile(&mut all_latency, 0.99),
        max_ms: all_latency.last().copied().unwrap_or(0.0),
    };
    if scenario == Scenario::DependencyLatency && detected_is_none(&events) {
        notes.push(
            "no alarm watches latency in this spec, so nothing detected the added latency; \
             the p99 during the fault shows its effect"
                .into(),
        );
    }

    Ok(Drill {
        scenario,
        target: i.target,
        started_at_ms: w.started_at_ms,
        fault_ms: w.fault_ms,
        heal_ms: i.heal_ms,
        end_ms: w.end_ms,
        load,
        steady_before,
        steady_after,
        measured,
        projected: Vec::new(),
        verdicts: Vec::new(),
        passed: false,
        sample_ms: crate::millis(SAMPLE),
        timeline: timeline(i.records, i.observations, w.end_ms),
        events,
        alarms,
        notifications,
        notes,
    })
}

fn detected_is_none(events: &[Event]) -> bool {
    !events.iter().any(|e| e.kind == EventKind::Detected)
}

/// The scenario's own first sign of the fault, from the status polls.
fn detection(
    watch: &Watch,
    seen: &[Observation],
    before: &Observation,
    w: Window,
) -> Option<(u64, String)> {
    let fault_ms = w.fault_ms;
    let mut after = seen.iter().filter(|o| !o.missing && o.t_ms >= fault_ms);
    match watch {
        Watch::Task { region, task } => after
            .find(|o| {
                o.region(region)
                    .is_some_and(|r| !r.healthy_tasks.contains(task))
            })
            .map(|o| (o.t_ms, format!("task {task} left {region}'s target group"))),
        Watch::Az { region, az } => after
            .find(|o| {
                o.region(region).is_some_and(|r| {
                    r.impaired_azs.contains(az)
                        || before.region(region).is_some_and(|b| r.healthy < b.healthy)
                })
            })
            .map(|o| {
                (
                    o.t_ms,
                    format!("{az}'s targets left {region}'s target group"),
                )
            }),
        Watch::Region { region } => after
            .find(|o| o.region(region).is_some_and(|r| !r.edge_healthy))
            .map(|o| (o.t_ms, format!("the edge's health check failed {region}"))),
        Watch::Spike { region, desired } => after
            .find(|o| o.region(region).is_some_and(|r| r.desired > *desired))
            .map(|o| {
                (
                    o.t_ms,
                    format!("autoscaling raised {region}'s desired count"),
                )
            }),
        Watch::Release {
            ended: Some(release),
            region,
            ..
        } if release.state == haven_state::ReleaseState::RolledBack => release
            .ended_at_ms
            .or(release.steps.last().map(|s| s.at_ms))
            .map(|at| {
                (
                    at.saturating_sub(w.started_at_ms),
                    format!("the release in {region} failed and rolled back"),
                )
            }),
        Watch::Release { .. } | Watch::Partition | Watch::Latency => None,
    }
}

/// Failovers and scaling seen in the status polls, as events.
fn changes(seen: &[Observation], before: &Observation) -> Vec<Event> {
    let mut out = Vec::new();
    let mut serving = before.serving_regions.clone();
    let mut desired: Vec<(String, u32)> = before
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.desired))
        .collect();
    for o in seen.iter().filter(|o| !o.missing && o.t_ms > before.t_ms) {
        if o.serving_regions != serving {
            out.push(Event {
                t_ms: o.t_ms,
                kind: EventKind::Failover,
                text: if o.serving_regions.is_empty() {
                    "the edge serves no region".into()
                } else {
                    format!("the edge serves {}", o.serving_regions.join(", "))
                },
            });
            serving = o.serving_regions.clone();
        }
        for r in o.regions.iter().filter(|r| r.running) {
            if let Some(d) = desired.iter_mut().find(|(n, _)| *n == r.name) {
                if d.1 != r.desired && r.desired > 0 {
                    out.push(Event {
                        t_ms: o.t_ms,
                        kind: EventKind::Scaling,
                        text: format!("{} desired {} → {}", r.name, d.1, r.desired),
                    });
                    d.1 = r.desired;
                }
            }
        }
    }
    out
}

fn steady(
    records: &[Record],
    from: u64,
    to: u64,
    o: Option<&Observation>,
    max_5xx_percent: f64,
    max_p99: Option<f64>,
) -> SteadyState {
    let window: Vec<&Record> = records
        .iter()
        .filter(|r| r.sent_ms >= from && r.sent_ms < to)
        .collect();
    let requests = window.len() as u64;
    let failed = window.iter().filter(|r| r.failed()).count() as u64;
    let error_percent = if requests == 0 {
        0.0
    } else {
        failed as f64 * 100.0 / requests as f64
    };
    let mut lat: Vec<f64> = window
        .iter()
        .filter(|r| !r.failed())
        .map(|r| r.latency_ms)
        .collect();
    let p99_ms = quantile(&mut lat, 0.99);
    let healthy_targets = o.map_or(0, Observation::healthy_targets);
    let desired = o.map_or(0, |o| o.regions.iter().map(|r| r.desired).sum());
    let serving_regions = o.map(|o| o.serving_regions.clone()).unwrap_or_default();
    let mut why = Vec::new();
    if requests == 0 {
        why.push("no request was answered".to_owned());
    }
    if error_percent > max_5xx_percent {
        why.push(format!(
            "{error_percent:.1} % of requests failed (limit {max_5xx_percent} %, the spec's max_5xx_percent)"
        ));
    }
    if let Some(limit) = max_p99 {
        if p99_ms > limit {
            why.push(format!("p99 {p99_ms:.0} ms (limit {limit:.0} ms)"));
        }
    }
    if healthy_targets < desired {
        why.push(format!("{healthy_targets} of {desired} targets healthy"));
    }
    if serving_regions.is_empty() {
        why.push("the edge serves no region".into());
    }
    SteadyState {
        requests,
        failed,
        error_percent,
        p99_ms,
        healthy_targets,
        desired,
        serving_regions,
        passed: why.is_empty(),
        reason: why.join("; "),
    }
}

fn timeline(records: &[Record], seen: &[Observation], end_ms: u64) -> Vec<Sample> {
    let step = crate::millis(SAMPLE).max(1);
    let buckets = end_ms / step + 1;
    let mut out: Vec<Sample> = (0..buckets)
        .map(|k| Sample {
            t_ms: k * step,
            ..Sample::default()
        })
        .collect();
    let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); out.len()];
    for r in records {
        let k = usize::try_from(r.sent_ms / step).unwrap_or(usize::MAX);
        if let Some(s) = out.get_mut(k) {
            s.requests += 1;
            if r.failed() {
                s.errors += 1;
            } else {
                latencies[k].push(r.latency_ms);
            }
        }
    }
    for (s, mut l) in out.iter_mut().zip(latencies) {
        s.p99_ms = quantile(&mut l, 0.99);
        if let Some(o) = crate::engine::at(seen, s.t_ms + step) {
            s.healthy_targets = o.healthy_targets();
            s.serving_regions = o.serving_regions.clone();
        }
    }
    out
}

/// Every alarm state change of every region inside the drill's window.
async fn alarm_changes(ctx: &Ctx<'_>, w: Window) -> Result<Vec<AlarmChange>, Error> {
    let from = w.started_at_ms;
    let to = w.started_at_ms + w.end_ms;
    let mut out = Vec::new();
    for region in &ctx.spec.regions {
        let alarms: Vec<AlarmStatus> = ctx
            .client
            .get(&format!("/regions/{}/alarms", region.name))
            .await?;
        for a in alarms {
            let history: Vec<HistoryItem> = ctx
                .client
                .get(&format!(
                    "/regions/{}/alarms/{}/history",
                    region.name, a.spec.name
                ))
                .await?;
            for h in history {
                let at = haven_time::unix_millis(h.at);
                if h.kind != HistoryKind::StateUpdate || at < from || at > to {
                    continue;
                }
                let (Some(f), Some(t)) = (h.from, h.to) else {
                    continue;
                };
                out.push(AlarmChange {
                    t_ms: at - from,
                    region: region.name.clone(),
                    alarm: h.alarm.clone(),
                    from: f,
                    to: t,
                });
            }
        }
    }
    out.sort_by_key(|a| a.t_ms);
    Ok(out)
}

/// The SNS twin's messages published during the drill, each delivery with its outcome,
/// waiting a while for deliveries still being tried.
async fn notifications(ctx: &Ctx<'_>, w: Window) -> Result<Vec<Notification>, Error> {
    let from = w.started_at_ms;
    let to = w.started_at_ms + w.end_ms;
    let mut dirs: Vec<std::path::PathBuf> = ctx
        .spec
        .regions
        .iter()
        .map(|r| ctx.paths.region_dir(&r.name).join("outbox"))
        .collect();
    dirs.push(ctx.paths.pipeline_dir().join("outbox"));
    let deadline = Instant::now() + NOTIFY_SETTLE;
    loop {
        let mut out = Vec::new();
        let mut settled = true;
        for dir in &dirs {
            let outbox = Outbox::open(dir)?;
            for entry in outbox.list(1000)? {
                let Some(at) = haven_time::parse_rfc3339(&entry.message.timestamp) else {
                    continue;
                };
                if at < from || at > to {
                    continue;
                }
                settled &= entry.is_settled();
                for d in &entry.deliveries {
                    out.push(Notification {
                        t_ms: at - from,
                        subject: entry.message.subject.clone(),
                        protocol: d.protocol,
                        endpoint: d.endpoint.clone(),
                        delivered: d.state == DeliveryState::Delivered,
                        delivered_ms: d
                            .delivered_at
                            .as_deref()
                            .and_then(haven_time::parse_rfc3339)
                            .map(|t| t.saturating_sub(from)),
                        error: d.last_error.clone(),
                    });
                }
            }
        }
        if settled || Instant::now() > deadline {
            out.sort_by_key(|n| n.t_ms);
            return Ok(out);
        }
        tokio::time::sleep(SAMPLE).await;
    }
}

impl Notification {
    fn protocol_name(&self) -> &'static str {
        match self.protocol {
            haven_notify::Protocol::Email => "e-mail",
            haven_notify::Protocol::Webhook => "webhook",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sent_ms: u64, latency_ms: f64, status: Option<u16>) -> Record {
        Record {
            sent_ms,
            latency_ms,
            status,
        }
    }

    #[test]
    fn the_timeline_buckets_requests_by_send_time() {
        assert_eq!(
            SAMPLE.as_millis(),
            250,
            "the records below sit in 250 ms buckets"
        );
        let records = [
            rec(10, 5.0, Some(200)),
            rec(150, 7.0, Some(200)),
            rec(260, 900.0, None),
            rec(390, 3.0, Some(503)),
        ];
        let t = timeline(&records, &[], 399);
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].requests, t[0].errors, t[0].p99_ms), (2, 0, 7.0));
        assert_eq!((t[1].requests, t[1].errors, t[1].p99_ms), (2, 2, 0.0));
    }

    #[test]
    fn steady_state_fails_on_errors_latency_and_missing_targets() {
        let ok: Vec<Record> = (0..100).map(|i| rec(i * 10, 2.0, Some(200))).collect();
        let obs = Observation {
            serving_regions: vec!["r1".into()],
            regions: vec![crate::observe::RegionView {
                name: "r1".into(),
                running: true,
                desired: 2,
                healthy: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        let s = steady(&ok, 0, 1000, Some(&obs), 1.0, None);
        assert!(s.passed, "{}", s.reason);
        let mut bad = ok.clone();
        bad[0].status = Some(500);
        bad[1].status = None;
        let s = steady(&bad, 0, 1000, Some(&obs), 1.0, Some(1.0));
        assert!(!s.passed);
        assert!(
            s.reason.contains("2.0 % of requests failed"),
            "{}",
            s.reason
        );
        assert!(s.reason.contains("p99 2 ms (limit 1 ms)"), "{}", s.reason);
        let mut short = obs.clone();
        short.regions[0].healthy = 1;
        let s = steady(&ok, 0, 1000, Some(&short), 1.0, None);
        assert_eq!(s.reason, "1 of 2 targets healthy");
    }
}
