//! The notifier: publishes messages to topics. Each message is first made durable in the
//! outbox, then delivered to every subscription of its topic by a task of its own, which
//! retries with exponential backoff and records each attempt's outcome in the outbox. On
//! open, deliveries a previous run left pending are resumed, so a crash loses nothing (a
//! delivery cut short may happen twice: at-least-once, as SNS).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::error::{Error, Result, SmtpError};
use crate::message::{Message, MessageId, rfc3339_millis};
use crate::outbox::{Delivery, DeliveryState, Outbox, OutboxEntry, Protocol, now_rfc3339};
use crate::{smtp, webhook};

/// How often and how patiently a delivery is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait after the first failed attempt; each later wait doubles, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// SNS's default HTTP delivery policy: 3 retries, 20 s apart.
    fn default() -> Self {
        Self {
            attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// A topic's subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicConfig {
    pub emails: Vec<String>,
    pub webhooks: Vec<String>,
    /// The HMAC key for webhook signatures (the value of the spec's SSM parameter). Without
    /// one, webhooks are sent unsigned.
    pub webhook_secret: Option<String>,
}

/// What the notifier delivers, and how.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The e-mails' sender (`notifications.from`).
    pub from: String,
    /// `host:port` of a loopback SMTP relay (`local.smtp_relay`).
    pub smtp_relay: Option<String>,
    pub topics: BTreeMap<String, TopicConfig>,
    pub retry: RetryPolicy,
    /// The longest wait for one SMTP reply or one webhook answer.
    pub timeout: Duration,
}

