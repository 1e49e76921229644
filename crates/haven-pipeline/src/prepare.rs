//! What `haven up` makes ready before the twin starts, and `haven build`: a build of the
//! service from its buildspec (made when there is none), packaged once as an image in the
//! primary's registry and replicated to every secondary's, the image services start on.
//! Progress goes to a [`Progress`], so that the CLI only wires and prints.

use std::path::{Path, PathBuf};
use std::time::Duration;

use haven_control::api::Runtime;
use haven_control::paths::Paths;
use haven_fs::{IoError, WithPath};
use haven_spec::Spec;

use crate::Error;

/// Where the steps report to (the CLI prints them on stderr).
pub trait Progress {
    /// A step begun or done: `verb` (`Using`, `Building`, `Built`, `Pushed`) and what.
    fn step(&self, verb: &str, message: &str);
    /// A long step runs until the returned guard is dropped (a terminal shows a spinner).
    fn busy(&self, what: &str) -> Box<dyn Busy>;
}

/// What [`Progress::busy`] hands back: dropping it ends the display of the work.
pub trait Busy: Send {}

impl<T: Send> Busy for T {}

/// What `haven up` starts from: the build and the image made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub build: String,
    pub image: String,
}

/// `haven up`'s preparation: the current build, or a new one when there is none, and its
/// image in every region's registry.
pub async fn prepare(
    spec: &Spec,
    paths: &Paths,
    runtime: Runtime,
    progress: &dyn Progress,
) -> Result<Prepared, Error> {
    let build = ensure_build(spec, paths, progress).await?;
    let image = ensure_initial(spec, paths, runtime, progress)?;
    Ok(Prepared { build, image })
}

/// Makes sure a build exists for the twin to run; builds one if none does.
pub async fn ensure_build(
    spec: &Spec,
    paths: &Paths,
    progress: &dyn Progress,
) -> Result<String, Error> {
    if let Some((id, _)) = current_build(paths)? {
        progress.step(
            "Using",
            &format!("build {id} (`haven build` makes a new one)"),
        );
        return Ok(id);
    }
    build(spec, paths, progress).await
}

/// The current build's id and artifacts, if there is one and its artifacts are still there.
pub fn current_build(paths: &Paths) -> Result<Option<(String, PathBuf)>, Error> {
    let file = paths.current_build();
    let id = match std::fs::read_to_string(&file) {
        Ok(id) => id.trim().to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::new(&file, e).into()),
    };
    let artifacts = paths.builds().join(&id);
    Ok((!id.is_empty() && artifacts.is_dir()).then_some((id, artifacts)))
}

/// The current build, or an error that says how to make one (for what packages it).
pub fn require_build(paths: &Paths) -> Result<(String, PathBuf), Error> {
    current_build(paths)?.ok_or_else(|| {
        Error::Other("there is no build to package; run `haven build` first".to_owned())
    })
}

/// The tag an image of build `id` gets when none is given.
pub fn default_tag(id: &str) -> String {
    id.chars().take(12).collect()
}

/// The tag of the image `haven up` makes of build `id` with `runtime`: images of one build
/// made by the two recipes differ, so neither stands in for the other.
pub fn initial_tag(id: &str, runtime: Runtime) -> String {
    match runtime {
        Runtime::Process => default_tag(id),
        Runtime::Container => format!("{}-dockerfile", default_tag(id)),
    }
}

