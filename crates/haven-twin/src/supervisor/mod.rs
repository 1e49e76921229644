//! `haven up`'s supervisor: starts the edge and one process per region, serves the control API
//! the CLI talks to, restarts a region that crashes (but not one a drill killed), and shuts
//! everything down in order: stop routing, drain, stop tasks.
//!
//! By job: `procs` starts, watches, restarts and stops the processes; `handler` answers the
//! control API (status, chaos, forwarding to regions and the pipeline); `reload` applies a
//! changed spec while running; `cleanup` ends what an earlier run left.

mod cleanup;
mod handler;
mod procs;
mod reload;

pub use cleanup::{cleanup, cleanup_state};
pub(crate) use procs::reap_orphans;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use haven_control::api::Status;
use haven_control::control::{self, Call, Endpoint};
use haven_control::paths::Paths;
use haven_control::ports::Ports;
use haven_fs::WithPath;
use haven_process::ProcessIdentity;
use haven_spec::settings::Twin;
use tokio::sync::{mpsc, watch};

use crate::Error;

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
