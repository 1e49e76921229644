//! The five stages. Each records what it started (release ids, the approval request) in its
//! stage's detail before waiting on it, so that a resumed stage follows what is under way
//! instead of starting it again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use haven_control::api::{RegionStatus, ReleaseStarted, StartRelease};
use haven_control::control::{self, Endpoint};
use haven_state::{Release, ReleaseState};
use http::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::api::{Run, RunStatus, StageStatus};
use crate::engine::Ctx;
use crate::image;

/// A stage's log file: one line per step, with a UTC timestamp, appended so that a resumed
/// stage continues the same log.
#[derive(Clone)]
pub(crate) struct StageLog {
    path: PathBuf,
}

impl StageLog {
    pub(crate) fn line(&self, text: &str) {
        // The logs twin's own line format, so `haven logs` reads the stage logs as a group.
        let now = haven_time::now_millis();
        let mut buf = Vec::with_capacity(text.len() + 32);
        for l in text.lines() {
            haven_logs::push_event(&mut buf, now, l.as_bytes());
        }
        if let Err(e) = haven_logs::append(&self.path, &buf) {
            tracing::warn!("stage log {}: {e}", self.path.display());
        }
        tracing::info!("{text}");
    }
}

type StageResult = Result<String, String>;

pub(crate) async fn run_stage(ctx: &Arc<Ctx>, run: u64, idx: usize) {
    let r = match ctx.store.run(run) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("run {run}: {e}");
            return;
        }
    };
    let Some(name) = r.stages.get(idx).map(|s| s.name.clone()) else {
        return;
    };
    let log = StageLog {
        path: ctx.paths.stage_log(run, &name),
    };
    log.line(&format!(
        "{name} of run {run} (commit {}), attempt {}",
        short(&r.commit),
        r.stages[idx].attempts
    ));
    let result = match name.as_str() {
        "Source" => source(ctx, &r, &log).await,
        "Build" => crate::stages::build::build(ctx, &r, idx, &log).await,
        "Staging" => deploy(ctx, &r, idx, "staging", &log).await,
        "Approval" => approval(ctx, &r, idx, &log).await,
        "Production" => deploy(ctx, &r, idx, "production", &log).await,
        other => Err(format!("haven has no stage `{other}`")),
    };
    let recorded = match &result {
        Ok(message) => {
            log.line(&format!("{name} succeeded: {message}"));
            ctx.store
                .set_stage(run, idx, StageStatus::Succeeded, message)
        }
        Err(reason) => {
            log.line(&format!("{name} failed: {reason}"));
            let failed = ctx
                .store
                .set_stage(run, idx, StageStatus::Failed, reason)
                .and_then(|()| {
                    ctx.store
                        .set_run(run, RunStatus::Failed, &format!("{name} failed: {reason}"))
                });
            put_metrics(
                ctx,
                &[(
                    haven_metrics::catalog::CODEPIPELINE,
                    haven_metrics::catalog::FAILED_PIPELINE_EXECUTIONS,
                    "PipelineName",
                    &pipeline_name(ctx),
                    haven_metrics::Unit::Count,
                    1.0,
                )],
            );
            notify_failure(ctx, &r, &name, reason, &log).await;
            failed
        }
    };
    if let Err(e) = recorded {
        tracing::warn!("run {run}: cannot record the end of {name}: {e}");
    }
}

pub(crate) fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// Source: a fresh checkout of the run's commit from the primary's repository.
async fn source(ctx: &Arc<Ctx>, r: &Run, log: &StageLog) -> StageResult {
    let dest = source_dir(ctx, r.id);
    let repo = ctx.primary.clone();
    let commit = r.commit.clone();
    let d = dest.clone();
    tokio::task::spawn_blocking(move || repo.checkout(&commit, &d))
        .await
        .map_err(|e| format!("checkout panicked: {e}"))?
        .map_err(|e| e.to_string())?;
    log.line(&format!("checked out {} into {}", r.commit, dest.display()));
    Ok(format!("commit {}", short(&r.commit)))
}

