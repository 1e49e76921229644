//! Releases with the semantics of ECS native blue/green: start the green task set at full size,
//! wait for its targets to pass health checks, expose it on the test listener, shift production
//! traffic (all at once, canary, or linear steps), bake while watching health, crashes and the
//! 5xx rate, then drain and stop blue. Any failure rolls back on its own: traffic back to blue,
//! green stopped, the reason recorded.
//!
//! Every step is written to the state database as it happens. A region killed mid-release loses
//! its tasks with it; on restart, [`recover`] completes a release whose production traffic had
//! fully moved to green and rolls back any other, so the region comes back on one image.

use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_control::wire::Wire;
use haven_spec::model::Strategy;
use haven_state::{Release, ReleaseState, Store, now_ms};

use super::service::ServiceTwin;

/// What the caller asked for.
pub struct ReleaseRequest {
    pub image: String,
    pub strategy: Strategy,
}

/// Starts a release in the background; `Err` when one is already under way or the image is
/// the one production runs.
pub fn start(svc: &Arc<ServiceTwin>, req: ReleaseRequest) -> Result<String, String> {
    let Ok(guard) = svc.releasing.clone().try_lock_owned() else {
        return Err(format!(
            "a release of {} is already in progress",
            svc.settings.name
        ));
    };
    let from = svc.image();
    if from == req.image {
        return Err(format!("{} already runs {}", svc.settings.name, req.image));
    }
    let id = format!("rel-{}", crate::region::random_hex(6));
    let release = Release {
        id: id.clone(),
        service: svc.settings.name.clone(),
        from_image: from,
        to_image: req.image.clone(),
        strategy: req.strategy.name().to_owned(),
        state: ReleaseState::InProgress,
        shifted: false,
        reason: None,
        started_at_ms: now_ms(),
        ended_at_ms: None,
        steps: Vec::new(),
    };
    svc.store()
        .insert_release(&release)
        .map_err(|e| format!("cannot record the release: {e}"))?;
    let svc = svc.clone();
    let rel = id.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let mut r = Runner {
            svc: svc.clone(),
            id: rel,
            image: req.image,
            strategy: req.strategy,
        };
        r.run().await;
    });
    Ok(id)
}

struct Runner {
    svc: Arc<ServiceTwin>,
    id: String,
    image: String,
    strategy: Strategy,
}

/// Why a release failed.
struct Failure(String);

impl Runner {
    fn step(&self, step: &str) {
        tracing::info!(release = %self.id, "{step}");
        if let Err(e) = self.svc.store().release_step(&self.id, step) {
            tracing::warn!("cannot record release step: {e}");
        }
        self.svc.event(&format!("release {}: {step}", self.id));
    }

    fn end(&self, state: ReleaseState, reason: Option<&str>) {
        if let Err(e) = self.svc.store().end_release(&self.id, state, reason) {
            tracing::error!("cannot record the release's end: {e}");
        }
    }

    async fn run(&mut self) {
        let d = self.svc.settings.deployment.clone();
        let separate = self.strategy != Strategy::Rolling;
        let green = self.svc.start_green(&self.image, separate);
        self.step(&format!(
            "started green task set {green} of {} ({} strategy)",
            self.image,
            self.strategy.name()
        ));
        match self.deploy(&green, &d).await {
            Ok(()) => {
                let old = self.svc.promote(&green);
                self.step("blue task set draining");
                let svc = &self.svc.settings;
                let wait = Duration::from(svc.deregistration_delay)
                    + Duration::from(svc.stop_timeout)
                    + Duration::from_secs(5);
                if let Some(old) = old {
                    if !self.svc.set_gone(&old, wait).await {
                        self.step("blue task set still stopping after the drain window");
                    }
                }
                self.step("blue task set stopped");
                self.end(ReleaseState::Successful, None);
            }
            Err(Failure(why)) => {
                self.svc.abandon(&green);
                let mut reason = why;
                if let Some(tail) = self.svc.last_failure_tail(&self.image) {
                    reason.push('\n');
                    reason.push_str(&tail);
                }
                self.step("rolled back: production traffic on blue, green task set stopping");
                self.end(ReleaseState::RolledBack, Some(&reason));
                let wait = Duration::from(self.svc.settings.deregistration_delay)
                    + Duration::from(self.svc.settings.stop_timeout)
                    + Duration::from_secs(5);
                if !self.svc.set_gone(&green, wait).await {
                    tracing::warn!("green task set {green} still stopping");
                }
            }
        }
    }

