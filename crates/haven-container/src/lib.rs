//! Tasks as OCI containers under Fargate's limits: runc bundles, cgroups haven owns, the OOM verdict, no leftovers.
//!
//! Linux only, as root. [`probe`] says whether containers can run here and why not.
//! [`Runtime::start`] turns a [`ContainerSpec`] (an ECS container definition's essentials:
//! entrypoint, env, user, CPU units, memory MiB, read-only root, network) into a running
//! container:
//!
//! * the image's unpacked root filesystem (a shared, verified cache) is the lower layer of
//!   an overlay whose upper and work directories belong to the task: neither the task nor
//!   runc (creating mount points) ever writes the cache. A read-only root filesystem is the
//!   same overlay made read-only by runc, plus a tmpfs `/tmp`;
//! * the task's cgroup `<parent>/<task-id>` carries the limits (CFS quota = units / 1024 ×
//!   100 ms; memory hard limit, swap off), on cgroup v2 or v1/hybrid; runc's cgroup is
//!   nested inside (`…/<task-id>/ctr`), so once the container is gone haven still reads
//!   whether the kernel OOM-killed it, then removes both;
//! * `config.json` (runtime-spec 1.0) is written from this crate's own serde structs:
//!   the `oci-spec` crate (0.10, `runtime` feature only) would add 17 crates to the build
//!   (derive_builder, darling, getset, strum, const_format, konst, regex…, ~33 s of a cold
//!   build on two cores) for the ~30 fields set here;
//! * `runc run` runs in the foreground through [`haven_process::spawn`] (new process group,
//!   parent-death signal), so the container's stdout and stderr go to the task's files;
//!   runc's own errors go to a JSON log in the bundle, which is how a container that never
//!   started ([`Exit::StartFailed`]) is told apart from one that exited 1.
//!
//! As on ECS (without `initProcessEnabled`), the entrypoint is PID 1 of its namespace: a
//! program without a SIGTERM handler ignores SIGTERM and is killed after the stop timeout.
//! A non-root user gets no effective capabilities (the execve would drop them anyway; keeping
//! them for runc's execve would let CAP_DAC_OVERRIDE run an entrypoint the user may not read).
//! The open-file limit is Fargate's 65535 unless haven may not raise its hard limit that far
//! (no CAP_SYS_RESOURCE), then haven's own hard limit ([`nofile_limit`]). On cgroup v1 the
//! kernel counts `oom_kill` only in the victim's cgroup (runc's, gone with the container), so
//! the task's cgroup registers an eventfd for OOM notifications instead.
//!
//! [`Container::wait`] and [`Container::terminate`] return the [`Exit`] and leave nothing
//! behind: runc's state, the overlay mount, the bundle and the cgroups are removed. After a
//! crash of haven, [`Runtime::cleanup`] removes whatever is left under its runc root,
//! bundles directory and cgroup parent.

mod cgroup;
mod config;
mod error;
mod mount;
mod probe;
mod runtime;
mod user;

pub use cgroup::{CFS_PERIOD_US, CPU_UNITS_PER_VCPU, CgroupMode, Limits, Usage};
pub use config::{DEFAULT_CAPABILITIES, NOFILE, nofile_limit};
pub use error::{Error, Result};
pub use probe::{Probe, Unavailable, probe};
pub use runtime::{
    Cleaned, Container, ContainerExit, ContainerSpec, DEFAULT_RUNTIME, Exit, Network, Runtime,
};
pub use user::{ResolvedUser, resolve as resolve_user};
