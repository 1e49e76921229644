//! `haven up`'s supervisor: starts the edge and one process per region, serves the control API
//! the CLI talks to, restarts a region that crashes (but not one a drill killed), and shuts
//! everything down in order: stop routing, drain, stop tasks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use haven_process::{Group, Output, ProcessIdentity, Signal, SpawnSpec};
use haven_spec::settings::Twin;
use http::{Method, StatusCode};
use tokio::sync::{mpsc, watch};

use haven_fs::WithPath;

use haven_control::api::{
    AccessLogs, ChaosResult, EdgeStatus, RegionState, RegionStatus, RegionTarget, ReloadResult,
    Status,
};
use haven_control::control::{self, Call, Endpoint, Reply};
use haven_control::paths::Paths;
use haven_control::ports::Ports;

use crate::Error;
use crate::lock;

/// What the supervisor tells the person at the terminal.
pub trait Reporter: Send + Sync {
    fn step(&self, verb: &str, message: &str);
    fn ready(&self, status: &Status);
    fn warn(&self, message: &str);
}

pub struct UpOptions {
    pub spec: PathBuf,
    /// The `haven` binary, re-run for the edge and region processes.
    pub exe: PathBuf,
    /// How long to wait for every region to be healthy before giving up.
    pub ready_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Edge,
    Region,
    /// The CodePipeline twin (with the CodeCommit twin's replication).
    Pipeline,
}

struct Proc {
    kind: Kind,
    identity: Option<ProcessIdentity>,
    /// Stopped by `haven chaos kill-region`: stays down until healed.
    chaos: bool,
    restarts: u32,
    started: Instant,
}

struct Sup {
    twin: Twin,
    /// Whether the regions' ALBs write access logs: the spec's at start, then the last that
    /// `haven reload` applied (the one setting of `twin` that changes while running).
    access_logs: AtomicBool,
    spec: PathBuf,
    exe: PathBuf,
    paths: Paths,
    token: String,
    ports: Ports,
    procs: Mutex<BTreeMap<String, Proc>>,
    exits: mpsc::UnboundedSender<String>,
    shutting_down: watch::Sender<bool>,
    /// The control API's address, once bound.
    control: std::sync::OnceLock<std::net::SocketAddr>,
    /// The dashboard's address, once bound (never, when `monitoring.dashboard` is off).
    dashboard: std::sync::OnceLock<std::net::SocketAddr>,
}

const EDGE: &str = "edge";
const PIPELINE: &str = "pipeline";

