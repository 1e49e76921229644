//! The OCI image layout on disk: `oci-layout`, `index.json`, `blobs/sha256/<hex>`, plus two
//! entries of the registry's own that OCI tools ignore: `.lock` (serialises writers across
//! processes) and `.tmp/` (blobs being written, renamed into `blobs/` once complete).

use haven_fs::WithPath;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{Error, Result};
use crate::oci::{Descriptor, IMAGE_LAYOUT_VERSION, Index};

/// JSON blobs (manifests, configs) larger than this are refused rather than read into memory;
/// registries cap manifests at a few MiB too.
pub const MAX_JSON_BLOB: u64 = 4 << 20;

/// How tags behave: ECR's `imageTagMutability`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TagPolicy {
    /// A tag, once set, never points to another image.
    pub immutable: bool,
}

/// One region's registry: an OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    policy: TagPolicy,
}

impl Registry {
    /// Opens the layout at `dir`, creating it if absent.
    pub fn open(dir: &Path, policy: TagPolicy) -> Result<Self> {
        let reg = Self {
            root: dir.to_path_buf(),
            policy,
        };
        let blobs = reg.root.join("blobs").join(Digest::ALGORITHM);
        std::fs::create_dir_all(&blobs).with_path(&blobs)?;
        // Two processes may open a fresh registry at once: create its files under the lock.
        let _lock = reg.lock()?;
        let layout = reg.root.join("oci-layout");
        match std::fs::read(&layout) {
            Ok(bytes) => check_layout_file(&layout, &bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let text = serde_json::json!({ "imageLayoutVersion": IMAGE_LAYOUT_VERSION });
                reg.write_atomic(&layout, format!("{text}\n").as_bytes())?;
            }
            Err(e) => return Err(haven_fs::IoError::new(&layout, e).into()),
        }
        if reg.index_path().exists() {
            reg.read_index()?;
        } else {
            reg.write_index(&Index::default())?;
        }
        Ok(reg)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn policy(&self) -> TagPolicy {
        self.policy
    }

    /// Where a blob lives; the digest's hex is validated, so this stays inside `blobs/`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(Digest::ALGORITHM)
            .join(digest.hex())
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub(crate) fn read_index(&self) -> Result<Index> {
        let path = self.index_path();
        let bytes = std::fs::read(&path).with_path(&path)?;
        let index: Index = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            path: path.clone(),
            what: "image index",
            source,
        })?;
        if index.schema_version != 2 {
            return Err(Error::NotALayout {
                path,
                reason: format!("schemaVersion is {}, not 2", index.schema_version),
            });
        }
        Ok(index)
    }

    /// Replaces `index.json` atomically; callers hold the lock so that no update is lost.
    pub(crate) fn write_index(&self, index: &Index) -> Result<()> {
        let path = self.index_path();
        let mut text = serde_json::to_vec_pretty(index).map_err(|source| Error::Json {
            path: path.clone(),
            what: "image index",
            source,
        })?;
        text.push(b'\n');
        self.write_atomic(&path, &text)
    }

    pub(crate) fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        Ok(haven_fs::write_atomic(path, bytes)?)
    }

    /// The registry-wide writer lock, held while blobs are committed and `index.json` is
    /// rewritten (and while garbage is collected, so no blob of a push in flight is freed).
    pub(crate) fn lock(&self) -> Result<FileLock> {
        FileLock::acquire(&self.root.join(".lock"))
    }

    /// A fresh path in `.tmp/`, on the same filesystem as `blobs/` so renames are atomic.
    pub(crate) fn tmp_path(&self, purpose: &str) -> Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = self.root.join(".tmp");
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Ok(dir.join(format!("{purpose}-{}-{n}", std::process::id())))
    }

    /// Opens a blob for reading; [`BlobReader::finish`] says whether what was read is the blob.
    pub(crate) fn open_blob(&self, desc: &Descriptor) -> Result<BlobReader> {
        let path = self.blob_path(&desc.digest);
        let file = File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::MissingBlob {
                    digest: desc.digest.clone(),
                    path: path.clone(),
                }
            } else {
                haven_fs::IoError::new(&path, e).into()
            }
        })?;
        let len = file.metadata().with_path(&path)?.len();
        if len != desc.size {
            return Err(Error::Corrupt {
                digest: desc.digest.clone(),
                path,
            });
        }
        Ok(BlobReader {
            inner: HashingReader::new(BufReader::new(file)),
            digest: desc.digest.clone(),
            size: desc.size,
            path,
        })
    }

    /// A small JSON blob's bytes, verified against its descriptor.
    pub(crate) fn read_blob(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let path = self.blob_path(&desc.digest);
        if desc.size > MAX_JSON_BLOB {
            return Err(Error::Corrupt {
                digest: desc.digest.clone(),
                path,
            });
        }
        let mut reader = self.open_blob(desc)?;
        let mut bytes = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0));
        reader.read_to_end(&mut bytes).with_path(&path)?;
        reader.finish()?;
        Ok(bytes)
    }

    /// Hashes a whole blob and compares it with its descriptor.
    pub(crate) fn verify_blob(&self, desc: &Descriptor) -> Result<()> {
        self.open_blob(desc)?.finish()
    }

    /// Writes a blob into `.tmp/`, hashing it as it goes; [`Registry::commit`] moves it in.
    pub(crate) fn stage(&self, mut reader: impl Read) -> Result<Staged> {
        self.stage_with(|w, tmp| {
            io::copy(&mut reader, w).with_path(tmp)?;
            Ok(())
        })
    }

    /// Writes a blob produced by `write` (given the writer and the temp file's path, for
    /// errors) into `.tmp/`, hashing it.
    pub(crate) fn stage_with(
        &self,
        write: impl FnOnce(&mut HashingWriter<BufWriter<File>>, &Path) -> Result<()>,
    ) -> Result<Staged> {
        let tmp = TmpFile(self.tmp_path("blob")?, false);
        let file = File::create(&tmp.0).with_path(&tmp.0)?;
        let mut w = HashingWriter::new(BufWriter::new(file));
        write(&mut w, &tmp.0)?;
        let (buffered, digest, size) = w.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| haven_fs::IoError::new(&tmp.0, e.into_error()))?;
        file.sync_all().with_path(&tmp.0)?;
        Ok(Staged { tmp, digest, size })
    }

    /// Moves a staged blob to `blobs/sha256/<hex>`, read-only: a blob never changes. The
    /// caller holds the lock. A blob already there is the same bytes (same digest), so it is
    /// replaced as is.
    pub(crate) fn commit(&self, mut staged: Staged) -> Result<()> {
        let dest = self.blob_path(&staged.digest);
        let tmp = &staged.tmp.0;
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o444)).with_path(tmp)?;
        // Synced with its directory: a committed blob survives a crash.
        haven_fs::rename_durable(tmp, &dest)?;
        staged.tmp.1 = true;
        Ok(())
    }
}

