//! The ECS service twin: keeps `desired` tasks running, spread evenly over the region's AZs,
//! behind its ALB twin. It replaces tasks that exit or fail their health checks, backs off tasks
//! that crash at start and, after repeated failures, stops launching and says why (ECS's
//! deployment circuit breaker). Every step is written to the state database before it acts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haven_process::{Group, Output, ProcessIdentity, Sampler, Signal, SpawnSpec};
use haven_proxy::{TargetGroup, TargetState};
use haven_spec::settings::TwinService;
use haven_state::{ScalingActivity, Store, TaskRecord, TaskStatus, now_ms};
use tokio::sync::{Notify, mpsc, oneshot, watch};

use super::autoscale::{Datapoint, Policy, Scaler};
use crate::api;

/// Where a service's tasks come from and where their logs go.
pub struct ServiceEnv {
    pub region: String,
    pub azs: Vec<String>,
    pub store: Arc<Mutex<Store>>,
    pub builds: PathBuf,
    pub logs: PathBuf,
    pub bind: std::net::IpAddr,
}

struct Task {
    record: TaskRecord,
    identity: Option<ProcessIdentity>,
    stop: Option<oneshot::Sender<()>>,
    started: Instant,
    healthy_once: bool,
    stopping: Option<String>,
    sampler: Option<Sampler>,
    cpu: Option<f64>,
    memory: Option<f64>,
}

struct Exit {
    id: String,
    code: Option<i32>,
    signal: Option<i32>,
}

#[derive(Default)]
struct Breaker {
    failures: u32,
    next_launch: Option<Instant>,
    failed: Option<String>,
}

struct Inner {
    tasks: BTreeMap<String, Task>,
    breaker: Breaker,
    scaler: Scaler,
    impaired: Vec<String>,
    shutting_down: bool,
    avg: Option<Datapoint>,
}

pub struct ServiceTwin {
    pub settings: TwinService,
    pub env: ServiceEnv,
    pub group: Arc<TargetGroup>,
    inner: Mutex<Inner>,
    desired: watch::Sender<u32>,
    image: Mutex<String>,
    wake: Notify,
    exits: mpsc::UnboundedSender<Exit>,
}