pub(crate) fn source_dir(ctx: &Ctx, run: u64) -> PathBuf {
    ctx.paths.pipeline_run(run).join("source")
}

/// Staging and Production: a release of the run's image to the environment's service in each
/// region that runs it, primary first, each followed to its end.
async fn deploy(
    ctx: &Arc<Ctx>,
    r: &Run,
    idx: usize,
    environment: &str,
    log: &StageLog,
) -> StageResult {
    let image = r
        .image
        .clone()
        .ok_or("the run has no image: its Build stage did not push one")?;
    let twin = ctx.spec.twin();
    let mut regions: Vec<_> = twin.regions.iter().collect();
    // The primary first, as `haven release` does: a bad release stops before the secondaries.
    regions.sort_by_key(|r| r.role != haven_spec::model::Role::Primary);
    let mut done = Vec::new();
    for region in regions {
        let Some(service) = region
            .services
            .iter()
            .find(|s| s.environment == environment)
        else {
            continue;
        };
        release(ctx, r, idx, &region.name, &service.name, &image, log).await?;
        done.push(region.name.clone());
    }
    if done.is_empty() {
        return Err(format!("no region runs a {environment} service"));
    }
    Ok(format!(
        "{} runs {} in {}",
        environment,
        short(image.trim_start_matches("sha256:")),
        done.join(", ")
    ))
}

/// How long a stage waits for a region that is down (restarting, or killed by a drill).
const REGION_WAIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(100);

async fn release(
    ctx: &Arc<Ctx>,
    r: &Run,
    idx: usize,
    region: &str,
    service: &str,
    image: &str,
    log: &StageLog,
) -> Result<(), String> {
    let key = format!("release:{region}");
    let recorded = ctx
        .store
        .detail(r.id, idx)
        .map_err(|e| e.to_string())?
        .get(&key)
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = match recorded {
        Some(id) => {
            log.line(&format!("following release {id} in {region}"));
            id
        }
        None => {
            // Nothing to release when the service runs the image already (a stage resumed
            // after its release ended, or a retry): asked of the region, not read from an
            // error message.
            let status: RegionStatus = typed(
                "/status",
                call_region(ctx, region, Method::GET, "/status", None).await?,
            )?;
            let running = status
                .services
                .iter()
                .any(|s| s.name == service && s.image == image);
            if running {
                log.line(&format!("{service} in {region} already runs the image"));
                return Ok(());
            }
            replicate(ctx, image, region, log)
                .await
                .map_err(|e| format!("cannot put the image in {region}'s registry: {e}"))?;
            // No strategy: the service's own, from the spec.
            let body = serde_json::to_value(StartRelease {
                image: image.to_owned(),
                strategy: None,
            })
            .map_err(|e| e.to_string())?;
            let path = format!("/services/{service}/releases");
            match call_region(ctx, region, Method::POST, &path, Some(body)).await {
                Ok(v) => {
                    let ReleaseStarted { release: id } = typed(&path, v)?;
                    ctx.store
                        .set_detail(r.id, idx, &key, json!(id))
                        .map_err(|e| e.to_string())?;
                    log.line(&format!("started release {id} of {service} in {region}"));
                    id
                }
                Err(message) => return Err(format!("{region}: {message}")),
            }
        }
    };
    let mut shown = 0;
    let path = format!("/releases/{id}");
    loop {
        let r: Release = typed(
            &path,
            call_region(ctx, region, Method::GET, &path, None).await?,
        )?;
        for s in r.steps.iter().skip(shown) {
            log.line(&format!("{region}: {}", s.step));
        }
        shown = r.steps.len();
        match r.state {
            ReleaseState::Successful => return Ok(()),
            ReleaseState::RolledBack => {
                return Err(format!(
                    "the release to {service} in {region} was rolled back: {}",
                    r.reason.as_deref().unwrap_or("no reason recorded")
                ));
            }
            ReleaseState::InProgress => tokio::time::sleep(POLL).await,
        }
    }
}