/// Runs the twin until SIGINT, SIGTERM or `haven down`.
pub async fn run(opts: UpOptions, reporter: Arc<dyn Reporter>) -> Result<(), Error> {
    let loaded = haven_spec::load(&opts.spec).map_err(|e| Error::Other(e.to_string()))?;
    let twin = loaded.spec.twin();
    let paths = Paths::new(&twin.state_dir);
    std::fs::create_dir_all(&paths.root).with_path(&paths.root)?;
    if let Ok(existing) = Endpoint::read(&paths.supervisor()) {
        if existing.is_alive() {
            return Err(Error::Other(format!(
                "haven is already running here (pid {}); run `haven down` first",
                existing.pid
            )));
        }
    }
    // A previous supervisor that was killed may have left processes: end them first.
    cleanup(&paths, &twin).await;
    let token = haven_control::paths::token(&paths)?;
    let dashboard_port = loaded
        .spec
        .monitoring
        .dashboard
        .then_some(loaded.spec.local.dashboard_port);
    let ports = Ports::resolve(&twin, dashboard_port, Ports::read(&paths)?.as_ref())?;
    ports.write(&paths)?;
    haven_process::set_child_subreaper()?;

    let (exits_tx, mut exits_rx) = mpsc::unbounded_channel();
    let sup = Arc::new(Sup {
        spec: std::path::absolute(&opts.spec).with_path(&opts.spec)?,
        exe: opts.exe,
        paths: paths.clone(),
        token: token.clone(),
        ports,
        procs: Mutex::new(BTreeMap::new()),
        exits: exits_tx,
        shutting_down: watch::Sender::new(false),
        control: std::sync::OnceLock::new(),
        dashboard: std::sync::OnceLock::new(),
        access_logs: AtomicBool::new(loaded.spec.local.access_logs),
        twin,
    });

    let control_addr = std::net::SocketAddr::new(sup.ports.bind, 0);
    let listener = tokio::net::TcpListener::bind(control_addr)
        .await
        .map_err(|source| Error::Bind {
            addr: control_addr,
            source,
        })?;
    let local = listener.local_addr().map_err(|source| Error::Bind {
        addr: control_addr,
        source,
    })?;
    let handler = {
        let sup = sup.clone();
        move |call: Call| {
            let sup = sup.clone();
            async move { sup.handle(call).await }
        }
    };
    let (control_stop_tx, control_stop_rx) = watch::channel(false);
    if let Some(addr) = sup.ports.dashboard_addr() {
        // The dashboard calls the same handler in-process and stops with the control API.
        match crate::dashboard::bind(addr).await {
            Ok((listener, local, note)) => {
                if let Some(note) = note {
                    reporter.warn(&note);
                }
                if sup.dashboard.set(local).is_err() {
                    tracing::debug!("dashboard address already set");
                }
                tokio::spawn(crate::dashboard::serve(
                    listener,
                    crate::dashboard::Dashboard {
                        project: sup.twin.project.clone(),
                        regions: crate::dashboard::RegionLayout::of(&sup.twin),
                        paths: paths.clone(),
                        token: token.as_str().into(),
                        handler: handler.clone(),
                    },
                    control_stop_rx.clone(),
                ));
            }
            Err(e) => reporter.warn(&format!("the dashboard is off: {e}")),
        }
    }
    tokio::spawn(control::serve(
        listener,
        Some(token.into()),
        handler,
        control_stop_rx,
    ));
    let me = ProcessIdentity::of(std::process::id())?;
    // Set once, here, before anything reads it.
    if sup.control.set(local).is_err() {
        tracing::debug!("control address already set");
    }
    Endpoint {
        addr: local,
        pid: me.pid,
        start_time: me.start_time,
    }
    .write(&paths.supervisor())?;

    for r in &sup.twin.regions {
        sup.start(&r.name, Kind::Region)?;
    }
    sup.start(EDGE, Kind::Edge)?;
    sup.start(PIPELINE, Kind::Pipeline)?;
    reporter.step(
        "Starting",
        &format!("{} regions and the edge router", sup.twin.regions.len()),
    );

    let ready = sup.wait_ready(opts.ready_timeout, &mut exits_rx).await;
    let result = match ready {
        Ok(status) => {
            reporter.ready(&status);
            sup.supervise(&mut exits_rx, reporter.as_ref()).await;
            Ok(())
        }
        Err(e) => Err(e),
    };
    reporter.step("Stopping", "routing, then draining and stopping tasks");
    sup.shutdown(&mut exits_rx).await;
    control_stop_tx.send_replace(true);
    cleanup(&paths, &sup.twin).await;
    if let Err(e) = std::fs::remove_file(paths.supervisor()) {
        tracing::debug!("supervisor.json already gone: {e}");
    }
    reporter.step("Stopped", "every process haven started has exited");
    result
}

