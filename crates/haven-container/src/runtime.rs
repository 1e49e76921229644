//! Running containers with runc in the foreground: the bundle, the owned cgroup, the runc
//! process, the exit with its OOM verdict, the stop, and the removal of everything after.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haven_fs::{IoError, WithPath};
use haven_process::{Group, Output, OwnedChild, ProcessIdentity, Signal, SpawnSpec};
use serde::Deserialize;

use crate::cgroup::{Cgroups, Limits, TaskCgroup, Usage};
use crate::config::{Config, Inputs};
use crate::error::{Error, Result};
use crate::mount;
use crate::probe::{Probe, find_on_path, probe};
use crate::user;

/// The runtime used unless [`Runtime::with_binary`] names another (crun refuses hybrid
/// cgroups; youki is untested).
pub const DEFAULT_RUNTIME: &str = "runc";

/// How long the runtime gets to exit after `kill KILL` before haven kills it.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Where containers run: the runtime, its state root, the bundles and the cgroup parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// The runtime binary's name on PATH, or a path.
    pub binary: String,
    /// The runtime's state directory (`runc --root`), private to this haven instance.
    pub root: PathBuf,
    /// Where each container's bundle (`<id>/config.json`, rootfs, writable layer) lives.
    pub bundles: PathBuf,
    /// The cgroup (relative to each hierarchy's root, e.g. `haven/<instance>`) under which
    /// each task gets `<task-id>`.
    pub cgroup_parent: String,
}

/// How the container is networked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// The host's network namespace: the task listens on 127.0.0.1:$PORT as a process would.
    Host,
    /// Join this network namespace (`/var/run/netns/<name>`, `/proc/<pid>/ns/net`).
    Namespace(PathBuf),
}

/// One container, as an ECS task definition's container describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Unique among running containers; letters, digits, `_`, `-`, `.`, starting with a
    /// letter or digit.
    pub id: String,
    /// The image's unpacked root filesystem: a shared cache, never written.
    pub rootfs: PathBuf,
    /// Entrypoint followed by command; `args[0]` is looked up in the image's PATH by runc.
    pub args: Vec<String>,
    /// `KEY=VALUE`, exactly what the container sees (plus `HOME` from /etc/passwd when
    /// absent, as Docker adds it).
    pub env: Vec<String>,
    /// Working directory inside the container; empty means `/`.
    pub cwd: String,
    /// The image's `User`: `uid`, `uid:gid`, `name`, `name:group`; empty means root.
    pub user: String,
    /// Fargate CPU units (1024 = 1 vCPU); 0 = no quota.
    pub cpu_units: u32,
    /// Hard memory limit (MiB), swap off; 0 = no limit.
    pub memory_mib: u64,
    /// ECS `readonlyRootFilesystem`: / read-only plus a tmpfs /tmp.
    pub readonly_rootfs: bool,
    pub network: Network,
    /// Appended to, as the task's log files.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub hostname: String,
    /// ECS `stopTimeout`: how long [`Container::stop`] waits after SIGTERM.
    pub stop_timeout: Duration,
}

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The container's process ran and exited.
    Exited(ContainerExit),
    /// The runtime could not start the container's process (ECS:
    /// CannotStartContainerError); `reason` is the runtime's message.
    StartFailed { reason: String },
}

/// The container's exit as ECS reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerExit {
    /// The exit code; 128 + n when a signal n ended it (runc reports it so).
    pub code: i32,
    /// The signal, when `code` says one ended the process.
    pub signal: Option<Signal>,
    /// The kernel's OOM killer killed a process in the task's cgroup (Docker's
    /// `OOMKilled`; ECS: "OutOfMemoryError: Container killed due to memory usage").
    pub oom_killed: bool,
}

/// What [`Runtime::cleanup`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Containers the runtime still listed, killed and deleted.
    pub containers: Vec<String>,
    /// Mounts unmounted below the bundles directory.
    pub mounts: Vec<PathBuf>,
    /// Bundle directories removed.
    pub bundles: Vec<PathBuf>,
    /// Cgroup directories removed (each hierarchy counts).
    pub cgroups: Vec<PathBuf>,
}

