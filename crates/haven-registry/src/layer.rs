//! Reading a layer's tar: decompressed as its media type says, with both digests checked in
//! the same pass, the stored blob's (`digest`) and the uncompressed tar's (the config's
//! `diff_id`), so what was read is used only if both match.

use std::io::Read;
use std::path::Path;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::layout::Registry;
use crate::media::Compression;
use crate::oci::Descriptor;

impl Registry {
    /// Runs `read` over the layer's tar (given the blob's path, for errors). Whatever went
    /// wrong, a blob that does not match its digest is reported as [`Error::Corrupt`] first:
    /// that is the cause. Then `read`'s own error, then a `diff_id` mismatch.
    pub(crate) fn read_layer<T>(
        &self,
        layer: &Descriptor,
        diff_id: Option<&Digest>,
        read: impl FnOnce(&mut dyn Read, &Path) -> Result<T>,
    ) -> Result<T> {
        let compression = Compression::of_layer(&layer.media_type).ok_or_else(|| {
            Error::UnsupportedMediaType {
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
            }
        })?;
        let mut blob = self.open_blob(layer)?;
        let path = blob.path().to_path_buf();
        let (result, tar) = {
            let mut tar = HashingReader::new(compression.decode(&mut blob));
            let result = read(&mut tar, &path);
            // The rest of the tar (padding after its end marker) counts towards the diff_id.
            (result, tar.finish())
        };
        let whole = blob.finish();
        match (result, tar, whole) {
            (_, _, Err(e)) => Err(e),
            (Err(e), _, _) => Err(e),
            (Ok(_), Err(e), _) => Err(haven_fs::IoError::new(&path, e).into()),
            (Ok(value), Ok((actual, _)), Ok(())) => match diff_id {
                Some(expected) if *expected != actual => Err(Error::DiffIdMismatch {
                    layer: layer.digest.clone(),
                    expected: expected.clone(),
                    actual,
                }),
                _ => Ok(value),
            },
        }
    }
}
