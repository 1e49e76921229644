//! The supervisor's control API: status gathered from every process, chaos drills, reload,
//! shutdown, and calls forwarded to a region's or the pipeline's own API.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use haven_control::api::{
    ChaosResult, EdgeStatus, RegionState, RegionStatus, RegionTarget, Status,
};
use haven_control::control::{self, Call, Endpoint, Reply};
use haven_process::{ProcessIdentity, Signal};
use http::{Method, StatusCode};

use super::{EDGE, Kind, Sup};
use crate::lock;

impl Sup {
    pub(super) async fn status(&self) -> Status {
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
                latency: None,
                blackholed_azs: Vec::new(),
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
            partitioned: self.paths.partition().exists(),
            network_mode: Some(crate::region::network_mode(self.twin.network)),
            network_reason: Some(crate::region::network_reason(self.twin.network).to_owned()),
            runtime: haven_runtime::recorded(&self.paths)
                .inspect_err(|e| tracing::warn!("{e}"))
                .ok()
                .flatten(),
        }
    }

    pub(super) async fn call(
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

    pub(super) async fn handle(self: &Arc<Self>, call: Call) -> Reply {
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
            (&Method::POST, "/chaos/partition") => self.partition(),
            (&Method::POST, "/chaos/heal") => {
                let req: RegionTarget = match call.json() {
                    Ok(r) => r,
                    Err(e) => return e,
                };
                let mut messages = Vec::new();
                // The partition is between every region: only a heal of all of them ends it.
                if req.region.is_none() {
                    match end_partition(&self.paths.partition()) {
                        Ok(true) => messages.push("the regions are connected again".to_owned()),
                        Ok(false) => {}
                        Err(e) => {
                            return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
                        }
                    }
                }
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

    /// `POST /chaos/partition`: the marker every replication checks, written durably with the
    /// time it started, so that it outlives a restart of any process (`haven down` ends it).
    fn partition(&self) -> Reply {
        let path = self.paths.partition();
        if self.twin.regions.len() < 2 {
            return Reply::bad_request("the twin has one region: there is nothing to partition");
        }
        if let Ok(since) = std::fs::read_to_string(&path) {
            return Reply::ok(ChaosResult {
                killed_tasks: Vec::new(),
                message: format!(
                    "the regions have been partitioned since {}; `haven chaos heal` ends it",
                    since.trim()
                ),
            });
        }
        let since = haven_time::rfc3339(haven_time::now(), haven_time::Precision::Secs);
        if let Err(e) = haven_control::paths::write_atomic(&path, format!("{since}\n").as_bytes()) {
            return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
        tracing::info!("the regions are partitioned");
        Reply::ok(ChaosResult {
            killed_tasks: Vec::new(),
            message: "the regions are cut from each other: nothing replicates between them \
                      (source, images) until `haven chaos heal`"
                .to_owned(),
        })
    }

    /// Forwards `call` to another process's control API as `path`, its answer or error as is.
    pub(super) async fn forward(
        &self,
        endpoint: &Path,
        call: &Call,
        path: &str,
        what: &str,
    ) -> Reply {
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

/// Removes the partition marker; whether there was one.
pub(super) fn end_partition(path: &Path) -> Result<bool, haven_fs::IoError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(haven_fs::IoError::new(path, e)),
    }
}
