//! Errors: the notifier's own (outbox, topics) and each delivery protocol's, which end up as
//! a delivery's `last_error` text.

use std::io;
use std::path::PathBuf;

use crate::message::MessageId;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something the notifier or its outbox could not do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    #[error("{}: not a haven outbox record: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("topic `{0}` is not in the spec's [notifications.topics]")]
    UnknownTopic(String),
    #[error("no message {0} in the outbox")]
    NotFound(MessageId),
    #[error("`{0}` is not a message id")]
    BadMessageId(String),
    #[error("message {0} is already in the outbox: publish a new message instead")]
    AlreadyPublished(MessageId),
    #[error("outbox task failed: {0}")]
    Task(String),
}

impl Error {}

/// Why an e-mail could not be handed to the SMTP relay.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("no SMTP relay configured (set local.smtp_relay)")]
    NoRelay,
    #[error("SMTP relay `{relay}`: {reason}")]
    BadRelay { relay: String, reason: String },
    #[error(
        "SMTP relay `{relay}` resolves to {addr}, which is not loopback: the twin speaks SMTP \
         without TLS, so it only uses a relay on this machine"
    )]
    NotLoopback {
        relay: String,
        addr: std::net::SocketAddr,
    },
    #[error("`{0}` cannot be used as an e-mail address")]
    BadAddress(String),
    #[error("cannot connect to SMTP relay {relay}: {source}")]
    Connect { relay: String, source: io::Error },
    #[error("SMTP relay {relay} did not answer {during} within {after:?}")]
    Timeout {
        relay: String,
        during: String,
        after: std::time::Duration,
    },
    #[error("SMTP relay {relay} answered {command} with {code} {text}")]
    Reply {
        relay: String,
        command: String,
        code: u16,
        text: String,
    },
    /// The session broke off without a reply code: the connection dropped, or the relay's
    /// answer was not SMTP.
    #[error("SMTP relay {relay}, {during}: {source}")]
    Session {
        relay: String,
        during: String,
        source: lettre::transport::smtp::Error,
    },
    #[error("`{0}` cannot be an e-mail header field name")]
    BadHeader(String),
    #[error("cannot build the e-mail: {0}")]
    Message(String),
}

impl SmtpError {
    /// Whether trying again cannot help: configuration mistakes and 5xx replies, which SMTP
    /// defines as permanent; 4xx replies, timeouts and connection errors are worth a retry.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::NoRelay | Self::BadRelay { .. } | Self::NotLoopback { .. } => true,
            Self::BadAddress(_) | Self::BadHeader(_) | Self::Message(_) => true,
            Self::Reply { code, .. } => *code >= 500,
            Self::Connect { .. } | Self::Timeout { .. } | Self::Session { .. } => false,
        }
    }
}

/// Why a webhook POST did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "{url}: the local twin does not do TLS, so it cannot deliver to https:// webhooks; \
         use an http:// URL for a receiver on this machine"
    )]
    Https { url: String },
    #[error("`{url}` is not a webhook URL the twin can use: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot connect to {url}: {source}")]
    Connect { url: String, source: io::Error },
    #[error("{url} did not answer within {after:?}")]
    Timeout {
        url: String,
        after: std::time::Duration,
    },
    #[error("{url}: {source}")]
    Http { url: String, source: hyper::Error },
    #[error("{url} answered {status}{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Status {
        url: String,
        status: http::StatusCode,
        /// The start of the response body, for the receiver's own explanation.
        body: String,
    },
}

impl WebhookError {
    /// Whether trying again cannot help: the URL itself is unusable. Every answer that is not
    /// 2xx is retried, as the brief of the twin (and SNS's HTTP delivery policy for 5xx) says.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Https { .. } | Self::BadUrl { .. })
    }
}
