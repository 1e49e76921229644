//! The cgroups haven owns: one per task with Fargate's limits, on cgroup v2 or v1 (hybrid),
//! read after the container is gone (the kernel's OOM count), then removed.
//!
//! runc gets a cgroup nested *inside* the task's (`<task>/ctr`) and removes that one itself
//! when the container exits; the task's cgroup, which carries the limits, outlives it so the
//! OOM verdict can still be read.

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haven_fs::{IoError, WithPath};

use crate::error::{Error, Result};

/// CFS period for the CPU quota, as Docker and ECS set it (100 ms).
pub const CFS_PERIOD_US: u64 = 100_000;

/// Fargate's CPU units per vCPU.
pub const CPU_UNITS_PER_VCPU: u64 = 1024;

/// How long removing a cgroup waits for its killed processes to go.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);

/// Which cgroup layout the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// One unified hierarchy (most current distributions).
    V2,
    /// Controllers on their own v1 hierarchies, with or without an empty v2 one beside them
    /// (hybrid).
    V1,
}

/// The host's cgroup mounts, as this process sees them.
#[derive(Debug, Clone)]
pub struct Cgroups {
    mode: CgroupMode,
    /// v2: the unified mount.
    unified: Option<PathBuf>,
    /// v1: the mounts of the memory, cpu and cpuacct controllers.
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    /// Every cgroup mount (both versions), where runc may create directories.
    all: Vec<PathBuf>,
}

/// A cgroup mount from /proc/self/mountinfo.
struct CgMount {
    path: PathBuf,
    v2: bool,
    controllers: Vec<String>,
}

impl Cgroups {
    /// Reads the cgroup mounts from /proc/self/mountinfo.
    pub fn detect() -> Result<Cgroups> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).with_path(path)?;
        let mounts = parse_mounts(&text);
        let v1: Vec<&CgMount> = mounts
            .iter()
            .filter(|m| !m.v2 && !m.controllers.is_empty())
            .collect();
        let find = |c: &str| {
            v1.iter()
                .find(|m| m.controllers.iter().any(|x| x == c))
                .map(|m| m.path.clone())
        };
        let mode = if v1
            .iter()
            .any(|m| m.controllers.iter().any(|c| c == "memory"))
        {
            CgroupMode::V1
        } else {
            CgroupMode::V2
        };
        Ok(Cgroups {
            mode,
            unified: mounts.iter().find(|m| m.v2).map(|m| m.path.clone()),
            memory: find("memory"),
            cpu: find("cpu"),
            cpuacct: find("cpuacct"),
            all: mounts.into_iter().map(|m| m.path).collect(),
        })
    }

    pub fn mode(&self) -> CgroupMode {
        self.mode
    }

    /// The directories a task cgroup lives in: v2 the unified one; v1 memory, cpu, cpuacct
    /// (deduplicated: cpu and cpuacct are often mounted together).
    fn limit_roots(&self) -> Result<Vec<PathBuf>> {
        match self.mode {
            CgroupMode::V2 => Ok(vec![self.unified.clone().ok_or(Error::NoController {
                controller: "memory",
            })?]),
            CgroupMode::V1 => {
                let mut roots = BTreeSet::new();
                for (name, root) in [
                    ("memory", &self.memory),
                    ("cpu", &self.cpu),
                    ("cpuacct", &self.cpuacct),
                ] {
                    roots.insert(
                        root.clone()
                            .ok_or(Error::NoController { controller: name })?,
                    );
                }
                Ok(roots.into_iter().collect())
            }
        }
    }

    /// The directories that must be writable for containers to run: where the task
    /// cgroups will be created.
    pub fn writable_roots(&self) -> Result<Vec<PathBuf>> {
        self.limit_roots()
    }

    /// `parent` (relative, e.g. `haven/i-1`) in every cgroup mount: where runc may have left
    /// directories, in every hierarchy it knows.
    fn parent_dirs(&self, parent: &str) -> Vec<PathBuf> {
        self.all.iter().map(|m| m.join(parent)).collect()
    }

    /// Creates `<parent>/<id>` with the task's limits. Fails if it exists (ids are unique;
    /// a leftover belongs to [`crate::Runtime::cleanup`]).
    pub fn create_task(&self, parent: &str, id: &str, limits: Limits) -> Result<TaskCgroup> {
        let rel = format!("{}/{id}", parent.trim_matches('/'));
        // Checked before anything is made: a failed start removes what it made, and an
        // existing cgroup was not made by it.
        for root in self.limit_roots()? {
            let dir = root.join(&rel);
            if dir.exists() {
                return Err(Error::Leftover { path: dir });
            }
        }
        let mut task = TaskCgroup {
            cgroups: self.clone(),
            rel,
            oom_event: None,
        };
        if let Err(e) = task.setup(limits) {
            // The half-made cgroup must not outlive the error; the setup error is the news.
            if let Err(rm) = task.remove() {
                tracing::warn!("removing half-made cgroup {}: {rm}", task.rel);
            }
            return Err(e);
        }
        Ok(task)
    }

    /// Removes every cgroup below `parent` in every hierarchy, killing what still runs in
    /// them. Returns the directories removed.
    pub fn remove_children(&self, parent: &str) -> Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        for dir in self.parent_dirs(parent.trim_matches('/')) {
            for child in subdirs(&dir)? {
                remove_tree(&child)?;
                removed.push(child);
            }
        }
        Ok(removed)
    }

    /// Removes `parent` (and what is below it) in every hierarchy, then its ancestors that
    /// are empty.
    pub fn remove_parent(&self, parent: &str) -> Result<Vec<PathBuf>> {
        let parent = parent.trim_matches('/');
        let mut removed = self.remove_children(parent)?;
        for dir in self.parent_dirs(parent) {
            if dir.is_dir() {
                remove_tree(&dir)?;
                removed.push(dir.clone());
            }
        }
        for mount in &self.all {
            let mut rel = Path::new(parent).parent();
            while let Some(r) = rel.filter(|r| !r.as_os_str().is_empty()) {
                let dir = mount.join(r);
                match std::fs::remove_dir(&dir) {
                    Ok(()) => removed.push(dir),
                    // Another instance's cgroups are still there, or it is gone already.
                    Err(e)
                        if e.kind() == std::io::ErrorKind::NotFound
                            || matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) =>
                    {
                        break;
                    }
                    Err(e) => return Err(IoError::new(&dir, e).into()),
                }
                rel = r.parent();
            }
        }
        Ok(removed)
    }

    /// The cgroups below `parent` in every hierarchy (for counting leftovers).
    pub fn children(&self, parent: &str) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for dir in self.parent_dirs(parent.trim_matches('/')) {
            out.extend(subdirs(&dir)?);
        }
        Ok(out)
    }
}