impl Cleaned {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty()
            && self.mounts.is_empty()
            && self.bundles.is_empty()
            && self.cgroups.is_empty()
    }
}

/// The output of a short runtime command.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

#[derive(Deserialize)]
struct Listed {
    id: String,
}

#[derive(Deserialize)]
struct State {
    pid: u32,
}

/// A line of runc's `--log-format json` log (logrus levels).
#[derive(Deserialize)]
struct LogLine {
    level: LogLevel,
    msg: String,
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum LogLevel {
    Error,
    Fatal,
    Panic,
    #[serde(other)]
    Other,
}

impl Runtime {
    /// A runc runtime with its state in `root`, bundles in `bundles`, task cgroups under
    /// `cgroup_parent`.
    pub fn new(
        root: impl Into<PathBuf>,
        bundles: impl Into<PathBuf>,
        cgroup_parent: impl Into<String>,
    ) -> Runtime {
        Runtime {
            binary: DEFAULT_RUNTIME.to_owned(),
            root: root.into(),
            bundles: bundles.into(),
            cgroup_parent: cgroup_parent.into(),
        }
    }

    /// Another OCI runtime with runc's command line (crun, youki).
    pub fn with_binary(mut self, name: impl Into<String>) -> Runtime {
        self.binary = name.into();
        self
    }

    /// Whether this runtime can run containers with limits here.
    pub fn probe(&self) -> Probe {
        probe(&self.binary)
    }

    fn program(&self) -> Result<PathBuf> {
        find_on_path(&self.binary).ok_or_else(|| Error::Runtime {
            id: String::new(),
            runtime: self.binary.clone(),
            command: "(lookup)".into(),
            status: "not found".into(),
            stderr: format!("{} is not on PATH", self.binary),
        })
    }