    async fn deploy(
        &self,
        green: &str,
        d: &haven_spec::settings::TwinDeployment,
    ) -> Result<(), Failure> {
        self.wait_healthy(green).await?;
        self.step("green task set healthy");
        if self.strategy != Strategy::Rolling {
            if d.test_listener {
                self.svc.expose_for_test(green);
                self.step("test listener routes to green");
            }
            let bake = Duration::from(d.bake_time);
            match self.strategy {
                Strategy::Canary => {
                    let p = u32::from(d.canary_percent);
                    self.svc.shift(green, p);
                    self.step(&format!("{p}% of production traffic on green (canary)"));
                    self.watch(green, bake).await?;
                }
                Strategy::Linear => {
                    let step = u32::from(d.linear_step_percent.max(1));
                    let mut p = step;
                    while p < 100 {
                        self.svc.shift(green, p);
                        self.step(&format!("{p}% of production traffic on green (linear)"));
                        self.watch(green, bake).await?;
                        p += step;
                    }
                }
                Strategy::BlueGreen | Strategy::Rolling => {}
            }
            self.svc.shift(green, 100);
        }
        if let Err(e) = self.svc.store().release_shifted(&self.id) {
            tracing::error!("cannot record the traffic shift: {e}");
        }
        self.step("production traffic on green; baking");
        self.watch(green, Duration::from(d.bake_time)).await?;
        self.step("bake time passed");
        Ok(())
    }

