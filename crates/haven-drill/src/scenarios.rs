//! Each scenario's fault, what recovery means for it, and its heal, through the twin's control
//! API (the same calls `haven chaos` and `haven release` make).

use std::time::Duration;

use haven_control::api::{self, ChaosResult, ReleaseStarted};
use haven_registry::{ImageSpec, Registry, TagPolicy};
use haven_spec::Spec;
use haven_spec::model::{DrScenario, Scenario};
use haven_state::{Release, ReleaseState};
use http::Method;

use crate::Error;
use crate::engine::Ctx;
use crate::load::Load;
use crate::observe::Observation;

/// An injected fault: what it broke and how to tell it is over.
pub(crate) struct Fault {
    pub target: String,
    /// Whether the system is expected to restore full service while the fault holds.
    pub expects_recovery: bool,
    pub watch: Watch,
    heal: Heal,
    /// A tag the drill made (a bad image), removed when the drill ends.
    made_tag: Option<String>,
}

/// What a scenario's recovery is watched by.
#[derive(Debug, Clone)]
pub(crate) enum Watch {
    /// The killed task is replaced.
    Task {
        region: String,
        task: String,
    },
    /// The AZ's tasks are replaced in the other AZs.
    Az {
        region: String,
        az: String,
    },
    /// The edge serves the other regions.
    Region {
        region: String,
    },
    Partition,
    /// The release ends (rolled back, or not).
    Release {
        region: String,
        id: String,
        ended: Option<Release>,
    },
    Latency,
    /// The service scales out past its count at the fault.
    Spike {
        region: String,
        desired: u32,
    },
}

enum Heal {
    Nothing,
    Region(String),
    Supervisor(Option<String>),
    Rate,
}

/// What a drill adds to its measurements from its own knowledge of the fault.
pub(crate) struct Extra {
    rolled_back: Option<bool>,
}

impl Extra {
    pub fn apply(self, drill: &mut crate::report::Drill) {
        if self.rolled_back.is_some() {
            drill.measured.rolled_back = self.rolled_back;
        }
    }
}

impl Fault {
    /// Undoes what the drill left behind that is not part of the fault (a bad image's tag);
    /// returns notes on anything it could not undo.
    pub async fn cleanup(&self, ctx: &Ctx<'_>) -> Vec<String> {
        let Some(tag) = &self.made_tag else {
            return Vec::new();
        };
        let registry = match primary_registry(ctx.spec, ctx.paths) {
            Ok(r) => r,
            Err(e) => return vec![format!("the drill's image `{tag}` stays: {e}")],
        };
        // The image goes with its tag: nothing runs it after the drill, and an untagged
        // leftover would wait for the lifecycle rules.
        let removed = registry
            .resolve(tag)
            .and_then(|digest| registry.rm(&digest.to_string()));
        match removed {
            Ok(_) => Vec::new(),
            Err(e) => vec![format!("the drill's image `{tag}` stays: {e}")],
        }
    }
}

/// What the fault's watch knows beyond the status polls: whether a release rolled back.
pub(crate) fn measured(watch: &Watch) -> Option<Extra> {
    match watch {
        Watch::Release { ended, .. } => Some(Extra {
            rolled_back: Some(
                ended
                    .as_ref()
                    .is_some_and(|r| r.state == ReleaseState::RolledBack),
            ),
        }),
        _ => None,
    }
}

fn primary_registry(spec: &Spec, paths: &haven_control::paths::Paths) -> Result<Registry, Error> {
    Ok(Registry::open(
        &paths.registry(&spec.primary().name),
        TagPolicy {
            immutable: spec.registry.immutable_tags,
        },
    )?)
}

fn production<'a>(o: &'a Observation, region: &str) -> Option<&'a crate::observe::RegionView> {
    o.region(region)
}

async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    ctx: &Ctx<'_>,
    path: &str,
    body: &B,
) -> Result<T, Error> {
    Ok(ctx.client.send(Method::POST, path, body).await?)
}