/// A new build of the working tree with the CodeBuild twin, made current; its id.
pub async fn build(spec: &Spec, paths: &Paths, progress: &dyn Progress) -> Result<String, Error> {
    let buildspec_path = spec.path(&spec.build.buildspec);
    let text = std::fs::read_to_string(&buildspec_path).map_err(|e| {
        Error::Other(format!(
            "cannot read buildspec `{}`: {e}",
            buildspec_path.display()
        ))
    })?;
    let buildspec = haven_build::Buildspec::parse(&text)
        .map_err(|e| Error::Other(format!("{}: {e}", buildspec_path.display())))?;
    let source = spec.path(&spec.build.directory);
    let version = git_head(&source).unwrap_or_else(|| "local".to_owned());
    let build_id = haven_build::new_build_id(&spec.project.name);
    let dir_name = build_id.rsplit(':').next().unwrap_or(&build_id).to_owned();
    let artifacts = paths.builds().join(&dir_name);
    let log = paths.builds().join(format!("{dir_name}.log"));
    std::fs::create_dir_all(paths.builds()).with_path(paths.builds())?;
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
        .map_err(|e| {
            Error::Other(format!(
                "cannot read the parameters of {}'s env.parameter-store: {e}",
                buildspec_path.display()
            ))
        })?;
    let mut req = haven_build::BuildRequest::new(
        spec.project.name.clone(),
        spec.primary().name.clone(),
        source,
        version,
        log.clone(),
        artifacts,
    )
    .with_timeout(Duration::from(spec.build.timeout))
    .with_parameters(parameters);
    req.build_id = build_id;
    progress.step(
        "Building",
        &format!(
            "{} with {} (log: {})",
            spec.project.name,
            spec.build.buildspec.display(),
            log.display()
        ),
    );
    let outcome = {
        let _busy = progress.busy("running the buildspec");
        haven_build::run(&buildspec, &req).await
    }
    .map_err(|e| Error::Other(format!("the build could not run: {e}")))?;
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
        return Err(Error::Other(format!(
            "the build ended {status} in phase {failed}; the end of its log:\n{tail}"
        )));
    }
    haven_control::paths::write_atomic(&paths.current_build(), format!("{dir_name}\n").as_bytes())?;
    progress.step(
        "Built",
        &format!(
            "{dir_name} in {:.1}s: {} artifact(s)",
            outcome.duration.as_secs_f64(),
            outcome.artifacts.len()
        ),
    );
    Ok(dir_name)
}

/// The image `haven up` starts services on: the current build packaged (once) in the primary's
/// registry and replicated to every secondary's. Returns its digest.
pub fn ensure_initial(
    spec: &Spec,
    paths: &Paths,
    runtime: Runtime,
    progress: &dyn Progress,
) -> Result<String, Error> {
    let (id, artifacts) = require_build(paths)?;
    let tag = initial_tag(&id, runtime);
    let primary = crate::image::open_registry(spec, paths, &spec.primary().name)?;
    let digest = match primary.resolve(&tag) {
        Ok(d) => d.to_string(),
        Err(_) => {
            let context = spec.path(&spec.build.directory);
            let recipe = crate::image::Recipe::of(runtime, &context, paths);
            if runtime == Runtime::Container {
                progress.step(
                    "Building",
                    &format!("{} with buildah", spec.service.dockerfile.display()),
                );
            }
            let pushed = {
                // A Dockerfile build takes a moment; packaging artifacts does not.
                let _busy =
                    (runtime == Runtime::Container).then(|| progress.busy("building the image"));
                crate::image::package(
                    spec,
                    &primary,
                    &id,
                    &artifacts,
                    &tag,
                    Vec::new(),
                    recipe,
                    &mut |line| tracing::debug!(target: "buildah", "{line}"),
                )?
            };
            progress.step(
                "Pushed",
                &format!("{tag} {} to {}", pushed.digest, spec.primary().name),
            );
            pushed.digest.to_string()
        }
    };
    if spec.registry.replicate {
        for r in spec.secondaries() {
            crate::image::replicate(spec, paths, &digest, &r.name)?;
        }
    }
    haven_control::paths::write_atomic(&paths.initial_image(), format!("{digest}\n").as_bytes())?;
    Ok(digest)
}

