//! Target groups: registration, routing (round robin / least outstanding, failover
//! priorities, fail open), health-check tasks and draining with a deregistration delay.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use http::uri::PathAndQuery;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::error::Error;
use crate::health::{self, HealthCheck, Outcome};
use crate::latency::{InjectedLatency, LatencySwitch};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::target::{Reason, Target, TargetEvent, TargetSnapshot, TargetState};

/// How a group spreads requests over the targets eligible for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// Each target in turn (ALB `round_robin`, the default).
    #[default]
    RoundRobin,
    /// The target with the fewest requests in flight (ALB `least_outstanding_requests`).
    LeastOutstandingRequests,
}

/// Which healthy targets are eligible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Routing {
    /// Every healthy target (an ALB target group).
    #[default]
    All,
    /// Only the healthy targets with the lowest priority number, like Route 53 failover
    /// records: primary (priority 0) while any of it is healthy, then secondary, and so on.
    Failover,
}

/// Settings of a target group.
#[derive(Clone, Debug)]
pub struct TargetGroupConfig {
    /// Name, used in events, access logs and metrics.
    pub name: String,
    /// How targets are checked.
    pub health_check: HealthCheck,
    /// How long a deregistered target may finish in-flight requests (ALB default 300 s).
    pub deregistration_delay: Duration,
    /// Load-balancing algorithm.
    pub algorithm: Algorithm,
    /// All healthy targets, or failover by priority.
    pub routing: Routing,
    /// Time allowed to open a connection to a target; past it the client gets 504 (ALB: 10 s).
    pub connect_timeout: Duration,
    /// Idle pooled connections to a target are closed after this; keep it below the
    /// targets' own keep-alive timeout (they close idle connections after 5 s).
    pub pool_idle_timeout: Duration,
}

impl TargetGroupConfig {
    /// ALB defaults with the given name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            health_check: HealthCheck::default(),
            deregistration_delay: Duration::from_secs(300),
            algorithm: Algorithm::RoundRobin,
            routing: Routing::All,
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(4),
        }
    }
}

/// A set of targets behind a forward action, with health checks and draining.
///
/// Shared through `Arc`; every method takes `&self`. Routing reads the target list under a
/// short read lock and target states from atomics; only (de)registration writes.
pub struct TargetGroup {
    name: Arc<str>,
    config: TargetGroupConfig,
    health_path: PathAndQuery,
    /// Registered targets, draining ones included. Replaced whole on change (copy on write).
    targets: RwLock<Arc<[Arc<Target>]>>,
    rr: AtomicUsize,
    metrics: Metrics,
    events: broadcast::Sender<TargetEvent>,
    generation: watch::Sender<u64>,
    /// Wakes the health-check supervisor when the set of targets changed.
    registry_changed: Notify,
    /// A drill's network latency towards the targets (off unless set).
    latency: LatencySwitch,
    /// Where target connections' sockets are made (see [`crate::Dialer`]); none: the host.
    dialer: RwLock<Option<Arc<dyn crate::Dialer>>>,
    me: Weak<TargetGroup>,
}

impl std::fmt::Debug for TargetGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetGroup")
            .field("name", &self.name)
            .field("targets", &self.targets())
            .finish_non_exhaustive()
    }
}