/// How often a stage looks whether the partition between the regions has healed.
const PARTITION_POLL: Duration = Duration::from_millis(250);

/// Replicates `image` (a digest) to `region`'s registry. While a drill has the regions
/// partitioned it waits, saying so once in the stage's log, and then replicates: ECR's
/// replication resumes after a network problem rather than failing the push.
pub(crate) async fn replicate(
    ctx: &Ctx,
    image: &str,
    region: &str,
    log: &StageLog,
) -> Result<haven_registry::Digest, String> {
    let mut said = false;
    loop {
        let (spec, paths) = (ctx.spec.clone(), ctx.paths.clone());
        let (img, reg) = (image.to_owned(), region.to_owned());
        match tokio::task::spawn_blocking(move || image::replicate(&spec, &paths, &img, &reg)).await
        {
            Err(e) => return Err(format!("replication panicked: {e}")),
            Ok(Err(crate::Error::Partitioned { .. })) => {}
            Ok(result) => return result.map_err(|e| e.to_string()),
        }
        if !said {
            log.line(&format!(
                "waiting for the partition between regions to heal to replicate {image} to {region}"
            ));
            said = true;
        }
        while image::partitioned(&ctx.paths) {
            tokio::time::sleep(PARTITION_POLL).await;
        }
    }
}

/// A region's answer to `path`, read as the type the control API sends there.
fn typed<T: DeserializeOwned>(path: &str, value: Value) -> Result<T, String> {
    control::parse(path, value).map_err(|e| e.to_string())
}

