//! Images from builds: packaging a build's artifacts into the primary's registry (the ECR
//! twin), and replicating an image by digest to another region's registry, verified there.

use std::collections::BTreeMap;
use std::path::Path;

use haven_registry::{Digest, ImageRef, ImageSpec, Registry, TagPolicy};
use haven_spec::Spec;
use haven_twin::Paths;

use crate::Error;

/// A region's registry, under the spec's tag policy.
pub fn open_registry(spec: &Spec, paths: &Paths, region: &str) -> Result<Registry, Error> {
    let policy = TagPolicy {
        immutable: spec.registry.immutable_tags,
    };
    Ok(Registry::open(&paths.registry(region), policy)?)
}

/// Packages a build's artifacts as an image: the service's command as entrypoint, its
/// environment plus `env`, its port, and the build as a label.
pub fn package(
    spec: &Spec,
    registry: &Registry,
    build: &str,
    artifacts: &Path,
    tag: &str,
    env: Vec<(String, String)>,
) -> Result<ImageRef, Error> {
    let service = &spec.service;
    let mut environment: BTreeMap<String, String> = service.environment.clone();
    environment.extend(env);
    let mut image = ImageSpec::new(service.command.clone());
    image.env = environment.into_iter().collect();
    image.exposed_port = Some(service.port);
    image.labels = BTreeMap::from([
        (
            "org.opencontainers.image.revision".to_owned(),
            build.to_owned(),
        ),
        ("haven.build".to_owned(), build.to_owned()),
    ]);
    Ok(registry.build(artifacts, &image, tag)?)
}

/// Copies `reference` from the primary's registry to `region`'s (by digest, so every tag
/// comes along) and returns the digest. The primary itself needs no copy.
pub fn replicate(
    spec: &Spec,
    paths: &Paths,
    reference: &str,
    region: &str,
) -> Result<Digest, Error> {
    let primary = open_registry(spec, paths, &spec.primary().name)?;
    let digest = primary.resolve(reference)?;
    if region != spec.primary().name {
        let target = open_registry(spec, paths, region)?;
        primary.copy(&digest.to_string(), &target)?;
        // Every blob is hashed again on the way in; reading the image back proves the copy
        // is whole before anyone runs it.
        target.inspect(&digest.to_string())?;
    }
    Ok(digest)
}