impl Sup {
    fn start(self: &Arc<Self>, name: &str, kind: Kind) -> Result<(), Error> {
        let log = self.paths.process_log(name);
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_path(dir)?;
        }
        let mut spec = SpawnSpec::new(&self.exe)
            .args(["internal".to_owned()])
            .stdout(Output::AppendFile(log.clone()))
            .stderr(Output::AppendFile(log))
            .group(Group::NewGroup)
            .parent_death_signal(Some(Signal::KILL));
        spec = match kind {
            Kind::Edge => spec.args([
                "edge".to_owned(),
                "--spec".to_owned(),
                self.spec.display().to_string(),
            ]),
            Kind::Region => spec.args([
                "region".to_owned(),
                name.to_owned(),
                "--spec".to_owned(),
                self.spec.display().to_string(),
            ]),
            Kind::Pipeline => spec.args([
                "pipeline".to_owned(),
                "--spec".to_owned(),
                self.spec.display().to_string(),
            ]),
        };
        // Endpoint files of a previous process would mislead the readiness check.
        let endpoint = self.endpoint_path(name, kind);
        if let Err(e) = std::fs::remove_file(&endpoint) {
            tracing::debug!("no stale endpoint at {}: {e}", endpoint.display());
        }
        let mut child = haven_process::spawn(&spec)?;
        let identity = *child.identity();
        {
            let mut procs = lock(&self.procs);
            let entry = procs.entry(name.to_owned()).or_insert(Proc {
                kind,
                identity: None,
                chaos: false,
                restarts: 0,
                started: Instant::now(),
            });
            entry.identity = Some(identity);
            entry.started = Instant::now();
        }
        let exits = self.exits.clone();
        let name = name.to_owned();
        tokio::spawn(async move {
            let status = child.wait().await;
            tracing::info!("{name} exited: {status:?}");
            // The supervisor may be finishing; then nobody waits for the news.
            if exits.send(name).is_err() {
                tracing::debug!("exit after the supervisor stopped listening");
            }
        });
        Ok(())
    }

    fn endpoint_path(&self, name: &str, kind: Kind) -> PathBuf {
        match kind {
            Kind::Edge => self.paths.edge_endpoint(),
            Kind::Region => self.paths.region_endpoint(name),
            Kind::Pipeline => self.paths.pipeline_endpoint(),
        }
    }

    async fn wait_ready(
        self: &Arc<Self>,
        timeout: Duration,
        exits: &mut mpsc::UnboundedReceiver<String>,
    ) -> Result<Status, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(name) = exits.try_recv() {
                return Err(Error::Other(format!(
                    "the {name} process exited while starting; see {}",
                    self.paths.process_log(&name).display()
                )));
            }
            let status = self.status().await;
            for r in &status.regions {
                for s in &r.services {
                    if let Some(why) = &s.failure {
                        return Err(Error::Other(format!(
                            "{} in {} cannot start: {why}",
                            s.name, r.name
                        )));
                    }
                }
            }
            let all_healthy = status.regions.iter().all(|r| {
                r.services.iter().all(|s| s.healthy >= s.desired) && !r.services.is_empty()
            });
            // The pipeline's endpoint appears once the source repositories exist.
            let pipeline_ready =
                Endpoint::read(&self.paths.pipeline_endpoint()).is_ok_and(|e| e.is_alive());
            // A serving region is one the edge routes to and finds healthy: a request now
            // gets its answer.
            if all_healthy
                && pipeline_ready
                && !status.edge.serving_regions.is_empty()
                && status.edge.pid.is_some()
            {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "not every region was healthy within {timeout:?}; `haven status` shows where it stopped"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn supervise(
        self: &Arc<Self>,
        exits: &mut mpsc::UnboundedReceiver<String>,
        reporter: &dyn Reporter,
    ) {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(e) => {
                    reporter.warn(&format!("cannot handle SIGTERM: {e}"));
                    return;
                }
            };
        let mut shutting = self.shutting_down.subscribe();
        let mut orphans = haven_process::OrphanWatch::new();
        // SIGHUP reloads the spec, as `haven reload` does.
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .inspect_err(|e| reporter.warn(&format!("cannot handle SIGHUP: {e}")))
            .ok();
        loop {
            tokio::select! {
                _ = term.recv() => return,
                Some(()) = async { hup.as_mut()?.recv().await } => match self.reload().await {
                    Ok(r) => reporter.step("Reloaded", &r.summary()),
                    Err(e) => reporter.warn(&format!("reload refused, nothing changed: {e}")),
                },
                _ = tokio::signal::ctrl_c() => return,
                _ = shutting.wait_for(|s| *s) => return,
                Some(name) = exits.recv() => self.on_exit(&name, reporter).await,
                // Tasks of a killed region re-parent to us (the subreaper): reap them.
                () = orphans.exited() => reap_orphans(),
            }
        }
    }

    async fn on_exit(self: &Arc<Self>, name: &str, reporter: &dyn Reporter) {
        let (kind, chaos, restarts, quick) = {
            let mut procs = lock(&self.procs);
            let Some(p) = procs.get_mut(name) else { return };
            p.identity = None;
            (
                p.kind,
                p.chaos,
                p.restarts,
                p.started.elapsed() < Duration::from_secs(10),
            )
        };
        if kind == Kind::Region {
            cleanup_region(&self.paths, name).await;
        }
        if chaos || *self.shutting_down.borrow() {
            return;
        }
        reporter.warn(&format!(
            "the {name} process exited unexpectedly; restarting it"
        ));
        // Back off a process that keeps dying at start.
        let wait = if quick {
            Duration::from_millis(500 * u64::from(restarts.min(10) + 1))
        } else {
            Duration::ZERO
        };
        tokio::time::sleep(wait).await;
        if let Some(p) = lock(&self.procs).get_mut(name) {
            p.restarts += 1;
        }
        if let Err(e) = self.start(name, kind) {
            reporter.warn(&format!("cannot restart {name}: {e}"));
        }
    }

    async fn shutdown(self: &Arc<Self>, exits: &mut mpsc::UnboundedReceiver<String>) {
        self.shutting_down.send_replace(true);
        // The pipeline and the edge first: no release starts and no new request reaches a
        // region that is about to drain.
        self.stop_procs(
            |k| matches!(k, Kind::Edge | Kind::Pipeline),
            Duration::from_secs(15),
            exits,
        )
        .await;
        let grace = self
            .twin
            .regions
            .iter()
            .flat_map(|r| &r.services)
            .map(|s| Duration::from(s.deregistration_delay) + Duration::from(s.stop_timeout))
            .max()
            .unwrap_or_default()
            + Duration::from_secs(10);
        self.stop_procs(|k| k == Kind::Region, grace, exits).await;
    }

    async fn stop_procs(
        &self,
        which: impl Fn(Kind) -> bool,
        grace: Duration,
        exits: &mut mpsc::UnboundedReceiver<String>,
    ) {
        let targets: Vec<(String, ProcessIdentity)> = lock(&self.procs)
            .iter()
            .filter(|(_, p)| which(p.kind))
            .filter_map(|(n, p)| p.identity.map(|id| (n.clone(), id)))
            .collect();
        for (name, id) in &targets {
            if let Err(e) = haven_process::signal(id, Signal::TERM) {
                tracing::debug!("{name} already gone: {e}");
            }
        }
        let deadline = Instant::now() + grace;
        let mut left: Vec<String> = targets.iter().map(|(n, _)| n.clone()).collect();
        while !left.is_empty() {
            match tokio::time::timeout_at(deadline.into(), exits.recv()).await {
                Ok(Some(name)) => {
                    left.retain(|n| *n != name);
                    if let Some(p) = lock(&self.procs).get_mut(&name) {
                        p.identity = None;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    for (name, id) in targets.iter().filter(|(n, _)| left.contains(n)) {
                        tracing::warn!("{name} did not stop within {grace:?}; killing it");
                        if let Err(e) = haven_process::kill_group(id, Signal::KILL) {
                            tracing::debug!("{name}: {e}");
                        }
                    }
                    break;
                }
            }
        }
    }

    async fn status(&self) -> Status {
        let procs: Vec<(String, Kind, Option<ProcessIdentity>, bool)> = lock(&self.procs)
            .iter()
            .map(|(n, p)| (n.clone(), p.kind, p.identity, p.chaos))
            .collect();
        let mut regions = Vec::new();
        for r in &self.twin.regions {
            let proc = procs
                .iter()
                .find(|(n, k, _, _)| n == &r.name && *k == Kind::Region);
            let down = |state: RegionState| RegionStatus {
                metrics_url: String::new(),
                name: r.name.clone(),
                role: r.role,
                state,
                pid: proc.and_then(|p| p.2.map(|i| i.pid)),
                alb_url: r
                    .services
                    .iter()
                    .find(|s| s.environment == "production")
                    .and_then(|s| self.ports.alb(&r.name, &s.name))
                    .map(|a| format!("http://{a}"))
                    .unwrap_or_default(),
                healthy: false,
                impaired_azs: Vec::new(),
                services: Vec::new(),
            };
            let st = match proc {
                Some((_, _, None, true)) => down(RegionState::Stopped),
                Some((_, _, None, false)) => down(RegionState::Crashed),
                None => down(RegionState::Stopped),
                Some((name, _, Some(_), _)) => match self
                    .call(
                        &self.paths.region_endpoint(name),
                        Method::GET,
                        "/status",
                        None,
                    )
                    .await
                {
                    Ok(v) => {
                        serde_json::from_value(v).unwrap_or_else(|_| down(RegionState::Starting))
                    }
                    Err(_) => down(RegionState::Starting),
                },
            };
            regions.push(st);
        }
        let edge_running = procs.iter().any(|(n, _, id, _)| n == EDGE && id.is_some());
        let edge = if edge_running {
            self.call(&self.paths.edge_endpoint(), Method::GET, "/status", None)
                .await
                .ok()
                .and_then(|v| serde_json::from_value::<EdgeStatus>(v).ok())
        } else {
            None
        };
        let edge = edge.unwrap_or_else(|| EdgeStatus {
            url: format!("http://{}", self.ports.edge_addr()),
            pid: None,
            mode: self.twin.edge.mode,
            serving_regions: Vec::new(),
            regions: Vec::new(),
        });
        // The CodeCommit twin's heads and replication lag, from the pipeline process.
        let source = self
            .call(
                &self.paths.pipeline_endpoint(),
                Method::GET,
                "/source",
                None,
            )
            .await
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Status {
            project: self.twin.project.clone(),
            supervisor_pid: std::process::id(),
            control_url: self
                .control
                .get()
                .map(|a| format!("http://{a}"))
                .unwrap_or_default(),
            dashboard_url: self.dashboard.get().map(|a| format!("http://{a}")),
            state_dir: self.paths.root.display().to_string(),
            edge,
            regions,
            source,
        }
    }

    async fn call(
        &self,
        endpoint: &Path,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, haven_control::Error> {
        let ep = Endpoint::read(endpoint)?;
        control::call(
            ep.addr,
            &self.token,
            method,
            path,
            body,
            Duration::from_secs(5),
        )
        .await
    }

    async fn handle(self: &Arc<Self>, call: Call) -> Reply {
        match (&call.method, call.path.as_str()) {
            (&Method::GET, "/status") => Reply::ok(self.status().await),
            (&Method::POST, "/shutdown") => {
                self.shutting_down.send_replace(true);
                Reply::ok(serde_json::json!({ "message": "shutting down" }))
            }
            (&Method::POST, "/reload") => match self.reload().await {
                Ok(r) => Reply::ok(r),
                Err(e) => Reply::bad_request(e),
            },
            (&Method::POST, "/chaos/kill-region") => {
                let req: RegionTarget = match call.json() {
                    Ok(r) => r,
                    Err(e) => return e,
                };
                let Some(name) = req.region else {
                    return Reply::bad_request("name a region");
                };
                let identity = {
                    let mut procs = lock(&self.procs);
                    let Some(p) = procs.get_mut(&name).filter(|p| p.kind == Kind::Region) else {
                        return Reply::not_found(format!("no region `{name}`"));
                    };
                    p.chaos = true;
                    p.identity
                };
                let Some(identity) = identity else {
                    return Reply::ok(ChaosResult {
                        killed_tasks: Vec::new(),
                        message: format!("{name} is already down"),
                    });
                };
                match haven_process::kill_group(&identity, Signal::KILL) {
                    Ok(_) => Reply::ok(ChaosResult {
                        killed_tasks: Vec::new(),
                        message: format!(
                            "killed {name} (process group {}); it stays down until `haven chaos heal {name}`",
                            identity.pgid
                        ),
                    }),
                    Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            }
            (&Method::POST, "/chaos/heal") => {
                let req: RegionTarget = match call.json() {
                    Ok(r) => r,
                    Err(e) => return e,
                };
                let mut messages = Vec::new();
                let names: Vec<String> = lock(&self.procs)
                    .iter()
                    .filter(|(n, p)| {
                        p.kind == Kind::Region && req.region.as_ref().is_none_or(|r| r == *n)
                    })
                    .map(|(n, _)| n.clone())
                    .collect();
                if names.is_empty() {
                    return Reply::not_found(format!(
                        "no region `{}`",
                        req.region.unwrap_or_default()
                    ));
                }
                for name in names {
                    let restart = {
                        let mut procs = lock(&self.procs);
                        match procs.get_mut(&name) {
                            Some(p) if p.chaos => {
                                p.chaos = false;
                                p.identity.is_none()
                            }
                            _ => false,
                        }
                    };
                    if restart {
                        match self.start(&name, Kind::Region) {
                            Ok(()) => messages.push(format!("restarted {name}")),
                            Err(e) => {
                                return Reply::error(
                                    StatusCode::INTERNAL_SERVER_ERROR,
                                    e.to_string(),
                                );
                            }
                        }
                    } else if let Ok(v) = self
                        .call(
                            &self.paths.region_endpoint(&name),
                            Method::POST,
                            "/chaos/heal",
                            None,
                        )
                        .await
                    {
                        if let Some(m) = v.get("message").and_then(|m| m.as_str()) {
                            messages.push(format!("{name}: {m}"));
                        }
                    }
                }
                Reply::ok(ChaosResult {
                    killed_tasks: Vec::new(),
                    message: messages.join("; "),
                })
            }
            (_, path) if path.starts_with("/pipeline/") => {
                // `/pipeline/<rest>` is forwarded to the pipeline process's control API.
                let sub = &path["/pipeline".len()..];
                self.forward(&self.paths.pipeline_endpoint(), &call, sub, "the pipeline")
                    .await
            }
            (_, path) if path.starts_with("/regions/") => {
                // `/regions/<name>/<rest>` is forwarded to that region's control API.
                let rest = &path["/regions/".len()..];
                let (name, sub) = rest.split_once('/').unwrap_or((rest, ""));
                if !self.twin.regions.iter().any(|r| r.name == name) {
                    return Reply::not_found(format!("no region `{name}`"));
                }
                let what = format!("region {name}");
                self.forward(
                    &self.paths.region_endpoint(name),
                    &call,
                    &format!("/{sub}"),
                    &what,
                )
                .await
            }
            _ => Reply::not_found(format!("no route {} {}", call.method, call.path)),
        }
    }

    /// Reads the spec file again and applies what can change while the twin runs: the ALB
    /// access logs (`local.access_logs`, an ALB attribute AWS changes in place too). Other
    /// changes are listed for a restart. A spec that does not load changes nothing.
    async fn reload(&self) -> Result<ReloadResult, String> {
        let loaded = haven_spec::load(&self.spec).map_err(|e| e.to_string())?;
        let access_logs = loaded.spec.local.access_logs;
        let was = self.access_logs.load(Ordering::Relaxed);
        // What needs a restart: whatever differs once the live setting is set as in the file.
        let mut live = self.twin.clone();
        set_access_logs(&mut live, access_logs);
        let restart_needed = settings_changes(&live, &loaded.spec.twin());
        let mut result = ReloadResult {
            restart_needed,
            ..ReloadResult::default()
        };
        if was != access_logs {
            let body = serde_json::to_value(AccessLogs {
                enabled: access_logs,
            })
            .map_err(|e| e.to_string())?;
            for r in &self.twin.regions {
                let down = lock(&self.procs)
                    .get(&r.name)
                    .is_none_or(|p| p.identity.is_none());
                let answer = self
                    .call(
                        &self.paths.region_endpoint(&r.name),
                        Method::PUT,
                        "/access-logs",
                        Some(body.clone()),
                    )
                    .await;
                if let Err(e) = answer {
                    result.notes.push(if down {
                        format!(
                            "{} is down; it takes the spec's values when it starts",
                            r.name
                        )
                    } else {
                        format!("{}: access logs not switched: {e}", r.name)
                    });
                }
            }
            self.access_logs.store(access_logs, Ordering::Relaxed);
            result
                .applied
                .push(format!("local.access_logs = {access_logs}"));
        }
        Ok(result)
    }

    /// Forwards `call` to another process's control API as `path`, its answer or error as is.
    async fn forward(&self, endpoint: &Path, call: &Call, path: &str, what: &str) -> Reply {
        let body = serde_json::from_slice(&call.body).ok();
        match self.call(endpoint, call.method.clone(), path, body).await {
            Ok(v) => Reply::ok(v),
            Err(haven_control::Error::Api { status, message }) => Reply::error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                message,
            ),
            Err(e) => Reply::error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{what} is not reachable: {e}"),
            ),
        }
    }
}

