//! Images from builds: packaging a build's artifacts into the primary's registry (the ECR
//! twin), replicating an image by digest to another region's registry, verified there, and
//! the registry policies the spec sets (scan options, lifecycle rules that spare images in
//! use), for the CLI and the pipeline alike.

use std::collections::BTreeMap;
use std::path::Path;

use haven_control::control::Endpoint;
use haven_control::paths::Paths;
use haven_fs::IoError;
use haven_registry::{Digest, ImageRef, ImageSpec, LifecycleOutcome, Registry, TagPolicy};
use haven_spec::Spec;

use crate::Error;

/// A region's registry, under the spec's tag policy.
pub fn open_registry(spec: &Spec, paths: &Paths, region: &str) -> Result<Registry, Error> {
    let policy = TagPolicy {
        immutable: spec.registry.immutable_tags,
    };
    Ok(Registry::open(&paths.registry(region), policy)?)
}

/// How an image is made from a build, as the runtime in use says.
#[derive(Debug, Clone)]
pub enum Recipe<'a> {
    /// The process runtime: the build's artifacts packaged by the registry itself, with the
    /// service's command as entrypoint.
    Artifacts,
    /// The container runtime: the service's Dockerfile built with buildah in the build's
    /// working directory, as the buildspec's `docker build` does on AWS.
    Dockerfile {
        /// The build context: the directory the buildspec ran in.
        context: &'a Path,
        /// buildah's storage (`Paths::buildah`).
        storage: std::path::PathBuf,
    },
}

impl<'a> Recipe<'a> {
    /// The recipe of `runtime`: a Dockerfile build in `context` for containers.
    pub fn of(runtime: haven_control::api::Runtime, context: &'a Path, paths: &Paths) -> Self {
        match runtime {
            haven_control::api::Runtime::Container => Self::Dockerfile {
                context,
                storage: paths.buildah(),
            },
            haven_control::api::Runtime::Process => Self::Artifacts,
        }
    }
}

/// Makes build `build`'s image and pushes it to `registry` as `tag`. With
/// [`Recipe::Artifacts`], the service's command is the entrypoint, its environment plus `env`
/// the image's, and the build a label; with [`Recipe::Dockerfile`] the Dockerfile says all of
/// that (and `env` must be empty), and buildah's output lines go to `progress`.
#[allow(clippy::too_many_arguments)]
pub fn package(
    spec: &Spec,
    registry: &Registry,
    build: &str,
    artifacts: &Path,
    tag: &str,
    env: Vec<(String, String)>,
    recipe: Recipe<'_>,
    progress: &mut dyn FnMut(&str),
) -> Result<ImageRef, Error> {
    let service = &spec.service;
    let labels = BTreeMap::from([
        (
            "org.opencontainers.image.revision".to_owned(),
            build.to_owned(),
        ),
        ("haven.build".to_owned(), build.to_owned()),
    ]);
    match recipe {
        Recipe::Artifacts => {
            let mut environment: BTreeMap<String, String> = service.environment.clone();
            environment.extend(env);
            let mut image = ImageSpec::new(service.command.clone());
            image.env = environment.into_iter().collect();
            image.exposed_port = Some(service.port);
            image.labels = labels;
            Ok(registry.build(artifacts, &image, tag)?)
        }
        Recipe::Dockerfile { context, storage } => {
            if let Some((k, _)) = env.first() {
                return Err(Error::Other(format!(
                    "cannot bake `{k}` into an image built from {}: with the container runtime the Dockerfile's ENV sets the image's environment",
                    service.dockerfile.display()
                )));
            }
            let buildah =
                haven_dockerfile::probe(&storage).map_err(|e| Error::Other(e.to_string()))?;
            let mut req =
                haven_dockerfile::BuildRequest::new(context, &service.dockerfile, &storage);
            req.labels = labels;
            let built = buildah
                .build(&req, &mut *progress)
                .map_err(|e| Error::Other(e.to_string()))?;
            haven_dockerfile::import(&built, registry, tag).map_err(|e| Error::Other(e.to_string()))
        }
    }
}

