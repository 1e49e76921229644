//! Target tracking, as Application Auto Scaling does it for ECS: keep the service's average
//! CPU and memory utilisation near their targets, within min and max, honouring cooldowns.
//!
//! Like AWS, scale-out reacts to a short run of high datapoints and scale-in waits for a longer
//! run of low ones (below 90 % of the target), scale-out happens if any policy asks for it and
//! scale-in only if every policy agrees.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Consecutive datapoints above target before scaling out (AWS: 3 one-minute datapoints).
pub const OUT_DATAPOINTS: usize = 3;
/// Consecutive datapoints below 90 % of target before scaling in (AWS: 15).
pub const IN_DATAPOINTS: usize = 15;

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub cpu_target: f64,
    pub memory_target: f64,
    pub min: u32,
    pub max: u32,
    pub scale_out_cooldown: Duration,
    pub scale_in_cooldown: Duration,
}

/// One datapoint: the service's average utilisation over its running tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datapoint {
    pub cpu: f64,
    pub memory: f64,
}

#[derive(Debug, Default)]
pub struct Scaler {
    history: VecDeque<Datapoint>,
    last_out: Option<Instant>,
    last_in: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub to: u32,
    pub cause: String,
}

impl Scaler {
    pub fn observe(&mut self, d: Datapoint) {
        self.history.push_back(d);
        while self.history.len() > IN_DATAPOINTS {
            self.history.pop_front();
        }
    }