impl NotifyConfig {
    /// No topics, no relay, default retries, 10 s timeouts.
    pub fn new(from: &str) -> Self {
        Self {
            from: from.to_owned(),
            smtp_relay: None,
            topics: BTreeMap::new(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The SNS twin of one region. Dropping it stops its deliveries (their state stays pending
/// in the outbox and resumes on the next open); [`Notifier::close`] also waits for them.
pub struct Notifier {
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
}

struct Inner {
    outbox: Arc<Outbox>,
    config: NotifyConfig,
    shutdown: watch::Receiver<bool>,
    /// Ours: its sender lives in the `Notifier`, so that dropping it stops the tasks.
    stop: watch::Receiver<bool>,
    /// Counts recorded status changes, for waiters.
    changes: watch::Sender<u64>,
    /// Delivery tasks running.
    in_flight: watch::Sender<usize>,
}

impl Notifier {
    /// Opens the outbox in `outbox_dir` (creating it) and resumes the deliveries a previous
    /// run left pending. Deliveries stop when `shutdown` turns true or its sender is dropped.
    pub async fn open(
        outbox_dir: &Path,
        config: NotifyConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self> {
        let dir = outbox_dir.to_owned();
        let (outbox, pending) = blocking(move || {
            let outbox = Outbox::create(&dir)?;
            let mut pending = Vec::new();
            for id in outbox.ids()? {
                match outbox.get(&id) {
                    Ok(e) if !e.is_settled() => pending.push(e),
                    Ok(_) | Err(Error::NotFound(_)) => {}
                    // One damaged record must not keep the region's notifications down.
                    Err(e) => tracing::warn!("not resuming deliveries: {e}"),
                }
            }
            Ok((outbox, pending))
        })
        .await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let notifier = Self {
            inner: Arc::new(Inner {
                outbox: Arc::new(outbox),
                config,
                shutdown,
                stop: stop_rx,
                changes: watch::channel(0).0,
                in_flight: watch::channel(0).0,
            }),
            stop: stop_tx,
        };
        for entry in pending {
            let resumed = entry
                .deliveries
                .iter()
                .filter(|d| d.state == DeliveryState::Pending)
                .count();
            tracing::info!(
                "resuming {resumed} pending deliveries of message {}",
                entry.message.id
            );
            notifier.spawn_deliveries(entry);
        }
        Ok(notifier)
    }

    /// Publishes `message` to its topic: records it in the outbox (durably) and starts its
    /// deliveries, one per subscription. Returns once the message is recorded; delivery
    /// happens in the background ([`Notifier::wait`] awaits it). After shutdown, the message
    /// is recorded and its deliveries wait for the next open.
    pub async fn publish(&self, message: Message) -> Result<MessageId> {
        let topic = self
            .inner
            .config
            .topics
            .get(&message.topic)
            .ok_or_else(|| Error::UnknownTopic(message.topic.clone()))?;
        let mut deliveries: Vec<Delivery> = Vec::new();
        let subscriptions = topic
            .emails
            .iter()
            .map(|e| (Protocol::Email, e))
            .chain(topic.webhooks.iter().map(|w| (Protocol::Webhook, w)));
        for (protocol, endpoint) in subscriptions {
            // SNS has one subscription per protocol and endpoint.
            if !deliveries
                .iter()
                .any(|d| d.protocol == protocol && d.endpoint == *endpoint)
            {
                deliveries.push(Delivery::pending(protocol, endpoint));
            }
        }
        let id = message.id.clone();
        let entry = OutboxEntry {
            message,
            deliveries,
        };
        let outbox = Arc::clone(&self.inner.outbox);
        let record = entry.clone();
        blocking(move || outbox.insert(&record)).await?;
        self.inner.changed();
        self.spawn_deliveries(entry);
        Ok(id)
    }

    /// The deliveries of message `id`, as recorded.
    pub async fn deliveries(&self, id: &MessageId) -> Result<Vec<Delivery>> {
        Ok(self.get(id).await?.deliveries)
    }

    /// Message `id` and its deliveries.
    pub async fn get(&self, id: &MessageId) -> Result<OutboxEntry> {
        let outbox = Arc::clone(&self.inner.outbox);
        let id = id.clone();
        blocking(move || outbox.get(&id)).await
    }

    /// The newest `limit` messages with their deliveries, newest first.
    pub async fn list(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let outbox = Arc::clone(&self.inner.outbox);
        blocking(move || outbox.list(limit)).await
    }

    /// Waits until every delivery of message `id` is delivered or failed, or deliveries
    /// stop (shutdown), and returns the message as recorded then.
    pub async fn wait(&self, id: &MessageId) -> Result<OutboxEntry> {
        let mut changes = self.inner.changes.subscribe();
        loop {
            changes.borrow_and_update();
            let entry = self.get(id).await?;
            if entry.is_settled() || self.inner.stopping() {
                return Ok(entry);
            }
            tokio::select! {
                // The sender lives in `inner`, which we hold: this cannot fail.
                _ = changes.changed() => {}
                () = self.inner.stopped() => {}
            }
        }
    }

    /// A receiver that changes whenever a delivery's status is recorded.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Waits until no delivery task is running: after shutdown, until all have stopped.
    pub async fn drain(&self) {
        let mut in_flight = self.inner.in_flight.subscribe();
        // The sender lives in `inner`, which we hold: this cannot fail.
        if in_flight.wait_for(|n| *n == 0).await.is_err() {
            tracing::debug!("delivery counter gone");
        }
    }

    /// Stops deliveries and waits for their tasks to end; pending ones resume on the next
    /// open.
    pub async fn close(self) {
        self.stop.send_replace(true);
        self.drain().await;
    }

    pub fn outbox_dir(&self) -> &Path {
        self.inner.outbox.dir()
    }

    fn spawn_deliveries(&self, entry: OutboxEntry) {
        if self.inner.stopping() {
            return;
        }
        let message = Arc::new(entry.message);
        for (index, d) in entry.deliveries.into_iter().enumerate() {
            if d.state != DeliveryState::Pending {
                continue;
            }
            // Counted before the task starts, so that `drain` cannot miss it.
            self.inner.in_flight.send_modify(|n| *n += 1);
            let guard = InFlight(Arc::clone(&self.inner));
            let message = Arc::clone(&message);
            tokio::spawn(async move {
                guard.0.deliver(&message, index, d).await;
                drop(guard);
            });
        }
    }
}

/// Decrements the running-task count when a delivery task ends, however it ends.
struct InFlight(Arc<Inner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// The outcome of one attempt.
struct Failure {
    error: String,
    permanent: bool,
}

impl Inner {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
            || self.shutdown.has_changed().is_err()
            || *self.stop.borrow()
            || self.stop.has_changed().is_err()
    }

    /// Resolves when shutdown is asked for (or its sender is gone).
    async fn stopped(&self) {
        let mut shutdown = self.shutdown.clone();
        let mut stop = self.stop.clone();
        // Either an answer or a dropped sender means stop; which one does not matter.
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Delivers message to subscription `index` until delivered, failed or stopped.
    async fn deliver(&self, message: &Message, index: usize, d: Delivery) {
        let max = self.config.retry.attempts.max(1);
        if let Err(f) = self.precheck(d.protocol, &d.endpoint) {
            self.finish(message, index, &d.endpoint, Err(f), d.attempts)
                .await;
            return;
        }
        let mut attempts = d.attempts;
        loop {
            if attempts >= max {
                // Only after a restart with fewer attempts configured than were made.
                let f = Failure {
                    error: d
                        .last_error
                        .clone()
                        .unwrap_or_else(|| format!("no attempts left of {max}")),
                    permanent: true,
                };
                self.finish(message, index, &d.endpoint, Err(f), attempts)
                    .await;
                return;
            }
            attempts += 1;
            let outcome = tokio::select! {
                r = self.attempt(message, d.protocol, &d.endpoint, attempts) => r,
                () = self.stopped() => return,
            };
            match outcome {
                Err(f) if !f.permanent && attempts < max => {
                    let wait = self.config.retry.backoff(attempts);
                    tracing::debug!(
                        "delivery of {} to {} failed (attempt {attempts} of {max}), next in {wait:?}: {}",
                        message.id,
                        webhook::redact(&d.endpoint),
                        f.error
                    );
                    let at = now_rfc3339();
                    self.record(message, index, move |rec| {
                        rec.attempts = attempts;
                        rec.last_attempt_at = Some(at);
                        rec.last_error = Some(f.error);
                    })
                    .await;
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.stopped() => return,
                    }
                }
                outcome => {
                    self.finish(message, index, &d.endpoint, outcome, attempts)
                        .await;
                    return;
                }
            }
        }
    }

    /// Configuration that rules a delivery out before any attempt.
    fn precheck(&self, protocol: Protocol, endpoint: &str) -> Result<(), Failure> {
        let permanent = |error: String| Failure {
            error,
            permanent: true,
        };
        match protocol {
            Protocol::Email if self.config.smtp_relay.is_none() => {
                Err(permanent(SmtpError::NoRelay.to_string()))
            }
            Protocol::Email => Ok(()),
            Protocol::Webhook => webhook::check_url(endpoint).map_err(|e| permanent(e.to_string())),
        }
    }

    async fn attempt(
        &self,
        message: &Message,
        protocol: Protocol,
        endpoint: &str,
        attempt: u32,
    ) -> Result<(), Failure> {
        let timeout = self.config.timeout;
        match protocol {
            Protocol::Email => {
                let Some(relay) = &self.config.smtp_relay else {
                    return Err(Failure {
                        error: SmtpError::NoRelay.to_string(),
                        permanent: true,
                    });
                };
                let mail = self.email(message, endpoint);
                smtp::send(relay, &mail, timeout)
                    .await
                    .map_err(|e| Failure {
                        permanent: e.is_permanent(),
                        error: e.to_string(),
                    })
            }
            Protocol::Webhook => {
                let secret = self
                    .config
                    .topics
                    .get(&message.topic)
                    .and_then(|t| t.webhook_secret.as_deref());
                webhook::post(endpoint, message, secret, attempt, timeout)
                    .await
                    .map_err(|e| Failure {
                        permanent: e.is_permanent(),
                        error: e.to_string(),
                    })
            }
        }
    }

    /// The e-mail for one subscriber, with a footer saying where it came from, as SNS's.
    fn email(&self, message: &Message, to: &str) -> smtp::Email {
        let domain = self
            .config
            .from
            .rsplit_once('@')
            .map_or("haven.localhost", |(_, d)| d);
        let mut body = message.body.trim_end().to_owned();
        body.push_str(&format!(
            "\n\n--\nSent by haven's SNS twin for topic {} (message {}).\n\
             To stop these e-mails, remove {to} from [notifications.topics.{}] in haven.toml.\n",
            message.topic_arn, message.id, message.topic
        ));
        smtp::Email {
            from: self.config.from.clone(),
            to: vec![to.to_owned()],
            subject: message.subject.clone(),
            body,
            message_id: format!("{}@{domain}", message.id),
            // The time it is handed to the relay: a retried e-mail is dated by its attempt.
            date: haven_time::now(),
            headers: vec![
                ("X-Haven-Message-Id".to_owned(), message.id.to_string()),
                ("X-Haven-Topic-Arn".to_owned(), message.topic_arn.clone()),
                ("X-Haven-Kind".to_owned(), message.kind.as_str().to_owned()),
            ],
        }
    }

    async fn finish(
        &self,
        message: &Message,
        index: usize,
        endpoint: &str,
        outcome: Result<(), Failure>,
        attempts: u32,
    ) {
        let now = haven_time::now();
        match outcome {
            Ok(()) => {
                tracing::info!(
                    "delivered {} to {} (attempt {attempts})",
                    message.id,
                    webhook::redact(endpoint)
                );
                self.record(message, index, move |rec| {
                    rec.state = DeliveryState::Delivered;
                    rec.attempts = attempts;
                    rec.last_attempt_at = Some(rfc3339_millis(now));
                    rec.delivered_at = Some(rfc3339_millis(now));
                })
                .await;
            }
            Err(f) => {
                tracing::warn!(
                    "gave up delivering {} to {} after {attempts} attempts: {}",
                    message.id,
                    webhook::redact(endpoint),
                    f.error
                );
                self.record(message, index, move |rec| {
                    rec.state = DeliveryState::Failed;
                    if attempts > rec.attempts {
                        rec.last_attempt_at = Some(rfc3339_millis(now));
                    }
                    rec.attempts = attempts;
                    rec.last_error = Some(f.error);
                })
                .await;
            }
        }
    }

    /// Writes a status change to the outbox. A failed write is logged: the delivery itself
    /// happened (or not) regardless, and there is no caller to tell.
    async fn record(
        &self,
        message: &Message,
        index: usize,
        change: impl FnOnce(&mut Delivery) + Send + 'static,
    ) {
        let outbox = Arc::clone(&self.outbox);
        let id = message.id.clone();
        if let Err(e) = blocking(move || outbox.update(&id, index, change)).await {
            tracing::error!("cannot record a delivery of {}: {e}", message.id);
        }
        self.changed();
    }
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}
