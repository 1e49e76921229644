//! The Build stage: the user's buildspec in a fresh checkout of the commit (the CodeBuild
//! twin), then haven's image step: package the artifacts, scan, apply lifecycle rules, and
//! replicate to the secondaries' registries (after a partition between the regions heals).

use haven_control::api::Runtime;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{StageLog, StageResult, short, source_dir};
use crate::engine::Ctx;
use crate::image;

pub(crate) async fn build(
    ctx: &Arc<Ctx>,
    r: &crate::api::Run,
    idx: usize,
    log: &StageLog,
) -> StageResult {
    let src = source_dir(ctx, r.id);
    if !src.is_dir() {
        // The checkout is the Source stage's output; a cleaned state directory loses it.
        let (repo, commit, d) = (ctx.primary.clone(), r.commit.clone(), src.clone());
        tokio::task::spawn_blocking(move || repo.checkout(&commit, &d))
            .await
            .map_err(|e| format!("checkout panicked: {e}"))?
            .map_err(|e| e.to_string())?;
    }
    let rel = buildspec_in_source(&ctx.spec);
    let buildspec_path = src.join(&rel);
    let text = std::fs::read_to_string(&buildspec_path).map_err(|e| {
        format!(
            "cannot read {} in commit {}: {e}",
            rel.display(),
            short(&r.commit)
        )
    })?;
    let buildspec = haven_build::Buildspec::parse(&text)
        .map_err(|e| format!("{} in commit {}: {e}", rel.display(), short(&r.commit)))?;

    let project = &ctx.spec.project.name;
    let build_id = haven_build::new_build_id(project);
    let dir_name = build_id.rsplit(':').next().unwrap_or(&build_id).to_owned();
    ctx.store
        .set_detail(r.id, idx, "build", json!(dir_name))
        .map_err(|e| e.to_string())?;
    let artifacts = ctx.paths.builds().join(&dir_name);
    let build_log = ctx.paths.builds().join(format!("{dir_name}.log"));
    let mut req = haven_build::BuildRequest::new(
        project.clone(),
        ctx.spec.primary().name.clone(),
        src.clone(),
        r.commit.clone(),
        build_log.clone(),
        artifacts.clone(),
    )
    .with_timeout(Duration::from(ctx.spec.build.timeout));
    // `env.parameter-store` from the Parameter Store twin; the build masks the values.
    let names: Vec<&str> = buildspec
        .env
        .parameter_store
        .iter()
        .map(|(_, n)| n.as_str())
        .collect();
    let parameters = haven_secrets::SecretStore::open(ctx.paths.secrets())
        .and_then(|store| store.resolver(&names))
        .map_err(|e| {
            format!(
                "the parameters of {}'s env.parameter-store: {e}",
                rel.display()
            )
        })?;
    req = req.with_parameters(parameters);
    req.build_id = build_id.clone();
    req.build_number = r.id;
    req.initiator = format!("codepipeline/{}", super::pipeline_name(ctx));
    log.line(&format!(
        "build {build_id}: running {} (log: {})",
        rel.display(),
        build_log.display()
    ));
    let mut stop = ctx.shutdown.clone();
    let outcome = haven_build::run_until(&buildspec, &req, async move {
        // The process is stopping: end the build; the stage is resumed by the next process.
        if stop.wait_for(|s| *s).await.is_err() {
            std::future::pending::<()>().await;
        }
    })
    .await
    .map_err(|e| format!("the build could not run: {e}"))?;
    {
        use haven_metrics::{Unit, catalog as c};
        let project = crate::build_project(&ctx.spec);
        let ok = outcome.succeeded();
        super::put_metrics(
            ctx,
            &[
                (
                    c::CODEBUILD,
                    c::BUILDS,
                    "ProjectName",
                    &project,
                    Unit::Count,
                    1.0,
                ),
                (
                    c::CODEBUILD,
                    if ok {
                        c::SUCCEEDED_BUILDS
                    } else {
                        c::FAILED_BUILDS
                    },
                    "ProjectName",
                    &project,
                    Unit::Count,
                    1.0,
                ),
                (
                    c::CODEBUILD,
                    c::BUILD_DURATION,
                    "ProjectName",
                    &project,
                    Unit::Seconds,
                    outcome.duration.as_secs_f64(),
                ),
            ],
        );
    }
    for report in &outcome.reports {
        log.line(&format!(
            "report {}: {} tests, {} passed, {} failed",
            report.name, report.total, report.passed, report.failed
        ));
    }
    if !outcome.succeeded() {
        let phase = outcome
            .phases
            .iter()
            .find(|p| p.status != haven_build::PhaseStatus::Succeeded);
        // CodeBuild's phase context says why (a missing parameter, a failed command).
        let failed = phase.map_or_else(String::new, |p| match &p.message {
            Some(m) => format!("{}: {m}", p.name),
            None => p.name.to_string(),
        });
        let tail = haven_process::tail_lines(&build_log, 15).unwrap_or_default();
        for l in &tail {
            log.line(&format!("  | {l}"));
        }
        return Err(format!(
            "build {dir_name} ended {} in phase {failed}",
            haven_build_status(&outcome)
        ));
    }
    log.line(&format!(
        "build {dir_name} succeeded in {:.1}s",
        outcome.duration.as_secs_f64()
    ));

    let (spec, paths, source) = (ctx.spec.clone(), ctx.paths.clone(), src.clone());
    let (commit, run) = (r.commit.clone(), r.id);
    // buildah's lines go to the stage's log as they come, a failed build's included.
    let image_log = log.clone();
    let pushed =
        tokio::task::spawn_blocking(move || -> Result<(String, String, Vec<String>), String> {
            let primary = image::open_registry(&spec, &paths, &spec.primary().name)
                .map_err(|e| e.to_string())?;
            // Tags are the commit, as CodeBuild images usually are; a second image of the same
            // commit (a retry, a re-push) gets the run number too, since tags are immutable.
            let mut tag = short(&commit).to_owned();
            if primary.resolve(&tag).is_ok() {
                tag = format!("{tag}-run{run}");
            }
            // The runtime `haven up` decided on: containers build the Dockerfile where the
            // buildspec ran, as CodeBuild's `docker build` does.
            let runtime = haven_runtime::recorded(&paths)
                .map_err(|e| e.to_string())?
                .map_or(Runtime::Process, |r| r.mode);
            let mut notes = Vec::new();
            let recipe = image::Recipe::of(runtime, &source, &paths);
            let pushed = image::package(
                &spec,
                &primary,
                &dir_name,
                &artifacts,
                &tag,
                Vec::new(),
                recipe,
                &mut |line| image_log.line(&format!("  | {line}")),
            )
            .map_err(|e| format!("cannot build the image of build {dir_name}: {e}"))?;
            let digest = pushed.digest.to_string();
            if spec.registry.scan_on_push {
                // ECR's scan on push: the image's layers for secrets, the source's Cargo.lock
                // against the advisory database. At or above the threshold, the build fails.
                let opts = image::scan_options(&spec, Some(&source)).map_err(|e| e.to_string())?;
                let report = primary
                    .scan(&digest, &opts)
                    .map_err(|e| format!("cannot scan {tag}: {e}"))?;
                for f in &report.findings {
                    notes.push(format!(
                        "  {} {} {}: {}",
                        f.severity, f.id, f.location, f.title
                    ));
                }
                let threshold = spec.registry.scan_fail_severity;
                if report.fails_at(threshold) {
                    return Err(format!(
                        "the scan of {tag} found {} at or above the threshold ({threshold}):\n{}",
                        report.summary(),
                        notes.join("\n")
                    ));
                }
                notes.insert(0, format!("scan of {tag}: {}", report.summary()));
            }
            if !spec.registry.lifecycle.is_empty() {
                // Lifecycle rules on push, as ECR evaluates them; images that tasks run stay.
                let outcome = image::apply_lifecycle(&spec, &paths, &primary, false)
                    .map_err(|e| format!("lifecycle rules: {e}"))?;
                for e in &outcome.expired {
                    notes.push(format!(
                        "lifecycle rule {} expired {} ({})",
                        e.priority,
                        e.digest,
                        e.tags.join(",")
                    ));
                }
                for e in &outcome.kept_in_use {
                    notes.push(format!(
                        "lifecycle rule {} kept {}: a task runs it",
                        e.priority, e.digest
                    ));
                }
            }
            Ok((tag, digest, notes))
        })
        .await
        .map_err(|e| format!("packaging panicked: {e}"));
    let (tag, digest, notes) = match pushed {
        Ok(Ok(p)) => p,
        Ok(Err(e)) | Err(e) => return Err(e),
    };
    log.line(&format!("pushed {tag} ({digest})"));
    for n in &notes {
        log.line(n);
    }
    let (tag, digest) = (tag.as_str(), digest.as_str());
    if ctx.spec.registry.replicate {
        // Out of the blocking packaging step: a partition between the regions makes it wait.
        for region in ctx.spec.secondaries() {
            super::replicate(ctx, digest, &region.name, log)
                .await
                .map_err(|e| format!("cannot replicate {tag} to {}: {e}", region.name))?;
        }
        log.line(&format!(
            "replicated {tag} to {} and verified it there",
            ctx.spec
                .secondaries()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let build_name = build_id.rsplit(':').next().unwrap_or(&build_id);
    ctx.store
        .set_image(r.id, digest, build_name)
        .map_err(|e| e.to_string())?;
    let tests: u32 = outcome.reports.iter().map(|r| r.passed).sum();
    Ok(format!(
        "image {tag} from build {build_name}{}",
        if outcome.reports.is_empty() {
            String::new()
        } else {
            format!(", {tests} tests passed")
        }
    ))
}

fn haven_build_status(outcome: &haven_build::BuildOutcome) -> String {
    serde_json::to_value(outcome.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The buildspec's path inside the source: the spec names it relative to its own directory,
/// and the repository holds `build.directory`.
fn buildspec_in_source(spec: &haven_spec::Spec) -> PathBuf {
    let buildspec = spec.path(&spec.build.buildspec);
    let root = spec.path(&spec.build.directory);
    buildspec
        .strip_prefix(&root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| spec.build.buildspec.clone())
}
