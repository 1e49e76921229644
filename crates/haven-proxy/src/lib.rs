//! The ALB twin: an HTTP reverse proxy with target groups, health checks and draining.
//!
//! The region process runs one [`Listener`] per load balancer in front of its tasks; the
//! edge process runs one with [`Routing::Failover`] in front of the regions (the Route 53
//! twin). Behaviour follows AWS where AWS documents it:
//!
//! * targets start `initial`; they turn `unhealthy` after `unhealthy_threshold` consecutive
//!   failures; a new target turns `healthy` after one pass, as AWS documents, and an
//!   unhealthy one after `healthy_threshold` consecutive passes ([`TargetGroup`]);
//! * a group with no healthy target fails open to its unhealthy targets;
//! * deregistered targets drain until idle or until the deregistration delay elapses;
//! * errors are the ALB's 502/503/504 with its small HTML pages ([`serve`]); the 503 of a
//!   listener with no target to send to carries [`NO_TARGET_HEADER`], which a proxy in
//!   front (the edge) reads as "try the next one" for an idempotent request;
//! * [`serve_when_healthy`] listens only once the listener has a healthy target, so that a
//!   restarted load balancer refuses connections until it can serve.
//!
//! Where the twin deliberately differs, the item's documentation says so.
//!
//! ```no_run
//! # async fn run() -> Result<(), haven_proxy::Error> {
//! use std::time::Duration;
//! use haven_proxy::*;
//!
//! let mut cfg = TargetGroupConfig::new("web");
//! cfg.health_check.path = "/health".into();
//! cfg.health_check.interval = Duration::from_secs(5);
//! let group = TargetGroup::new(cfg)?;
//! group.register("task-1", "127.0.0.1:9001".parse().unwrap());
//!
//! let (stop, stopped) = tokio::sync::watch::channel(false);
//! let checks = group.spawn_health_checks(stopped.clone());
//! let listener = Listener::new("app/web", ForwardAction::single(group.clone()));
//! let tcp = tokio::net::TcpListener::bind("127.0.0.1:8080").await.map_err(Error::Listener)?;
//! let server = tokio::spawn(serve(tcp, listener, ProxyConfig::default(), stopped));
//! // ... later:
//! stop.send_replace(true);
//! # drop((checks, server));
//! # Ok(()) }
//! ```

mod access_log;
mod body;
mod conn;
mod desync;
mod dial;
mod error;
mod error_page;
mod handler;
mod headers;
mod health;
mod latency;
mod listener;
mod matcher;
mod metrics;
mod request_log;
mod serve;
mod target;
mod target_group;
mod upstream;
mod wire;
mod workers;

pub use access_log::{
    AccessLog, AccessLogEntry, Batch, LogProtocol, format_alb_line, write_alb_line,
};
pub use dial::Dialer;
pub use error::{Error, Result};
pub use error_page::NO_TARGET_HEADER;
pub use health::{HEALTH_CHECK_USER_AGENT, HealthCheck};
pub use latency::InjectedLatency;
pub use listener::{ForwardAction, Listener};
pub use matcher::Matcher;
pub use metrics::{BUCKET_BOUNDS_MICROS, Metrics, MetricsSnapshot};
pub use serve::{DesyncMitigationMode, ProxyConfig, Reserved, serve, serve_when_healthy};
pub use target::{Reason, TargetEvent, TargetSnapshot, TargetState};
pub use target_group::{Algorithm, Routed, Routing, TargetGroup, TargetGroupConfig};