    /// Starts a container: resolves the user (an unknown name fails here, before anything
    /// is made), mounts the writable layer, creates the task's cgroup with its limits,
    /// writes the bundle and runs the runtime in the foreground. Must be called inside a
    /// Tokio runtime with I/O enabled (see [`haven_process::spawn`]).
    pub fn start(&self, spec: &ContainerSpec) -> Result<Container> {
        validate(spec)?;
        let user = user::resolve(&spec.id, &spec.rootfs, &spec.user)?;
        let program = self.program()?;
        let cgroups = Cgroups::detect()?;
        std::fs::create_dir_all(&self.bundles).with_path(&self.bundles)?;
        std::fs::create_dir_all(&self.root).with_path(&self.root)?;
        let bundle = self.bundles.join(&spec.id);
        match std::fs::create_dir(&bundle) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Leftover { path: bundle });
            }
            Err(e) => return Err(IoError::new(&bundle, e).into()),
        }
        let mut parts = Parts {
            id: spec.id.clone(),
            bundle: bundle.clone(),
            mounted: None,
            cgroup: None,
        };
        match self.prepare(spec, &user, &cgroups, &mut parts, &program) {
            Ok(child) => {
                let cgroup = parts.cgroup.take().ok_or_else(|| Error::InvalidSpec {
                    id: spec.id.clone(),
                    reason: "internal: no cgroup after start".into(),
                })?;
                Ok(Container {
                    id: spec.id.clone(),
                    runtime: self.clone(),
                    program,
                    child,
                    cgroup,
                    bundle,
                    upper: parts.bundle.join("upper"),
                    stop_timeout: spec.stop_timeout,
                    exit: None,
                    removed: false,
                })
            }
            Err(e) => {
                if let Err(undo) = parts.undo() {
                    tracing::warn!("undoing container {}'s start: {undo}", spec.id);
                }
                Err(e)
            }
        }
    }

    fn prepare(
        &self,
        spec: &ContainerSpec,
        user: &user::ResolvedUser,
        cgroups: &Cgroups,
        parts: &mut Parts,
        program: &Path,
    ) -> Result<OwnedChild> {
        let rootfs = parts.bundle.join("rootfs");
        let upper = parts.bundle.join("upper");
        let work = parts.bundle.join("work");
        for d in [&rootfs, &upper, &work] {
            std::fs::create_dir(d).with_path(d)?;
        }
        // Always an overlay, read-only root or not: runc creates mount points (/proc, /dev,
        // /sys, /tmp) that an image FROM scratch lacks, and those must not land in the cache.
        mount::mount_overlay(&spec.rootfs, &upper, &work, &rootfs)?;
        parts.mounted = Some(rootfs.clone());
        let cgroup = cgroups.create_task(
            &self.cgroup_parent,
            &spec.id,
            Limits {
                cpu_units: spec.cpu_units,
                memory_mib: spec.memory_mib,
            },
        )?;
        let cgroups_path = cgroup.runtime_path();
        parts.cgroup = Some(cgroup);
        let mut env = spec.env.clone();
        if !env.iter().any(|e| e.starts_with("HOME=")) {
            env.push(format!("HOME={}", user.home.as_deref().unwrap_or("/")));
        }
        let cwd = if spec.cwd.is_empty() { "/" } else { &spec.cwd };
        let config = Config::new(&Inputs {
            rootfs: &rootfs,
            readonly: spec.readonly_rootfs,
            args: &spec.args,
            env: &env,
            cwd,
            user,
            hostname: &spec.hostname,
            netns: match &spec.network {
                Network::Host => None,
                Network::Namespace(p) => Some(p),
            },
            cgroups_path,
            nofile: crate::config::nofile_limit(),
        });
        let json = serde_json::to_vec_pretty(&config).map_err(|source| Error::Config {
            id: spec.id.clone(),
            source,
        })?;
        let config_path = parts.bundle.join("config.json");
        haven_fs::write_atomic(&config_path, &json)?;
        let run = SpawnSpec::new(program)
            .args(self.global_args(&parts.bundle))
            .args(["run", "--bundle"])
            .arg(parts.bundle.display().to_string())
            .arg(&spec.id)
            .stdout(Output::AppendFile(spec.stdout.clone()))
            .stderr(Output::AppendFile(spec.stderr.clone()))
            .group(Group::NewGroup)
            .parent_death_signal(Some(Signal::KILL));
        haven_process::spawn(&run).map_err(|source| Error::Process {
            id: spec.id.clone(),
            source,
        })
    }

    /// `--root R` and, for a container's own commands, `--log <bundle>/runtime.log` in JSON:
    /// the runtime's own errors, told apart from the container's output.
    fn global_args(&self, bundle: &Path) -> Vec<String> {
        vec![
            "--root".into(),
            self.root.display().to_string(),
            "--log".into(),
            bundle.join("runtime.log").display().to_string(),
            "--log-format".into(),
            "json".into(),
        ]
    }

    /// Runs a short runtime command to completion, capturing its output in files (children
    /// are started through haven-process so its orphan reaper never steals their status).
    async fn command(&self, args: &[&str]) -> Result<Ran> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let program = self.program()?;
        let dir = self.bundles.join(".cmd");
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let out = dir.join(format!("{}-{n}.out", std::process::id()));
        let err = dir.join(format!("{}-{n}.err", std::process::id()));
        for f in [&out, &err] {
            std::fs::write(f, b"").with_path(f)?;
        }
        let spec = SpawnSpec::new(&program)
            .arg("--root")
            .arg(self.root.display().to_string())
            .args(args.iter().copied())
            .stdout(Output::AppendFile(out.clone()))
            .stderr(Output::AppendFile(err.clone()));
        let what = args.join(" ");
        let result = async {
            let mut child = haven_process::spawn(&spec).map_err(|source| Error::Process {
                id: what.clone(),
                source,
            })?;
            let status = child.wait().await.map_err(|source| Error::Process {
                id: what.clone(),
                source,
            })?;
            Ok::<_, Error>(Ran {
                status,
                stdout: std::fs::read_to_string(&out).with_path(&out)?,
                stderr: std::fs::read_to_string(&err).with_path(&err)?,
            })
        }
        .await;
        for f in [&out, &err] {
            if let Err(e) = std::fs::remove_file(f) {
                tracing::warn!("removing {}: {e}", f.display());
            }
        }
        result
    }

    fn failed(&self, id: &str, args: &[&str], ran: &Ran) -> Error {
        Error::Runtime {
            id: id.to_owned(),
            runtime: self.binary.clone(),
            command: args.join(" "),
            status: ran.status.to_string(),
            stderr: ran.stderr.trim().to_owned(),
        }
    }

    /// The ids of the containers the runtime knows under our root.
    pub async fn list(&self) -> Result<Vec<String>> {
        let args = ["list", "--format", "json"];
        let ran = self.command(&args).await?;
        if !ran.status.success() {
            return Err(self.failed("", &args, &ran));
        }
        // runc prints `null` for none.
        let listed: Option<Vec<Listed>> =
            serde_json::from_str(ran.stdout.trim()).map_err(|e| Error::RuntimeOutput {
                runtime: self.binary.clone(),
                command: args.join(" "),
                detail: e.to_string(),
            })?;
        Ok(listed
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.id)
            .collect())
    }

    /// Sends `signal` (a name runc accepts: TERM, KILL) to the container's init.
    async fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let args = ["kill", id, signal];
        let ran = self.command(&args).await?;
        if ran.status.success() {
            Ok(())
        } else {
            Err(self.failed(id, &args, &ran))
        }
    }

    /// Kills and deletes `id` if the runtime still lists it; returns whether it did.
    async fn delete_if_listed(&self, id: &str) -> Result<bool> {
        if !self.list().await?.iter().any(|l| l == id) {
            return Ok(false);
        }
        let args = ["delete", "--force", id];
        let ran = self.command(&args).await?;
        if !ran.status.success() && self.list().await?.iter().any(|l| l == id) {
            return Err(self.failed(id, &args, &ran));
        }
        Ok(true)
    }

    /// After a crash of haven (or a SIGKILLed runtime): kills and deletes every container
    /// the runtime lists under our root, unmounts and removes every bundle, removes every
    /// cgroup under the parent (killing what runs in them). Idempotent; returns what it
    /// removed. Call it before starting any container of this instance.
    pub async fn cleanup(&self) -> Result<Cleaned> {
        let mut cleaned = Cleaned::default();
        for id in self.list().await? {
            // A stopped container refuses `kill`; `delete --force` handles both.
            if let Err(e) = self.kill(&id, "KILL").await {
                tracing::debug!("cleanup: {e}");
            }
            if self.delete_if_listed(&id).await? {
                cleaned.containers.push(id);
            }
        }
        let entries = match std::fs::read_dir(&self.bundles) {
            Ok(e) => Some(e),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(IoError::new(&self.bundles, e).into()),
        };
        for entry in entries.into_iter().flatten() {
            let entry = entry.with_path(&self.bundles)?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            for m in mount::mounts_under(&path)? {
                mount::unmount(&m)?;
                cleaned.mounts.push(m);
            }
            remove_bundle(&path)?;
            cleaned.bundles.push(path);
        }
        let cgroups = Cgroups::detect()?;
        cleaned.cgroups = cgroups.remove_children(&self.cgroup_parent)?;
        Ok(cleaned)
    }

    /// Removes the cgroup parent itself (after [`Runtime::cleanup`], when the instance goes
    /// away), then each of its ancestors that is left empty. Returns the directories removed.
    pub fn remove_cgroup_parent(&self) -> Result<Vec<PathBuf>> {
        Cgroups::detect()?.remove_parent(&self.cgroup_parent)
    }

    /// Cgroup directories under the parent, in every hierarchy (for leftover checks).
    pub fn cgroup_children(&self) -> Result<Vec<PathBuf>> {
        Cgroups::detect()?.children(&self.cgroup_parent)
    }
}