/// Injects `scenario`'s fault into the twin.
pub(crate) async fn inject(
    ctx: &Ctx<'_>,
    scenario: Scenario,
    policy: &DrScenario,
    before: &Observation,
    load: &Load,
) -> Result<Fault, Error> {
    let primary = ctx.spec.primary().name.clone();
    let service = production_service(ctx.spec);
    let fault = |target: String, expects_recovery: bool, watch: Watch, heal: Heal| Fault {
        target,
        expects_recovery,
        watch,
        heal,
        made_tag: None,
    };
    Ok(match scenario {
        Scenario::TaskLoss => {
            let r: ChaosResult = post(
                ctx,
                &format!("/regions/{primary}/chaos/kill-task"),
                &api::KillTask {
                    service: Some(service),
                    ..api::KillTask::default()
                },
            )
            .await?;
            let task = r.killed_tasks.first().cloned().ok_or_else(|| {
                Error::NotReady(format!("no task to kill in {primary}: {}", r.message))
            })?;
            fault(
                format!("task {task} killed in {primary}"),
                true,
                Watch::Task {
                    region: primary,
                    task,
                },
                Heal::Nothing,
            )
        }
        Scenario::AzPowerInterruption => {
            let az = before
                .region(&primary)
                .and_then(|_| ctx.spec.primary().azs.first().cloned())
                .ok_or_else(|| Error::NotReady(format!("{primary} has no AZ")))?;
            let _: ChaosResult = post(
                ctx,
                &format!("/regions/{primary}/chaos/kill-az"),
                &api::KillAz { az: az.clone() },
            )
            .await?;
            fault(
                format!("{az} of {primary} lost"),
                true,
                Watch::Az {
                    region: primary.clone(),
                    az,
                },
                Heal::Region(primary),
            )
        }
        Scenario::RegionLoss => {
            let _: ChaosResult = post(
                ctx,
                "/chaos/kill-region",
                &api::RegionTarget {
                    region: Some(primary.clone()),
                },
            )
            .await?;
            fault(
                format!("{primary} lost"),
                true,
                Watch::Region {
                    region: primary.clone(),
                },
                Heal::Supervisor(Some(primary)),
            )
        }
        Scenario::CrossRegionConnectivity => {
            let _: ChaosResult = post(ctx, "/chaos/partition", &serde_json::json!({})).await?;
            fault(
                "the regions cut from each other".into(),
                false,
                Watch::Partition,
                Heal::Supervisor(None),
            )
        }
        Scenario::BadRelease => {
            let (image, made_tag) = match &policy.image {
                Some(image) => (image.clone(), None),
                None => {
                    let tag = format!("{}{}", crate::data::DRILL_TAG_PREFIX, ctx.run_id);
                    bad_image(ctx, &tag)?;
                    (tag.clone(), Some(tag))
                }
            };
            let started: ReleaseStarted = post(
                ctx,
                &format!("/regions/{primary}/services/{service}/releases"),
                &api::StartRelease {
                    image: image.clone(),
                    strategy: None,
                },
            )
            .await?;
            let mut f = fault(
                format!("release of {image} to {primary}"),
                true,
                Watch::Release {
                    region: primary,
                    id: started.release,
                    ended: None,
                },
                Heal::Nothing,
            );
            f.made_tag = made_tag;
            f
        }
        Scenario::DependencyLatency => {
            let delay: Duration = policy.delay.into();
            let jitter: Duration = policy.jitter.into();
            let _: ChaosResult = post(
                ctx,
                &format!("/regions/{primary}/chaos/latency"),
                &api::Latency {
                    delay_ms: crate::millis(delay),
                    jitter_ms: crate::millis(jitter),
                    az: None,
                },
            )
            .await?;
            fault(
                format!(
                    "{} ± {} added between {primary}'s load balancer and its tasks",
                    policy.delay, policy.jitter
                ),
                false,
                Watch::Latency,
                Heal::Region(primary),
            )
        }
        Scenario::LoadSpike => {
            let desired = before.region(&primary).map_or(0, |r| r.desired);
            load.set_rate(policy.rps);
            fault(
                format!("load raised to {} requests/s", policy.rps),
                true,
                Watch::Spike {
                    region: primary,
                    desired,
                },
                Heal::Rate,
            )
        }
    })
}

/// The drill's bad image: a program that exits at once, so its tasks cannot start, as an
/// image with a broken entrypoint does on Fargate.
fn bad_image(ctx: &Ctx<'_>, tag: &str) -> Result<(), Error> {
    let dir = tempfile_dir(ctx)?;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| haven_fs::IoError::new(&bin, e))?;
    let program = bin.join("drill-fault");
    haven_fs::write_atomic_mode(
        &program,
        b"#!/bin/sh\necho 'haven drill: this image fails on purpose (bad-release)' >&2\nexit 1\n",
        0o755,
    )?;
    let mut spec = ImageSpec::new(vec!["bin/drill-fault".into()]);
    spec.exposed_port = Some(ctx.spec.service.port);
    spec.labels.insert("haven.drill".into(), ctx.run_id.clone());
    let result = primary_registry(ctx.spec, ctx.paths)?.build(&dir, &spec, tag);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::debug!("drill scratch {}: {e}", dir.display());
    }
    result?;
    Ok(())
}

