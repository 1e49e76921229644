//! Files: atomic durable writes and I/O errors that name their path; the OS's randomness for
//! ids and tokens ([`random`]).
//!
//! Every crate that writes state writes it through [`write_atomic`] or [`write_private`], and
//! reports a failed file operation as an [`IoError`], which its own error wraps
//! (`#[error(transparent)] Fs(#[from] haven_fs::IoError)`).

pub mod random;

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A failed file operation and the path it was on.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl IoError {
    pub fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self {
            path: path.into(),
            source,
        }
    }

    /// The path the operation was on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operating system's error.
    pub fn io(&self) -> &io::Error {
        &self.source
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

/// Names the path of a failed I/O result: `std::fs::read(&p).with_path(&p)?`.
pub trait WithPath<T> {
    fn with_path(self, path: impl AsRef<Path>) -> Result<T, IoError>;
}

impl<T> WithPath<T> for io::Result<T> {
    fn with_path(self, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|e| IoError::new(path.as_ref(), e))
    }
}

/// Replaces `path` with `contents`: a reader sees the old file or the new one, never a part,
/// and after a crash the file is one of the two. The data and the rename are both synced (the
/// file, then its directory). The new file gets the default mode (0666 less the umask).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), IoError> {
    write_atomic_as(path, contents, None)
}

/// [`write_atomic`] for files only their owner may read (keys, parameters, tokens): mode 0600
/// from the moment the file exists, whatever the umask.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), IoError> {
    write_atomic_as(path, contents, Some(0o600))
}

/// [`write_atomic`] with an exact mode (for example 0755 for a script).
pub fn write_atomic_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), IoError> {
    write_atomic_as(path, contents, Some(mode))
}

fn write_atomic_as(path: &Path, contents: &[u8], mode: Option<u32>) -> Result<(), IoError> {
    let tmp = temp_beside(path);
    let result = (|| {
        let mut options = OpenOptions::new();
        // A private file is never readable by others, not even while it is being written.
        options
            .write(true)
            .create_new(true)
            .mode(mode.map_or(0o666, |m| m & 0o600));
        let mut file = options.open(&tmp).with_path(&tmp)?;
        if let Some(mode) = mode {
            // The mode given to open(2) is reduced by the umask, never widened; set it exactly.
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .with_path(&tmp)?;
        }
        file.write_all(contents).with_path(&tmp)?;
        file.sync_all().with_path(&tmp)?;
        drop(file);
        rename_durable(&tmp, path)
    })();
    if result.is_err() {
        // Best effort: the failure being returned matters more than a stray temporary file.
        std::fs::remove_file(&tmp).ok();
    }
    result
}

/// Renames `from` to `to` and syncs `to`'s directory, so that the rename survives a crash.
/// `from` should already be synced (a file whose data is not on disk may be renamed empty).
pub fn rename_durable(from: &Path, to: &Path) -> Result<(), IoError> {
    std::fs::rename(from, to).with_path(to)?;
    sync_dir(parent_dir(to))
}

/// Syncs a directory, making the creation, renaming or removal of its entries durable.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir).and_then(|d| d.sync_all()).with_path(dir)
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary name in `path`'s directory (a rename across file systems is not atomic), unique
/// per process and call so that concurrent writers of one file never share it.
fn temp_beside(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    parent_dir(path).join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests;