/// The limits set on a task's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fargate CPU units (1024 = 1 vCPU); 0 = no quota.
    pub cpu_units: u32,
    /// Hard memory limit in MiB, swap off; 0 = no limit.
    pub memory_mib: u64,
}

impl Limits {
    /// The CFS quota in µs per [`CFS_PERIOD_US`], if limited.
    pub fn cfs_quota_us(&self) -> Option<u64> {
        (self.cpu_units > 0)
            .then(|| (u64::from(self.cpu_units) * CFS_PERIOD_US / CPU_UNITS_PER_VCPU).max(1000))
    }

    pub fn memory_bytes(&self) -> Option<u64> {
        (self.memory_mib > 0).then(|| self.memory_mib * 1024 * 1024)
    }
}

/// A cgroup's resource use, for autoscaling samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// CPU time consumed by everything in the cgroup since it was made, in nanoseconds.
    pub cpu_ns: u64,
    /// Memory charged to the cgroup now, in bytes.
    pub memory_bytes: u64,
}

/// A task's own cgroup, `<parent>/<task-id>` in each hierarchy that carries a limit.
#[derive(Debug)]
pub struct TaskCgroup {
    cgroups: Cgroups,
    /// Relative to each mount, without leading slash.
    rel: String,
    /// v1: an eventfd registered for the memory cgroup's OOM notifications. v1 counts
    /// `oom_kill` in the victim's own cgroup (runc's, gone once the container is), so the
    /// task's cgroup learns of an OOM only through this notification.
    oom_event: Option<OwnedFd>,
}

impl TaskCgroup {
    /// The path runc gets as `cgroupsPath`: absolute (so runc does not nest it under its own
    /// cgroup), inside ours.
    pub fn runtime_path(&self) -> String {
        format!("/{}/ctr", self.rel)
    }

