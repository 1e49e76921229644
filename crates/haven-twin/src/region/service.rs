//! The ECS service twin: keeps `desired` tasks running, spread evenly over the region's AZs
//! (`placement.rs` decides where), behind its ALB twin. It replaces tasks that exit or fail their health checks, backs off tasks
//! that crash at start and, after repeated failures, stops launching and says why (ECS's
//! deployment circuit breaker). Every step is written to the state database before it acts.
//!
//! Tasks belong to task sets, as in ECS blue/green: the primary set serves production; during a
//! release a green set runs the new image behind the alternate target group until the release
//! promotes it or removes it (`release.rs` drives that).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use haven_process::{Group, Output, ProcessIdentity, Sampler, Signal, SpawnSpec};
use haven_proxy::{ForwardAction, Listener, TargetEvent, TargetGroup, TargetState};
use haven_spec::settings::TwinService;
use haven_state::{ExitStatus, ScalingActivity, StopReason, Store, TaskRecord, TaskStatus, now_ms};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use haven_control::api::{self, ServiceState};

use super::autoscale::{Datapoint, Policy, Scaler};
use super::placement::{self, Placed};
use crate::lock;

/// Where a service's tasks come from and where their logs go.
pub struct ServiceEnv {
    pub region: String,
    pub azs: Vec<String>,
    pub store: Arc<Mutex<Store>>,
    pub images: Arc<dyn Images>,
    pub logs: PathBuf,
    /// The region's log agent: ships each task's output (the files in `logs`) to its stream.
    pub task_logs: haven_logs::TaskLogs,
    /// How the service's group and its tasks' streams are named.
    pub log_names: haven_logs::names::EcsService,
    pub bind: std::net::IpAddr,
    /// The SSM Parameter Store twin, for the service's `secrets`.
    pub secrets: Arc<dyn Secrets>,
    /// With the container runtime: where tasks run as OCI containers; none runs them as
    /// host processes.
    pub containers: Option<haven_container::Runtime>,
    /// With `local.network = "vpc"`: the region's VPC twin, where each task gets its node.
    pub vpc: Option<Arc<super::vpc::RegionVpc>>,
}

/// Resolves a `service.secrets` parameter name to its value when a task starts: `Ok(None)` when
/// the parameter does not exist, `Err` with a reason (naming no value) when it cannot be read.
pub trait Secrets: Send + Sync {
    fn get(&self, parameter: &str) -> Result<Option<String>, String>;
}

/// Where an image's files are and how to start it.
pub struct PreparedImage {
    pub root: PathBuf,
    pub entrypoint: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The config's `User` (empty: root) and `WorkingDir`, which a container honours.
    pub user: String,
    pub working_dir: String,
    /// The manifest digest the reference resolved to.
    pub digest: String,
}

/// Turns an image reference into something a task can run.
pub trait Images: Send + Sync {
    fn prepare(&self, image: &str) -> Result<PreparedImage, String>;
}

struct Task {
    set: String,
    record: TaskRecord,
    identity: Option<ProcessIdentity>,
    stop: Option<oneshot::Sender<()>>,
    started: Instant,
    healthy_once: bool,
    stopping: Option<StopReason>,
    sampler: Option<Sampler>,
    cpu: Option<f64>,
    memory: Option<f64>,
    /// The image digest the task runs.
    digest: String,
    /// Its node in the VPC twin (its namespace and address); none on loopback.
    node: Option<haven_vpc::Node>,
    /// The container's limits; none for a host process.
    limits: Option<api::TaskLimits>,
}

struct Exit {
    id: String,
    code: Option<i32>,
    signal: Option<i32>,
    /// The kernel's OOM killer ended it (containers only).
    oom_killed: bool,
    /// The runtime could not start its process (containers only).
    start_failed: Option<String>,
}

/// A task's process: a host process, or the OCI runtime running its container.
enum TaskChild {
    Process(Box<haven_process::OwnedChild>),
    Container(Box<haven_container::Container>),
}

impl TaskChild {
    fn identity(&self) -> ProcessIdentity {
        match self {
            Self::Process(c) => *c.identity(),
            Self::Container(c) => *c.identity(),
        }
    }

    /// Waits for the end, as an [`Exit`]; cancel-safe.
    async fn wait(&mut self, id: &str) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match self {
            Self::Process(child) => {
                let status = child.wait().await.ok();
                process_exit(id, status, |s| (s.code(), s.signal()))
            }
            Self::Container(c) => container_exit(id, c.wait().await),
        }
    }

    /// ECS's stop: SIGTERM, then SIGKILL after `grace`; the [`Exit`] it brings.
    async fn terminate(&mut self, id: &str, grace: Duration) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        match self {
            Self::Process(child) => {
                let status = child.terminate(grace).await.ok().map(|t| t.status);
                process_exit(id, status, |s| (s.code(), s.signal()))
            }
            Self::Container(c) => container_exit(id, c.terminate(grace).await),
        }
    }
}

fn process_exit<S>(
    id: &str,
    status: Option<S>,
    parts: impl Fn(&S) -> (Option<i32>, Option<i32>),
) -> Exit {
    let (code, signal) = status.as_ref().map_or((None, None), parts);
    Exit {
        id: id.to_owned(),
        code,
        signal,
        oom_killed: false,
        start_failed: None,
    }
}

fn container_exit(id: &str, exit: haven_container::Result<haven_container::Exit>) -> Exit {
    let mut out = Exit {
        id: id.to_owned(),
        code: None,
        signal: None,
        oom_killed: false,
        start_failed: None,
    };
    match exit {
        // ECS reports a signalled container as 128 + n, with no signal.
        Ok(haven_container::Exit::Exited(e)) => {
            out.code = Some(e.code);
            out.oom_killed = e.oom_killed;
        }
        Ok(haven_container::Exit::StartFailed { reason }) => out.start_failed = Some(reason),
        Err(e) => tracing::warn!("task {id}'s container: {e}"),
    }
    out
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    next_launch: Option<Instant>,
    failed: Option<String>,
}

