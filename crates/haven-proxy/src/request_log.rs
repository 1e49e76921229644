//! What the proxy keeps of a request for its access-log entry, from arrival until the
//! response is complete: cheap handles on the request's own bytes, so that logging copies
//! no text and allocates nothing until the entry goes into the sink.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Method, Version, request};
use hyper::body::{Body as _, Incoming};

use crate::access_log::{AccessLog, AccessLogEntry, LogProtocol};
use crate::conn::Protocol;
use crate::headers::Scan;
use crate::target_group::TargetGroup;

/// A connection's way to its listener's access log: the sink and the listener's name, held
/// once per connection (a clone per request would touch counts every worker shares).
#[derive(Debug)]
pub(crate) struct ConnLog {
    pub(crate) sink: AccessLog,
    pub(crate) elb: Arc<str>,
}

/// The trace id logged: the client's, or the one the proxy generated for the request.
enum Trace {
    None,
    Header(HeaderValue),
    Generated([u8; 40]),
}

/// Request facts kept for the access log (captured only when logging is on).
pub(crate) struct LogInfo {
    protocol: LogProtocol,
    arrived: SystemTime,
    method: Method,
    path: Option<PathAndQuery>,
    port: u16,
    version: &'static str,
    user_agent: Option<HeaderValue>,
    host: Option<HeaderValue>,
    /// The request's authority, when it has no Host header (HTTP/2).
    authority: Option<Authority>,
    trace: Trace,
    received: u64,
    client: SocketAddr,
    pub(crate) classification: Option<(&'static str, &'static str)>,
}

impl LogInfo {
    /// The request's facts, from its head and the fields `scan` found.
    pub(crate) fn capture(
        protocol: Protocol,
        client: SocketAddr,
        port: u16,
        head: &request::Parts,
        body: &Incoming,
        scan: &Scan<'_>,
    ) -> Self {
        let path = head.uri.path_and_query();
        let head_len = scan.fields_len
            + head.method.as_str().len()
            + path.map_or(1, |p| p.as_str().len())
            + 12;
        Self {
            protocol: match protocol {
                Protocol::Http1 => LogProtocol::Http,
                Protocol::Http2 => LogProtocol::H2,
            },
            arrived: haven_time::now(),
            method: head.method.clone(),
            path: path.cloned(),
            port,
            version: match head.version {
                Version::HTTP_10 => "HTTP/1.0",
                Version::HTTP_2 => "HTTP/2.0",
                _ => "HTTP/1.1",
            },
            user_agent: scan.user_agent.cloned(),
            host: scan.host.cloned(),
            authority: match scan.host {
                None => head.uri.authority().cloned(),
                Some(_) => None,
            },
            trace: scan.trace_id.cloned().map_or(Trace::None, Trace::Header),
            received: head_len as u64 + body.size_hint().exact().unwrap_or(0),
            client,
            classification: None,
        }
    }

    /// Logs the trace id the proxy generated for the request.
    pub(crate) fn set_generated_trace(&mut self, id: [u8; 40]) {
        self.trace = Trace::Generated(id);
    }

    /// The entry's facts once the response is decided.
    pub(crate) fn finish(self, outcome: Outcome) -> Finished {
        Finished {
            info: self,
            outcome,
        }
    }
}

/// What became of a request: the response's facts for its access-log entry.
pub(crate) struct Outcome {
    pub(crate) elb_status: u16,
    pub(crate) target: Option<SocketAddr>,
    pub(crate) group: Option<Arc<TargetGroup>>,
    pub(crate) target_status: Option<u16>,
    /// Request, target and response processing times.
    pub(crate) times: [Option<Duration>; 3],
    /// Bytes sent before the body: the head, or a page the proxy generated.
    pub(crate) sent: u64,
    pub(crate) error_reason: Option<&'static str>,
}

/// A request's log facts with its response's: all an entry needs but its end time and the
/// body bytes sent.
pub(crate) struct Finished {
    info: LogInfo,
    outcome: Outcome,
}

impl Finished {
    /// Puts the entry into the connection's access log, completed at `time` after
    /// `body_sent` body bytes.
    pub(crate) fn push(&self, log: &ConnLog, time: SystemTime, body_sent: u64) {
        let (info, o) = (&self.info, &self.outcome);
        let entry = AccessLogEntry {
            protocol: info.protocol,
            time,
            request_creation_time: info.arrived,
            elb: &log.elb,
            client: info.client,
            target: o.target,
            request_processing_time: o.times[0],
            target_processing_time: o.times[1],
            response_processing_time: o.times[2],
            elb_status_code: o.elb_status,
            target_status_code: o.target_status,
            received_bytes: info.received,
            sent_bytes: o.sent + body_sent,
            method: info.method.as_str(),
            port: info.port,
            path: info.path.as_ref().map_or("/", PathAndQuery::as_str),
            http_version: info.version,
            user_agent: text(&info.user_agent),
            target_group: o.group.as_deref().map(TargetGroup::name),
            trace_id: match &info.trace {
                Trace::None => None,
                Trace::Header(v) => v.to_str().ok(),
                Trace::Generated(id) => std::str::from_utf8(id).ok(),
            },
            domain_name: text(&info.host).or(info.authority.as_ref().map(Authority::as_str)),
            actions_executed: "forward",
            error_reason: o.error_reason,
            classification: info.classification.map(|c| c.0),
            classification_reason: info.classification.map(|c| c.1),
        };
        log.sink.push(&entry);
    }
}

/// A header's value as text; values that are not visible ASCII are logged as missing.
fn text(v: &Option<HeaderValue>) -> Option<&str> {
    v.as_ref().and_then(|v| v.to_str().ok())
}