/// The commit the build directory is at, for CODEBUILD_RESOLVED_SOURCE_VERSION.
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Mutex;

    use super::*;

    /// The steps reported, as `verb message`.
    #[derive(Default)]
    struct Steps(Mutex<Vec<String>>);

    impl Progress for Steps {
        fn step(&self, verb: &str, message: &str) {
            self.0.lock().unwrap().push(format!("{verb} {message}"));
        }

        fn busy(&self, what: &str) -> Box<dyn Busy> {
            self.step("Busy", what);
            Box::new(())
        }
    }

    /// The example's spec in a temp dir, with a build whose artifacts are a script.
    fn project() -> (tempfile::TempDir, Spec, Paths) {
        let tmp = tempfile::tempdir().unwrap();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
        for f in ["haven.toml", "buildspec.yml"] {
            std::fs::copy(example.join(f), tmp.path().join(f)).unwrap();
        }
        let spec = haven_spec::load(&tmp.path().join("haven.toml"))
            .unwrap()
            .spec;
        let paths = Paths::new(spec.path(&spec.local.state_dir));
        let bin = paths.builds().join("2a10ed4c-325e/target/release");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("hello"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(bin.join("hello"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        (tmp, spec, paths)
    }

    #[test]
    fn the_first_image_is_the_current_build_in_every_region_once() {
        let (_tmp, spec, paths) = project();
        let steps = Steps::default();
        let err = ensure_initial(&spec, &paths, Runtime::Process, &steps)
            .unwrap_err()
            .to_string();
        assert!(err.contains("run `haven build`"), "{err}");
        std::fs::write(paths.current_build(), "2a10ed4c-325e\n").unwrap();
        assert_eq!(
            current_build(&paths).unwrap().map(|(id, _)| id).as_deref(),
            Some("2a10ed4c-325e")
        );

        let digest = ensure_initial(&spec, &paths, Runtime::Process, &steps).unwrap();
        assert!(digest.starts_with("sha256:"), "{digest}");
        let initial = std::fs::read_to_string(paths.initial_image()).unwrap();
        assert_eq!(initial.trim(), digest);
        for region in ["us-east-1", "us-west-2"] {
            let registry = crate::image::open_registry(&spec, &paths, region).unwrap();
            assert_eq!(registry.resolve(&digest).unwrap().to_string(), digest);
        }
        let primary = crate::image::open_registry(&spec, &paths, "us-east-1").unwrap();
        assert_eq!(primary.resolve("2a10ed4c-325").unwrap().to_string(), digest);
        // Again: the same image, nothing pushed.
        assert_eq!(
            ensure_initial(&spec, &paths, Runtime::Process, &steps).unwrap(),
            digest
        );
        let steps = steps.0.into_inner().unwrap();
        assert_eq!(
            steps,
            [format!("Pushed 2a10ed4c-325 {digest} to us-east-1")]
        );
    }

    #[tokio::test]
    async fn an_existing_build_is_used_as_is() {
        let (_tmp, spec, paths) = project();
        std::fs::write(paths.current_build(), "2a10ed4c-325e\n").unwrap();
        let steps = Steps::default();
        let prepared = prepare(&spec, &paths, Runtime::Process, &steps)
            .await
            .unwrap();
        assert_eq!(prepared.build, "2a10ed4c-325e");
        let steps = steps.0.into_inner().unwrap();
        assert_eq!(
            steps[0],
            "Using build 2a10ed4c-325e (`haven build` makes a new one)"
        );
        assert!(
            steps[1].starts_with("Pushed 2a10ed4c-325 sha256:"),
            "{steps:?}"
        );
        // A current build whose artifacts are gone is no build.
        std::fs::remove_dir_all(paths.builds().join("2a10ed4c-325e")).unwrap();
        assert_eq!(current_build(&paths).unwrap(), None);
    }

    #[test]
    fn default_tags_are_a_builds_first_twelve_characters() {
        assert_eq!(default_tag("2a10ed4c-325e-4f80"), "2a10ed4c-325");
        assert_eq!(default_tag("short"), "short");
    }
}
