//! Blobs pushed one by one, as the OCI distribution API pushes them: an upload session is a
//! temp file under `.tmp/` that chunks are appended to while they are hashed, finished against
//! the digest the client names (a mismatch stores nothing) or cancelled. A finished blob is
//! not referenced by any manifest yet, so it gets a `.pending/<hex>` marker that keeps garbage
//! collection off it for [`UPLOAD_GRACE`], the time a client has to push the manifest.

use haven_fs::WithPath;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, Result};
use crate::layout::{BlobReader, Registry, Staged, TmpFile};
use crate::oci::Descriptor;

/// How long a pushed blob that no manifest refers to yet is kept, and how long an abandoned
/// upload's temp file may stay: an hour, as registries commonly expire upload sessions.
pub const UPLOAD_GRACE: Duration = Duration::from_secs(3600);

/// The prefix of upload sessions' temp files in `.tmp/`.
const UPLOAD_PREFIX: &str = "upload";

/// A blob being uploaded. Dropping it (or [`BlobUpload::cancel`]) removes its temp file.
pub struct BlobUpload {
    registry: Registry,
    tmp: TmpFile,
    file: BufWriter<File>,
    hasher: Hasher,
}

impl std::fmt::Debug for BlobUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobUpload")
            .field("path", &self.tmp.0)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

impl BlobUpload {
    /// The bytes received so far: where the next chunk must start.
    pub fn size(&self) -> u64 {
        self.hasher.len()
    }

    /// The temp file the bytes go to.
    pub fn path(&self) -> &Path {
        &self.tmp.0
    }

    /// Appends a chunk that the client says starts at `offset`: it must start where the upload
    /// ends ([`Error::UploadOffset`] otherwise, nothing written). Returns the new size.
    pub fn append_at(&mut self, offset: u64, bytes: &[u8]) -> Result<u64> {
        if offset != self.size() {
            return Err(Error::UploadOffset {
                expected: self.size(),
                got: offset,
            });
        }
        self.append(bytes)?;
        Ok(self.size())
    }

    /// Appends bytes at the end.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).with_path(&self.tmp.0)?;
        self.hasher.update(bytes);
        Ok(())
    }

    /// Completes the upload as the blob `expected`: when the bytes hash to it, the blob is in
    /// the registry (kept for [`UPLOAD_GRACE`] until a manifest refers to it) and its size is
    /// returned; otherwise [`Error::DigestMismatch`] and the bytes are gone.
    pub fn finish(self, expected: &Digest) -> Result<u64> {
        let Self {
            registry,
            tmp,
            file,
            hasher,
        } = self;
        let (digest, size) = hasher.finish();
        if digest != *expected {
            // `tmp` is dropped, so the bytes are removed.
            return Err(Error::DigestMismatch {
                expected: expected.clone(),
                actual: digest,
            });
        }
        let file = file
            .into_inner()
            .map_err(|e| haven_fs::IoError::new(&tmp.0, e.into_error()))?;
        file.sync_all().with_path(&tmp.0)?;
        drop(file);
        let _lock = registry.lock()?;
        registry.mark_pending(&digest)?;
        registry.commit(Staged::new(tmp, digest, size))?;
        Ok(size)
    }

    /// Abandons the upload; its temp file goes.
    pub fn cancel(self) {
        drop(self);
    }
}

impl Registry {
    /// Starts a blob upload.
    pub fn start_upload(&self) -> Result<BlobUpload> {
        let path = self.tmp_path(UPLOAD_PREFIX)?;
        let file = File::create(&path).with_path(&path)?;
        Ok(BlobUpload {
            registry: self.clone(),
            tmp: TmpFile(path, false),
            file: BufWriter::new(file),
            hasher: Hasher::default(),
        })
    }

    /// The size of the blob `digest`, if the registry has it.
    pub fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some(m.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(haven_fs::IoError::new(&path, e).into()),
        }
    }

    /// Opens the blob `digest` for streaming, if the registry has it; what is read is hashed,
    /// and [`BlobReader::finish`] says whether it was the blob.
    pub fn read_blob_stream(&self, digest: &Digest) -> Result<Option<BlobReader>> {
        let Some(size) = self.blob_size(digest)? else {
            return Ok(None);
        };
        match self.open_blob(&Descriptor::new("", digest.clone(), size)) {
            Ok(reader) => Ok(Some(reader)),
            // Deleted between the two calls (a garbage collection).
            Err(Error::MissingBlob { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Cross-repository mount: makes the blob `digest` of `from` available here (copied and
    /// verified on the way). Returns its size, or `None` when `from` does not have it.
    pub fn mount_blob(&self, from: &Registry, digest: &Digest) -> Result<Option<u64>> {
        if let Some(size) = self.blob_size(digest)? {
            let _lock = self.lock()?;
            self.mark_pending(digest)?;
            return Ok(Some(size));
        }
        let Some(mut source) = from.read_blob_stream(digest)? else {
            return Ok(None);
        };
        let staged = self.stage(&mut source)?;
        source.finish()?;
        if staged.digest != *digest {
            return Err(Error::Corrupt {
                digest: digest.clone(),
                path: from.blob_path(digest),
            });
        }
        let size = staged.size;
        let _lock = self.lock()?;
        self.mark_pending(digest)?;
        self.commit(staged)?;
        Ok(Some(size))
    }

    /// Removes upload temp files older than `max_age`: sessions of a process that is gone.
    /// Returns how many were removed.
    pub fn remove_stale_uploads(&self, max_age: Duration) -> Result<usize> {
        let dir = self.root().join(".tmp");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(haven_fs::IoError::new(&dir, e).into()),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.with_path(&dir)?;
            let is_upload = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&format!("{UPLOAD_PREFIX}-")));
            if is_upload && older_than(&entry.path(), max_age) {
                let path = entry.path();
                std::fs::remove_file(&path).with_path(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn pending_dir(&self) -> PathBuf {
        self.root().join(".pending")
    }

    /// Marks a blob as just pushed; the caller holds the lock (so no collection runs between
    /// the marker and the blob).
    pub(crate) fn mark_pending(&self, digest: &Digest) -> Result<()> {
        let dir = self.pending_dir();
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        let path = dir.join(digest.hex());
        // Re-created, so a second push of the same blob restarts its grace period.
        File::create(&path).with_path(&path)?;
        Ok(())
    }

    /// Blobs pushed within [`UPLOAD_GRACE`] that no manifest may refer to yet; markers older
    /// than that are removed (their blobs become garbage). The caller holds the lock.
    pub(crate) fn pending_blobs(&self) -> Result<Vec<Digest>> {
        let dir = self.pending_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(haven_fs::IoError::new(&dir, e).into()),
        };
        let mut fresh = Vec::new();
        for entry in entries {
            let entry = entry.with_path(&dir)?;
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::parse(&format!("sha256:{n}")).ok())
            else {
                continue;
            };
            let path = entry.path();
            if older_than(&path, UPLOAD_GRACE) {
                std::fs::remove_file(&path).with_path(&path)?;
            } else {
                fresh.push(digest);
            }
        }
        Ok(fresh)
    }

    /// A manifest now refers to these blobs: they no longer need a marker. The caller holds
    /// the lock.
    pub(crate) fn clear_pending(&self, digests: &[Digest]) -> Result<()> {
        let dir = self.pending_dir();
        for digest in digests {
            let path = dir.join(digest.hex());
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
            }
        }
        Ok(())
    }
}

/// Whether the file was last modified more than `age` ago (a file whose time cannot be read
/// is not).
fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|elapsed| elapsed > age)
}
