//! The build storage's lock of haven's own, on `<root>/build.lock`: builds hold it shared,
//! clean-up holds it exclusive. buildah locks its storage for each operation, but removing
//! one build's image while another commits the very same image (identical inputs give
//! identical images) loses the other's layer; so images are removed only while no build
//! runs, and then anything a killed build left behind can be removed too.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use haven_fs::WithPath;

/// A `flock(2)` on the lock file, released when dropped (also when the process dies).
pub(crate) struct StorageLock {
    _file: File,
}

impl StorageLock {
    /// Held by a build from before `bud` until its image is pushed out.
    pub(crate) fn shared(root: &Path) -> Result<Self, haven_fs::IoError> {
        Self::acquire(root, libc::LOCK_SH)
    }

    /// Held while images are removed: no build is in progress.
    pub(crate) fn exclusive(root: &Path) -> Result<Self, haven_fs::IoError> {
        Self::acquire(root, libc::LOCK_EX)
    }

    fn acquire(root: &Path, operation: libc::c_int) -> Result<Self, haven_fs::IoError> {
        let path = root.join("build.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_path(&path)?;
        loop {
            // SAFETY: flock on a descriptor this function owns for the call's duration.
            if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
                return Ok(Self { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(haven_fs::IoError::new(&path, err));
            }
        }
    }
}
