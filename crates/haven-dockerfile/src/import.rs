//! Importing a built image into a registry (the ECR twin) by digest: the registry's own
//! replication reads the built layout, verifying every blob as it goes, and publishes the
//! image under the tag with the registry's tag policy.

use haven_registry::{ImageRef, Registry, TagPolicy, validate_tag};

use crate::build::{BUILT_TAG, Built};
use crate::error::Result;

/// Copies `built` into `registry` as `tag` and returns what was pushed, as
/// [`Registry::build`] does: its digest (the manifest's, unchanged by the import), size, and
/// whether the tag moved. An immutable tag that points to another image is refused.
pub fn import(built: &Built, registry: &Registry, tag: &str) -> Result<ImageRef> {
    validate_tag(tag)?;
    let source = Registry::open(built.layout(), TagPolicy::default())?;
    if tag != BUILT_TAG {
        source.tag(BUILT_TAG, tag)?;
    }
    // Only for the report: a concurrent push may move the tag in between, which the copy
    // itself handles under the registry's lock.
    let before = registry.resolve(tag).ok();
    let digest = source.copy(tag, registry)?;
    Ok(ImageRef {
        tag: tag.to_owned(),
        size: built.size,
        moved_from: before.clone().filter(|d| *d != digest),
        changed: before.as_ref() != Some(&digest),
        digest,
    })
}
