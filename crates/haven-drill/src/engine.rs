//! One drill, start to end, with the shape of a chaos experiment: load on, a steady-state
//! check, the fault, observation until recovery (the fault held at least `hold`), the heal,
//! back to normal, a steady-state check after, load off; then measurement, projection and
//! the policy's verdicts.

use std::time::{Duration, Instant};

use haven_control::api::Status;
use haven_control::client::Client;
use haven_control::paths::Paths;
use haven_spec::Spec;
use haven_spec::model::{DrScenario, Scenario};

use crate::Error;
use crate::load::Load;
use crate::measure;
use crate::observe::{Observation, Observer};
use crate::report::{Check, Drill, Event, EventKind, Report, VERSION, Verdict};
use crate::scenarios;

/// How often the twin's status is read: the resolution of detection and recovery times.
pub const POLL: Duration = Duration::from_millis(100);
/// The timeline's interval.
pub const SAMPLE: Duration = Duration::from_millis(250);
/// The steady-state windows before the fault and after the heal.
pub const STEADY: Duration = Duration::from_secs(2);

/// Where a drill run reports its progress (the CLI's printer).
pub trait Progress: Send + Sync {
    fn step(&self, verb: &str, message: &str);
}

/// `haven drill run`'s options.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Overrides every scenario's `rps`.
    pub rps: Option<u32>,
    /// The image the bad-release drill releases, over `[dr.scenarios.bad-release] image`.
    pub image: Option<String>,
}

/// What every drill of a run shares.
pub(crate) struct Ctx<'a> {
    pub spec: &'a Spec,
    pub paths: &'a Paths,
    pub client: &'a Client,
    pub progress: &'a dyn Progress,
    pub options: &'a RunOptions,
    pub run_id: String,
}

impl Ctx<'_> {
    pub fn policy(&self, s: Scenario) -> DrScenario {
        let mut p = self.spec.dr.scenario(s).clone();
        if let Some(rps) = self.options.rps {
            p.rps = if s == Scenario::LoadSpike {
                rps.saturating_mul(5)
            } else {
                rps
            };
        }
        if s == Scenario::BadRelease {
            if let Some(image) = &self.options.image {
                p.image = Some(image.clone());
            }
        }
        p
    }
}

/// Runs `scenarios` one after the other against the twin `client` reaches, and returns the
/// run's report (not yet saved).
pub async fn run(
    spec: &Spec,
    paths: &Paths,
    client: &Client,
    scenarios: &[Scenario],
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    let started_ms = haven_time::now_millis();
    let what = match scenarios {
        [one] => one.name().to_owned(),
        all if all.len() == Scenario::ALL.len() => "all".to_owned(),
        _ => format!("{}-and-{}-more", scenarios[0].name(), scenarios.len() - 1),
    };
    let id = crate::store::new_id(paths, started_ms, &what);
    let ctx = Ctx {
        spec,
        paths,
        client,
        progress,
        options,
        run_id: id.clone(),
    };
    let mut drills = Vec::new();
    for &scenario in scenarios {
        progress.step("Drilling", &format!("{scenario}"));
        let drill = one(&ctx, scenario).await?;
        progress.step(
            if drill.passed { "Passed" } else { "Missed" },
            &format!("{scenario}: {}", headline(&drill)),
        );
        drills.push(drill);
    }
    let rfc = |ms: u64| {
        haven_time::rfc3339(
            haven_time::from_unix_millis(ms),
            haven_time::Precision::Secs,
        )
    };
    Ok(Report {
        version: VERSION,
        id,
        project: spec.project.name.clone(),
        started_at: rfc(started_ms),
        finished_at: rfc(haven_time::now_millis()),
        passed: drills.iter().all(|d| d.passed),
        drills,
    })
}

/// Undoes every fault a drill may have left: killed regions and AZs, latency, the partition
/// (`haven chaos heal` without a region). An interrupted drill calls it before it exits.
pub async fn heal_all(client: &Client) -> Result<(), Error> {
    let _: haven_control::api::ChaosResult = client
        .send(
            http::Method::POST,
            "/chaos/heal",
            &haven_control::api::RegionTarget { region: None },
        )
        .await?;
    Ok(())
}

