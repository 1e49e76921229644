//! Whether containers can run on this host, and if not, why.

use std::ffi::CString;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cgroup::{CgroupMode, Cgroups};

/// The answer of [`probe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Ready {
        /// The runtime binary found on PATH.
        runtime: PathBuf,
        cgroups: CgroupMode,
    },
    Unavailable(Unavailable),
}

/// Why containers cannot run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The runtime (runc by default) is not on PATH.
    RuntimeMissing { name: String },
    /// Not root. Rootless runc needs a delegated cgroup (systemd) for the limits, which this
    /// crate does not set up.
    NotRoot { euid: u32 },
    /// The cgroup mounts could not be read.
    CgroupsUnreadable { error: String },
    /// A controller the limits need is not mounted.
    MissingController { controller: &'static str },
    /// A cgroup hierarchy where task cgroups would go is not writable.
    CgroupsNotWritable { path: PathBuf, error: String },
    /// The kernel has no overlay filesystem (the task's writable layer).
    NoOverlay,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::RuntimeMissing { name } => write!(
                f,
                "the container runtime `{name}` is not on PATH (Debian: apt-get install {name})"
            ),
            Unavailable::NotRoot { euid } => write!(
                f,
                "running as uid {euid}: containers need root (rootless cgroup delegation is not supported)"
            ),
            Unavailable::CgroupsUnreadable { error } => {
                write!(f, "cannot read the cgroup mounts: {error}")
            }
            Unavailable::MissingController { controller } => {
                write!(f, "no cgroup hierarchy has the {controller} controller")
            }
            Unavailable::CgroupsNotWritable { path, error } => {
                write!(
                    f,
                    "cgroup hierarchy {} is not writable: {error}",
                    path.display()
                )
            }
            Unavailable::NoOverlay => write!(
                f,
                "the kernel has no overlay filesystem (/proc/filesystems; try `modprobe overlay`)"
            ),
        }
    }
}

/// Checks that `runtime` (a name on PATH, or a path) can run containers with limits here.
pub fn probe(runtime: &str) -> Probe {
    match check(runtime) {
        Ok((runtime, cgroups)) => Probe::Ready { runtime, cgroups },
        Err(why) => Probe::Unavailable(why),
    }
}

fn check(runtime: &str) -> Result<(PathBuf, CgroupMode), Unavailable> {
    let found = find_on_path(runtime).ok_or_else(|| Unavailable::RuntimeMissing {
        name: runtime.to_owned(),
    })?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(Unavailable::NotRoot { euid });
    }
    let cgroups = Cgroups::detect().map_err(|e| Unavailable::CgroupsUnreadable {
        error: e.to_string(),
    })?;
    let roots = cgroups.writable_roots().map_err(|e| match e {
        crate::Error::NoController { controller } => Unavailable::MissingController { controller },
        other => Unavailable::CgroupsUnreadable {
            error: other.to_string(),
        },
    })?;
    for root in roots {
        writable(&root).map_err(|e| Unavailable::CgroupsNotWritable {
            path: root.clone(),
            error: e.to_string(),
        })?;
        if cgroups.mode() == CgroupMode::V2 {
            let controllers =
                std::fs::read_to_string(root.join("cgroup.controllers")).map_err(|e| {
                    Unavailable::CgroupsUnreadable {
                        error: format!("{}: {e}", root.join("cgroup.controllers").display()),
                    }
                })?;
            for c in ["memory", "cpu"] {
                if !controllers.split_whitespace().any(|x| x == c) {
                    return Err(Unavailable::MissingController { controller: c });
                }
            }
        }
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        return Err(Unavailable::NoOverlay);
    }
    Ok((found, cgroups.mode()))
}

/// `access(W_OK)`: also fails on a read-only mount, which root's permission bits would not.
fn writable(path: &Path) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path for the call's duration.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The executable `name` resolves to: itself when it has a slash, else the first match on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
}