/// Tasks of one image behind one target group.
struct TaskSet {
    id: String,
    image: String,
    group: Arc<TargetGroup>,
    /// `None` follows the service's desired count (the primary set).
    desired: Option<u32>,
    breaker: Breaker,
    /// Tasks of this set that exited without being asked to.
    crashes: u32,
    /// Tasks of this set stopped because they failed their health checks.
    health_failures: u32,
}

struct Inner {
    tasks: BTreeMap<String, Task>,
    /// The primary set first; a release adds a green set after it.
    sets: Vec<TaskSet>,
    scaler: Scaler,
    impaired: Vec<String>,
    shutting_down: bool,
    avg: Option<Datapoint>,
}

pub struct ServiceTwin {
    pub settings: TwinService,
    pub env: ServiceEnv,
    /// ECS's primary and alternate target groups; task sets alternate between them.
    groups: [Arc<TargetGroup>; 2],
    /// Production traffic, and the test listener that reaches a release's green set.
    listener: Arc<Listener>,
    test_listener: Arc<Listener>,
    inner: Mutex<Inner>,
    desired: watch::Sender<u32>,
    wake: Notify,
    exits: mpsc::UnboundedSender<Exit>,
    /// One release at a time.
    pub(crate) releasing: Arc<tokio::sync::Mutex<()>>,
}

/// What a release sees of its green task set.
#[derive(Debug, Clone)]
pub struct SetHealth {
    pub desired: u32,
    pub healthy: u32,
    pub unhealthy: u32,
    pub crashes: u32,
    /// Tasks replaced because they failed their ALB health checks.
    pub health_failures: u32,
    pub failed: Option<String>,
}

/// `PATH` for a container whose image sets none, as Docker and ECS give it.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// ECS's circuit-breaker threshold: half the desired count, at least 3, at most 200.
fn breaker_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

impl ServiceTwin {
    /// Creates the service and starts its controller and autoscaler; they stop when `shutdown`
    /// turns true (after [`ServiceTwin::drain_and_stop`]).
    pub fn start(
        settings: TwinService,
        env: ServiceEnv,
        groups: [Arc<TargetGroup>; 2],
        listeners: (Arc<Listener>, Arc<Listener>),
        initial_image: &str,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Self>, crate::Error> {
        let (desired, image, impaired) = {
            let store = lock(&env.store);
            (
                store.desired_or_init(&settings.name, settings.desired)?,
                store.image_or_init(&settings.name, initial_image)?,
                store.impaired_azs()?,
            )
        };
        let (listener, test_listener) = listeners;
        listener.set_forward(ForwardAction::single(groups[0].clone()));
        test_listener.set_forward(ForwardAction::single(groups[1].clone()));
        let primary = TaskSet {
            id: format!("ts-{}", crate::region::random_hex(6)),
            image,
            group: groups[0].clone(),
            desired: None,
            breaker: Breaker::default(),
            crashes: 0,
            health_failures: 0,
        };
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let twin = Arc::new(Self {
            settings,
            env,
            groups,
            listener,
            test_listener,
            inner: Mutex::new(Inner {
                tasks: BTreeMap::new(),
                sets: vec![primary],
                scaler: Scaler::default(),
                impaired,
                shutting_down: false,
                avg: None,
            }),
            desired: watch::Sender::new(desired),
            wake: Notify::new(),
            exits: exits_tx,
            releasing: Arc::new(tokio::sync::Mutex::new(())),
        });
        tokio::spawn(twin.clone().control_loop(exits_rx, shutdown.clone()));
        tokio::spawn(twin.clone().scaling_loop(shutdown));
        Ok(twin)
    }

    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        lock(&self.env.store)
    }

    pub(crate) fn event(&self, message: &str) {
        tracing::info!(service = %self.settings.name, "{message}");
        if let Err(e) = self.store().event(&self.settings.name, message) {
            tracing::warn!("cannot record an event: {e}");
        }
    }

    pub fn desired(&self) -> u32 {
        *self.desired.borrow()
    }

    /// The image production runs.
    pub fn image(&self) -> String {
        lock(&self.inner).sets[0].image.clone()
    }

