//! The task's private writable layer: an overlay with the shared image cache as its read-only
//! lower layer and per-task upper and work directories, so nothing a task (or runc, creating
//! mount points) writes ever reaches the cache.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Mounts an overlay at `target` with `lower` read-only below `upper` (work dir `work`).
pub fn mount_overlay(lower: &Path, upper: &Path, work: &Path, target: &Path) -> Result<()> {
    for p in [lower, upper, work] {
        // The option string is comma-separated and lowerdir colon-separated.
        let s = p.as_os_str().as_bytes();
        if s.contains(&b',') || s.contains(&b':') {
            return Err(Error::Mount {
                op: "mount overlay from",
                path: p.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "overlay paths may not contain ',' or ':'",
                ),
            });
        }
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let err = |source| Error::Mount {
        op: "mount overlay at",
        path: target.to_path_buf(),
        source,
    };
    let c_target = cstring(target).map_err(err)?;
    let c_data = CString::new(data).map_err(|e| err(std::io::Error::other(e)))?;
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let r = unsafe {
        libc::mount(
            c"overlay".as_ptr(),
            c_target.as_ptr(),
            c"overlay".as_ptr(),
            libc::MS_NODEV | libc::MS_NOSUID,
            c_data.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Unmounts `target`; lazily if something still holds it. Not mounted is fine.
pub fn unmount(target: &Path) -> Result<()> {
    let err = |source| Error::Mount {
        op: "unmount",
        path: target.to_path_buf(),
        source,
    };
    let c = cstring(target).map_err(err)?;
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // Not a mount point (already unmounted) or gone.
        Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
        Some(libc::EBUSY) => {
            // SAFETY: as above.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                Ok(())
            } else {
                Err(err(std::io::Error::last_os_error()))
            }
        }
        _ => Err(err(e)),
    }
}

/// Mount points at or below `dir` in this mount namespace, deepest first.
pub fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let info = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(info).map_err(|e| haven_fs::IoError::new(info, e))?;
    let mut out: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    Ok(out)
}

/// Decodes mountinfo's octal escapes (`\040` for a space, and so on).
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn cstring(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(super::unescape(r"/a\040b"), "/a b");
        assert_eq!(super::unescape(r"/plain"), "/plain");
        assert_eq!(super::unescape(r"/end\04"), r"/end\04");
    }
}
