//! Network latency injected between a target group and its targets, as AWS FIS's network
//! latency actions add it: every request forwarded to an affected target, and every health
//! check of one, waits `delay` ± a uniform `jitter` before it is sent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::target::Target;

/// A latency fault: how long, how much it varies, and which targets it reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedLatency {
    /// Added to every request to an affected target, and to its health checks.
    pub delay: Duration,
    /// Each delay is drawn uniformly from `delay - jitter ..= delay + jitter` (never below 0).
    pub jitter: Duration,
    /// Only the targets registered in this zone ([`crate::TargetGroup::register_in_zone`]);
    /// every target when `None`.
    pub zone: Option<String>,
}

impl InjectedLatency {
    /// Whether `target` is affected.
    fn reaches(&self, target: &Target) -> bool {
        match &self.zone {
            None => true,
            Some(zone) => target.zone.as_deref() == Some(zone.as_str()),
        }
    }
}

/// A latency in force and the state of its jitter's generator.
#[derive(Debug)]
struct Active {
    latency: InjectedLatency,
    /// SplitMix64's counter, seeded from the OS: the jitter need not be unpredictable, only
    /// spread, and one atomic step per request keeps it off the request path's costs.
    state: AtomicU64,
}

impl Active {
    fn next(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn draw(&self) -> Duration {
        let l = &self.latency;
        let jitter = u64::try_from(l.jitter.as_micros()).unwrap_or(u64::MAX / 4);
        if jitter == 0 {
            return l.delay;
        }
        let span = jitter.saturating_mul(2).saturating_add(1);
        let offset = self.next() % span;
        let delay = u64::try_from(l.delay.as_micros()).unwrap_or(u64::MAX / 4);
        Duration::from_micros(delay.saturating_add(offset).saturating_sub(jitter))
    }
}

/// A group's latency switch: off costs the request path one atomic load.
#[derive(Debug, Default)]
pub(crate) struct LatencySwitch {
    on: AtomicBool,
    active: RwLock<Option<Arc<Active>>>,
}

impl LatencySwitch {
    pub(crate) fn set(&self, latency: Option<InjectedLatency>) {
        let active = latency.map(|latency| {
            Arc::new(Active {
                latency,
                state: AtomicU64::new(haven_fs::random::seed()),
            })
        });
        let on = active.is_some();
        // The lock holds no invariant a panic could break: a poisoned one is still usable.
        *self.active.write().unwrap_or_else(PoisonError::into_inner) = active;
        self.on.store(on, Ordering::Release);
    }

    pub(crate) fn get(&self) -> Option<InjectedLatency> {
        self.active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|a| a.latency.clone())
    }

    /// The delay for one request to (or health check of) `target`, if any.
    pub(crate) fn delay_for(&self, target: &Target) -> Option<Duration> {
        if !self.on.load(Ordering::Acquire) {
            return None;
        }
        let active = self
            .active
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        active.latency.reaches(target).then(|| active.draw())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active(delay_ms: u64, jitter_ms: u64) -> Active {
        Active {
            latency: InjectedLatency {
                delay: Duration::from_millis(delay_ms),
                jitter: Duration::from_millis(jitter_ms),
                zone: None,
            },
            state: AtomicU64::new(7),
        }
    }

    /// Delays stay within delay ± jitter, never below zero, and do vary with a jitter.
    #[test]
    fn draws_stay_within_the_jitter() {
        for (delay, jitter) in [(200, 20), (200, 0), (10, 50), (0, 0)] {
            let a = active(delay, jitter);
            let low = Duration::from_millis(delay.saturating_sub(jitter));
            let high = Duration::from_millis(delay + jitter);
            let draws: Vec<Duration> = (0..2000).map(|_| a.draw()).collect();
            for d in &draws {
                assert!(
                    (low..=high).contains(d),
                    "{d:?} outside {low:?}..={high:?} ({delay} ± {jitter} ms)"
                );
            }
            let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
            if jitter == 0 {
                assert_eq!(distinct.len(), 1, "{delay} ± 0 ms varied");
            } else {
                assert!(distinct.len() > 100, "{delay} ± {jitter} ms barely varied");
            }
        }
    }

    /// Uniform: each half of the range gets about half of the draws.
    #[test]
    fn draws_spread_over_both_halves() {
        let a = active(200, 20);
        let below = (0..10_000)
            .filter(|_| a.draw() < Duration::from_millis(200))
            .count();
        assert!((4_500..5_500).contains(&below), "{below} of 10000 below");
    }
}