/// Calls a region's control API, waiting (up to [`REGION_WAIT`]) while it is unreachable: a
/// region restarting after a crash resumes its releases, and so does the stage.
async fn call_region(
    ctx: &Ctx,
    region: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let deadline = tokio::time::Instant::now() + REGION_WAIT;
    let mut warned = false;
    loop {
        let attempt = match Endpoint::read(&ctx.paths.region_endpoint(region)) {
            Ok(ep) => {
                control::call(
                    ep.addr,
                    &ctx.token,
                    method.clone(),
                    path,
                    body.clone(),
                    Duration::from_secs(10),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match attempt {
            Ok(v) => return Ok(v),
            Err(haven_control::Error::Api { message, .. }) => return Err(message),
            Err(e) => {
                if !warned {
                    tracing::warn!("region {region} unreachable, waiting: {e}");
                    warned = true;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(format!(
                        "region {region} was unreachable for {}s: {e}",
                        REGION_WAIT.as_secs()
                    ));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Approval: announced on the spec's topic once, then waits for `haven pipeline approve` or
/// `reject`, or fails when the approval times out.
async fn approval(ctx: &Arc<Ctx>, r: &Run, idx: usize, log: &StageLog) -> StageResult {
    let started = ctx
        .store
        .run(r.id)
        .ok()
        .flatten()
        .and_then(|run| run.stages.get(idx).and_then(|s| s.started_at_ms))
        .unwrap_or_else(haven_time::now_millis);
    let timeout: Duration = ctx.spec.local.approval_timeout.into();
    let expires = started.saturating_add(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
    let detail = ctx.store.detail(r.id, idx).map_err(|e| e.to_string())?;
    if detail.get("expires_at_ms").is_none() {
        ctx.store
            .set_detail(r.id, idx, "expires_at_ms", json!(expires))
            .map_err(|e| e.to_string())?;
    }
    if detail.get("notified").is_none() {
        let summary = format!(
            "release commit {} (image {}) to production in every region",
            short(&r.commit),
            r.image
                .as_deref()
                .map(|i| short(i.trim_start_matches("sha256:")))
                .unwrap_or("?")
        );
        log.line(&format!(
            "waiting for approval: `haven pipeline approve {}` or `haven pipeline reject {}`",
            r.id, r.id
        ));
        if let Some(n) = &ctx.notifier {
            let req = haven_notify::ApprovalRequest {
                pipeline: pipeline_name(ctx),
                run: r.id.to_string(),
                stage: "Approval".to_owned(),
                region: ctx.spec.primary().name.clone(),
                summary,
                commit: Some(r.commit.clone()),
                requested_at: haven_time::now(),
                expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(expires)),
            };
            let topic = &ctx.spec.pipeline.approval.notify;
            let message =
                haven_notify::Message::approval_request(&ctx.spec.project.name, topic, &req);
            match n.publish(message).await {
                Ok(id) => log.line(&format!(
                    "approval request published to {topic} ({})",
                    id.as_str()
                )),
                Err(e) => log.line(&format!("cannot publish the approval request: {e}")),
            }
        }
        ctx.store
            .set_detail(r.id, idx, "notified", json!(true))
            .map_err(|e| e.to_string())?;
    }
    loop {
        let detail = ctx.store.detail(r.id, idx).map_err(|e| e.to_string())?;
        match detail.get("decision").and_then(Value::as_str) {
            Some("approved") => {
                return Ok(format!("approved{}", comment(&detail)));
            }
            Some(_) => return Err(format!("rejected{}", comment(&detail))),
            None => {}
        }
        if haven_time::now_millis() >= expires {
            return Err(format!(
                "the approval expired after {} without a decision",
                ctx.spec.local.approval_timeout
            ));
        }
        tokio::select! {
            () = ctx.wake.notified() => {}
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

fn comment(detail: &Value) -> String {
    detail
        .get("comment")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(|c| format!(": {c}"))
        .unwrap_or_default()
}

/// The pipeline's name, as `haven synth` names the CodePipeline pipeline: the project's.
pub(crate) fn pipeline_name(ctx: &Ctx) -> String {
    ctx.spec.project.name.clone()
}

/// Records metrics in the primary region's CloudWatch twin under AWS's names, so that
/// `haven metrics get AWS/CodeBuild ...` reads them as it would on AWS. Best effort: a build's
/// outcome does not depend on its metrics.
pub(crate) fn put_metrics(
    ctx: &Ctx,
    samples: &[(&str, &str, &str, &str, haven_metrics::Unit, f64)],
) {
    let db = ctx
        .paths
        .region_dir(&ctx.spec.primary().name)
        .join("metrics.db");
    let written = haven_metrics::MetricStore::open(&db).and_then(|mut store| {
        let now = haven_time::now();
        let dims: Vec<[(&str, &str); 1]> = samples.iter().map(|s| [(s.2, s.3)]).collect();
        let batch: Vec<haven_metrics::Sample<'_>> = samples
            .iter()
            .zip(&dims)
            .map(|(s, d)| haven_metrics::Sample::new(s.0, s.1, d, s.4, s.5, now))
            .collect();
        store.put_many(&batch)
    });
    if let Err(e) = written {
        tracing::warn!("cannot record pipeline metrics in {}: {e}", db.display());
    }
}

async fn notify_failure(ctx: &Ctx, r: &Run, stage: &str, reason: &str, log: &StageLog) {
    let Some(n) = &ctx.notifier else { return };
    let failure = haven_notify::PipelineFailure {
        pipeline: pipeline_name(ctx),
        run: r.id.to_string(),
        stage: stage.to_owned(),
        action: None,
        region: ctx.spec.primary().name.clone(),
        reason: reason.to_owned(),
        commit: Some(r.commit.clone()),
        log_tail: haven_process::tail_lines(&log.path, 10).unwrap_or_default(),
        at: haven_time::now(),
    };
    let topic = &ctx.spec.monitoring.notify;
    let message = haven_notify::Message::pipeline_failure(&ctx.spec.project.name, topic, &failure);
    if let Err(e) = n.publish(message).await {
        tracing::warn!("cannot publish the failure of run {}: {e}", r.id);
    }
}

pub(crate) mod build;
