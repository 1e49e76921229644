//! Listeners and their forward action: weighted target groups, swappable at run time
//! (blue/green traffic shifting as with ALB weighted target groups).

use std::future::{Future, poll_fn};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::task::Poll;

use crate::error::Error;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::target_group::TargetGroup;

/// Forwards requests to one or more target groups, each chosen in proportion to its weight.
#[derive(Clone, Debug)]
pub struct ForwardAction {
    groups: Vec<(Arc<TargetGroup>, u32)>,
    total: u64,
}

impl ForwardAction {
    /// Weighted groups. A group with weight 0 gets no traffic; at least one weight must be
    /// positive.
    pub fn new(groups: Vec<(Arc<TargetGroup>, u32)>) -> Result<Self, Error> {
        let total = groups.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return Err(Error::EmptyForwardAction);
        }
        Ok(Self { groups, total })
    }

    /// All traffic to one group.
    pub fn single(group: Arc<TargetGroup>) -> Self {
        Self {
            groups: vec![(group, 1)],
            total: 1,
        }
    }

    /// The groups and their weights.
    pub fn groups(&self) -> &[(Arc<TargetGroup>, u32)] {
        &self.groups
    }

    /// The `n`-th pick of a smooth, deterministic weighted sequence: over every
    /// `total weight` consecutive requests each group gets exactly its weight.
    fn pick(&self, n: u64) -> Option<&Arc<TargetGroup>> {
        let mut slot = n % self.total;
        for (group, weight) in &self.groups {
            let w = u64::from(*weight);
            if slot < w {
                return Some(group);
            }
            slot -= w;
        }
        None
    }
}

/// A listener: its name (the `elb` field of access logs), its forward action and its
/// load-balancer-level metrics. Serve it with [`crate::serve`].
#[derive(Debug)]
pub struct Listener {
    name: String,
    forward: RwLock<Arc<ForwardAction>>,
    counter: AtomicU64,
    metrics: Metrics,
}

impl Listener {
    /// A listener forwarding with `forward`.
    pub fn new(name: impl Into<String>, forward: ForwardAction) -> Arc<Self> {
        Arc::new(Self {
            name: name.into(),
            forward: RwLock::new(Arc::new(forward)),
            counter: AtomicU64::new(0),
            metrics: Metrics::new(),
        })
    }

    /// The listener's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the forward action atomically: each request uses either the old or the new
    /// action, never a mix, and requests in flight are unaffected.
    pub fn set_forward(&self, forward: ForwardAction) {
        let mut slot = self.forward.write().unwrap_or_else(PoisonError::into_inner);
        *slot = Arc::new(forward);
    }

    /// The current forward action.
    pub fn forward(&self) -> Arc<ForwardAction> {
        self.forward
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Load-balancer-level metrics: every request, ELB-generated errors included.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot()
    }

    pub(crate) fn live_metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Resolves once a group the forward action sends traffic to has a healthy target.
    pub async fn wait_healthy(&self) {
        loop {
            let forward = self.forward();
            // Subscribed before looking, so that a change in between wakes the wait below.
            let mut changes: Vec<_> = forward.groups.iter().map(|(g, _)| g.changes()).collect();
            if forward
                .groups
                .iter()
                .any(|(g, w)| *w > 0 && g.healthy_count() > 0)
            {
                return;
            }
            let mut waits: Vec<_> = changes.iter_mut().map(|c| Box::pin(c.changed())).collect();
            // Any group's change (or a group gone) means: look again.
            poll_fn(|cx| {
                if waits.iter_mut().any(|w| w.as_mut().poll(cx).is_ready()) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
            .await;
        }
    }

    /// Chooses the target group for the next request.
    pub(crate) fn pick_group(&self) -> Option<Arc<TargetGroup>> {
        let slot = self.forward.read().unwrap_or_else(PoisonError::into_inner);
        if let [(group, _)] = slot.groups.as_slice() {
            // One group (the usual case): no shared counter for workers to contend on.
            return Some(group.clone());
        }
        slot.pick(self.counter.fetch_add(1, Ordering::Relaxed))
            .cloned()
    }
}
