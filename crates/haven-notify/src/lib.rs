//! The SNS twin: the spec's topics and their subscriptions, e-mail through SMTP to a loopback
//! relay, webhooks as JSON POSTs signed with HMAC-SHA256 and retried with backoff, an on-disk
//! outbox holding every message and its delivery status, resumed after a crash.
//!
//! ```text
//! publish(msg) ──► outbox/<id>.json (fsync) ──► a task per subscription
//!                                               ├─ e-mail: SMTP to local.smtp_relay
//!                                               └─ webhook: POST, X-Haven-Signature
//!                  each attempt's outcome ──► outbox/<id>.json (pending/delivered/failed)
//! ```

mod error;
mod from_spec;
mod message;
mod notifier;
mod outbox;
pub mod smtp;
pub mod webhook;

pub use error::{Error, Result, SmtpError, WebhookError};
pub use from_spec::config_from_spec;
pub use message::{
    ACCOUNT_ID, AlarmChange, AlarmState, ApprovalRequest, Message, MessageId, MessageKind,
    PipelineFailure, rfc3339_millis, rfc3339_secs, topic_arn,
};
pub use notifier::{Notifier, NotifyConfig, RetryPolicy, TopicConfig};
pub use outbox::{Delivery, DeliveryState, Outbox, OutboxEntry, Protocol};
pub use webhook::verify_signature;
