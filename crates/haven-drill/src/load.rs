//! The drills' load: an open-loop generator of idempotent GETs at a set rate, on hyper's
//! client with a keep-alive pool, recording every request's send time, latency and outcome.
//!
//! Open loop, as load testers such as wrk2 and vegeta pace: requests leave on a schedule
//! whatever the answers do, so a stalled service shows as latency and failures rather than as
//! fewer requests.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;

/// How long one request may take before it counts as failed: longer than any failover the
/// twin's fast timings allow, shorter than a drill.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One request's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    /// When it was sent, since the generator's start.
    pub sent_ms: u64,
    /// Time to the full answer (or to the failure).
    pub latency_ms: f64,
    /// The answer's status; `None` for a connection error or a timeout.
    pub status: Option<u16>,
}

impl Record {
    /// A connection error, a timeout or a 5xx: what a user sees as a failure.
    pub fn failed(&self) -> bool {
        self.status.is_none_or(|s| s >= 500)
    }
}

/// A running generator: change its rate while it runs, then stop it to read the records.
pub struct Load {
    rate: Arc<AtomicU32>,
    stop: watch::Sender<bool>,
    records: Arc<Mutex<Vec<Record>>>,
    errors: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
    start: Instant,
}

impl Load {
    /// Starts sending GETs to `url` at `rps` requests per second.
    pub fn start(url: &str, rps: u32) -> Result<Self, crate::Error> {
        let uri: http::Uri = url.parse().map_err(|e| crate::Error::Load {
            url: url.to_owned(),
            reason: format!("not a URL: {e}"),
        })?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let rate = Arc::new(AtomicU32::new(rps.max(1)));
        let (stop, stop_rx) = watch::channel(false);
        let records = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let task = tokio::spawn(pace(
            Pacer {
                client,
                uri,
                rate: rate.clone(),
                records: records.clone(),
                errors: errors.clone(),
                start,
            },
            stop_rx,
        ));
        Ok(Self {
            rate,
            stop,
            records,
            errors,
            task,
            start,
        })
    }

    /// When the generator started: `sent_ms` counts from here.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Offers `rps` requests per second from now on.
    pub fn set_rate(&self, rps: u32) {
        self.rate.store(rps.max(1), Ordering::Relaxed);
    }

    /// The records so far (requests still in flight are not among them).
    pub fn snapshot(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops sending, waits for the requests in flight (each bounded by the request
    /// timeout), and returns every record, in send order, with the distinct failure reasons.
    pub async fn stop(self) -> (Vec<Record>, Vec<String>) {
        self.stop.send_replace(true);
        if let Err(e) = self.task.await {
            tracing::warn!("the load generator's task ended abnormally: {e}");
        }
        let mut records =
            std::mem::take(&mut *self.records.lock().unwrap_or_else(PoisonError::into_inner));
        records.sort_by_key(|r| r.sent_ms);
        let errors =
            std::mem::take(&mut *self.errors.lock().unwrap_or_else(PoisonError::into_inner));
        (records, errors)
    }
}

struct Pacer {
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: http::Uri,
    rate: Arc<AtomicU32>,
    records: Arc<Mutex<Vec<Record>>>,
    errors: Arc<Mutex<Vec<String>>>,
    start: Instant,
}

/// Sends on schedule until stopped, then waits for what is in flight.
async fn pace(p: Pacer, mut stop: watch::Receiver<bool>) {
    let mut in_flight = tokio::task::JoinSet::new();
    let mut next = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next.into()) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let gap = Duration::from_secs_f64(1.0 / f64::from(p.rate.load(Ordering::Relaxed)));
        next += gap;
        // After a stall (a busy machine), catch up at most a second's worth, not a burst.
        let now = Instant::now();
        if next + Duration::from_secs(1) < now {
            next = now;
        }
        let sent_at = Instant::now();
        let sent_ms = millis(sent_at - p.start);
        let req = http::Request::get(p.uri.clone())
            .header(http::header::USER_AGENT, "haven-drill")
            .body(Empty::new());
        let Ok(req) = req else {
            // A parsed URI and a fixed header always make a request.
            continue;
        };
        let fut = p.client.request(req);
        let records = p.records.clone();
        let errors = p.errors.clone();
        in_flight.spawn(async move {
            let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let resp = fut.await.map_err(|e| error_text(&e))?;
                let status = resp.status().as_u16();
                // The whole body: latency is to the last byte, as a user waits for it.
                resp.into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body: {e}"))?;
                Ok::<u16, String>(status)
            })
            .await
            .unwrap_or_else(|_| Err(format!("no answer in {} s", REQUEST_TIMEOUT.as_secs())));
            let latency_ms = sent_at.elapsed().as_secs_f64() * 1000.0;
            let status = match outcome {
                Ok(s) => Some(s),
                Err(why) => {
                    let mut errors = errors.lock().unwrap_or_else(PoisonError::into_inner);
                    if errors.len() < 20 && !errors.contains(&why) {
                        errors.push(why);
                    }
                    None
                }
            };
            records
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Record {
                    sent_ms,
                    latency_ms,
                    status,
                });
        });
        // Reap finished requests as we go, so the set stays small.
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
}

/// A client error with its cause chain: "connection refused" lives in the source.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The `q`-quantile (0..=1) of `values`, nearest rank; 0 for none.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let cases: [(&[f64], f64, f64); 5] = [
            (&[], 0.99, 0.0),
            (&[5.0], 0.99, 5.0),
            (&[3.0, 1.0, 2.0], 0.5, 2.0),
            (&[1.0, 2.0, 3.0, 4.0], 0.99, 4.0),
            (&[1.0, 2.0, 3.0, 4.0], 0.25, 1.0),
        ];
        for (values, q, want) in cases {
            assert_eq!(quantile(&mut values.to_vec(), q), want, "{values:?} q={q}");
        }
    }

    #[test]
    fn failures_are_errors_and_5xx() {
        let r = |status| Record {
            sent_ms: 0,
            latency_ms: 1.0,
            status,
        };
        assert!(r(None).failed());
        assert!(r(Some(503)).failed());
        assert!(!r(Some(404)).failed());
        assert!(!r(Some(200)).failed());
    }
}