fn check_layout_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        what: "oci-layout file",
        source,
    })?;
    match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(v) if v.split('.').next() == Some("1") => Ok(()),
        other => Err(Error::NotALayout {
            path: path.to_path_buf(),
            reason: format!("imageLayoutVersion is {other:?}, not 1.x"),
        }),
    }
}

/// A blob being read; everything read through it is hashed, and [`BlobReader::finish`] says
/// whether what was read is the blob (a reader serving a client ends the response with an
/// error instead of a clean end when it is not).
pub struct BlobReader {
    inner: HashingReader<BufReader<File>>,
    digest: Digest,
    size: u64,
    path: PathBuf,
}

impl BlobReader {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the rest and checks the digest and size: only after this succeeds may what was
    /// read be used.
    pub fn finish(self) -> Result<()> {
        let (digest, size) = self.inner.finish().with_path(&self.path)?;
        if digest == self.digest && size == self.size {
            Ok(())
        } else {
            Err(Error::Corrupt {
                digest: self.digest,
                path: self.path,
            })
        }
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

/// A blob written to `.tmp/` and not yet in `blobs/`.
pub(crate) struct Staged {
    tmp: TmpFile,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

impl Staged {
    /// A complete temp file whose content hashed to `digest`.
    pub(crate) fn new(tmp: TmpFile, digest: Digest, size: u64) -> Self {
        Self { tmp, digest, size }
    }
}

/// A temp file removed when dropped, unless it was renamed away.
pub(crate) struct TmpFile(pub(crate) PathBuf, pub(crate) bool);

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.1 {
            // Best effort cleanup of an abandoned write; nothing refers to this file.
            std::fs::remove_file(&self.0).ok();
        }
    }
}

/// An exclusive `flock(2)` on a file, released when dropped (closing the descriptor
/// releases it, also when the process dies, so a crash never leaves the registry locked).
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_path(path)?;
        loop {
            // SAFETY: flock on a descriptor this function owns for the call's duration.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Self { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(haven_fs::IoError::new(path, err).into());
            }
        }
    }
}