/// One line on a drill's outcome: its RTO and failures, or its first miss.
pub fn headline(d: &Drill) -> String {
    let rto = d.measured.rto_ms.map_or("no RTO".to_owned(), |ms| {
        format!("RTO {:.1} s", ms as f64 / 1000.0)
    });
    let missed: Vec<String> = d
        .verdicts
        .iter()
        .filter(|v| !v.passed)
        .map(|v| format!("{} {} (limit {})", v.name(), v.found, v.limit))
        .collect();
    let base = format!("{rto}, {} failed request(s)", d.measured.failed_requests);
    if missed.is_empty() {
        base
    } else {
        format!("{base}; missed: {}", missed.join("; "))
    }
}

/// The twin's status, refusing to start from a twin that is not whole: every region running
/// and healthy, the edge serving.
async fn ready(client: &Client) -> Result<Status, Error> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status: Status = client.get("/status").await?;
        let whole =
            status.regions.iter().all(|r| r.healthy) && !status.edge.serving_regions.is_empty();
        if whole && !status_has_faults(&status) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let sick: Vec<&str> = status
                .regions
                .iter()
                .filter(|r| !r.healthy)
                .map(|r| r.name.as_str())
                .collect();
            return Err(Error::NotReady(format!(
                "the twin is not whole after 60 s (unhealthy: {}; serving: {}); a drill starts \
                 from steady state — `haven status` shows what is wrong, `haven chaos heal` \
                 undoes earlier faults",
                if sick.is_empty() {
                    "none".to_owned()
                } else {
                    sick.join(", ")
                },
                if status.edge.serving_regions.is_empty() {
                    "nothing".to_owned()
                } else {
                    status.edge.serving_regions.join(", ")
                }
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn status_has_faults(s: &Status) -> bool {
    s.partitioned
        || s.regions.iter().any(|r| {
            !r.impaired_azs.is_empty() || r.latency.is_some() || !r.blackholed_azs.is_empty()
        })
}

async fn one(ctx: &Ctx<'_>, scenario: Scenario) -> Result<Drill, Error> {
    let policy = ctx.policy(scenario);
    let status = ready(ctx.client).await?;
    let url = format!("{}{}", status.edge.url, policy.path);
    let started_at_ms = haven_time::now_millis();
    let base_rps = if scenario == Scenario::LoadSpike {
        ctx.spec.dr.rps
    } else {
        policy.rps
    };
    let load = Load::start(&url, base_rps)?;
    let start = load.started();
    let observer = Observer::start(ctx.client.clone(), start, POLL);
    let since = |i: Instant| crate::millis(i.saturating_duration_since(start));
    let mut notes = Vec::new();
    let mut events = Vec::new();

    tokio::time::sleep(STEADY).await;
    let before = observer
        .latest()
        .ok_or_else(|| Error::NotReady("the twin's status could not be read".into()))?;
    let rpo_at_fault = if scenario == Scenario::RegionLoss {
        Some(crate::data::behind(ctx.spec, ctx.paths)?)
    } else {
        None
    };

    // The fault.
    let fault_at = Instant::now();
    let fault = scenarios::inject(ctx, scenario, &policy, &before, &load).await?;
    let fault_ms = since(fault_at);
    ctx.progress.step("Injected", &fault.target);
    events.push(Event {
        t_ms: fault_ms,
        kind: EventKind::Fault,
        text: fault.target.clone(),
    });

    // Observe until recovered (or the timeout), holding the fault at least `hold`.
    let hold: Duration = policy.hold.into();
    let timeout: Duration = policy.timeout.into();
    let mut recovered_ms = None;
    let mut watched = fault.watch.clone();
    loop {
        let now = Instant::now();
        if recovered_ms.is_none() {
            if let Some(t) = scenarios::recovered(
                ctx,
                &fault,
                &mut watched,
                &observer.all(),
                (started_at_ms, fault_ms),
            )
            .await?
            {
                recovered_ms = Some(t);
                ctx.progress.step(
                    "Recovered",
                    &format!("{:.1} s after the fault", (t - fault_ms) as f64 / 1000.0),
                );
            }
        }
        let held = now.duration_since(fault_at) >= hold;
        let done = recovered_ms.is_some() || !fault.expects_recovery;
        if (held && done) || now.duration_since(fault_at) >= timeout {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    if recovered_ms.is_none() && fault.expects_recovery {
        notes.push(format!(
            "not recovered within the drill's timeout ({})",
            policy.timeout
        ));
    }

    // Data behind at the heal (a partition's RPO), then the heal.
    let rpo_at_heal = if scenario == Scenario::CrossRegionConnectivity {
        Some(crate::data::behind(ctx.spec, ctx.paths)?)
    } else {
        None
    };
    let standalone = if scenario == Scenario::CrossRegionConnectivity {
        let images: Vec<(String, String)> = before_images(&status);
        crate::data::standalone(ctx.spec, ctx.paths, &images)?
    } else {
        Vec::new()
    };
    let heal_ms = match scenarios::heal(ctx, &fault, &load, base_rps).await? {
        Some(()) => {
            let t = since(Instant::now());
            events.push(Event {
                t_ms: t,
                kind: EventKind::Healed,
                text: format!("healed: {}", fault.target),
            });
            ctx.progress.step("Healed", &fault.target);
            Some(t)
        }
        None => None,
    };

    // Back to normal: the twin whole again (and replication caught up after a partition).
    let mut catch_up_ms = None;
    let mut rpo_after = None;
    let back_deadline = Instant::now() + timeout;
    loop {
        let whole = observer
            .latest()
            .is_some_and(|o| scenarios::whole(&o, &before, ctx.spec));
        if scenario == Scenario::CrossRegionConnectivity && catch_up_ms.is_none() {
            let behind = crate::data::behind(ctx.spec, ctx.paths)?;
            if behind.commits == 0 && behind.images == 0 {
                let t = since(Instant::now());
                catch_up_ms = Some(t.saturating_sub(heal_ms.unwrap_or(t)));
                events.push(Event {
                    t_ms: t,
                    kind: EventKind::CaughtUp,
                    text: "the secondaries hold everything the primary has".into(),
                });
                rpo_after = Some(behind);
            }
        }
        let caught_up = scenario != Scenario::CrossRegionConnectivity || catch_up_ms.is_some();
        if whole && caught_up {
            break;
        }
        if Instant::now() > back_deadline {
            notes.push(format!(
                "the twin was not back to normal {} after the heal",
                policy.timeout
            ));
            if !caught_up {
                rpo_after = Some(crate::data::behind(ctx.spec, ctx.paths)?);
            }
            break;
        }
        tokio::time::sleep(POLL).await;
    }

    // The steady state after.
    let after_from = since(Instant::now());
    tokio::time::sleep(STEADY).await;
    let end_ms = since(Instant::now());
    let (records, errors) = load.stop().await;
    let observations = observer.stop().await;
    for e in errors.iter().take(5) {
        notes.push(format!("a failed request: {e}"));
    }

    let window = measure::Window {
        started_at_ms,
        fault_ms,
        after_from,
        end_ms,
    };
    let extra = fault.cleanup(ctx).await;
    notes.extend(extra);

    let mut drill = measure::assemble(
        ctx,
        scenario,
        &policy,
        measure::Inputs {
            url,
            rps: policy.rps,
            target: fault.target.clone(),
            window,
            heal_ms,
            recovered_ms,
            records: &records,
            observations: &observations,
            before: &before,
            watch: &watched,
            events,
            notes,
        },
    )
    .await?;
    drill.measured.rpo = match (rpo_at_fault, rpo_at_heal) {
        (Some(r), _) => Some(r),
        (None, Some(mut r)) => {
            r.after_catch_up = rpo_after.map(Box::new);
            Some(r)
        }
        _ => None,
    };
    drill.measured.catch_up_ms = catch_up_ms;
    if let Some(extra) = scenarios::measured(&watched) {
        extra.apply(&mut drill);
    }
    drill.projected = crate::project::project(ctx.spec, scenario);
    let mut verdicts = crate::policy::judge(ctx.spec, &drill);
    verdicts.extend(standalone.into_iter().map(|s| Verdict {
        check: Check::RunsAlone,
        subject: Some(format!("{} {}", s.region, s.what)),
        found: s.detail,
        limit: "present".into(),
        passed: s.ok,
    }));
    drill.passed = verdicts.iter().all(|v| v.passed);
    drill.verdicts = verdicts;
    Ok(drill)
}

/// Each region's production image at the start, to check a secondary holds its own.
fn before_images(status: &Status) -> Vec<(String, String)> {
    status
        .regions
        .iter()
        .filter_map(|r| {
            r.services
                .iter()
                .find(|s| s.environment == "production")
                .map(|s| (r.name.clone(), s.image.clone()))
        })
        .collect()
}

/// Kept for the scenarios' use: the observation at or before `t_ms`.
pub(crate) fn at(observations: &[Observation], t_ms: u64) -> Option<&Observation> {
    observations
        .iter()
        .filter(|o| !o.missing)
        .take_while(|o| o.t_ms <= t_ms)
        .last()
}