fn set_access_logs(twin: &mut Twin, on: bool) {
    for s in twin.regions.iter_mut().flat_map(|r| &mut r.services) {
        s.access_logs = on;
    }
}

/// The settings that differ between `old` and `new`, by their place in the resolved
/// settings (`haven show`'s layout), regions and services by name.
fn settings_changes(old: &Twin, new: &Twin) -> Vec<String> {
    /// A key one side lacks.
    static NULL: serde_json::Value = serde_json::Value::Null;
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let (va, vb) = (x.get(k).unwrap_or(&NULL), y.get(k).unwrap_or(&NULL));
                    walk(&join(path, k), va, vb, out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    let name = va.get("name").and_then(Value::as_str);
                    let at = match name {
                        Some(n) if vb.get("name").and_then(Value::as_str) == Some(n) => {
                            join(path, n)
                        }
                        _ => format!("{path}[{i}]"),
                    };
                    walk(&at, va, vb, out);
                }
            }
            _ if a != b => out.push(path.to_owned()),
            _ => {}
        }
    }
    fn join(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    }
    let (Ok(a), Ok(b)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return vec!["(the settings cannot be compared)".to_owned()];
    };
    let mut out = Vec::new();
    walk("", &a, &b, &mut out);
    out
}

pub(crate) fn reap_orphans() {
    if let Err(e) = haven_process::reap_orphans() {
        tracing::debug!("reaping orphans: {e}");
    }
}