    fn dir(&self, root: &Path) -> PathBuf {
        root.join(&self.rel)
    }

    fn memory_root(&self) -> Result<&Path> {
        match self.cgroups.mode {
            CgroupMode::V2 => self.cgroups.unified.as_deref(),
            CgroupMode::V1 => self.cgroups.memory.as_deref(),
        }
        .ok_or(Error::NoController {
            controller: "memory",
        })
    }

    fn setup(&mut self, limits: Limits) -> Result<()> {
        let roots = self.cgroups.limit_roots()?;
        for root in &roots {
            let dir = self.dir(root);
            if self.cgroups.mode == CgroupMode::V2 {
                enable_controllers(root, &self.rel)?;
            } else {
                std::fs::create_dir_all(&dir).with_path(&dir)?;
            }
        }
        match self.cgroups.mode {
            CgroupMode::V2 => {
                let dir = self.dir(self.memory_root()?);
                if let Some(bytes) = limits.memory_bytes() {
                    write(&dir.join("memory.max"), &bytes.to_string())?;
                    // Absent when the kernel has no swap accounting; then there is no swap to
                    // turn off.
                    let swap = dir.join("memory.swap.max");
                    if swap.exists() {
                        write(&swap, "0")?;
                    }
                }
                if let Some(quota) = limits.cfs_quota_us() {
                    write(&dir.join("cpu.max"), &format!("{quota} {CFS_PERIOD_US}"))?;
                }
            }
            CgroupMode::V1 => {
                let mem = self.dir(self.memory_root()?);
                if let Some(bytes) = limits.memory_bytes() {
                    // The memory limit first: memsw may never be below it.
                    write(&mem.join("memory.limit_in_bytes"), &bytes.to_string())?;
                    let memsw = mem.join("memory.memsw.limit_in_bytes");
                    if memsw.exists() {
                        write(&memsw, &bytes.to_string())?;
                    } else {
                        write(&mem.join("memory.swappiness"), "0")?;
                    }
                }
                self.oom_event = Some(register_oom_event(&mem)?);
                if let Some(quota) = limits.cfs_quota_us() {
                    let cpu = self.dir(
                        self.cgroups
                            .cpu
                            .as_deref()
                            .ok_or(Error::NoController { controller: "cpu" })?,
                    );
                    write(&cpu.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
                    write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// CPU time and memory of everything in the task's cgroup.
    pub fn usage(&self) -> Result<Usage> {
        match self.cgroups.mode {
            CgroupMode::V2 => {
                let dir = self.dir(self.memory_root()?);
                let stat = dir.join("cpu.stat");
                let usec =
                    keyed(&read(&stat)?, "usage_usec").ok_or_else(|| Error::CgroupFormat {
                        path: stat.clone(),
                        detail: "no usage_usec line".into(),
                    })?;
                Ok(Usage {
                    cpu_ns: usec.saturating_mul(1000),
                    memory_bytes: number(&dir.join("memory.current"))?,
                })
            }
            CgroupMode::V1 => {
                let acct =
                    self.dir(self.cgroups.cpuacct.as_deref().ok_or(Error::NoController {
                        controller: "cpuacct",
                    })?);
                let mem = self.dir(self.memory_root()?);
                Ok(Usage {
                    cpu_ns: number(&acct.join("cpuacct.usage"))?,
                    memory_bytes: number(&mem.join("memory.usage_in_bytes"))?,
                })
            }
        }
    }

    /// Whether the kernel's OOM killer acted in this cgroup (anywhere below it).
    pub fn oom_killed(&self) -> Result<bool> {
        let dir = self.dir(self.memory_root()?);
        match self.cgroups.mode {
            CgroupMode::V2 => {
                let path = dir.join("memory.events");
                Ok(keyed(&read(&path)?, "oom_kill").unwrap_or(0) > 0)
            }
            CgroupMode::V1 => {
                let path = dir.join("memory.oom_control");
                let counted = keyed(&read(&path)?, "oom_kill").unwrap_or(0) > 0;
                let notified = match &self.oom_event {
                    Some(fd) => eventfd_count(fd).map_err(|e| IoError::new(&path, e))? > 0,
                    None => false,
                };
                Ok(counted || notified)
            }
        }
    }

    /// Kills what is left in the cgroup and removes it in every hierarchy (runc's nested
    /// one included, in hierarchies where runc made one). Idempotent.
    pub fn remove(&self) -> Result<()> {
        for dir in self.cgroups.parent_dirs(&self.rel) {
            remove_tree(&dir)?;
        }
        Ok(())
    }
}

/// v2: creates each level of `rel` below `root`, enabling the memory, cpu (and pids)
/// controllers for the level below, as the unified hierarchy requires.
fn enable_controllers(root: &Path, rel: &str) -> Result<()> {
    let mut dir = root.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        let available = read(&dir.join("cgroup.controllers"))?;
        let control = dir.join("cgroup.subtree_control");
        let enabled = read(&control)?;
        for c in ["memory", "cpu", "pids"] {
            let has = |s: &str| s.split_whitespace().any(|x| x == c);
            if has(&available) && !has(&enabled) {
                write(&control, &format!("+{c}"))?;
            }
        }
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(IoError::new(&dir, e).into()),
        }
    }
    Ok(())
}

/// v1: registers an eventfd for `memory.oom_control` of `dir` through `cgroup.event_control`.
fn register_oom_event(dir: &Path) -> Result<OwnedFd> {
    let control = dir.join("memory.oom_control");
    let file = std::fs::File::open(&control).with_path(&control)?;
    // SAFETY: eventfd takes an initial value and flags and returns a new fd or -1.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(IoError::new(&control, std::io::Error::last_os_error()).into());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    let efd = unsafe { OwnedFd::from_raw_fd(raw) };
    write(
        &dir.join("cgroup.event_control"),
        &format!("{} {}", efd.as_raw_fd(), file.as_raw_fd()),
    )?;
    // The registration holds its own reference to the control file; ours may close.
    Ok(efd)
}

/// The eventfd's counter, 0 when nothing was signalled (non-blocking read).
fn eventfd_count(fd: &OwnedFd) -> std::io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: reads at most 8 bytes into an 8-byte buffer from an fd we own.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n == 8 {
        return Ok(u64::from_ne_bytes(buf));
    }
    let err = std::io::Error::last_os_error();
    if err.kind() == std::io::ErrorKind::WouldBlock {
        Ok(0)
    } else {
        Err(err)
    }
}

/// Removes a cgroup directory and everything below it, deepest first, killing the
/// processes in each. A missing directory is already removed.
fn remove_tree(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for child in subdirs(dir)? {
        remove_tree(&child)?;
    }
    empty(dir)?;
    let deadline = Instant::now() + EMPTY_TIMEOUT;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            // EBUSY: a process is still leaving (a zombie not yet reaped by its parent).
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(IoError::new(dir, e).into()),
        }
    }
}