    /// What the service's desired count should become, if anything.
    pub fn decide(&mut self, p: &Policy, desired: u32, now: Instant) -> Option<Decision> {
        let desired_f = f64::from(desired.max(1));
        let metrics = [
            ("CPUUtilization", p.cpu_target),
            ("MemoryUtilization", p.memory_target),
        ];
        let value = |d: &Datapoint, i: usize| if i == 0 { d.cpu } else { d.memory };

        // Scale out: any metric above target for the last OUT_DATAPOINTS datapoints.
        let mut out: Option<(u32, String)> = None;
        if self.history.len() >= OUT_DATAPOINTS {
            for (i, (name, target)) in metrics.iter().enumerate() {
                let recent: Vec<f64> = self
                    .history
                    .iter()
                    .rev()
                    .take(OUT_DATAPOINTS)
                    .map(|d| value(d, i))
                    .collect();
                if recent.iter().all(|v| v > target) {
                    let avg = recent.iter().sum::<f64>() / recent.len() as f64;
                    let want = ((desired_f * avg / target).ceil() as u32).clamp(p.min, p.max);
                    if want > desired && out.as_ref().is_none_or(|(w, _)| want > *w) {
                        out = Some((
                            want,
                            format!(
                                "target tracking: average {name} {avg:.1}% above target {target:.0}% for {OUT_DATAPOINTS} datapoints"
                            ),
                        ));
                    }
                }
            }
        }
        if let Some((to, cause)) = out {
            if self
                .last_out
                .is_some_and(|t| now.duration_since(t) < p.scale_out_cooldown)
            {
                return None;
            }
            self.last_out = Some(now);
            self.history.clear();
            return Some(Decision { to, cause });
        }
        if desired < p.min {
            return Some(Decision {
                to: p.min,
                cause: format!("desired {desired} is below min {}", p.min),
            });
        }
        if desired > p.max {
            return Some(Decision {
                to: p.max,
                cause: format!("desired {desired} is above max {}", p.max),
            });
        }

        // Scale in: every metric below 90 % of its target for IN_DATAPOINTS datapoints.
        if desired <= p.min || self.history.len() < IN_DATAPOINTS {
            return None;
        }
        let mut want_in = 0u32;
        let mut causes = Vec::new();
        for (i, (name, target)) in metrics.iter().enumerate() {
            let values: Vec<f64> = self.history.iter().map(|d| value(d, i)).collect();
            if !values.iter().all(|v| *v < target * 0.9) {
                return None;
            }
            let avg = values.iter().sum::<f64>() / values.len() as f64;
            want_in = want_in.max(((desired_f * avg / target).ceil() as u32).max(1));
            causes.push(format!("{name} {avg:.1}%"));
        }
        let to = want_in.clamp(p.min, p.max);
        if to >= desired {
            return None;
        }
        // A scale-in waits for the cooldown after any scaling activity.
        let last = self.last_in.into_iter().chain(self.last_out).max();
        if last.is_some_and(|t| now.duration_since(t) < p.scale_in_cooldown) {
            return None;
        }
        self.last_in = Some(now);
        self.history.clear();
        Some(Decision {
            to,
            cause: format!(
                "target tracking: average {} below 90% of targets for {IN_DATAPOINTS} datapoints",
                causes.join(" and ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        cpu_target: 70.0,
        memory_target: 70.0,
        min: 2,
        max: 10,
        scale_out_cooldown: Duration::from_secs(5),
        scale_in_cooldown: Duration::from_secs(15),
    };

    /// Feeds `points` (cpu, memory) one second apart and returns each decision's target.
    fn check(desired: u32, points: &[(f64, f64)], expect: &[Option<u32>]) {
        let mut s = Scaler::default();
        let start = Instant::now();
        let mut desired = desired;
        let got: Vec<Option<u32>> = points
            .iter()
            .enumerate()
            .map(|(i, (cpu, memory))| {
                s.observe(Datapoint {
                    cpu: *cpu,
                    memory: *memory,
                });
                let d = s.decide(&POLICY, desired, start + Duration::from_secs(i as u64));
                if let Some(d) = &d {
                    desired = d.to;
                }
                d.map(|d| d.to)
            })
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn scales_out_after_three_high_datapoints_in_proportion() {
        check(
            2,
            &[(95.0, 10.0), (95.0, 10.0), (95.0, 10.0)],
            &[None, None, Some(3)],
        );
        check(2, &[(100.0, 10.0); 3], &[None, None, Some(3)]);
        check(2, &[(300.0, 10.0); 3], &[None, None, Some(9)]);
        check(2, &[(900.0, 10.0); 3], &[None, None, Some(10)]);
        // Memory alone triggers it too.
        check(2, &[(10.0, 90.0); 3], &[None, None, Some(3)]);
        // One low datapoint in the run resets it.
        check(
            2,
            &[(95.0, 10.0), (50.0, 10.0), (95.0, 10.0)],
            &[None, None, None],
        );
    }

    #[test]
    fn scale_out_cooldown() {
        let high = [(200.0, 10.0); 9];
        // Out to 6 at second 2; the next scale-out waits for the 5 s cooldown: second 7.
        check(
            2,
            &high,
            &[None, None, Some(6), None, None, None, None, Some(10), None],
        );
    }

    #[test]
    fn scales_in_only_when_every_metric_is_low_for_long() {
        let mut low = vec![(10.0, 10.0); 15];
        let mut expect = vec![None; 15];
        expect[14] = Some(2);
        check(4, &low, &expect);
        // Memory near target blocks scale-in.
        low = vec![(10.0, 65.0); 15];
        check(4, &low, &[None; 15]);
        // Never below min.
        check(2, &[(1.0, 1.0); 15], &[None; 15]);
    }

    #[test]
    fn scale_in_waits_for_cooldown_after_scale_out() {
        let mut points = vec![(200.0, 10.0); 3];
        points.extend([(10.0, 10.0); 17]);
        let mut s = Scaler::default();
        let start = Instant::now();
        let mut desired = 2;
        let mut decisions = Vec::new();
        for (i, (cpu, memory)) in points.iter().enumerate() {
            s.observe(Datapoint {
                cpu: *cpu,
                memory: *memory,
            });
            if let Some(d) = s.decide(&POLICY, desired, start + Duration::from_secs(i as u64)) {
                desired = d.to;
                decisions.push((i, d.to));
            }
        }
        // Out at second 2; 15 low datapoints end at second 17, which is also past the 15 s
        // scale-in cooldown that started at second 2.
        assert_eq!(decisions, [(2, 6), (17, 2)]);
    }
}
