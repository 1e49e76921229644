//! The observer: the twin's status, polled at a fixed interval while a drill runs, kept as
//! compact observations the drill reads its detection and recovery times from.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use haven_control::api::{RegionState, Status};
use haven_control::client::Client;
use haven_proxy::TargetState;
use tokio::sync::watch;

/// What one status poll saw.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// When the answer came, since the drill's start.
    pub t_ms: u64,
    /// The status could not be read (the supervisor busy or gone).
    pub missing: bool,
    pub serving_regions: Vec<String>,
    pub regions: Vec<RegionView>,
}

/// A region as one poll saw it: its production service's tasks.
#[derive(Debug, Clone, Default)]
pub struct RegionView {
    pub name: String,
    pub running: bool,
    /// The edge's health check of its ALB says healthy.
    pub edge_healthy: bool,
    pub desired: u32,
    pub healthy: u32,
    /// Healthy task ids.
    pub healthy_tasks: Vec<String>,
    pub impaired_azs: Vec<String>,
}

impl Observation {
    pub fn region(&self, name: &str) -> Option<&RegionView> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// Healthy targets of the production services over every region.
    pub fn healthy_targets(&self) -> u32 {
        self.regions.iter().map(|r| r.healthy).sum()
    }

    fn from_status(t_ms: u64, s: &Status) -> Self {
        let regions = s
            .regions
            .iter()
            .map(|r| {
                let prod = r.services.iter().find(|s| s.environment == "production");
                RegionView {
                    name: r.name.clone(),
                    running: r.state == RegionState::Running,
                    edge_healthy: s
                        .edge
                        .regions
                        .iter()
                        .any(|e| e.region == r.name && e.health == TargetState::Healthy),
                    desired: prod.map_or(0, |p| p.desired),
                    healthy: prod.map_or(0, |p| p.healthy),
                    healthy_tasks: prod
                        .map(|p| {
                            p.tasks
                                .iter()
                                .filter(|t| t.health == TargetState::Healthy)
                                .map(|t| t.id.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                    impaired_azs: r.impaired_azs.clone(),
                }
            })
            .collect();
        Self {
            t_ms,
            missing: false,
            serving_regions: s.edge.serving_regions.clone(),
            regions,
        }
    }
}

/// A running observer; stop it to read what it saw.
pub struct Observer {
    seen: Arc<Mutex<Vec<Observation>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// Polls `client`'s status every `every`, counting time from `start`.
    pub fn start(client: Client, start: Instant, every: Duration) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stop_rx) = watch::channel(false);
        let out = seen.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop_rx.changed() => break,
                }
                let status = tokio::time::timeout(every * 5, client.get::<Status>("/status")).await;
                let t_ms = crate::millis(start.elapsed());
                let obs = match status {
                    Ok(Ok(s)) => Observation::from_status(t_ms, &s),
                    _ => Observation {
                        t_ms,
                        missing: true,
                        ..Observation::default()
                    },
                };
                out.lock().unwrap_or_else(PoisonError::into_inner).push(obs);
            }
        });
        Self { seen, stop, task }
    }

    /// The latest observation, if any.
    pub fn latest(&self) -> Option<Observation> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|o| !o.missing)
            .cloned()
    }

    /// Every observation so far.
    pub fn all(&self) -> Vec<Observation> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub async fn stop(self) -> Vec<Observation> {
        self.stop.send_replace(true);
        if let Err(e) = self.task.await {
            tracing::warn!("the drill's observer ended abnormally: {e}");
        }
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