fn tempfile_dir(ctx: &Ctx<'_>) -> Result<std::path::PathBuf, Error> {
    let dir = ctx.paths.drill_run(&ctx.run_id).join("bad-image");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| haven_fs::IoError::new(&dir, e))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| haven_fs::IoError::new(&dir, e))?;
    Ok(dir)
}

fn production_service(spec: &Spec) -> String {
    spec.twin()
        .regions
        .first()
        .and_then(|r| {
            r.services
                .iter()
                .find(|s| s.environment == "production")
                .map(|s| s.name.clone())
        })
        .unwrap_or_else(|| spec.project.name.clone())
}

/// When full service came back after the fault at `fault_ms`, if it has.
pub(crate) async fn recovered(
    ctx: &Ctx<'_>,
    fault: &Fault,
    watch: &mut Watch,
    seen: &[Observation],
    (started_at_ms, fault_ms): (u64, u64),
) -> Result<Option<u64>, Error> {
    let mut after = seen.iter().filter(|o| !o.missing && o.t_ms > fault_ms);
    let full = |o: &Observation, region: &str| {
        production(o, region).is_some_and(|r| r.running && r.desired > 0 && r.healthy >= r.desired)
    };
    Ok(match watch {
        Watch::Task { region, task } => after
            .filter(|o| full(o, region))
            .find(|o| production(o, region).is_some_and(|r| !r.healthy_tasks.contains(task)))
            .map(|o| o.t_ms),
        Watch::Az { region, az } => after
            .filter(|o| full(o, region))
            .find(|o| production(o, region).is_some_and(|r| r.impaired_azs.contains(az)))
            .map(|o| o.t_ms),
        Watch::Region { region } => after
            .find(|o| {
                !o.serving_regions.is_empty()
                    && !o.serving_regions.contains(region)
                    && o.serving_regions.iter().all(|s| full(o, s))
            })
            .map(|o| o.t_ms),
        Watch::Partition | Watch::Latency => None,
        Watch::Release { region, id, ended } => {
            if ended.is_none() {
                let r: Release = ctx
                    .client
                    .get(&format!("/regions/{region}/releases/{id}"))
                    .await?;
                if r.state.is_final() {
                    *ended = Some(r);
                }
            }
            // Full service once the release is over (rolled back or complete) and the
            // region's desired count is healthy.
            match ended {
                Some(r) => {
                    let end = r
                        .ended_at_ms
                        .map_or(fault_ms, |e| e.saturating_sub(started_at_ms));
                    after
                        .filter(|o| o.t_ms >= end)
                        .find(|o| full(o, region))
                        .map(|o| o.t_ms)
                }
                None => None,
            }
        }
        Watch::Spike { region, desired } => after
            .filter(|o| full(o, region))
            .find(|o| production(o, region).is_some_and(|r| r.desired > *desired))
            .map(|o| o.t_ms),
    }
    .filter(|_| fault.expects_recovery))
}

/// Undoes the fault; `None` when the scenario has nothing to undo.
pub(crate) async fn heal(
    ctx: &Ctx<'_>,
    fault: &Fault,
    load: &Load,
    base_rps: u32,
) -> Result<Option<()>, Error> {
    match &fault.heal {
        Heal::Nothing => return Ok(None),
        Heal::Region(region) => {
            let _: ChaosResult = post(
                ctx,
                &format!("/regions/{region}/chaos/heal"),
                &serde_json::json!({}),
            )
            .await?;
        }
        Heal::Supervisor(region) => {
            let _: ChaosResult = post(
                ctx,
                "/chaos/heal",
                &api::RegionTarget {
                    region: region.clone(),
                },
            )
            .await?;
        }
        Heal::Rate => load.set_rate(base_rps),
    }
    Ok(Some(()))
}

/// Whether the twin is whole again: every region running with its desired count healthy and
/// the edge serving what it served before the fault.
pub(crate) fn whole(o: &Observation, before: &Observation, _spec: &Spec) -> bool {
    let mut serving = o.serving_regions.clone();
    let mut was = before.serving_regions.clone();
    serving.sort();
    was.sort();
    serving == was
        && o.regions
            .iter()
            .all(|r| r.running && r.healthy >= r.desired && r.impaired_azs.is_empty())
}