    async fn control_loop(
        self: Arc<Self>,
        mut exits: mpsc::UnboundedReceiver<Exit>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut events_a = self.groups[0].subscribe();
        let mut events_b = self.groups[1].subscribe();
        let mut desired = self.desired.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stop = tokio::select! {
                Some(exit) = exits.recv() => {
                    self.on_exit(exit);
                    false
                }
                ev = events_a.recv() => {
                    self.on_target_event(ev.ok());
                    false
                }
                ev = events_b.recv() => {
                    self.on_target_event(ev.ok());
                    false
                }
                _ = desired.changed() => false,
                _ = self.wake.notified() => false,
                _ = tick.tick() => false,
                _ = shutdown.wait_for(|s| *s) => true,
            };
            if stop {
                // Drain exits until every task is gone, then stop.
                while lock(&self.inner)
                    .tasks
                    .values()
                    .any(|t| t.identity.is_some())
                {
                    match tokio::time::timeout(Duration::from_secs(60), exits.recv()).await {
                        Ok(Some(exit)) => self.on_exit(exit),
                        _ => break,
                    }
                }
                return;
            }
            self.reconcile();
        }
    }

    fn on_target_event(&self, ev: Option<TargetEvent>) {
        let Some(ev) = ev.filter(|e| e.to == TargetState::Healthy) else {
            return;
        };
        let mut inner = lock(&self.inner);
        let Some(set) = inner.tasks.get_mut(&ev.id).map(|t| {
            t.healthy_once = true;
            t.set.clone()
        }) else {
            return;
        };
        if let Some(s) = inner.sets.iter_mut().find(|s| s.id == set) {
            s.breaker.failures = 0;
        }
    }

    /// Target states of every task in either group.
    fn target_states(&self) -> HashMap<String, TargetState> {
        self.groups
            .iter()
            .flat_map(|g| g.targets())
            .map(|t| (t.id, t.state))
            .collect()
    }

    /// One pass of the controller: replace unhealthy tasks, then launch or stop tasks until each
    /// task set runs its desired count, spread over the usable AZs.
    fn reconcile(self: &Arc<Self>) {
        let now = Instant::now();
        let grace = Duration::from(self.settings.health_check.grace_period);
        let targets = self.target_states();
        let mut to_stop = Vec::new();
        let mut to_launch = Vec::new();
        let mut unplaceable = false;
        {
            let mut inner = lock(&self.inner);
            if inner.shutting_down {
                return;
            }
            for (id, t) in &inner.tasks {
                if t.stopping.is_none()
                    && targets.get(id) == Some(&TargetState::Unhealthy)
                    && now.duration_since(t.started) >= grace
                {
                    to_stop.push((id.clone(), StopReason::ElbHealthChecks));
                }
            }
            let usable: Vec<String> = self
                .env
                .azs
                .iter()
                .filter(|az| !inner.impaired.contains(az))
                .cloned()
                .collect();
            for set in &inner.sets {
                let desired = set.desired.unwrap_or_else(|| self.desired()) as usize;
                let active: Vec<Placed<'_, Instant>> = inner
                    .tasks
                    .iter()
                    .filter(|(id, t)| {
                        t.set == set.id
                            && t.stopping.is_none()
                            && !to_stop.iter().any(|(s, _)| s == *id)
                    })
                    .map(|(id, t)| Placed {
                        id,
                        az: &t.record.az,
                        started: t.started,
                    })
                    .collect();
                if active.len() > desired {
                    // ECS spreads on scale-in too: see `placement`.
                    let stopped = placement::scale_in(&usable, &active, desired);
                    to_stop.extend(
                        stopped
                            .into_iter()
                            .map(|id| (id.to_owned(), StopReason::ScalingActivity)),
                    );
                } else if active.len() < desired {
                    let b = &set.breaker;
                    if b.failed.is_some() || b.next_launch.is_some_and(|t| now < t) {
                        continue;
                    }
                    if usable.is_empty() {
                        unplaceable = true;
                        continue;
                    }
                    for az in placement::launch_azs(&usable, &active, desired - active.len()) {
                        to_launch.push((set.id.clone(), set.image.clone(), set.group.clone(), az));
                    }
                }
            }
            for (id, reason) in &to_stop {
                let Some(t) = inner.tasks.get_mut(id) else {
                    continue;
                };
                t.stopping = Some(reason.clone());
                let set = t.set.clone();
                // Counted here, where it is decided: a release watching the set must see it even
                // though the task is already on its way out.
                if *reason == StopReason::ElbHealthChecks {
                    if let Some(s) = inner.sets.iter_mut().find(|s| s.id == set) {
                        s.health_failures += 1;
                    }
                }
            }
        }
        if unplaceable {
            self.event(&format!(
                "service {} was unable to place a task: no Availability Zone is available",
                self.settings.name
            ));
        }
        for (id, reason) in to_stop {
            self.stop_task(&id, &reason);
        }
        for (set, image, group, az) in to_launch {
            self.launch(&set, &image, &group, &az);
        }
    }

    fn launch(self: &Arc<Self>, set: &str, image: &str, group: &Arc<TargetGroup>, az: &str) {
        let id = crate::region::random_hex(16);
        // In the VPC every task listens on the service's port at its own address, as on
        // Fargate; on loopback each needs a port of its own.
        let port = match &self.env.vpc {
            Some(_) => self.settings.port,
            None => match haven_control::ports::task_port(self.env.bind) {
                Ok(p) => p,
                Err(e) => {
                    self.event(&format!("cannot find a port for a task: {e}"));
                    return;
                }
            },
        };
        let mut record = TaskRecord::provisioning(&id, &self.settings.name, az, port, image);
        // Written before the process exists, so a crash right after spawn still finds it.
        if let Err(e) = self.store().insert_task(&record) {
            self.event(&format!("cannot record task {id}: {e}"));
            return;
        }
        // Resolved at each start, as ECS resolves a task definition's secrets: a value set with
        // `haven secret set` reaches the next task without restarting anything.
        let secrets = match self.resolve_secrets() {
            Ok(s) => s,
            Err(reason) => {
                self.fail_start(set, &id, StopReason::ResourceInitialization(reason));
                return;
            }
        };
        let prepared = match self.env.images.prepare(image) {
            Ok(p) => p,
            Err(reason) => {
                self.fail_start(set, &id, StopReason::CannotPullContainer(reason));
                return;
            }
        };
        // awsvpc: the task's own network namespace and address in its AZ's private subnet.
        let node = match &self.env.vpc {
            Some(vpc) => match vpc.attach_task(&id, az) {
                Ok(n) => Some(n),
                Err(reason) => {
                    self.fail_start(set, &id, StopReason::ResourceInitialization(reason));
                    return;
                }
            },
            None => None,
        };
        let limits = self.env.containers.as_ref().map(|_| api::TaskLimits {
            cpu_units: self.settings.cpu,
            memory_mib: self.settings.memory,
        });
        // Why a task could not start, as ECS says it: an image its process cannot be made from
        // is the image's fault (CannotPullContainer), anything else the start's.
        let started = match &self.env.containers {
            Some(runtime) => self
                .container_spec(&record, &prepared, secrets, node.as_ref())
                .and_then(|spec| {
                    // The stream exists before the task does, so nothing it writes is missed.
                    self.log_stream(&id);
                    runtime
                        .start(&spec)
                        .map(|c| TaskChild::Container(Box::new(c)))
                        .map_err(|e| e.to_string())
                })
                .map_err(StopReason::CannotStartContainer),
            None => self
                .spawn_spec(&record, &prepared, secrets, node.as_ref())
                .map_err(StopReason::CannotPullContainer)
                .and_then(|spec| {
                    self.log_stream(&id);
                    haven_process::spawn(&spec)
                        .map(|c| TaskChild::Process(Box::new(c)))
                        .map_err(|e| StopReason::CannotStartContainer(e.to_string()))
                }),
        };
        let child = match started {
            Ok(c) => c,
            Err(reason) => {
                self.env.task_logs.task_stopped(&id);
                if let (Some(vpc), Some(n)) = (&self.env.vpc, &node) {
                    vpc.detach(n);
                }
                self.fail_start(set, &id, reason);
                return;
            }
        };
        let identity = child.identity();
        {
            let store = self.store();
            let recorded = store
                .set_task_process(&id, identity.pid, identity.start_time, identity.pgid)
                .and_then(|()| store.set_task_status(&id, TaskStatus::Running));
            if let Err(e) = recorded {
                tracing::error!("cannot record task {id}'s process: {e}");
            }
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        record.status = TaskStatus::Running;
        record.pid = Some(identity.pid);
        lock(&self.inner).tasks.insert(
            id.clone(),
            Task {
                set: set.to_owned(),
                record,
                identity: Some(identity),
                stop: Some(stop_tx),
                started: Instant::now(),
                healthy_once: false,
                stopping: None,
                sampler: Sampler::new().ok(),
                cpu: None,
                memory: None,
                digest: prepared.digest.clone(),
                limits,
                node: node.clone(),
            },
        );
        let ip = node
            .as_ref()
            .map_or(self.env.bind, |n| std::net::IpAddr::V4(n.addr));
        group.register_in_zone(id.clone(), std::net::SocketAddr::new(ip, port), az);
        self.event(&format!(
            "service {} has started 1 tasks: (task {id}) in {az} from {image}",
            self.settings.name
        ));
        let exits = self.exits.clone();
        let task_logs = self.env.task_logs.clone();
        let grace = Duration::from(self.settings.stop_timeout);
        tokio::spawn(async move {
            let mut child = child;
            let exit = tokio::select! {
                e = child.wait(&id) => e,
                _ = stop_rx => child.terminate(&id, grace).await,
            };
            task_logs.task_stopped(&id);
            // The controller may be gone at shutdown; then nobody needs the news.
            if exits.send(exit).is_err() {
                tracing::debug!("task exit after the controller stopped");
            }
        });
    }

    /// The service's secrets as environment variables, or why a task cannot have them (naming
    /// the parameter, never a value).
    fn resolve_secrets(&self) -> Result<Vec<(String, String)>, String> {
        let mut resolved = Vec::with_capacity(self.settings.secrets.len());
        for (var, parameter) in &self.settings.secrets {
            match self.env.secrets.get(parameter) {
                Ok(Some(value)) => resolved.push((var.clone(), value)),
                Ok(None) => {
                    return Err(format!(
                        "unable to pull secrets: parameter {parameter} (for {var}) does not exist in the parameter store; `haven secret set {parameter}` stores it"
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "unable to pull secrets: parameter {parameter} (for {var}): {e}"
                    ));
                }
            }
        }
        Ok(resolved)
    }

    fn spawn_spec(
        &self,
        record: &TaskRecord,
        image: &PreparedImage,
        secrets: Vec<(String, String)>,
        node: Option<&haven_vpc::Node>,
    ) -> Result<SpawnSpec, String> {
        let Some(program) = image.entrypoint.first() else {
            return Err(format!("image {} has no entrypoint", record.image));
        };
        let program = if program.contains('/') {
            image.root.join(program)
        } else {
            PathBuf::from(program)
        };
        if program.is_absolute() && !program.is_file() {
            return Err(format!(
                "`{}` is not in image {}",
                image.entrypoint[0], record.image
            ));
        }
        std::fs::create_dir_all(&self.env.logs)
            .map_err(|e| format!("cannot create the log directory: {e}"))?;
        let log = |stream: &str| {
            Output::AppendFile(self.env.logs.join(format!("{}.{stream}.log", record.id)))
        };
        // In the VPC, `ip netns exec` enters the task's namespace and execs the program, which
        // keeps the pid.
        let (program, args): (PathBuf, Vec<String>) = match node {
            Some(n) => (
                PathBuf::from("ip"),
                ["netns", "exec", n.namespace.as_str()]
                    .into_iter()
                    .map(str::to_owned)
                    .chain(std::iter::once(program.display().to_string()))
                    .chain(image.entrypoint[1..].iter().cloned())
                    .collect(),
            ),
            None => (program, image.entrypoint[1..].to_vec()),
        };
        let mut spec = SpawnSpec::new(program)
            .args(args)
            .cwd(&image.root)
            .env_clear(true)
            .stdout(log("stdout"))
            .stderr(log("stderr"))
            .group(Group::NewGroup)
            .parent_death_signal(Some(Signal::KILL));
        for key in ["PATH", "HOME", "LANG", "TZ"] {
            if let Ok(v) = std::env::var(key) {
                spec = spec.env(key, v);
            }
        }
        for (k, v) in self.task_env(record, image, secrets) {
            spec = spec.env(k, v);
        }
        Ok(spec)
    }

    /// Opens the task's log stream before it starts, so that nothing it writes is missed.
    fn log_stream(&self, id: &str) {
        if let Err(e) = self.env.task_logs.task_started(id, &self.env.log_names) {
            tracing::warn!("task {id}'s log stream: {e}");
        }
    }

    /// The environment a task sees, as ECS composes it: the image's, the spec's over it, the
    /// secrets, then the twin's own (`PORT`, `HAVEN_*`, `AWS_REGION`).
    fn task_env(
        &self,
        record: &TaskRecord,
        image: &PreparedImage,
        secrets: Vec<(String, String)>,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = image.env.clone();
        env.extend(
            self.settings
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        // After the spec's variables, before haven's own: in ECS a name is either an
        // environment variable or a secret, and the spec's validation keeps them apart.
        env.extend(secrets);
        for (k, v) in [
            ("PORT", record.port.to_string()),
            ("HAVEN_REGION", self.env.region.clone()),
            ("HAVEN_AZ", record.az.clone()),
            ("HAVEN_TASK_ID", record.id.clone()),
            ("HAVEN_SERVICE", self.settings.name.clone()),
            ("HAVEN_ENVIRONMENT", self.settings.environment.clone()),
            ("HAVEN_IMAGE", record.image.clone()),
            ("AWS_REGION", self.env.region.clone()),
        ] {
            env.push((k.to_owned(), v));
        }
        env
    }

    /// The task as an OCI container: the image's entrypoint, user and working directory, the
    /// task's environment (nothing of the host's), its Fargate size as limits.
    fn container_spec(
        &self,
        record: &TaskRecord,
        image: &PreparedImage,
        secrets: Vec<(String, String)>,
        node: Option<&haven_vpc::Node>,
    ) -> Result<haven_container::ContainerSpec, String> {
        if image.entrypoint.is_empty() {
            return Err(format!(
                "image {} has no entrypoint or command",
                record.image
            ));
        }
        std::fs::create_dir_all(&self.env.logs)
            .map_err(|e| format!("cannot create the log directory: {e}"))?;
        // Later values win, as a process's environment would have them.
        let mut env: Vec<(String, String)> = Vec::new();
        for (k, v) in self.task_env(record, image, secrets) {
            env.retain(|(key, _)| *key != k);
            env.push((k, v));
        }
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.insert(0, ("PATH".to_owned(), DEFAULT_PATH.to_owned()));
        }
        Ok(haven_container::ContainerSpec {
            id: record.id.clone(),
            rootfs: image.root.clone(),
            args: image.entrypoint.clone(),
            env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
            cwd: image.working_dir.clone(),
            user: image.user.clone(),
            cpu_units: self.settings.cpu,
            memory_mib: u64::from(self.settings.memory),
            readonly_rootfs: self.settings.read_only_root_filesystem,
            network: match node {
                Some(n) => haven_container::Network::Namespace(
                    PathBuf::from("/run/netns").join(&n.namespace),
                ),
                None => haven_container::Network::Host,
            },
            stdout: self.env.logs.join(format!("{}.stdout.log", record.id)),
            stderr: self.env.logs.join(format!("{}.stderr.log", record.id)),
            hostname: format!("ip-{}", record.id.get(..8).unwrap_or(&record.id)),
            stop_timeout: Duration::from(self.settings.stop_timeout),
        })
    }

    /// A task that could not start counts as a failed launch.
    fn fail_start(&self, set: &str, id: &str, reason: StopReason) {
        if let Err(e) = self.store().stop_task(id, &reason) {
            tracing::warn!("cannot record task {id}'s stop: {e}");
        }
        self.event(&format!("task {id} failed to start: {reason}"));
        self.count_failure(set, id, &reason);
    }

    fn count_failure(&self, set: &str, id: &str, reason: &StopReason) {
        let threshold = breaker_threshold(self.desired());
        let tripped = {
            let mut inner = lock(&self.inner);
            let Some(b) = inner
                .sets
                .iter_mut()
                .find(|s| s.id == set)
                .map(|s| &mut s.breaker)
            else {
                return;
            };
            b.failures += 1;
            let backoff = Duration::from_millis(250 * (1u64 << b.failures.min(6)));
            b.next_launch = Some(Instant::now() + backoff.min(Duration::from_secs(15)));
            if b.failures >= threshold && b.failed.is_none() {
                let tail =
                    haven_process::tail_lines(self.env.logs.join(format!("{id}.stderr.log")), 10)
                        .unwrap_or_default();
                let mut why = format!(
                    "circuit breaker: {} consecutive tasks failed to start (threshold {threshold}); last: {reason}",
                    b.failures
                );
                if !tail.is_empty() {
                    why.push_str(&format!(
                        "\nlast stderr lines of task {id}:\n{}",
                        tail.join("\n")
                    ));
                }
                b.failed = Some(why.clone());
                Some(why)
            } else {
                None
            }
        };
        if let Some(why) = tripped {
            self.event(&format!(
                "service {} deployment failed: {why}",
                self.settings.name
            ));
        }
    }

    fn on_exit(&self, exit: Exit) {
        let Some(task) = lock(&self.inner).tasks.remove(&exit.id) else {
            return;
        };
        if let (Some(vpc), Some(node)) = (&self.env.vpc, &task.node) {
            vpc.detach(node);
        }
        // A dead target cannot serve; it leaves the group now rather than after draining.
        for g in &self.groups {
            g.deregister(&exit.id);
        }
        // The kernel's verdict comes first: ECS reports an OOM kill as such even when the
        // task was being stopped.
        let reason = if exit.oom_killed {
            StopReason::OutOfMemory
        } else if let Some(why) = &exit.start_failed {
            StopReason::CannotStartContainer(why.clone())
        } else {
            task.stopping.clone().unwrap_or_else(|| {
                StopReason::EssentialContainerExited(ExitStatus::new(exit.code, exit.signal))
            })
        };
        if let Err(e) = self.store().stop_task(&exit.id, &reason) {
            tracing::warn!("cannot record task {}'s stop: {e}", exit.id);
        }
        self.event(&format!(
            "service {} has stopped 1 running tasks: (task {}) {reason}",
            self.settings.name, exit.id
        ));
        if task.stopping.is_none() || exit.oom_killed || exit.start_failed.is_some() {
            let shutting_down = {
                let mut inner = lock(&self.inner);
                if let Some(s) = inner.sets.iter_mut().find(|s| s.id == task.set) {
                    s.crashes += 1;
                }
                inner.shutting_down
            };
            if (!task.healthy_once || exit.start_failed.is_some()) && !shutting_down {
                self.count_failure(&task.set, &exit.id, &reason);
            }
        }
        self.wake.notify_one();
    }

    /// Deregisters a task (it drains for the deregistration delay), then stops its process.
    fn stop_task(self: &Arc<Self>, id: &str, reason: &StopReason) {
        let group = {
            let inner = lock(&self.inner);
            let set = inner
                .tasks
                .get(id)
                .map(|t| t.set.clone())
                .unwrap_or_default();
            inner
                .sets
                .iter()
                .find(|s| s.id == set)
                .map(|s| s.group.clone())
        };
        let group = group.unwrap_or_else(|| self.groups[0].clone());
        self.stop_task_in(id, reason, &group);
    }

    fn stop_task_in(self: &Arc<Self>, id: &str, reason: &StopReason, group: &Arc<TargetGroup>) {
        if let Err(e) = self.store().set_task_status(id, TaskStatus::Deprovisioning) {
            tracing::warn!("cannot record task {id}'s status: {e}");
        }
        self.event(&format!(
            "service {} is stopping task {id}: {reason}",
            self.settings.name
        ));
        let drained = group.drained(id);
        group.deregister(id);
        let me = self.clone();
        let id = id.to_owned();
        let delay = Duration::from(self.settings.deregistration_delay);
        tokio::spawn(async move {
            // Draining ends when in-flight requests finish or the delay passes.
            if tokio::time::timeout(delay + Duration::from_millis(100), drained)
                .await
                .is_err()
            {
                tracing::debug!("task {id} still busy after the deregistration delay");
            }
            let stop = lock(&me.inner)
                .tasks
                .get_mut(&id)
                .and_then(|t| t.stop.take());
            if let Some(stop) = stop {
                // The task's watcher is gone only if the task already exited.
                if stop.send(()).is_err() {
                    tracing::debug!("task {id} exited before it was stopped");
                }
            }
        });
    }

    /// Forgets a task set and drains and stops its tasks.
    fn retire_set(self: &Arc<Self>, set: &str, group: &Arc<TargetGroup>, reason: &StopReason) {
        let ids: Vec<String> = {
            let mut inner = lock(&self.inner);
            inner.sets.retain(|s| s.id != set);
            inner
                .tasks
                .iter_mut()
                .filter(|(_, t)| t.set == set && t.stopping.is_none())
                .map(|(id, t)| {
                    t.stopping = Some(reason.clone());
                    id.clone()
                })
                .collect()
        };
        for id in ids {
            self.stop_task_in(&id, reason, group);
        }
    }

    /// Waits until no task of `set` is left.
    pub(crate) async fn set_gone(&self, set: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while lock(&self.inner).tasks.values().any(|t| t.set == set) {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        true
    }

    // --- What a release does to the service -------------------------------------------------

    /// Starts a green task set of `image` at the primary's size; `separate` puts it behind the
    /// alternate target group (blue/green, canary, linear), otherwise behind the production
    /// group (rolling). Returns the set's id.
    pub(crate) fn start_green(self: &Arc<Self>, image: &str, separate: bool) -> String {
        let id = format!("ts-{}", crate::region::random_hex(6));
        {
            let mut inner = lock(&self.inner);
            let primary_group = inner.sets[0].group.clone();
            let group = if separate {
                self.alternate(&primary_group)
            } else {
                primary_group
            };
            inner.sets.truncate(1);
            inner.sets.push(TaskSet {
                id: id.clone(),
                image: image.to_owned(),
                group,
                desired: Some(self.desired()),
                breaker: Breaker::default(),
                crashes: 0,
                health_failures: 0,
            });
        }
        self.wake.notify_one();
        id
    }

    fn alternate(&self, group: &Arc<TargetGroup>) -> Arc<TargetGroup> {
        if Arc::ptr_eq(group, &self.groups[0]) {
            self.groups[1].clone()
        } else {
            self.groups[0].clone()
        }
    }

    pub(crate) fn set_health(&self, set: &str) -> Option<SetHealth> {
        let targets = self.target_states();
        let inner = lock(&self.inner);
        let s = inner.sets.iter().find(|s| s.id == set)?;
        let tasks: Vec<&String> = inner
            .tasks
            .iter()
            .filter(|(_, t)| t.set == set && t.stopping.is_none())
            .map(|(id, _)| id)
            .collect();
        let count = |state: TargetState| {
            tasks
                .iter()
                .filter(|id| targets.get(**id) == Some(&state))
                .count() as u32
        };
        Some(SetHealth {
            desired: s.desired.unwrap_or_else(|| self.desired()),
            healthy: count(TargetState::Healthy),
            unhealthy: count(TargetState::Unhealthy),
            crashes: s.crashes,
            health_failures: s.health_failures,
            failed: s.breaker.failed.clone(),
        })
    }

    /// The target group a set is behind.
    pub(crate) fn set_group(&self, set: &str) -> Option<Arc<TargetGroup>> {
        lock(&self.inner)
            .sets
            .iter()
            .find(|s| s.id == set)
            .map(|s| s.group.clone())
    }

    /// Production traffic: `percent` to the green set's group, the rest to the primary's.
    pub(crate) fn shift(&self, green: &str, percent: u32) {
        let (blue, green) = {
            let inner = lock(&self.inner);
            let blue = inner.sets[0].group.clone();
            let green = inner
                .sets
                .iter()
                .find(|s| s.id == green)
                .map(|s| s.group.clone());
            (blue, green)
        };
        let Some(green) = green else { return };
        if Arc::ptr_eq(&blue, &green) {
            return;
        }
        let action = match percent {
            0 => ForwardAction::single(blue),
            100.. => ForwardAction::single(green),
            p => ForwardAction::new(vec![(blue.clone(), 100 - p), (green, p)])
                .unwrap_or_else(|_| ForwardAction::single(blue)),
        };
        self.listener.set_forward(action);
    }

    /// The test listener reaches `set`'s group (ECS's test listener rule).
    pub(crate) fn expose_for_test(&self, set: &str) {
        if let Some(g) = self.set_group(set) {
            self.test_listener.set_forward(ForwardAction::single(g));
        }
    }

    /// The green set becomes primary; the old primary is drained and stopped. Returns the old
    /// set's id.
    pub(crate) fn promote(self: &Arc<Self>, green: &str) -> Option<String> {
        let (old_id, old_group, image, primary) = {
            let mut inner = lock(&self.inner);
            let i = inner.sets.iter().position(|s| s.id == green)?;
            let mut set = inner.sets.remove(i);
            set.desired = None;
            let old = std::mem::replace(&mut inner.sets[0], set);
            (
                old.id,
                old.group,
                inner.sets[0].image.clone(),
                inner.sets[0].group.clone(),
            )
        };
        if let Err(e) = self.store().set_image(&self.settings.name, &image) {
            tracing::error!("cannot record the service's image: {e}");
        }
        self.listener.set_forward(ForwardAction::single(primary));
        self.retire_set(&old_id, &old_group, &StopReason::TaskSetReplaced);
        Some(old_id)
    }

    /// Removes a release's green set; production stays on (or returns to) the primary.
    pub(crate) fn abandon(self: &Arc<Self>, green: &str) {
        let primary = lock(&self.inner).sets[0].group.clone();
        self.listener
            .set_forward(ForwardAction::single(primary.clone()));
        self.test_listener
            .set_forward(ForwardAction::single(self.alternate(&primary)));
        if let Some(group) = self.set_group(green) {
            self.retire_set(green, &group, &StopReason::TaskSetRolledBack);
        }
    }

    /// The last stderr lines of the green set's most recently failed task, for a rollback reason.
    pub(crate) fn last_failure_tail(&self, set_image: &str) -> Option<String> {
        let stopped = self.store().stopped_tasks(&self.settings.name, 20).ok()?;
        let t = stopped.iter().find(|t| {
            t.image == set_image
                && matches!(
                    t.stopped_reason,
                    Some(StopReason::EssentialContainerExited(_))
                )
        })?;
        let tail =
            haven_process::tail_lines(self.env.logs.join(format!("{}.stderr.log", t.id)), 10)
                .ok()?;
        (!tail.is_empty())
            .then(|| format!("last stderr lines of task {}:\n{}", t.id, tail.join("\n")))
    }

    // --- Shutdown, scaling, drills, status ----------------------------------------------------

    /// Stops launching, drains every task and stops it; returns when all have exited.
    pub async fn drain_and_stop(self: &Arc<Self>) {
        let ids: Vec<String> = {
            let mut inner = lock(&self.inner);
            inner.shutting_down = true;
            inner
                .tasks
                .iter_mut()
                .filter(|(_, t)| t.stopping.is_none())
                .map(|(id, t)| {
                    t.stopping = Some(StopReason::ServiceShuttingDown);
                    id.clone()
                })
                .collect()
        };
        for id in &ids {
            self.stop_task(id, &StopReason::ServiceShuttingDown);
        }
        let deadline = Instant::now()
            + Duration::from(self.settings.deregistration_delay)
            + Duration::from(self.settings.stop_timeout)
            + Duration::from_secs(5);
        while !lock(&self.inner).tasks.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn scaling_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let period = Duration::from(self.settings.metrics_interval);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let policy = Policy {
            cpu_target: f64::from(self.settings.cpu_target),
            memory_target: f64::from(self.settings.memory_target),
            min: self.settings.min,
            max: self.settings.max,
            scale_out_cooldown: self.settings.scale_out_cooldown.into(),
            scale_in_cooldown: self.settings.scale_in_cooldown.into(),
        };
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let Some(decision) = self.sample(&policy) else {
                continue;
            };
            let from = self.desired();
            let activity = ScalingActivity {
                service: self.settings.name.clone(),
                at_ms: now_ms(),
                from,
                to: decision.to,
                cause: decision.cause.clone(),
            };
            // Recorded before it acts, like every controller step.
            let stored = {
                let store = self.store();
                store
                    .record_scaling(&activity)
                    .and_then(|()| store.set_desired(&self.settings.name, decision.to))
            };
            if let Err(e) = stored {
                tracing::error!("cannot record a scaling activity: {e}");
                continue;
            }
            self.event(&format!(
                "Successfully set desired count to {} (from {from}): {}",
                decision.to, decision.cause
            ));
            self.desired.send_replace(decision.to);
        }
    }

    /// Samples every task's CPU and memory; returns a scaling decision on the primary set's
    /// average, if one is due.
    fn sample(&self, policy: &Policy) -> Option<super::autoscale::Decision> {
        let mut inner = lock(&self.inner);
        let (cpu_units, mem_mib) = (self.settings.cpu, u64::from(self.settings.memory));
        let primary = inner.sets[0].id.clone();
        let mut samples = Vec::new();
        // One scan of /proc for all the tasks: a scan reads every process's stat. Without
        // one no task has a sample this tick.
        let table = haven_process::ProcessTable::scan()
            .inspect_err(|e| tracing::debug!(error = %e, "cannot scan processes"));
        for t in inner.tasks.values_mut() {
            let (Some(id), Some(sampler)) = (t.identity, t.sampler.as_mut()) else {
                continue;
            };
            let pids = table.as_ref().map(|t| t.tree(&id)).unwrap_or_default();
            if let Ok(s) = sampler.sample(&pids) {
                t.cpu = s.cpu_percent_of_units(cpu_units);
                t.memory = s.memory_percent_of_mib(mem_mib);
                if let (Some(c), Some(m), None, true) =
                    (t.cpu, t.memory, &t.stopping, t.set == primary)
                {
                    samples.push((c, m));
                }
            }
        }
        if samples.is_empty() || inner.shutting_down {
            inner.avg = None;
            return None;
        }
        let n = samples.len() as f64;
        let d = Datapoint {
            cpu: samples.iter().map(|s| s.0).sum::<f64>() / n,
            memory: samples.iter().map(|s| s.1).sum::<f64>() / n,
        };
        inner.avg = Some(d);
        inner.scaler.observe(d);
        inner.scaler.decide(policy, self.desired(), Instant::now())
    }

    /// SIGKILLs tasks, as a chaos drill: the controller sees them die and replaces them.
    pub fn kill_tasks(&self, mut filter: impl FnMut(&TaskRecord) -> bool) -> Vec<String> {
        let inner = lock(&self.inner);
        let mut killed = Vec::new();
        for (id, t) in &inner.tasks {
            if !filter(&t.record) {
                continue;
            }
            if let Some(identity) = &t.identity {
                let result = if identity.leads_group() {
                    haven_process::kill_group(identity, Signal::KILL).map(|_| ())
                } else {
                    haven_process::signal(identity, Signal::KILL)
                };
                match result {
                    Ok(()) => killed.push(id.clone()),
                    Err(e) => tracing::warn!("cannot kill task {id}: {e}"),
                }
            }
        }
        killed
    }

    /// The production listener's counters (every task set behind it).
    pub fn listener_metrics(&self) -> haven_proxy::MetricsSnapshot {
        self.listener.metrics()
    }

    /// Healthy and unhealthy targets of the primary task set's group.
    pub fn host_counts(&self) -> (usize, usize) {
        let group = lock(&self.inner).sets[0].group.clone();
        (group.healthy_count(), group.unhealthy_count())
    }

    /// The primary set's average CPU and memory utilisation, percent of the task size.
    pub fn utilisation(&self) -> Option<(f64, f64)> {
        lock(&self.inner).avg.map(|d| (d.cpu, d.memory))
    }

    pub fn set_impaired(&self, azs: Vec<String>) {
        lock(&self.inner).impaired = azs;
        self.wake.notify_one();
    }

    /// Injects (or with `None` removes) network latency between both target groups and their
    /// tasks: whichever group a task set is in, and whichever listener forwards to it.
    pub fn set_latency(&self, latency: Option<haven_proxy::InjectedLatency>) {
        for g in &self.groups {
            g.set_latency(latency.clone());
        }
    }

    pub fn status(&self) -> api::ServiceStatus {
        let targets = self.target_states();
        let inner = lock(&self.inner);
        let primary = &inner.sets[0];
        let tasks: Vec<api::TaskStatus> = inner
            .tasks
            .values()
            .map(|t| api::TaskStatus {
                id: t.record.id.clone(),
                az: t.record.az.clone(),
                pid: t.record.pid,
                address: match &t.node {
                    Some(n) => format!("{}:{}", n.addr, t.record.port),
                    None => format!("{}:{}", self.env.bind, t.record.port),
                },
                health: targets
                    .get(&t.record.id)
                    .copied()
                    .unwrap_or(if t.stopping.is_some() {
                        TargetState::Draining
                    } else {
                        TargetState::Unused
                    }),
                status: if t.stopping.is_some() {
                    TaskStatus::Deprovisioning
                } else {
                    TaskStatus::Running
                },
                image: t.record.image.clone(),
                task_set: t.set.clone(),
                cpu_percent: t.cpu.map(round1),
                memory_percent: t.memory.map(round1),
                digest: (!t.digest.is_empty()).then(|| t.digest.clone()),
                runtime: Some(if t.limits.is_some() {
                    api::Runtime::Container
                } else {
                    api::Runtime::Process
                }),
                limits: t.limits,
            })
            .collect();
        let serving =
            |t: &&api::TaskStatus| t.status == TaskStatus::Running && t.task_set == primary.id;
        let (activities, events) = {
            let store = self.store();
            (
                store
                    .scaling_activities(&self.settings.name, 20)
                    .unwrap_or_default(),
                store.events(&self.settings.name, 10).unwrap_or_default(),
            )
        };
        api::ServiceStatus {
            name: self.settings.name.clone(),
            environment: self.settings.environment.clone(),
            alb_url: String::new(),
            test_url: String::new(),
            state: if primary.breaker.failed.is_some() {
                ServiceState::Failed
            } else {
                ServiceState::Active
            },
            failure: primary.breaker.failed.clone(),
            image: primary.image.clone(),
            desired: self.desired(),
            running: tasks.iter().filter(serving).count() as u32,
            healthy: tasks
                .iter()
                .filter(serving)
                .filter(|t| t.health == TargetState::Healthy)
                .count() as u32,
            min: self.settings.min,
            max: self.settings.max,
            cpu_percent: inner.avg.map(|d| round1(d.cpu)),
            memory_percent: inner.avg.map(|d| round1(d.memory)),
            scaling_activities: activities
                .into_iter()
                .map(|a| api::ScalingActivity {
                    at_ms: a.at_ms,
                    from: a.from,
                    to: a.to,
                    cause: a.cause,
                })
                .collect(),
            tasks,
            events: events.into_iter().map(|e| e.message).collect(),
            // The region fills it in: the access log is the ALB's.
            access_logs: false,
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ECS's deployment circuit breaker trips after half the desired count of failed launches,
    /// at least 3 and at most 200.
    #[test]
    fn the_breaker_threshold_is_ecs() {
        for (desired, threshold) in [(0, 3), (1, 3), (2, 3), (6, 3), (7, 4), (10, 5), (1000, 200)] {
            assert_eq!(breaker_threshold(desired), threshold, "desired {desired}");
        }
    }
}