impl TargetGroup {
    /// Creates an empty group. Fails when the health-check settings are invalid.
    pub fn new(config: TargetGroupConfig) -> Result<Arc<Self>, Error> {
        let health_path = config.health_check.validate()?;
        for (name, value) in [
            ("connect_timeout", config.connect_timeout),
            ("pool_idle_timeout", config.pool_idle_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::ZeroTimeout { name, value });
            }
        }
        let (events, _) = broadcast::channel(1024);
        Ok(Arc::new_cyclic(|me| Self {
            name: Arc::from(config.name.as_str()),
            config,
            health_path,
            targets: RwLock::new(Arc::from(Vec::new())),
            rr: AtomicUsize::new(0),
            metrics: Metrics::new(),
            events,
            generation: watch::Sender::new(0),
            registry_changed: Notify::new(),
            latency: LatencySwitch::default(),
            dialer: RwLock::new(None),
            me: me.clone(),
        }))
    }

    /// Makes the sockets of targets registered from now on with `dialer` (health checks and
    /// requests alike); set it before registering any.
    pub fn set_dialer(&self, dialer: Arc<dyn crate::Dialer>) {
        *self
            .dialer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(dialer);
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The group's settings.
    pub fn config(&self) -> &TargetGroupConfig {
        &self.config
    }

    /// Registers a target with priority 0. It starts `initial` and gets traffic once it has
    /// passed one health check (ALB semantics). Registering an id again with the same
    /// address is a no-op; with another address, or while it drains, it replaces it.
    pub fn register(&self, id: impl Into<String>, addr: SocketAddr) {
        self.register_with_priority(id, addr, 0);
    }

    /// Registers a target with a failover priority (lower is preferred); see [`Routing::Failover`].
    pub fn register_with_priority(&self, id: impl Into<String>, addr: SocketAddr, priority: u32) {
        self.add(id.into(), addr, priority, None);
    }

    /// Registers a target with priority 0 in an availability zone, as an ALB's `ip` targets
    /// carry theirs; an [`InjectedLatency`] may reach one zone's targets only.
    pub fn register_in_zone(&self, id: impl Into<String>, addr: SocketAddr, zone: &str) {
        self.add(id.into(), addr, 0, Some(Arc::from(zone)));
    }

    fn add(&self, id: String, addr: SocketAddr, priority: u32, zone: Option<Arc<str>>) {
        let target = Arc::new(Target::new(
            id.clone(),
            addr,
            priority,
            zone.clone(),
            self.config.connect_timeout,
            self.config.pool_idle_timeout,
            self.dialer
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        ));
        let replaced = {
            let mut list = self.write_targets();
            let existing = list.iter().position(|t| t.id == id);
            if let Some(i) = existing {
                let old = &list[i];
                if old.addr == addr
                    && old.priority == priority
                    && old.zone == zone
                    && old.state() != TargetState::Draining
                {
                    return;
                }
            }
            let mut next: Vec<Arc<Target>> = list.iter().cloned().collect();
            let replaced = existing.map(|i| std::mem::replace(&mut next[i], target.clone()));
            if replaced.is_none() {
                next.push(target.clone());
            }
            *list = Arc::from(next);
            replaced
        };
        if let Some(old) = replaced {
            // The old registration is gone: whoever awaits its drain may proceed.
            old.drained.send_replace(true);
            self.emit(
                &old,
                Some(old.state()),
                TargetState::Unused,
                Some(Reason::NotRegistered),
            );
        }
        self.emit(
            &target,
            None,
            TargetState::Initial,
            Some(Reason::RegistrationInProgress),
        );
        self.registry_changed.notify_one();
    }

    /// Deregisters a target: it turns `draining` and gets no new requests. It leaves the
    /// group when its in-flight requests are done or the deregistration delay has elapsed,
    /// whichever comes first (ALB semantics); requests still running then are cut and their
    /// clients get 502, as on AWS. Returns whether the id was registered.
    ///
    /// Must be called within a Tokio runtime (the delay runs as a task).
    pub fn deregister(&self, id: &str) -> bool {
        let Some(target) = self.find(id) else {
            return false;
        };
        {
            let mut health = target.health();
            if target.state() == TargetState::Draining {
                return true;
            }
            let from = target.state();
            target.set_state(&health, TargetState::Draining);
            health.reason = Some(Reason::DeregistrationInProgress);
            drop(health);
            self.emit(
                &target,
                Some(from),
                TargetState::Draining,
                Some(Reason::DeregistrationInProgress),
            );
        }
        self.registry_changed.notify_one();
        let Some(group) = self.me.upgrade() else {
            return true;
        };
        let delay = self.config.deregistration_delay;
        tokio::spawn(async move { group.drain(target, delay).await });
        true
    }

    async fn drain(self: Arc<Self>, target: Arc<Target>, delay: Duration) {
        let deadline = tokio::time::Instant::now() + delay;
        loop {
            if target.in_flight.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::select! {
                () = target.idle.notified() => {}
                () = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(group = %self.name, id = %target.id, "deregistration delay elapsed; cutting in-flight requests");
                    target.cut_in_flight();
                    break;
                }
            }
        }
        let removed = {
            let mut list = self.write_targets();
            let before = list.len();
            let next: Vec<Arc<Target>> = list
                .iter()
                .filter(|t| !Arc::ptr_eq(t, &target))
                .cloned()
                .collect();
            let removed = next.len() != before;
            *list = Arc::from(next);
            removed
        };
        if removed {
            self.emit(
                &target,
                Some(TargetState::Draining),
                TargetState::Unused,
                Some(Reason::NotRegistered),
            );
        }
        target.drained.send_replace(true);
    }

    /// Resolves when the target `id` has finished draining and left the group (at once if
    /// it is not registered). Take the future before or after `deregister`; either works.
    pub fn drained(&self, id: &str) -> impl Future<Output = ()> + Send + 'static {
        let rx = self.find(id).map(|t| t.drained.subscribe());
        async move {
            if let Some(mut rx) = rx {
                // An error means the target record is gone, which is drained as well.
                if rx.wait_for(|done| *done).await.is_err() {
                    tracing::trace!("target dropped while awaiting its drain");
                }
            }
        }
    }

    /// All registered targets, draining ones included, in registration order.
    pub fn targets(&self) -> Vec<TargetSnapshot> {
        self.read_targets().iter().map(|t| t.snapshot()).collect()
    }

    /// One target's snapshot.
    pub fn target(&self, id: &str) -> Option<TargetSnapshot> {
        self.find(id).map(|t| t.snapshot())
    }

    /// `HealthyHostCount`.
    pub fn healthy_count(&self) -> usize {
        self.count(TargetState::Healthy)
    }

    /// `UnHealthyHostCount`. Draining and initial targets are in neither count, as on AWS.
    pub fn unhealthy_count(&self) -> usize {
        self.count(TargetState::Unhealthy)
    }

    fn count(&self, state: TargetState) -> usize {
        self.read_targets()
            .iter()
            .filter(|t| t.state() == state)
            .count()
    }

    /// Injects network latency between the group and its targets (`None` removes it): each
    /// request forwarded to an affected target and each health check of one waits the drawn
    /// delay before it is sent, inside the time the target is timed for (`TargetResponseTime`,
    /// the access log's target time, the target and health-check timeouts), as latency on the
    /// network would be. In memory only: a new group starts without.
    pub fn set_latency(&self, latency: Option<InjectedLatency>) {
        self.latency.set(latency);
    }

    /// The latency [`TargetGroup::set_latency`] injected, if any.
    pub fn latency(&self) -> Option<InjectedLatency> {
        self.latency.get()
    }

    /// The injected delay for one request to `target` (one atomic load when there is none).
    pub(crate) fn injected_delay(&self, target: &Target) -> Option<std::time::Duration> {
        self.latency.delay_for(target)
    }

    /// The group's request metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    pub(crate) fn live_metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Every state change, as it happens. A receiver that falls more than 1024 events
    /// behind gets `RecvError::Lagged` and should re-read [`TargetGroup::targets`].
    pub fn subscribe(&self) -> broadcast::Receiver<TargetEvent> {
        self.events.subscribe()
    }

    /// A counter that increases on every state change; for "wake me when anything changed".
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Waits until `pred` holds for the current targets; re-evaluated on every change.
    /// Wrap it in a timeout: it waits forever otherwise.
    pub async fn wait_until(&self, mut pred: impl FnMut(&[TargetSnapshot]) -> bool) {
        let mut rx = self.generation.subscribe();
        loop {
            rx.borrow_and_update();
            if pred(&self.targets()) {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits until target `id` is in `state` (`Unused` means: not registered).
    pub async fn wait_for_state(&self, id: &str, state: TargetState) {
        self.wait_until(|ts| match ts.iter().find(|t| t.id == id) {
            Some(t) => t.state == state,
            None => state == TargetState::Unused,
        })
        .await;
    }

    /// Starts health checking: one task supervising one checker per target, until
    /// `shutdown` turns true (or its sender is dropped). Without it targets stay `initial`.
    /// The task holds the group, so the group lives at least until the shutdown.
    pub fn spawn_health_checks(
        self: &Arc<Self>,
        shutdown: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        tokio::spawn(self.clone().supervise(shutdown))
    }

    async fn supervise(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut checkers = JoinSet::new();
        let mut running: Vec<(Arc<Target>, tokio::task::AbortHandle)> = Vec::new();
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            let current = self.read_targets();
            running.retain(|(t, handle)| {
                let keep =
                    t.state() != TargetState::Draining && current.iter().any(|c| Arc::ptr_eq(c, t));
                if !keep {
                    handle.abort();
                }
                keep
            });
            for t in current.iter() {
                if t.state() != TargetState::Draining
                    && !running.iter().any(|(r, _)| Arc::ptr_eq(r, t))
                {
                    let handle = checkers.spawn(self.clone().check_loop(t.clone()));
                    running.push((t.clone(), handle));
                }
            }
            drop(current);
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                () = self.registry_changed.notified() => {}
                Some(_) = checkers.join_next(), if !checkers.is_empty() => {}
            }
        }
        checkers.shutdown().await;
    }

    async fn check_loop(self: Arc<Self>, target: Arc<Target>) {
        {
            let mut health = target.health();
            if target.state() == TargetState::Initial {
                health.reason = Some(Reason::InitialHealthChecking);
            }
        }
        let mut ticks = tokio::time::interval(self.config.health_check.interval);
        // A slow check must not cause a burst of catch-up checks.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let delay = self.injected_delay(&target);
            let outcome = health::probe(
                target.dialer.as_ref(),
                target.zone.as_deref(),
                target.addr,
                &self.health_path,
                &self.config.health_check,
                delay,
            )
            .await;
            self.apply(&target, outcome);
            // Piggybacks on the check's timer: idle connections past their time are closed
            // even when no request comes to reuse them.
            target.pools.sweep();
        }
    }

    /// Applies one health-check result to the state machine.
    fn apply(&self, target: &Target, outcome: Outcome) {
        let hc = &self.config.health_check;
        let mut health = target.health();
        let from = target.state();
        let to = match outcome {
            Outcome::Pass => {
                health.consecutive_ok = health.consecutive_ok.saturating_add(1);
                health.consecutive_fail = 0;
                match from {
                    // AWS: "After your target is registered, it must pass one health check
                    // to be considered healthy"; the threshold applies to a target coming back.
                    TargetState::Initial => TargetState::Healthy,
                    TargetState::Unhealthy if health.consecutive_ok >= hc.healthy_threshold => {
                        TargetState::Healthy
                    }
                    other => other,
                }
            }
            Outcome::Fail(reason, code) => {
                health.consecutive_fail = health.consecutive_fail.saturating_add(1);
                health.consecutive_ok = 0;
                if code.is_some() {
                    health.last_mismatch_code = code;
                }
                match from {
                    TargetState::Initial | TargetState::Healthy
                        if health.consecutive_fail >= hc.unhealthy_threshold =>
                    {
                        health.reason = Some(reason);
                        TargetState::Unhealthy
                    }
                    TargetState::Unhealthy => {
                        health.reason = Some(reason);
                        TargetState::Unhealthy
                    }
                    other => other,
                }
            }
        };
        if to == from || from == TargetState::Draining {
            return;
        }
        target.set_state(&health, to);
        if to == TargetState::Healthy {
            health.reason = None;
        }
        let reason = health.reason;
        drop(health);
        tracing::debug!(group = %self.name, id = %target.id, %from, %to, "target state changed");
        self.emit(target, Some(from), to, reason);
    }

    fn emit(
        &self,
        target: &Target,
        from: Option<TargetState>,
        to: TargetState,
        reason: Option<Reason>,
    ) {
        // No receivers is normal; the event is for whoever listens.
        if self
            .events
            .send(TargetEvent {
                group: self.name.clone(),
                id: target.id.clone(),
                addr: target.addr,
                from,
                to,
                reason,
            })
            .is_err()
        {
            tracing::trace!(group = %self.name, "no event subscribers");
        }
        self.generation.send_modify(|g| *g += 1);
    }

    fn find(&self, id: &str) -> Option<Arc<Target>> {
        self.read_targets().iter().find(|t| t.id == id).cloned()
    }

    fn read_targets(&self) -> Arc<[Arc<Target>]> {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn write_targets(&self) -> std::sync::RwLockWriteGuard<'_, Arc<[Arc<Target>]>> {
        // Writers replace the whole list, so a poisoned lock still holds a consistent list.
        self.targets.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The targets new requests go to now, as [`TargetGroup::pick`] chooses among them: the
    /// one answer to "where does traffic go" for routing and for whoever reports it.
    pub fn routing(&self) -> Routed {
        let list = self.read_targets();
        match Selection::of(&list, None, self.config.routing) {
            Some(sel) => Routed {
                targets: list
                    .iter()
                    .filter(|t| sel.admits(t, None))
                    .map(|t| t.snapshot())
                    .collect(),
                fail_open: sel.state == TargetState::Unhealthy,
            },
            None => Routed::default(),
        }
    }

    /// Picks the target for a request, skipping `exclude` (the target a retry failed on).
    /// `None` when no target can take it.
    pub(crate) fn pick(&self, exclude: Option<&Arc<Target>>) -> Option<Arc<Target>> {
        let guard = self.targets.read().unwrap_or_else(PoisonError::into_inner);
        let list: &[Arc<Target>] = &guard;
        let sel = Selection::of(list, exclude, self.config.routing)?;
        let is_candidate = |t: &Arc<Target>| sel.admits(t, exclude);

        let n = self.rr.fetch_add(1, Ordering::Relaxed);
        let chosen = match self.config.algorithm {
            Algorithm::RoundRobin => {
                let count = list.iter().filter(|t| is_candidate(t)).count();
                if count == 0 {
                    return None;
                }
                list.iter().filter(|t| is_candidate(t)).nth(n % count)
            }
            Algorithm::LeastOutstandingRequests => {
                // Start the scan at a rotating offset so ties are spread evenly.
                let len = list.len();
                let mut best: Option<&Arc<Target>> = None;
                let mut best_load = u64::MAX;
                for i in 0..len {
                    let t = &list[(n + i) % len];
                    if !is_candidate(t) {
                        continue;
                    }
                    let load = t.in_flight.load(Ordering::Relaxed);
                    if load < best_load {
                        best_load = load;
                        best = Some(t);
                    }
                }
                best
            }
        };
        chosen.cloned()
    }
}