    /// Waits for every green task to pass its health checks.
    async fn wait_healthy(&self, green: &str) -> Result<(), Failure> {
        let hc = &self.svc.settings.health_check;
        // Enough for a slow start, a few checks, and the circuit breaker to decide first.
        let limit = (Duration::from(hc.interval) * (hc.healthy_threshold + 2) * 10)
            .max(Duration::from_secs(60));
        let deadline = Instant::now() + limit;
        loop {
            let Some(h) = self.svc.set_health(green) else {
                return Err(Failure("the green task set disappeared".into()));
            };
            if let Some(why) = h.failed {
                return Err(Failure(format!("green tasks failed to start: {why}")));
            }
            if h.unhealthy > 0 || h.health_failures > 0 {
                return Err(Failure(format!(
                    "{} green target(s) failed their health checks ({} {}, unhealthy threshold {})",
                    h.unhealthy.max(h.health_failures),
                    hc.path,
                    hc.success_codes,
                    hc.unhealthy_threshold
                )));
            }
            if h.healthy >= h.desired {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Failure(format!(
                    "green task set not healthy within {limit:?} ({} of {} healthy)",
                    h.healthy, h.desired
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Watches green for `time`: unhealthy targets, crashed tasks, or a 5xx rate above the
    /// spec's limit fail the release.
    async fn watch(&self, green: &str, time: Duration) -> Result<(), Failure> {
        let max_5xx = f64::from(self.svc.settings.deployment.max_5xx_percent);
        let group = self
            .svc
            .set_group(green)
            .ok_or_else(|| Failure("the green task set disappeared".into()))?;
        let start = group.metrics();
        let crashes = self.svc.set_health(green).map_or(0, |h| h.crashes);
        let deadline = Instant::now() + time;
        loop {
            let h = self
                .svc
                .set_health(green)
                .ok_or_else(|| Failure("the green task set disappeared".into()))?;
            if h.crashes > crashes {
                return Err(Failure(format!(
                    "{} green task(s) exited during the release",
                    h.crashes - crashes
                )));
            }
            if h.unhealthy > 0 {
                return Err(Failure(format!(
                    "{} green target(s) unhealthy (UnHealthyHostCount > 0)",
                    h.unhealthy
                )));
            }
            let now = group.metrics();
            let requests = now.request_count.saturating_sub(start.request_count);
            let errors = (now.http_code_target_5xx + now.http_code_elb_5xx)
                .saturating_sub(start.http_code_target_5xx + start.http_code_elb_5xx);
            // A rate needs a sample: fewer than 20 requests say little about 1 %.
            if requests >= 20 && errors as f64 * 100.0 > max_5xx * requests as f64 {
                return Err(Failure(format!(
                    "{errors} of {requests} green responses were 5xx, above {max_5xx}%"
                )));
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What a restarted region does with a release its dead predecessor left in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Recovery {
    /// The release's end.
    state: ReleaseState,
    /// The service now runs the release's image (otherwise it stays on the one before).
    takes_new_image: bool,
    step: &'static str,
    reason: &'static str,
}

/// Production traffic had fully moved to green: the release completes. Otherwise it rolls
/// back, so that the region comes back on one image either way.
fn recovery(shifted: bool) -> Recovery {
    if shifted {
        Recovery {
            state: ReleaseState::Successful,
            takes_new_image: true,
            step: "region restarted after the traffic shift: release completed",
            reason: "completed after the region process restarted",
        }
    } else {
        Recovery {
            state: ReleaseState::RolledBack,
            takes_new_image: false,
            step: "region restarted before the traffic shift: rolled back",
            reason: "the region process restarted before production traffic moved to green",
        }
    }
}

/// After a restart: finish or roll back releases the dead process left in progress. Called
/// before the services start, so they come up on the right image.
pub fn recover(store: &Store) {
    let releases = match store.releases(None, 50) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot read releases: {e}");
            return;
        }
    };
    for r in releases.iter().filter(|r| !r.state.is_final()) {
        let plan = recovery(r.shifted);
        let image = if plan.takes_new_image {
            store.set_image(&r.service, &r.to_image)
        } else {
            Ok(())
        };
        let result = image
            .and_then(|()| store.release_step(&r.id, plan.step))
            .and_then(|()| store.end_release(&r.id, plan.state, Some(plan.reason)));
        if let Err(e) = result {
            tracing::error!("cannot recover release {}: {e}", r.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: &str, shifted: bool) -> Release {
        Release {
            id: id.into(),
            service: "web".into(),
            from_image: "blue".into(),
            to_image: "green".into(),
            strategy: "blue-green".into(),
            state: ReleaseState::InProgress,
            shifted,
            reason: None,
            started_at_ms: now_ms(),
            ended_at_ms: None,
            steps: Vec::new(),
        }
    }

    /// `check(shifted, expect_state, expect_image)`: what a restart makes of a release.
    fn check(shifted: bool, state: ReleaseState, image: &str) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.image_or_init("web", "blue").unwrap();
        store.desired_or_init("web", 2).unwrap();
        store.image_or_init("web", "blue").unwrap();
        store.insert_release(&release("r1", shifted)).unwrap();
        if shifted {
            store.release_shifted("r1").unwrap();
        }
        recover(&store);
        let r = store.release("r1").unwrap().unwrap();
        assert_eq!(r.state, state);
        assert_eq!(store.image_or_init("web", "x").unwrap(), image);
        assert!(r.steps.iter().any(|s| s.step.contains("region restarted")));
    }

    #[test]
    fn a_restart_completes_shifted_releases_and_rolls_back_the_others() {
        check(true, ReleaseState::Successful, "green");
        check(false, ReleaseState::RolledBack, "blue");
    }

    #[test]
    fn recovery_completes_only_shifted_releases() {
        for (shifted, state, takes_new_image) in [
            (true, ReleaseState::Successful, true),
            (false, ReleaseState::RolledBack, false),
        ] {
            let r = recovery(shifted);
            assert_eq!((r.state, r.takes_new_image), (state, takes_new_image));
            assert!(r.state.is_final(), "{r:?}");
        }
    }

    #[test]
    fn a_restart_leaves_ended_releases_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        store.desired_or_init("web", 2).unwrap();
        store.image_or_init("web", "blue").unwrap();
        store.insert_release(&release("r1", true)).unwrap();
        store
            .end_release("r1", ReleaseState::RolledBack, Some("5xx"))
            .unwrap();
        recover(&store);
        let r = store.release("r1").unwrap().unwrap();
        assert_eq!(
            (r.state, r.reason.as_deref(), r.steps.len()),
            (ReleaseState::RolledBack, Some("5xx"), 0)
        );
        assert_eq!(store.image_or_init("web", "x").unwrap(), "blue");
    }
}