/// What [`Runtime::start`] has made so far, to undo on failure.
struct Parts {
    id: String,
    bundle: PathBuf,
    mounted: Option<PathBuf>,
    cgroup: Option<TaskCgroup>,
}

impl Parts {
    fn undo(&mut self) -> Result<()> {
        if let Some(m) = self.mounted.take() {
            mount::unmount(&m)?;
        }
        if let Some(c) = self.cgroup.take() {
            c.remove()?;
        }
        remove_bundle(&self.bundle).map_err(|e| {
            tracing::warn!("container {}: {e}", self.id);
            e
        })
    }
}

/// Removes a bundle directory, refusing while anything below it is still mounted (a
/// recursive delete through a mount could reach the image cache).
fn remove_bundle(bundle: &Path) -> Result<()> {
    if let Some(m) = mount::mounts_under(bundle)?.into_iter().next() {
        return Err(Error::Leftover { path: m });
    }
    match std::fs::remove_dir_all(bundle) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IoError::new(bundle, e).into()),
    }
}

fn validate(spec: &ContainerSpec) -> Result<()> {
    let bad = |reason: &str| Error::InvalidSpec {
        id: spec.id.clone(),
        reason: reason.to_owned(),
    };
    let mut chars = spec.id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !spec
            .id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(bad(
            "the id must be letters, digits, '_', '-', '.', starting with a letter or digit",
        ));
    }
    if spec.args.is_empty() {
        return Err(bad("no entrypoint or command"));
    }
    if !spec.rootfs.is_dir() {
        return Err(bad(&format!(
            "the image root filesystem {} is not a directory",
            spec.rootfs.display()
        )));
    }
    if let Some(e) = spec.env.iter().find(|e| !e.contains('=')) {
        return Err(bad(&format!("environment entry {e:?} is not KEY=VALUE")));
    }
    Ok(())
}