/// Whether the regions are cut from each other (`haven chaos partition`): the marker exists
/// and the twin that a drill partitioned is running. A marker left by a twin that was killed
/// outright is no partition: it is a fault of a running twin, and the next `haven up` removes
/// it, but what that `haven up` prepares before it starts must not wait on it.
pub fn partitioned(paths: &Paths) -> bool {
    paths.partition().exists()
        && Endpoint::read(&paths.supervisor()).is_ok_and(|supervisor| supervisor.is_alive())
}

/// Copies `reference` from the primary's registry to `region`'s (by digest, so every tag
/// comes along) and returns the digest. The primary itself needs no copy. While the regions
/// are [`partitioned`], a copy to another region fails with [`Error::Partitioned`].
pub fn replicate(
    spec: &Spec,
    paths: &Paths,
    reference: &str,
    region: &str,
) -> Result<Digest, Error> {
    let primary = open_registry(spec, paths, &spec.primary().name)?;
    let digest = primary.resolve(reference)?;
    if region != spec.primary().name {
        if partitioned(paths) {
            return Err(Error::Partitioned {
                image: reference.to_owned(),
                region: region.to_owned(),
            });
        }
        let target = open_registry(spec, paths, region)?;
        primary.copy(&digest.to_string(), &target)?;
        // Every blob is hashed again on the way in; reading the image back proves the copy
        // is whole before anyone runs it.
        target.inspect(&digest.to_string())?;
    }
    Ok(digest)
}

/// What a scan of an image checks: the Cargo.lock of the source it was built from (none for
/// an image pushed from elsewhere) against the spec's advisory database.
pub fn scan_options(
    spec: &Spec,
    source_dir: Option<&Path>,
) -> Result<haven_registry::ScanOptions, Error> {
    let lock = source_dir.map(|d| d.join("Cargo.lock"));
    let advisories = match &spec.registry.advisory_db {
        Some(dir) => Some(
            haven_registry::AdvisoryDb::load(&spec.path(dir)).map_err(|e| {
                Error::Other(format!(
                    "registry.advisory_db = \"{}\" cannot be used: {e}",
                    dir.display()
                ))
            })?,
        ),
        None => None,
    };
    Ok(haven_registry::ScanOptions {
        lockfiles: lock.filter(|l| l.is_file()).into_iter().collect(),
        advisories,
    })
}

/// Every image in use in any region, never expired by a lifecycle rule: each service's
/// current image, both sides of a release under way, every live task's image, and the image
/// services start on.
pub fn in_use(
    spec: &Spec,
    paths: &Paths,
    registry: &Registry,
) -> Result<std::collections::BTreeSet<Digest>, Error> {
    let mut refs: Vec<String> = Vec::new();
    match std::fs::read_to_string(paths.initial_image()) {
        Ok(text) => refs.push(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(IoError::new(paths.initial_image(), e).into()),
    }
    for region in spec.twin().regions {
        let db = paths.region_db(&region.name);
        if !db.is_file() {
            continue;
        }
        let read = || -> Result<Vec<String>, haven_state::Error> {
            let store = haven_state::Store::open(&db)?;
            let mut out = Vec::new();
            for service in &region.services {
                // `image_or_init` with an empty initial image only reads: it sets nothing.
                out.push(store.image_or_init(&service.name, "")?);
                for r in store.releases(Some(&service.name), 16)? {
                    if r.state == haven_state::ReleaseState::InProgress {
                        out.extend([r.from_image, r.to_image]);
                    }
                }
            }
            out.extend(store.live_tasks()?.into_iter().map(|t| t.image));
            Ok(out)
        };
        refs.extend(read().map_err(|e| {
            Error::Other(format!(
                "cannot read {}'s state to protect its images: {e}",
                region.name
            ))
        })?);
    }
    Ok(refs
        .iter()
        .filter(|r| !r.is_empty())
        .filter_map(|r| registry.resolve(r).ok().or_else(|| Digest::parse(r).ok()))
        .collect())
}

/// Applies the spec's lifecycle rules (`registry.lifecycle`) to `registry` now, as ECR does
/// on push, never expiring an image in use ([`in_use`]).
pub fn apply_lifecycle(
    spec: &Spec,
    paths: &Paths,
    registry: &Registry,
    dry_run: bool,
) -> Result<LifecycleOutcome, Error> {
    let used = in_use(spec, paths, registry)?;
    Ok(registry.apply_lifecycle(&spec.registry.lifecycle, &used, haven_time::now(), dry_run)?)
}
