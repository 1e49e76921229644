//! Targets as the ALB describes them: health states, reason codes, and the shared per-target record.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::upstream::Pools;

/// A target's health state, named as in `DescribeTargetHealth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetState {
    /// Registered; no health check passed yet. Gets no traffic.
    Initial,
    /// Passed its health checks; gets traffic.
    Healthy,
    /// Failed `unhealthy_threshold` consecutive checks. Gets traffic only when the group fails open.
    Unhealthy,
    /// Not registered (any more).
    Unused,
    /// Deregistered; in-flight requests are finishing. Gets no new traffic.
    Draining,
}

impl TargetState {
    /// The ALB's spelling: `initial`, `healthy`, `unhealthy`, `unused`, `draining`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::Unused => "unused",
            Self::Draining => "draining",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::Initial => 0,
            Self::Healthy => 1,
            Self::Unhealthy => 2,
            Self::Unused => 3,
            Self::Draining => 4,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Initial,
            1 => Self::Healthy,
            2 => Self::Unhealthy,
            4 => Self::Draining,
            _ => Self::Unused,
        }
    }
}

impl fmt::Display for TargetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a target is not `healthy`, as the ALB's `TargetHealth.Reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `Elb.RegistrationInProgress`: registered, health checks not started.
    RegistrationInProgress,
    /// `Elb.InitialHealthChecking`: the first health checks are running.
    InitialHealthChecking,
    /// `Target.ResponseCodeMismatch`: the health check got a code the matcher rejects.
    ResponseCodeMismatch,
    /// `Target.Timeout`: the health check got no response within its timeout.
    Timeout,
    /// `Target.FailedHealthChecks`: connection error or malformed response.
    FailedHealthChecks,
    /// `Elb.InternalError`: the health check could not be sent.
    InternalError,
    /// `Target.DeregistrationInProgress`: the target is draining.
    DeregistrationInProgress,
    /// `Target.NotRegistered`: the target is gone from the group.
    NotRegistered,
}

impl Reason {
    /// The ALB reason code, e.g. `Target.Timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RegistrationInProgress => "Elb.RegistrationInProgress",
            Self::InitialHealthChecking => "Elb.InitialHealthChecking",
            Self::ResponseCodeMismatch => "Target.ResponseCodeMismatch",
            Self::Timeout => "Target.Timeout",
            Self::FailedHealthChecks => "Target.FailedHealthChecks",
            Self::InternalError => "Elb.InternalError",
            Self::DeregistrationInProgress => "Target.DeregistrationInProgress",
            Self::NotRegistered => "Target.NotRegistered",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point-in-time view of one registered target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSnapshot {
    /// The id it was registered with (e.g. a task id).
    pub id: String,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Health state.
    pub state: TargetState,
    /// Reason code; `None` when healthy.
    pub reason: Option<Reason>,
    /// The last health-check status code that did not match (for `Target.ResponseCodeMismatch`).
    pub last_mismatch_code: Option<u16>,
    /// Requests currently being served by this target.
    pub in_flight: u64,
    /// Failover priority: lower is preferred (0 = primary).
    pub priority: u32,
    /// Requests sent to this target since registration (retries included).
    pub requests: u64,
}

/// A change of a target's state, for subscribers that react to it (the region restarts
/// unhealthy tasks; tests wait on it instead of sleeping).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetEvent {
    /// The target group's name.
    pub group: Arc<str>,
    /// The target's id.
    pub id: String,
    /// The target's address.
    pub addr: SocketAddr,
    /// The previous state; `None` when the target was just registered.
    pub from: Option<TargetState>,
    /// The new state; `Unused` when the target left the group.
    pub to: TargetState,
    /// Reason code of the new state.
    pub reason: Option<Reason>,
}

/// Mutable health bookkeeping, changed only by health checks and (de)registration.
#[derive(Debug)]
pub(crate) struct Health {
    pub(crate) reason: Option<Reason>,
    pub(crate) consecutive_ok: u32,
    pub(crate) consecutive_fail: u32,
    pub(crate) last_mismatch_code: Option<u16>,
}

/// Wakes every HTTP/1 client connection when some target's in-flight requests are cut. A
/// connection's requests are polled with it and check their target's flag then, so they
/// need no registration of their own; HTTP/2 streams run in their own tasks and wait on
/// their target's `cut_notify` instead.
pub(crate) static CUTS: Notify = Notify::const_new();

