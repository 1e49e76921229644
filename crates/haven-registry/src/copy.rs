//! Copying an image to another registry: cross-region replication. Blobs go by digest, each
//! verified as the source reads it and again as the destination writes it, so corruption on
//! either side stops the copy before the destination refers to anything.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::{Registry, Staged};
use crate::oci::Descriptor;

impl Registry {
    /// Copies the image `reference` names into `to`, with its tag (or, for a digest, all its
    /// tags) under `to`'s tag policy, and returns its digest. The image keeps its digest and
    /// its `created` time.
    pub fn copy(&self, reference: &str, to: &Registry) -> Result<Digest> {
        let index = self.read_index()?;
        let (digest, tag) = self.resolve_in(&index, reference)?;
        let image = self.load_in(&index, &digest)?;
        let tags = match tag {
            Some(tag) => vec![tag],
            None => image.tags.clone(),
        };
        // Refuse early what the destination's policy would refuse after the copy.
        to.check_tags(&tags, &digest)?;
        // Every blob, an index's images of every platform included.
        let staged = self
            .reachable(&image.entry)?
            .iter()
            .map(|blob| self.copy_blob(blob, to))
            .collect::<Result<Vec<_>>>()?;
        to.publish(staged, image.entry.clone(), &tags, image.created())?;
        Ok(digest)
    }

    fn copy_blob(&self, desc: &Descriptor, to: &Registry) -> Result<Staged> {
        let mut source = self.open_blob(desc)?;
        let staged = to.stage(&mut source)?;
        source.finish()?;
        if staged.digest != desc.digest || staged.size != desc.size {
            return Err(Error::Corrupt {
                digest: desc.digest.clone(),
                path: to.blob_path(&desc.digest),
            });
        }
        Ok(staged)
    }
}
