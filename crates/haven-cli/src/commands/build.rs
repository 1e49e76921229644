//! `haven build` and the build `haven up` makes when there is none: runs the spec's buildspec
//! with the CodeBuild twin; the build's artifacts are what the services run.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use haven_control::paths::Paths;
use haven_spec::Spec;

use crate::printer::Printer;

/// Makes sure a build exists for the twin to run; builds one if none does.
pub fn ensure_build(printer: &Printer, spec: &Spec, paths: &Paths) -> anyhow::Result<String> {
    if let Some(id) = current(paths) {
        printer.status(
            "Using",
            &format!("build {id} (`haven build` makes a new one)"),
        );
        return Ok(id);
    }
    build(printer, spec, paths)
}

/// The current build's id, if its artifacts are still there.
fn current(paths: &Paths) -> Option<String> {
    let id = std::fs::read_to_string(paths.current_build()).ok()?;
    let id = id.trim().to_owned();
    paths.builds().join(&id).is_dir().then_some(id)
}

/// `haven build`: a new build of the working tree, made current.
pub fn run(printer: &Printer, spec_path: &Path) -> anyhow::Result<ExitCode> {
    let loaded = super::spec::load_valid(printer, spec_path)?;
    let paths = Paths::new(loaded.spec.path(&loaded.spec.local.state_dir));
    let id = build(printer, &loaded.spec, &paths)?;
    if printer.json {
        printer
            .out_json(&serde_json::json!({ "build": id, "artifacts": paths.builds().join(&id) }))?;
    } else {
        printer.out(&id);
    }
    Ok(ExitCode::SUCCESS)
}

fn build(printer: &Printer, spec: &Spec, paths: &Paths) -> anyhow::Result<String> {
    let buildspec_path = spec.path(&spec.build.buildspec);
    let text = std::fs::read_to_string(&buildspec_path)
        .with_context(|| format!("cannot read buildspec `{}`", buildspec_path.display()))?;
    let buildspec = haven_build::Buildspec::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", buildspec_path.display()))?;
    let source = spec.path(&spec.build.directory);
    let version = git_head(&source).unwrap_or_else(|| "local".to_owned());
    let build_id = haven_build::new_build_id(&spec.project.name);
    let dir_name = build_id.rsplit(':').next().unwrap_or(&build_id).to_owned();
    let artifacts = paths.builds().join(&dir_name);
    let log = paths.builds().join(format!("{dir_name}.log"));
    std::fs::create_dir_all(paths.builds())
        .with_context(|| format!("cannot create `{}`", paths.builds().display()))?;
    // `env.parameter-store` from the local Parameter Store twin; the build masks the values.
    let parameters = haven_secrets::SecretStore::open(paths.secrets())
        .and_then(|store| {
            let names: Vec<&str> = buildspec
                .env
                .parameter_store
                .iter()
                .map(|(_, name)| name.as_str())
                .collect();
            store.resolver(&names)
        })
        .with_context(|| {
            format!(
                "cannot read the parameters of {}'s env.parameter-store",
                buildspec_path.display()
            )
        })?;
    let mut req = haven_build::BuildRequest::new(
        spec.project.name.clone(),
        spec.primary().name.clone(),
        source,
        version,
        log.clone(),
        artifacts.clone(),
    )
    .with_timeout(Duration::from(spec.build.timeout))
    .with_parameters(parameters);
    req.build_id = build_id;
    printer.status(
        "Building",
        &format!(
            "{} with {} (log: {})",
            spec.project.name,
            spec.build.buildspec.display(),
            log.display()
        ),
    );
    let spinner = printer.spinner("running the buildspec");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(haven_build::run(&buildspec, &req));
    drop(spinner);
    let outcome = outcome.context("the build could not run")?;
    if !outcome.succeeded() {
        let tail = haven_process::tail_lines(&log, 20)
            .unwrap_or_default()
            .join("\n");
        let failed = outcome
            .phases
            .iter()
            .find(|p| p.status != haven_build::PhaseStatus::Succeeded)
            .map(|p| p.name.to_string())
            .unwrap_or_default();
        let status = serde_json::to_value(outcome.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        bail!("the build ended {status} in phase {failed}; the end of its log:\n{tail}");
    }
    haven_control::paths::write_atomic(&paths.current_build(), format!("{dir_name}\n").as_bytes())?;
    printer.status(
        "Built",
        &format!(
            "{dir_name} in {:.1}s: {} artifact(s)",
            outcome.duration.as_secs_f64(),
            outcome.artifacts.len()
        ),
    );
    Ok(dir_name)
}

fn git_head(dir: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