/// How many times `CUTS` has been notified: a connection polls its `CUTS` registration (which
/// takes the `Notify`'s lock) only when this moved.
pub(crate) static CUT_EPOCH: AtomicU64 = AtomicU64::new(0);

/// One registered target, shared by the router, in-flight requests and the health checker.
pub(crate) struct Target {
    pub(crate) id: String,
    pub(crate) addr: SocketAddr,
    pub(crate) priority: u32,
    /// The availability zone it runs in, when its registration named one (an injected
    /// latency may apply to one zone's targets only).
    pub(crate) zone: Option<Arc<str>>,
    /// Idle connections, one pool per proxy worker thread (slot 0: the caller's runtime),
    /// so a request and its target connection live on the same thread.
    pub(crate) pools: Pools,
    pub(crate) connect_timeout: Duration,
    /// Makes its connections' sockets (see [`crate::Dialer`]); none: from the host.
    pub(crate) dialer: Option<Arc<dyn crate::Dialer>>,
    /// `TargetState` as a byte so the router reads it without a lock.
    state: AtomicU8,
    pub(crate) in_flight: AtomicU64,
    pub(crate) requests: AtomicU64,
    health: Mutex<Health>,
    /// Wakes the drain task when `in_flight` reaches zero.
    pub(crate) idle: Notify,
    /// Set when the deregistration delay elapsed: requests still in flight are cut (ALB: 502).
    cut: AtomicBool,
    /// Wakes HTTP/2 requests waiting on this target when it is cut (see `CUTS`).
    pub(crate) cut_notify: Notify,
    pub(crate) drained: watch::Sender<bool>,
}

impl Target {
    pub(crate) fn new(
        id: String,
        addr: SocketAddr,
        priority: u32,
        zone: Option<Arc<str>>,
        connect_timeout: Duration,
        pool_idle_timeout: Duration,
        dialer: Option<Arc<dyn crate::Dialer>>,
    ) -> Self {
        Self {
            id,
            addr,
            priority,
            zone,
            pools: Pools::new(pool_idle_timeout),
            connect_timeout,
            dialer,
            state: AtomicU8::new(TargetState::Initial.to_u8()),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            health: Mutex::new(Health {
                reason: Some(Reason::RegistrationInProgress),
                consecutive_ok: 0,
                consecutive_fail: 0,
                last_mismatch_code: None,
            }),
            idle: Notify::new(),
            cut: AtomicBool::new(false),
            cut_notify: Notify::new(),
            drained: watch::Sender::new(false),
        }
    }

    pub(crate) fn state(&self) -> TargetState {
        TargetState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Only called with the health lock held, so state and reason change together.
    pub(crate) fn set_state(&self, _held: &MutexGuard<'_, Health>, state: TargetState) {
        self.state.store(state.to_u8(), Ordering::Release);
    }

    pub(crate) fn health(&self) -> MutexGuard<'_, Health> {
        // A panic while holding this lock cannot leave the counters inconsistent in a way
        // that matters more than losing health checking altogether, so keep going.
        self.health.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }

    pub(crate) fn cut_in_flight(&self) {
        self.cut.store(true, Ordering::Release);
        self.cut_notify.notify_waiters();
        CUT_EPOCH.fetch_add(1, Ordering::Release);
        CUTS.notify_waiters();
    }

    pub(crate) fn snapshot(&self) -> TargetSnapshot {
        let health = self.health();
        TargetSnapshot {
            id: self.id.clone(),
            addr: self.addr,
            state: self.state(),
            reason: health.reason,
            last_mismatch_code: health.last_mismatch_code,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            priority: self.priority,
            requests: self.requests.load(Ordering::Relaxed),
        }
    }
}

/// Counts a request against a target for as long as it lives (least-outstanding routing,
/// draining). Dropped when the response body has been sent or abandoned.
pub(crate) struct InFlight {
    target: Arc<Target>,
}

impl InFlight {
    pub(crate) fn new(target: Arc<Target>) -> Self {
        target.in_flight.fetch_add(1, Ordering::AcqRel);
        target.requests.fetch_add(1, Ordering::Relaxed);
        Self { target }
    }

    pub(crate) fn target(&self) -> &Arc<Target> {
        &self.target
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let before = self.target.in_flight.fetch_sub(1, Ordering::AcqRel);
        if before == 1 && self.target.state() == TargetState::Draining {
            // notify_one stores a permit, so the drain task cannot miss this.
            self.target.idle.notify_one();
        }
    }
}