/// A running container started by [`Runtime::start`].
///
/// Wait for it ([`Container::wait`]) or stop it ([`Container::stop`]); both remove the
/// bundle, the writable layer, the runtime's state and the cgroups once it has exited.
/// Dropping it unfinished deletes the container synchronously (best effort); what a crash
/// leaves is for [`Runtime::cleanup`].
#[derive(Debug)]
pub struct Container {
    id: String,
    runtime: Runtime,
    program: PathBuf,
    child: OwnedChild,
    cgroup: TaskCgroup,
    bundle: PathBuf,
    upper: PathBuf,
    stop_timeout: Duration,
    exit: Option<Exit>,
    /// Everything the container left is gone (a cancelled `wait` may stop between the exit
    /// and the removal; the next call or the drop finishes it).
    removed: bool,
}

impl Container {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The runtime process's identity (for the state store).
    pub fn identity(&self) -> &ProcessIdentity {
        self.child.identity()
    }

    /// The bundle directory (config.json, the overlay mount, the writable layer).
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// The task's writable layer: what the container wrote to its root filesystem.
    pub fn upper_dir(&self) -> &Path {
        &self.upper
    }

    /// The container init's pid on the host, from the runtime's state; `None` once it has
    /// stopped.
    pub async fn init_pid(&self) -> Result<Option<u32>> {
        if self.exit.is_some() {
            return Ok(None);
        }
        let args = ["state", self.id.as_str()];
        let ran = self.runtime.command(&args).await?;
        if !ran.status.success() {
            return Ok(None);
        }
        let state: State = serde_json::from_str(&ran.stdout).map_err(|e| Error::RuntimeOutput {
            runtime: self.runtime.binary.clone(),
            command: args.join(" "),
            detail: e.to_string(),
        })?;
        Ok((state.pid > 0).then_some(state.pid))
    }

    /// CPU time and memory of the task's cgroup, for autoscaling samples.
    pub fn usage(&self) -> Result<Usage> {
        self.cgroup.usage()
    }

    /// Waits for the container to exit, then removes what it leaves. Cancel-safe up to the
    /// exit; returns the same exit again once observed.
    pub async fn wait(&mut self) -> Result<Exit> {
        if let Some(exit) = self.exit.clone() {
            if !self.removed {
                self.remove().await?;
            }
            return Ok(exit);
        }
        let status = self.child.wait().await.map_err(|source| Error::Process {
            id: self.id.clone(),
            source,
        })?;
        self.finish(status).await
    }