/// Kills every process in the cgroup `dir` and waits until none is left.
fn empty(dir: &Path) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    // A frozen v1 cgroup would hold SIGKILLed processes forever.
    let freezer = dir.join("freezer.state");
    if freezer.exists() && read(&freezer)?.trim() != "THAWED" {
        write(&freezer, "THAWED")?;
    }
    let deadline = Instant::now() + EMPTY_TIMEOUT;
    loop {
        let pids = match std::fs::read_to_string(&procs) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(IoError::new(&procs, e).into()),
        };
        let pids: Vec<libc::pid_t> = pids
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .filter(|p| *p > 1)
            .collect();
        if pids.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::CgroupBusy {
                path: dir.to_path_buf(),
            });
        }
        for pid in pids {
            // A process cannot leave a cgroup on its own once haven owns it, so a pid read
            // from cgroup.procs a moment ago is still the member (or gone: ESRCH, ignored).
            // SAFETY: kill has no memory-safety preconditions; pid > 1.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(IoError::new(dir, e).into()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.with_path(dir)?;
        let kind = entry.file_type().with_path(entry.path())?;
        if kind.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<String> {
    Ok(std::fs::read_to_string(path).with_path(path)?)
}

fn write(path: &Path, value: &str) -> Result<()> {
    Ok(std::fs::write(path, value).with_path(path)?)
}

fn number(path: &Path) -> Result<u64> {
    let text = read(path)?;
    text.trim().parse().map_err(|_| Error::CgroupFormat {
        path: path.to_path_buf(),
        detail: format!("expected a number, got {:?}", text.trim()),
    })
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The cgroup mounts in a mountinfo text.
fn parse_mounts(text: &str) -> Vec<CgMount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next()?;
            let super_opts = right.next().unwrap_or("");
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            let controllers = if v2 {
                Vec::new()
            } else {
                super_opts
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains('='))
                    .filter(|o| !o.starts_with("no") && *o != "relatime" && *o != "xattr")
                    .map(str::to_owned)
                    .collect()
            };
            Some(CgMount {
                path: PathBuf::from(crate::mount::unescape(mount_point)),
                v2,
                controllers,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hybrid_and_unified_layouts() {
        let hybrid = "\
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let m = parse_mounts(hybrid);
        assert_eq!(m.len(), 5);
        assert_eq!(m[0].controllers, ["cpu"]);
        assert!(
            m[3].controllers.is_empty(),
            "name=systemd has no controller"
        );
        assert!(m[4].v2);
        let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        let m = parse_mounts(unified);
        assert_eq!(m.len(), 1);
        assert!(m[0].v2);
        let co = "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        assert_eq!(parse_mounts(co)[0].controllers, ["cpu", "cpuacct"]);
    }

    #[test]
    fn fargate_units_become_cfs_quota() {
        for (units, quota) in [
            (256, Some(25_000)),
            (1024, Some(100_000)),
            (4096, Some(400_000)),
            (0, None),
        ] {
            let l = Limits {
                cpu_units: units,
                memory_mib: 512,
            };
            assert_eq!(l.cfs_quota_us(), quota, "{units}");
        }
        assert_eq!(
            Limits {
                cpu_units: 0,
                memory_mib: 512
            }
            .memory_bytes(),
            Some(512 << 20)
        );
    }

    /// The v2 layout on plain files (this host's cgroups are hybrid): which files get which
    /// values, and how the verdict and usage are read.
    #[test]
    fn v2_limits_usage_and_oom_verdict_on_a_simulated_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path().to_path_buf();
        std::fs::write(r.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        std::fs::write(r.join("cgroup.subtree_control"), "").unwrap();
        // Each level the kernel would fill with these files.
        for level in ["haven", "haven/i-1"] {
            std::fs::create_dir_all(r.join(level)).unwrap();
            std::fs::write(
                r.join(level).join("cgroup.controllers"),
                "cpu memory pids\n",
            )
            .unwrap();
            std::fs::write(r.join(level).join("cgroup.subtree_control"), "").unwrap();
        }
        let cgroups = Cgroups {
            mode: CgroupMode::V2,
            unified: Some(r.clone()),
            memory: None,
            cpu: None,
            cpuacct: None,
            all: vec![r.clone()],
        };
        let limits = Limits {
            cpu_units: 256,
            memory_mib: 512,
        };
        let task = cgroups.create_task("/haven/i-1/", "t1", limits).unwrap();
        let dir = r.join("haven/i-1/t1");
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), (512u64 << 20).to_string());
        assert_eq!(read("cpu.max"), "25000 100000");
        assert!(
            !dir.join("memory.swap.max").exists(),
            "no swap accounting, no swap file"
        );
        // The last controller enabled for the level below (a plain file keeps only it).
        assert_eq!(
            std::fs::read_to_string(r.join("haven/i-1/cgroup.subtree_control")).unwrap(),
            "+pids"
        );
        assert_eq!(task.runtime_path(), "/haven/i-1/t1/ctr");
        std::fs::write(dir.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        std::fs::write(dir.join("memory.current"), "4096\n").unwrap();
        assert_eq!(
            task.usage().unwrap(),
            Usage {
                cpu_ns: 1_500_000,
                memory_bytes: 4096
            }
        );
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n",
        )
        .unwrap();
        assert!(!task.oom_killed().unwrap());
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert!(task.oom_killed().unwrap());
        assert!(matches!(
            cgroups.create_task("haven/i-1", "t1", limits),
            Err(Error::Leftover { .. })
        ));
    }

    #[test]
    fn keyed_files() {
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed(events, "oom_kill"), Some(1));
        assert_eq!(keyed(events, "oom"), Some(1));
        assert_eq!(
            keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Some(3)
        );
        assert_eq!(keyed("usage_usec 123\n", "missing"), None);
    }
}