/// Where a group sends new requests ([`TargetGroup::routing`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// The targets requests are spread over; empty when the group has none to send to
    /// (every target `initial` or draining, or none registered).
    pub targets: Vec<TargetSnapshot>,
    /// No target is healthy, so the group fails open to its unhealthy ones.
    pub fail_open: bool,
}

/// Which state and, with failover, which priority the targets a request may go to have.
#[derive(Clone, Copy, Debug)]
struct Selection {
    state: TargetState,
    /// With failover: the only priority eligible.
    priority: Option<u32>,
}

impl Selection {
    /// Healthy targets first, with failover only those of the best (lowest) priority; with
    /// none healthy, the unhealthy ones (fail open); `None` when neither exists.
    fn of(list: &[Arc<Target>], exclude: Option<&Arc<Target>>, routing: Routing) -> Option<Self> {
        let mut best_prio = u32::MAX;
        let mut healthy = 0usize;
        let mut unhealthy = 0usize;
        let mut best_unhealthy_prio = u32::MAX;
        for t in list.iter().filter(|t| not_excluded(t, exclude)) {
            match t.state() {
                TargetState::Healthy => {
                    healthy += 1;
                    best_prio = best_prio.min(t.priority);
                }
                TargetState::Unhealthy => {
                    unhealthy += 1;
                    best_unhealthy_prio = best_unhealthy_prio.min(t.priority);
                }
                _ => {}
            }
        }
        let (state, prio) = if healthy > 0 {
            (TargetState::Healthy, best_prio)
        } else if unhealthy > 0 {
            // Fail open: no healthy target, so route to the unhealthy ones (ALB). With
            // failover, Route 53 answers with the primary when every record is unhealthy.
            (TargetState::Unhealthy, best_unhealthy_prio)
        } else {
            return None;
        };
        Some(Self {
            state,
            priority: (routing == Routing::Failover).then_some(prio),
        })
    }

    fn admits(&self, t: &Arc<Target>, exclude: Option<&Arc<Target>>) -> bool {
        not_excluded(t, exclude)
            && t.state() == self.state
            && self.priority.is_none_or(|p| t.priority == p)
    }
}

fn not_excluded(t: &Arc<Target>, exclude: Option<&Arc<Target>>) -> bool {
    exclude.is_none_or(|x| !Arc::ptr_eq(x, t))
}