/// Ends whatever a region process left: its tasks' process groups, by their recorded identity.
async fn cleanup_region(paths: &Paths, region: &str) {
    let db = paths.region_db(region);
    if !db.exists() {
        return;
    }
    match haven_state::Store::open(&db) {
        Ok(store) => crate::region::cleanup_leftovers(&store).await,
        Err(e) => tracing::warn!("cannot open {}: {e}", db.display()),
    }
}

/// Ends every process a previous run left: edge, regions (by their endpoint files) and tasks.
pub async fn cleanup(paths: &Paths, twin: &Twin) {
    let mut endpoints = vec![paths.edge_endpoint(), paths.pipeline_endpoint()];
    endpoints.extend(twin.regions.iter().map(|r| paths.region_endpoint(&r.name)));
    for path in endpoints {
        if let Ok(ep) = Endpoint::read(&path) {
            if ep.is_alive() {
                if let Ok(id) = ProcessIdentity::of(ep.pid) {
                    if let Err(e) = haven_process::terminate(&id, Duration::from_secs(5)).await {
                        tracing::warn!("cannot end pid {}: {e}", ep.pid);
                    }
                }
            }
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::debug!("{}: {e}", path.display());
            }
        }
    }
    for r in &twin.regions {
        cleanup_region(paths, &r.name).await;
    }
}
