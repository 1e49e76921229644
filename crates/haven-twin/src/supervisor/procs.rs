//! The twin's processes: started, awaited until ready, restarted when one crashes (backing
//! off one that keeps dying at start), and stopped in order.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_control::api::Status;
use haven_control::control::Endpoint;
use haven_fs::WithPath;
use haven_process::{Group, Output, ProcessIdentity, Signal, SpawnSpec};
use tokio::sync::mpsc;

use super::cleanup::cleanup_region;
use super::{Kind, Proc, Reporter, Sup};
use crate::{Error, lock};

impl Sup {
    pub(super) fn start(self: &Arc<Self>, name: &str, kind: Kind) -> Result<(), Error> {
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

    pub(super) fn endpoint_path(&self, name: &str, kind: Kind) -> PathBuf {
        match kind {
            Kind::Edge => self.paths.edge_endpoint(),
            Kind::Region => self.paths.region_endpoint(name),
            Kind::Pipeline => self.paths.pipeline_endpoint(),
        }
    }

    pub(super) async fn wait_ready(
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

    pub(super) async fn supervise(
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

    pub(super) async fn on_exit(self: &Arc<Self>, name: &str, reporter: &dyn Reporter) {
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
            for problem in cleanup_region(&self.paths, name).await {
                tracing::warn!("{problem}");
            }
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

    pub(super) async fn shutdown(self: &Arc<Self>, exits: &mut mpsc::UnboundedReceiver<String>) {
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

    pub(super) async fn stop_procs(
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
}

pub(crate) fn reap_orphans() {
    if let Err(e) = haven_process::reap_orphans() {
        tracing::debug!("reaping orphans: {e}");
    }
}