/// ECS's circuit-breaker threshold: half the desired count, at least 3, at most 200.
fn breaker_threshold(desired: u32) -> u32 {
    desired.div_ceil(2).clamp(3, 200)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the controller; the data stays usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ServiceTwin {
    /// Creates the service and starts its controller and autoscaler; they stop when `shutdown`
    /// turns true (after [`ServiceTwin::drain_and_stop`]).
    pub fn start(
        settings: TwinService,
        env: ServiceEnv,
        group: Arc<TargetGroup>,
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
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let twin = Arc::new(Self {
            settings,
            env,
            group,
            inner: Mutex::new(Inner {
                tasks: BTreeMap::new(),
                breaker: Breaker::default(),
                scaler: Scaler::default(),
                impaired,
                shutting_down: false,
                avg: None,
            }),
            desired: watch::Sender::new(desired),
            image: Mutex::new(image),
            wake: Notify::new(),
            exits: exits_tx,
        });
        tokio::spawn(twin.clone().control_loop(exits_rx, shutdown.clone()));
        tokio::spawn(twin.clone().scaling_loop(shutdown));
        Ok(twin)
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        lock(&self.env.store)
    }

    fn event(&self, message: &str) {
        tracing::info!(service = %self.settings.name, "{message}");
        if let Err(e) = self.store().event(&self.settings.name, message) {
            tracing::warn!("cannot record an event: {e}");
        }
    }

    pub fn desired(&self) -> u32 {
        *self.desired.borrow()
    }

    async fn control_loop(
        self: Arc<Self>,
        mut exits: mpsc::UnboundedReceiver<Exit>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut events = self.group.subscribe();
        let mut desired = self.desired.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stop = tokio::select! {
                Some(exit) = exits.recv() => {
                    self.on_exit(exit);
                    false
                }
                ev = events.recv() => {
                    if let Ok(ev) = ev {
                        if ev.to == TargetState::Healthy {
                            let mut inner = lock(&self.inner);
                            if let Some(t) = inner.tasks.get_mut(&ev.id) {
                                t.healthy_once = true;
                                inner.breaker.failures = 0;
                            }
                        }
                    }
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

    /// One pass of the controller: replace unhealthy tasks, then launch or stop tasks until the
    /// running count matches the desired count, spread over AZs.
    fn reconcile(self: &Arc<Self>) {
        let now = Instant::now();
        let grace = Duration::from(self.settings.health_check.grace_period);
        let targets: HashMap<String, TargetState> = self
            .group
            .targets()
            .into_iter()
            .map(|t| (t.id, t.state))
            .collect();
        let mut to_stop = Vec::new();
        let mut to_launch = Vec::new();
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
                    to_stop.push((
                        id.clone(),
                        format!(
                            "Task failed ELB health checks in (target-group {})",
                            self.group.name()
                        ),
                    ));
                }
            }
            let desired = self.desired() as usize;
            let active: Vec<(&String, &Task)> = inner
                .tasks
                .iter()
                .filter(|(id, t)| t.stopping.is_none() && !to_stop.iter().any(|(s, _)| s == *id))
                .collect();
            let usable: Vec<&String> = self
                .env
                .azs
                .iter()
                .filter(|az| !inner.impaired.contains(az))
                .collect();
            let mut per_az: BTreeMap<&str, usize> =
                usable.iter().map(|az| (az.as_str(), 0)).collect();
            for (_, t) in &active {
                if let Some(n) = per_az.get_mut(t.record.az.as_str()) {
                    *n += 1;
                }
            }
            if active.len() > desired {
                // Scale in from the fullest AZ, newest task first (ECS spreads on scale-in too).
                let mut candidates: Vec<(&String, &Task)> = active.clone();
                for _ in 0..active.len() - desired {
                    let fullest = per_az
                        .iter()
                        .max_by_key(|(_, n)| **n)
                        .map(|(az, _)| (*az).to_owned());
                    let pick = candidates
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, t))| fullest.as_deref().is_none_or(|az| t.record.az == az))
                        .max_by_key(|(_, (_, t))| t.started)
                        .map(|(i, _)| i);
                    let Some(i) = pick else { break };
                    let (id, t) = candidates.remove(i);
                    if let Some(n) = per_az.get_mut(t.record.az.as_str()) {
                        *n -= 1;
                    }
                    to_stop.push((
                        id.clone(),
                        "Scaling activity initiated by (deployment ecs-svc)".to_owned(),
                    ));
                }
            } else if active.len() < desired {
                let blocked = inner.breaker.failed.is_some()
                    || inner.breaker.next_launch.is_some_and(|t| now < t);
                if !blocked {
                    if usable.is_empty() {
                        drop(inner);
                        self.event(&format!(
                            "service {} was unable to place a task: no Availability Zone is available",
                            self.settings.name
                        ));
                        return;
                    }
                    for _ in active.len()..desired {
                        let az = per_az
                            .iter()
                            .min_by_key(|(_, n)| **n)
                            .map(|(az, _)| (*az).to_owned())
                            .unwrap_or_default();
                        if let Some(n) = per_az.get_mut(az.as_str()) {
                            *n += 1;
                        }
                        to_launch.push(az);
                    }
                }
            }
            for (id, reason) in &to_stop {
                if let Some(t) = inner.tasks.get_mut(id) {
                    t.stopping = Some(reason.clone());
                }
            }
        }
        for (id, reason) in to_stop {
            self.stop_task(&id, &reason);
        }
        for az in to_launch {
            self.launch(&az);
        }
    }

    fn launch(self: &Arc<Self>, az: &str) {
        let id = crate::region::random_hex(16);
        let image = lock(&self.image).clone();
        let port = match crate::ports::free_port(self.env.bind) {
            Ok(p) => p,
            Err(e) => {
                self.event(&format!("cannot find a port for a task: {e}"));
                return;
            }
        };
        let record = TaskRecord {
            id: id.clone(),
            service: self.settings.name.clone(),
            az: az.to_owned(),
            port,
            image: image.clone(),
            status: TaskStatus::Provisioning,
            pid: None,
            start_time: None,
            pgid: None,
            stopped_reason: None,
            created_at_ms: now_ms(),
            stopped_at_ms: None,
        };
        // Written before the process exists, so a crash right after spawn still finds it.
        if let Err(e) = self.store().insert_task(&record) {
            self.event(&format!("cannot record task {id}: {e}"));
            return;
        }
        let image_dir = self.env.builds.join(&image);
        let spec = match self.spawn_spec(&record, &image_dir) {
            Ok(spec) => spec,
            Err(reason) => {
                self.fail_start(&id, &format!("CannotStartContainerError: {reason}"));
                return;
            }
        };
        let mut child = match haven_process::spawn(&spec) {
            Ok(c) => c,
            Err(e) => {
                self.fail_start(&id, &format!("CannotStartContainerError: {e}"));
                return;
            }
        };
        let identity = *child.identity();
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
        let mut record = record;
        record.status = TaskStatus::Running;
        record.pid = Some(identity.pid);
        lock(&self.inner).tasks.insert(
            id.clone(),
            Task {
                record,
                identity: Some(identity),
                stop: Some(stop_tx),
                started: Instant::now(),
                healthy_once: false,
                stopping: None,
                sampler: Sampler::new().ok(),
                cpu: None,
                memory: None,
            },
        );
        self.group
            .register(id.clone(), std::net::SocketAddr::new(self.env.bind, port));
        self.event(&format!(
            "service {} has started 1 tasks: (task {id}) in {az}",
            self.settings.name
        ));
        let exits = self.exits.clone();
        let grace = Duration::from(self.settings.stop_timeout);
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s.ok(),
                _ = stop_rx => child.terminate(grace).await.ok().map(|t| t.status),
            };
            use std::os::unix::process::ExitStatusExt;
            // The controller may be gone at shutdown; then nobody needs the news.
            if exits
                .send(Exit {
                    id,
                    code: status.and_then(|s| s.code()),
                    signal: status.and_then(|s| s.signal()),
                })
                .is_err()
            {
                tracing::debug!("task exit after the controller stopped");
            }
        });
    }

    fn spawn_spec(
        &self,
        record: &TaskRecord,
        image_dir: &std::path::Path,
    ) -> Result<SpawnSpec, String> {
        let Some(program) = self.settings.command.first() else {
            return Err("the service has no command".into());
        };
        let program = if program.contains('/') {
            image_dir.join(program)
        } else {
            PathBuf::from(program)
        };
        if program.is_absolute() && !program.is_file() {
            return Err(format!(
                "`{}` is not in image {}",
                self.settings.command[0], record.image
            ));
        }
        std::fs::create_dir_all(&self.env.logs)
            .map_err(|e| format!("cannot create the log directory: {e}"))?;
        let mut spec = SpawnSpec::new(program)
            .args(self.settings.command[1..].iter().cloned())
            .cwd(image_dir)
            .env_clear(true)
            .stdout(Output::AppendFile(
                self.env.logs.join(format!("{}.stdout.log", record.id)),
            ))
            .stderr(Output::AppendFile(
                self.env.logs.join(format!("{}.stderr.log", record.id)),
            ))
            .group(Group::NewGroup)
            .parent_death_signal(Some(Signal::KILL));
        for key in ["PATH", "HOME", "LANG", "TZ"] {
            if let Ok(v) = std::env::var(key) {
                spec = spec.env(key, v);
            }
        }
        for (k, v) in &self.settings.env {
            spec = spec.env(k, v);
        }
        let port = record.port.to_string();
        for (k, v) in [
            ("PORT", port.as_str()),
            ("HAVEN_REGION", self.env.region.as_str()),
            ("HAVEN_AZ", record.az.as_str()),
            ("HAVEN_TASK_ID", record.id.as_str()),
            ("HAVEN_SERVICE", self.settings.name.as_str()),
            ("HAVEN_ENVIRONMENT", self.settings.environment.as_str()),
            ("HAVEN_IMAGE", record.image.as_str()),
            ("AWS_REGION", self.env.region.as_str()),
            ("ECS_CONTAINER_METADATA_URI_V4", ""),
        ] {
            spec = spec.env(k, v);
        }
        Ok(spec)
    }

    /// A task that could not start counts as a failed launch.
    fn fail_start(&self, id: &str, reason: &str) {
        if let Err(e) = self.store().stop_task(id, reason) {
            tracing::warn!("cannot record task {id}'s stop: {e}");
        }
        self.event(&format!("task {id} failed to start: {reason}"));
        self.count_failure(id, reason);
    }

    fn count_failure(&self, id: &str, reason: &str) {
        let threshold = breaker_threshold(self.desired());
        let tripped = {
            let mut inner = lock(&self.inner);
            let b = &mut inner.breaker;
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
                    why.push_str("\nlast stderr lines of task ");
                    why.push_str(id);
                    why.push_str(":\n");
                    why.push_str(&tail.join("\n"));
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
        // A dead target cannot serve; it leaves the group now rather than after draining.
        self.group.deregister(&exit.id);
        let code = match (exit.code, exit.signal) {
            (Some(c), _) => format!("exit code: {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "exit status unknown".to_owned(),
        };
        let reason = match &task.stopping {
            Some(r) => r.clone(),
            None => format!("Essential container in task exited ({code})"),
        };
        if let Err(e) = self.store().stop_task(&exit.id, &reason) {
            tracing::warn!("cannot record task {}'s stop: {e}", exit.id);
        }
        self.event(&format!(
            "service {} has stopped 1 running tasks: (task {}) {reason}",
            self.settings.name, exit.id
        ));
        if task.stopping.is_none() && !task.healthy_once && !lock(&self.inner).shutting_down {
            self.count_failure(&exit.id, &reason);
        }
        self.wake.notify_one();
    }

    /// Deregisters a task (it drains for the deregistration delay), then stops its process.
    fn stop_task(self: &Arc<Self>, id: &str, reason: &str) {
        if let Err(e) = self.store().set_task_status(id, TaskStatus::Deprovisioning) {
            tracing::warn!("cannot record task {id}'s status: {e}");
        }
        self.event(&format!(
            "service {} is stopping task {id}: {reason}",
            self.settings.name
        ));
        let drained = self.group.drained(id);
        self.group.deregister(id);
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
                    t.stopping = Some("Service shutting down".into());
                    id.clone()
                })
                .collect()
        };
        for id in &ids {
            self.stop_task(id, "Service shutting down");
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
            let decision = {
                let mut inner = lock(&self.inner);
                let (cpu_units, mem_mib) = (self.settings.cpu, u64::from(self.settings.memory));
                let mut samples = Vec::new();
                for t in inner.tasks.values_mut() {
                    let (Some(id), Some(sampler)) = (t.identity, t.sampler.as_mut()) else {
                        continue;
                    };
                    let pids = haven_process::process_tree(&id).unwrap_or_default();
                    if let Ok(s) = sampler.sample(&pids) {
                        t.cpu = s.cpu_percent_of_units(cpu_units);
                        t.memory = s.memory_percent_of_mib(mem_mib);
                        if t.stopping.is_none() {
                            if let (Some(c), Some(m)) = (t.cpu, t.memory) {
                                samples.push((c, m));
                            }
                        }
                    }
                }
                if samples.is_empty() || inner.shutting_down {
                    inner.avg = None;
                    None
                } else {
                    let n = samples.len() as f64;
                    let d = Datapoint {
                        cpu: samples.iter().map(|s| s.0).sum::<f64>() / n,
                        memory: samples.iter().map(|s| s.1).sum::<f64>() / n,
                    };
                    inner.avg = Some(d);
                    inner.scaler.observe(d);
                    inner.scaler.decide(&policy, self.desired(), Instant::now())
                }
            };
            if let Some(d) = decision {
                let from = self.desired();
                let activity = ScalingActivity {
                    service: self.settings.name.clone(),
                    at_ms: now_ms(),
                    from,
                    to: d.to,
                    cause: d.cause.clone(),
                };
                // Recorded before it acts, like every controller step.
                let stored = {
                    let store = self.store();
                    store
                        .record_scaling(&activity)
                        .and_then(|()| store.set_desired(&self.settings.name, d.to))
                };
                if let Err(e) = stored {
                    tracing::error!("cannot record a scaling activity: {e}");
                    continue;
                }
                self.event(&format!(
                    "Successfully set desired count to {} (from {from}): {}",
                    d.to, d.cause
                ));
                self.desired.send_replace(d.to);
            }
        }
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

    pub fn set_impaired(&self, azs: Vec<String>) {
        lock(&self.inner).impaired = azs;
        self.wake.notify_one();
    }

    pub fn status(&self) -> api::ServiceStatus {
        let targets: HashMap<String, TargetState> = self
            .group
            .targets()
            .into_iter()
            .map(|t| (t.id, t.state))
            .collect();
        let inner = lock(&self.inner);
        let tasks: Vec<api::TaskStatus> = inner
            .tasks
            .values()
            .map(|t| api::TaskStatus {
                id: t.record.id.clone(),
                az: t.record.az.clone(),
                pid: t.record.pid,
                address: format!("{}:{}", self.env.bind, t.record.port),
                health: targets
                    .get(&t.record.id)
                    .map_or(
                        if t.stopping.is_some() {
                            "draining"
                        } else {
                            "unused"
                        },
                        |s| s.as_str(),
                    )
                    .to_owned(),
                status: if t.stopping.is_some() {
                    "DEPROVISIONING"
                } else {
                    "RUNNING"
                }
                .to_owned(),
                image: t.record.image.clone(),
                cpu_percent: t.cpu.map(round1),
                memory_percent: t.memory.map(round1),
            })
            .collect();
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
            state: if inner.breaker.failed.is_some() {
                "FAILED"
            } else {
                "ACTIVE"
            }
            .to_owned(),
            failure: inner.breaker.failed.clone(),
            image: lock(&self.image).clone(),
            desired: self.desired(),
            running: tasks.iter().filter(|t| t.status == "RUNNING").count() as u32,
            healthy: tasks
                .iter()
                .filter(|t| t.health == "healthy" && t.status == "RUNNING")
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
        }
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
