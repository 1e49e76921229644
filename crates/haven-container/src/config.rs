//! The bundle's `config.json` (OCI runtime-spec 1.0): serde structs for only the fields haven
//! sets, filled as Docker and ECS on Fargate fill them.

use std::path::Path;

use serde::Serialize;

use crate::user::ResolvedUser;

/// Docker's default capability set (which ECS and Fargate keep).
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Fargate's open-file limit (soft and hard).
pub const NOFILE: u64 = 65535;

/// The open-file limit a container gets: Fargate's, unless haven may not raise its own hard
/// limit that far (no CAP_SYS_RESOURCE, as in some sandboxes), where runc would fail to start
/// every container; then haven's hard limit.
pub fn nofile_limit() -> u64 {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut cur) } != 0 {
        return NOFILE;
    }
    let hard: u64 = cur.rlim_max;
    if hard >= NOFILE || has_sys_resource() {
        NOFILE
    } else {
        tracing::warn!(
            "open-file limit {hard} instead of Fargate's {NOFILE}: haven lacks CAP_SYS_RESOURCE to raise it"
        );
        hard
    }
}

/// Whether this process's effective capabilities include CAP_SYS_RESOURCE.
fn has_sys_resource() -> bool {
    const CAP_SYS_RESOURCE: u32 = 24;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_RESOURCE) != 0)
}

/// `runc spec`'s masked paths.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// `runc spec`'s read-only paths.
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    oci_version: &'static str,
    process: Process,
    root: Root,
    hostname: String,
    mounts: Vec<Mount>,
    linux: Linux,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    terminal: bool,
    user: User,
    args: Vec<String>,
    env: Vec<String>,
    cwd: String,
    capabilities: Capabilities,
    rlimits: Vec<Rlimit>,
    no_new_privileges: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct User {
    uid: u32,
    gid: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    additional_gids: Vec<u32>,
}

#[derive(Debug, Serialize)]
struct Capabilities {
    bounding: Vec<&'static str>,
    effective: Vec<&'static str>,
    permitted: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct Rlimit {
    #[serde(rename = "type")]
    kind: &'static str,
    hard: u64,
    soft: u64,
}

#[derive(Debug, Serialize)]
struct Root {
    path: String,
    readonly: bool,
}

#[derive(Debug, Serialize)]
struct Mount {
    destination: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'static str,
    options: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Linux {
    cgroups_path: String,
    resources: Resources,
    namespaces: Vec<Namespace>,
    masked_paths: Vec<&'static str>,
    readonly_paths: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct Resources {
    devices: Vec<DeviceRule>,
}

#[derive(Debug, Serialize)]
struct DeviceRule {
    allow: bool,
    access: &'static str,
}

#[derive(Debug, Serialize)]
struct Namespace {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
}

/// What [`Config::new`] needs, already resolved.
pub struct Inputs<'a> {
    pub rootfs: &'a Path,
    pub readonly: bool,
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    pub user: &'a ResolvedUser,
    pub hostname: &'a str,
    /// `None`: the host's network namespace.
    pub netns: Option<&'a Path>,
    pub cgroups_path: String,
    /// The open-file limit ([`nofile_limit`]).
    pub nofile: u64,
}

impl Config {
    pub fn new(i: &Inputs<'_>) -> Config {
        let caps = DEFAULT_CAPABILITIES.to_vec();
        let mut namespaces: Vec<Namespace> = ["pid", "ipc", "uts", "mount"]
            .into_iter()
            .map(|kind| Namespace { kind, path: None })
            .collect();
        if let Some(netns) = i.netns {
            namespaces.push(Namespace {
                kind: "network",
                path: Some(netns.display().to_string()),
            });
        }
        let mut mounts = vec![
            mount("/proc", "proc", "proc", &[]),
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                &["nosuid", "noexec", "nodev"],
            ),
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
        ];
        if i.readonly {
            // ECS's readonlyRootFilesystem leaves the task a scratch /tmp.
            mounts.push(mount(
                "/tmp",
                "tmpfs",
                "tmpfs",
                &["nosuid", "nodev", "mode=1777"],
            ));
        }
        Config {
            oci_version: "1.0.2",
            process: Process {
                terminal: false,
                user: User {
                    uid: i.user.uid,
                    gid: i.user.gid,
                    additional_gids: i.user.additional_gids.clone(),
                },
                args: i.args.to_vec(),
                env: i.env.to_vec(),
                cwd: i.cwd.to_owned(),
                // A non-root process loses its effective and permitted capabilities at
                // execve anyway; runc's init must not keep them for that execve either, or
                // CAP_DAC_OVERRIDE would let a user run an entrypoint it may not read.
                capabilities: if i.user.uid == 0 {
                    Capabilities {
                        bounding: caps.clone(),
                        effective: caps.clone(),
                        permitted: caps,
                    }
                } else {
                    Capabilities {
                        bounding: caps,
                        effective: Vec::new(),
                        permitted: Vec::new(),
                    }
                },
                rlimits: vec![Rlimit {
                    kind: "RLIMIT_NOFILE",
                    hard: i.nofile,
                    soft: i.nofile,
                }],
                no_new_privileges: true,
            },
            root: Root {
                path: i.rootfs.display().to_string(),
                readonly: i.readonly,
            },
            hostname: i.hostname.to_owned(),
            mounts,
            linux: Linux {
                cgroups_path: i.cgroups_path.clone(),
                // Deny every device; runc adds its default allow-list (null, zero, random...).
                resources: Resources {
                    devices: vec![DeviceRule {
                        allow: false,
                        access: "rwm",
                    }],
                },
                namespaces,
                masked_paths: MASKED.to_vec(),
                readonly_paths: READONLY.to_vec(),
            },
        }
    }
}

fn mount(
    destination: &'static str,
    kind: &'static str,
    source: &'static str,
    options: &[&'static str],
) -> Mount {
    Mount {
        destination,
        kind,
        source,
        options: options.to_vec(),
    }
}
