//! Target health checks: the settings (ALB `HealthCheck*` attributes) and one probe.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;

use crate::error::Error;
use crate::matcher::Matcher;
use crate::target::Reason;

/// The ALB health checker's user agent; targets often special-case it.
pub const HEALTH_CHECK_USER_AGENT: &str = "ELB-HealthChecker/2.0";

/// Health-check settings of a target group.
///
/// Defaults are the ALB's for `ip` targets: path `/`, every 30 s, 5 s timeout, 5 passes to
/// become healthy again, 2 failures to become unhealthy, success code `200`. Unlike AWS
/// (interval 5–300 s, timeout 2–120 s, thresholds 2–10), any positive value is accepted so
/// a local twin and its tests can react in milliseconds.
#[derive(Clone, Debug)]
pub struct HealthCheck {
    /// Origin-form request target, e.g. `/health` or `/health?deep=1`.
    pub path: String,
    /// Time between the starts of two checks of one target.
    pub interval: Duration,
    /// A check without a response head within this time fails with `Target.Timeout`.
    pub timeout: Duration,
    /// Consecutive passes that bring an `unhealthy` target back to `healthy` (a new target
    /// needs one).
    pub healthy_threshold: u32,
    /// Consecutive failures that make a target `unhealthy`.
    pub unhealthy_threshold: u32,
    /// Status codes that count as a pass.
    pub matcher: Matcher,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/".to_owned(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: 5,
            unhealthy_threshold: 2,
            matcher: Matcher::default(),
        }
    }
}

impl HealthCheck {
    /// Checks the settings; returns the parsed path for the probes.
    pub(crate) fn validate(&self) -> Result<PathAndQuery, Error> {
        if self.interval.is_zero() || self.timeout.is_zero() {
            return Err(Error::InvalidHealthCheck(
                "interval and timeout must be positive",
            ));
        }
        // AWS rejects a timeout that is not below the interval; checks would overlap.
        if self.timeout >= self.interval {
            return Err(Error::InvalidHealthCheck(
                "timeout must be less than the interval",
            ));
        }
        if self.healthy_threshold == 0 || self.unhealthy_threshold == 0 {
            return Err(Error::InvalidHealthCheck("thresholds must be at least 1"));
        }
        if !self.path.starts_with('/') {
            return Err(Error::InvalidHealthCheckPath(self.path.clone()));
        }
        self.path
            .parse::<PathAndQuery>()
            .map_err(|_| Error::InvalidHealthCheckPath(self.path.clone()))
    }
}

/// Result of one health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Pass,
    Fail(Reason, Option<u16>),
}

/// One health check: a GET on a fresh connection that is closed afterwards, as the ALB does.
/// An injected `delay` is waited within the check's timeout, as latency on the network is.
pub(crate) async fn probe(
    dialer: Option<&std::sync::Arc<dyn crate::Dialer>>,
    zone: Option<&str>,
    addr: SocketAddr,
    path: &PathAndQuery,
    hc: &HealthCheck,
    delay: Option<Duration>,
) -> Outcome {
    let check = async {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        status_of(dialer, zone, addr, path).await
    };
    match tokio::time::timeout(hc.timeout, check).await {
        Err(_elapsed) => Outcome::Fail(Reason::Timeout, None),
        Ok(Err(reason)) => Outcome::Fail(reason, None),
        Ok(Ok(status)) if hc.matcher.matches(status) => Outcome::Pass,
        Ok(Ok(status)) => Outcome::Fail(Reason::ResponseCodeMismatch, Some(status)),
    }
}

async fn status_of(
    dialer: Option<&std::sync::Arc<dyn crate::Dialer>>,
    zone: Option<&str>,
    addr: SocketAddr,
    path: &PathAndQuery,
) -> Result<u16, Reason> {
    let stream = crate::dial::connect(dialer, zone, addr)
        .await
        .map_err(|_| Reason::FailedHealthChecks)?;
    // Nagle only delays a single small request; failing to disable it is harmless.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::trace!(%addr, %err, "health check: set_nodelay failed");
    }
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Reason::FailedHealthChecks)?;
    let req = Request::get(path.as_str())
        .header(header::HOST, addr.to_string())
        .header(header::USER_AGENT, HEALTH_CHECK_USER_AGENT)
        .header(header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|_| Reason::InternalError)?;
    let response = sender.send_request(req);
    tokio::pin!(conn, response);
    let result = tokio::select! {
        biased;
        resp = &mut response => resp,
        // With `Connection: close` the connection may finish in the same poll that
        // delivered the response; the response future then resolves right away.
        _ = &mut conn => response.await,
    };
    result
        .map(|r| r.status().as_u16())
        .map_err(|_| Reason::FailedHealthChecks)
}