    /// ECS's stop: SIGTERM to the container, up to `grace` (normally the spec's stop
    /// timeout, see [`Container::stop`]) to exit, then SIGKILL; then the removal.
    pub async fn terminate(&mut self, grace: Duration) -> Result<Exit> {
        if let Some(exit) = self.exit.clone() {
            if !self.removed {
                self.remove().await?;
            }
            return Ok(exit);
        }
        if let Some(status) = self.try_wait()? {
            return self.finish(status).await;
        }
        if let Err(e) = self.runtime.kill(&self.id, "TERM").await {
            // It may have exited meanwhile; the wait below tells.
            tracing::debug!("{e}");
        }
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status.map_err(|source| Error::Process {
                id: self.id.clone(),
                source,
            })?,
            Err(_) => {
                if let Err(e) = self.runtime.kill(&self.id, "KILL").await {
                    tracing::debug!("{e}");
                }
                match tokio::time::timeout(KILL_WAIT, self.child.wait()).await {
                    Ok(status) => status.map_err(|source| Error::Process {
                        id: self.id.clone(),
                        source,
                    })?,
                    // The runtime hangs: kill it; `finish` deletes the container.
                    Err(_) => {
                        self.child
                            .terminate(Duration::ZERO)
                            .await
                            .map_err(|source| Error::Process {
                                id: self.id.clone(),
                                source,
                            })?
                            .status
                    }
                }
            }
        };
        self.finish(status).await
    }

    /// [`Container::terminate`] with the spec's stop timeout.
    pub async fn stop(&mut self) -> Result<Exit> {
        self.terminate(self.stop_timeout).await
    }

    fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child.try_wait().map_err(|source| Error::Process {
            id: self.id.clone(),
            source,
        })
    }

    /// Reads the verdict, then removes the runtime's state, the mount, the bundle and the
    /// cgroups. The verdict is kept even if a removal fails (the error is returned; a later
    /// [`Runtime::cleanup`] finishes the job).
    async fn finish(&mut self, status: ExitStatus) -> Result<Exit> {
        let oom = self.cgroup.oom_killed();
        let start_error = self.start_error();
        let exit = match (start_error, status.code()) {
            (Some(reason), Some(_)) => Exit::StartFailed { reason },
            (_, code) => {
                // runc reports a signalled container as 128 + n; a signalled runc itself
                // (killed from outside) as a real signal.
                let code = code.unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                Exit::Exited(ContainerExit {
                    code,
                    signal: (code > 128).then(|| Signal::from_raw(code - 128)).flatten(),
                    oom_killed: *oom.as_ref().unwrap_or(&false),
                })
            }
        };
        self.exit = Some(exit.clone());
        if let Err(e) = oom {
            tracing::warn!("container {}: reading the OOM verdict: {e}", self.id);
        }
        self.remove().await?;
        Ok(exit)
    }

    /// The runtime's error, if it logged one: the container never ran.
    fn start_error(&self) -> Option<String> {
        let log = self.bundle.join("runtime.log");
        let text = std::fs::read_to_string(&log).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<LogLine>(l).ok())
            .filter(|l| l.level != LogLevel::Other)
            .map(|l| l.msg)
            .next_back()
    }

    async fn remove(&mut self) -> Result<()> {
        self.runtime.delete_if_listed(&self.id).await?;
        self.remove_local()?;
        self.removed = true;
        Ok(())
    }

    /// The mount, the bundle and the cgroups (no runtime call).
    fn remove_local(&self) -> Result<()> {
        mount::unmount(&self.bundle.join("rootfs"))?;
        remove_bundle(&self.bundle)?;
        self.cgroup.remove()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        // No async here: a blocking `delete --force` (kills and deletes), then the local
        // removal. The runtime process itself is killed by OwnedChild's drop afterwards.
        // std's child is outside haven-process's registry, so a concurrent `reap_orphans`
        // may reap it first: `status()` then fails with ECHILD, after the delete has run.
        let deleted = std::process::Command::new(&self.program)
            .arg("--root")
            .arg(&self.runtime.root)
            .args(["delete", "--force", &self.id])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if let Err(e) = deleted {
            tracing::warn!("container {} dropped; deleting it: {e}", self.id);
        }
        if let Err(e) = self.remove_local() {
            tracing::warn!("container {} dropped; removing its files: {e}", self.id);
        }
    }
}
