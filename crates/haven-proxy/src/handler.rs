//! Forwarding one request: target choice, header rewriting, the upstream call with its
//! timeouts, error mapping to ALB status codes, the one-time retry, metrics and logging.

use std::convert::Infallible;
use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, Version, header};
use hyper::body::{Body as _, Incoming};

use crate::access_log::{AccessLog, AccessLogEntry, LogProtocol};
use crate::body::{PendingLog, ProxyBody, Tail};
use crate::conn::{ConnShared, Protocol};
use crate::error_page;
use crate::headers::{self, MAX_FORWARDED_FOR};
use crate::listener::Listener;
use crate::metrics::Counter;
use crate::serve::{DesyncMitigationMode, ProxyConfig};
use crate::target::{InFlight, Target};
use crate::target_group::TargetGroup;
use crate::upstream::UpstreamBody;

/// Per-`serve` state shared by all connections.
pub(crate) struct ServeShared {
    pub(crate) config: ProxyConfig,
    pub(crate) listener: Arc<Listener>,
    pub(crate) elb_name: Arc<str>,
    pub(crate) port: u16,
}

/// Per-connection state shared by its requests.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<ServeShared>,
    pub(crate) conn: Arc<ConnShared>,
    pub(crate) client: SocketAddr,
    pub(crate) client_ip: HeaderValue,
    pub(crate) port_value: HeaderValue,
    pub(crate) protocol: Protocol,
}

/// Counts a request as in progress on its connection (the idle timer leaves it alone).
struct Active<'a>(&'a ConnShared);

impl<'a> Active<'a> {
    fn new(conn: &'a ConnShared) -> Self {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(conn)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.activity.fetch_add(1, Ordering::Relaxed);
    }
}

/// The hyper service function.
pub(crate) async fn handle(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let _active = Active::new(&ctx.conn);
    Ok(forward(&ctx, req).await)
}

/// Why a forwarding attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Connection refused, reset or unreachable while connecting.
    ConnectFailed,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// The connection closed or reset before a complete response head.
    Lost,
    /// The target sent something that is not a valid HTTP response.
    Malformed,
    /// No response head within the target timeout.
    Timeout,
    /// The deregistration delay of a draining target elapsed.
    Cut,
}

impl Failure {
    fn status(self) -> u16 {
        match self {
            Self::ConnectTimeout | Self::Timeout => 504,
            Self::ConnectFailed | Self::Lost | Self::Malformed | Self::Cut => 502,
        }
    }

    /// Safe to send again elsewhere: the target produced no response.
    fn retryable(self) -> bool {
        matches!(self, Self::ConnectFailed | Self::Lost)
    }

    fn is_connection_error(self) -> bool {
        matches!(
            self,
            Self::ConnectFailed | Self::ConnectTimeout | Self::Lost
        )
    }

    fn reason(self) -> &'static str {
        match self {
            Self::ConnectFailed => "TargetConnectionError",
            Self::ConnectTimeout => "TargetConnectionTimeout",
            Self::Lost => "TargetConnectionClosed",
            Self::Malformed => "TargetResponseMalformed",
            Self::Timeout => "TargetResponseTimeout",
            Self::Cut => "TargetDeregistered",
        }
    }
}

/// Methods whose repetition has no additional effect (RFC 9110 §9.2.2). TRACE is
/// idempotent too but never forwarded (the ALB answers it with 405).
fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    )
}

/// Request facts kept for the access log (captured only when logging is on).
struct LogInfo {
    sink: AccessLog,
    protocol: LogProtocol,
    arrived: SystemTime,
    method: String,
    url: String,
    version: &'static str,
    user_agent: Option<String>,
    host: Option<String>,
    trace_id: Option<String>,
    received: u64,
    client: SocketAddr,
    elb: Arc<str>,
    classification: Option<(&'static str, &'static str)>,
}

impl LogInfo {
    fn capture(ctx: &ConnCtx, sink: &AccessLog, req: &Request<Incoming>) -> Self {
        let h = req.headers();
        let text = |v: Option<&HeaderValue>| v.and_then(|v| v.to_str().ok()).map(str::to_owned);
        let host =
            text(h.get(header::HOST)).or_else(|| req.uri().authority().map(|a| a.to_string()));
        let host_only = host
            .as_deref()
            .map_or("-", |h| h.rsplit_once(':').map_or(h, |(n, _)| n));
        let pq = req.uri().path_and_query().map_or("/", PathAndQuery::as_str);
        let head: usize = h
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>()
            + req.method().as_str().len()
            + pq.len()
            + 12;
        let body = req.body().size_hint().exact().unwrap_or(0);
        Self {
            sink: sink.clone(),
            protocol: match ctx.protocol {
                Protocol::Http1 => LogProtocol::Http,
                Protocol::Http2 => LogProtocol::H2,
            },
            arrived: SystemTime::now(),
            method: req.method().as_str().to_owned(),
            url: format!("http://{host_only}:{}{pq}", ctx.shared.port),
            version: match req.version() {
                Version::HTTP_10 => "HTTP/1.0",
                Version::HTTP_2 => "HTTP/2.0",
                _ => "HTTP/1.1",
            },
            user_agent: text(h.get(header::USER_AGENT)),
            host,
            trace_id: text(h.get(&headers::X_AMZN_TRACE_ID)),
            received: head as u64 + body,
            client: ctx.client,
            elb: ctx.shared.elb_name.clone(),
            classification: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        self,
        elb_status: u16,
        target: Option<(&Target, &TargetGroup)>,
        target_status: Option<u16>,
        times: [Option<Duration>; 3],
        sent: u64,
        error_reason: Option<&'static str>,
    ) -> (AccessLog, AccessLogEntry) {
        let entry = AccessLogEntry {
            protocol: self.protocol,
            time: SystemTime::now(),
            request_creation_time: self.arrived,
            elb: self.elb,
            client: self.client,
            target: target.map(|(t, _)| t.addr),
            request_processing_time: times[0],
            target_processing_time: times[1],
            response_processing_time: times[2],
            elb_status_code: elb_status,
            target_status_code: target_status,
            received_bytes: self.received,
            sent_bytes: sent,
            method: self.method,
            url: self.url,
            http_version: self.version,
            user_agent: self.user_agent,
            target_group: target.map(|(_, g)| Arc::from(g.name())),
            trace_id: self.trace_id,
            domain_name: self.host,
            actions_executed: "forward",
            error_reason,
            classification: self.classification.map(|c| c.0),
            classification_reason: self.classification.map(|c| c.1),
        };
        (self.sink, entry)
    }
}

/// A response generated by the proxy, with its metrics and log entry.
fn elb_reply(
    ctx: &ConnCtx,
    status: u16,
    group: Option<&TargetGroup>,
    log: Option<LogInfo>,
    target: Option<&Target>,
    times: [Option<Duration>; 3],
    error_reason: Option<&'static str>,
) -> Response<ProxyBody> {
    ctx.shared.listener.live_metrics().elb_status(status);
    if let Some(g) = group {
        g.live_metrics().elb_status(status);
    }
    if let Some(info) = log {
        let tg = target.zip(group);
        let (sink, entry) = info.entry(
            status,
            tg,
            None,
            times,
            error_page::len(status) as u64,
            error_reason,
        );
        sink.emit(entry);
    }
    // HTTP/2 has no Connection header; there a 400 only ends the stream.
    let close = status == 400 && ctx.protocol == Protocol::Http1;
    error_page::response(status, close)
}

async fn forward(ctx: &ConnCtx, req: Request<Incoming>) -> Response<ProxyBody> {
    let arrived = Instant::now();
    let shared = &ctx.shared;
    let lm = shared.listener.live_metrics();
    let mut log = shared
        .config
        .access_log
        .as_ref()
        .map(|sink| LogInfo::capture(ctx, sink, &req));
    let mut close_upstream = false;

    if ctx.protocol == Protocol::Http1 {
        let index = ctx.conn.req_seq.fetch_add(1, Ordering::Relaxed);
        if ctx.conn.bad_head.load(Ordering::Acquire) == index {
            lm.incr(Counter::DesyncNonCompliant);
            if let Some(info) = log.as_mut() {
                info.classification = Some(("Ambiguous", "BothTeClPresent"));
            }
            match shared.config.desync_mitigation_mode {
                DesyncMitigationMode::Strictest => {
                    return elb_reply(
                        ctx,
                        400,
                        None,
                        log,
                        None,
                        [None; 3],
                        Some("DesyncMitigationBlocked"),
                    );
                }
                // Forward, but reuse neither connection (hyper closes the client's).
                DesyncMitigationMode::Defensive => close_upstream = true,
                DesyncMitigationMode::Monitor => {}
            }
        }
    }
    if req.method() == Method::TRACE {
        return elb_reply(ctx, 405, None, log, None, [None; 3], None);
    }
    if headers::forwarded_for_len(req.headers()) > MAX_FORWARDED_FOR {
        return elb_reply(ctx, 463, None, log, None, [None; 3], None);
    }
    let Some(group) = shared.listener.pick_group() else {
        return elb_reply(ctx, 503, None, log, None, [None; 3], None);
    };
    let Some(mut target) = group.pick(None) else {
        return elb_reply(ctx, 503, Some(&group), log, None, [None; 3], None);
    };
    let gm = group.live_metrics();
    lm.incr(Counter::RequestCount);
    gm.incr(Counter::RequestCount);

    let (mut parts, body) = req.into_parts();
    // HTTP/2 carries the host in :authority; HTTP/1.1 targets need a Host header.
    if !parts.headers.contains_key(header::HOST) {
        if let Some(authority) = parts.uri.authority() {
            if let Ok(v) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(header::HOST, v);
            }
        }
    }
    headers::strip_hop_by_hop(&mut parts.headers);
    headers::add_forwarded(&mut parts.headers, &ctx.client_ip, &ctx.port_value);
    if close_upstream {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(info) = log.as_mut() {
        if info.trace_id.is_none() {
            info.trace_id = parts
                .headers
                .get(&headers::X_AMZN_TRACE_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
        }
    }
    let pq = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let empty = body.is_end_stream();
    let mut retry = (shared.config.retry_idempotent && empty && idempotent(&parts.method))
        .then(|| (parts.method.clone(), parts.headers.clone()));
    let mut upstream = Request::new(if empty {
        UpstreamBody::Empty
    } else {
        UpstreamBody::Incoming(body)
    });
    *upstream.method_mut() = parts.method;
    *upstream.headers_mut() = parts.headers;
    *upstream.version_mut() = Version::HTTP_11;

    loop {
        *upstream.uri_mut() = target_uri(&target, &pq);
        let in_flight = InFlight::new(target.clone());
        let sent_at = Instant::now();
        match send(&target, upstream, shared.config.target_timeout).await {
            Ok(resp) => {
                let head_at = Instant::now();
                let status = resp.status().as_u16();
                let rt = head_at - sent_at;
                for m in [lm, gm] {
                    m.target_status(status);
                    m.response_time(rt);
                }
                let (mut rparts, rbody) = resp.into_parts();
                headers::strip_hop_by_hop(&mut rparts.headers);
                let log = log.map(|info| {
                    let head: usize = rparts
                        .headers
                        .iter()
                        .map(|(n, v)| n.as_str().len() + v.len() + 4)
                        .sum();
                    let (sink, entry) = info.entry(
                        status,
                        Some((&target, &group)),
                        Some(status),
                        [Some(sent_at - arrived), Some(rt), Some(head_at.elapsed())],
                        head as u64 + 17,
                        None,
                    );
                    Box::new(PendingLog { entry, sink })
                });
                let tail = Tail {
                    in_flight,
                    log,
                    sent: 0,
                };
                return Response::from_parts(rparts, ProxyBody::upstream(rbody, tail));
            }
            Err(failure) => {
                drop(in_flight);
                if failure.is_connection_error() {
                    lm.incr(Counter::TargetConnectionErrors);
                    gm.incr(Counter::TargetConnectionErrors);
                }
                tracing::debug!(group = group.name(), target = %target.addr, ?failure, "forwarding failed");
                if failure.retryable() {
                    if let Some((method, headers)) = retry.take() {
                        if let Some(next) = group.pick(Some(&target)) {
                            lm.incr(Counter::RetriedRequests);
                            gm.incr(Counter::RetriedRequests);
                            upstream = rebuild(method, headers);
                            target = next;
                            continue;
                        }
                    }
                }
                let times = [Some(sent_at - arrived), None, None];
                return elb_reply(
                    ctx,
                    failure.status(),
                    Some(&group),
                    log,
                    Some(&target),
                    times,
                    Some(failure.reason()),
                );
            }
        }
    }
}

fn rebuild(method: Method, headers: HeaderMap) -> Request<UpstreamBody> {
    let mut req = Request::new(UpstreamBody::Empty);
    *req.method_mut() = method;
    *req.headers_mut() = headers;
    *req.version_mut() = Version::HTTP_11;
    req
}

fn target_uri(target: &Target, pq: &PathAndQuery) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(target.authority.clone());
    parts.path_and_query = Some(pq.clone());
    // Scheme, authority and path are each valid, so the parts always form a URI.
    Uri::from_parts(parts).unwrap_or_default()
}

/// One attempt, bounded by the target timeout and by the target's deregistration delay.
async fn send(
    target: &Arc<Target>,
    req: Request<UpstreamBody>,
    timeout: Duration,
) -> Result<Response<Incoming>, Failure> {
    let cut = target.cut_notify.notified();
    tokio::pin!(cut);
    // Register before checking the flag so a cut in between is not missed.
    cut.as_mut().enable();
    if target.is_cut() {
        return Err(Failure::Cut);
    }
    tokio::select! {
        biased;
        result = tokio::time::timeout(timeout, target.client().request(req)) => match result {
            Err(_elapsed) => Err(Failure::Timeout),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(err)) => Err(classify(&err)),
        },
        () = &mut cut => Err(Failure::Cut),
    }
}

fn classify(err: &hyper_util::client::legacy::Error) -> Failure {
    let mut io_kind = None;
    let mut hyper_err: Option<&hyper::Error> = None;
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = source {
        if hyper_err.is_none() {
            hyper_err = e.downcast_ref::<hyper::Error>();
        }
        if io_kind.is_none() {
            io_kind = e.downcast_ref::<io::Error>().map(io::Error::kind);
        }
        source = e.source();
    }
    if err.is_connect() {
        return if io_kind == Some(io::ErrorKind::TimedOut) {
            Failure::ConnectTimeout
        } else {
            Failure::ConnectFailed
        };
    }
    match hyper_err {
        Some(h) if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() => {
            Failure::Malformed
        }
        Some(h) if h.is_timeout() => Failure::Timeout,
        Some(h) if h.is_incomplete_message() || h.is_canceled() || h.is_closed() => Failure::Lost,
        _ if io_kind.is_some() => Failure::Lost,
        _ => Failure::Malformed,
    }
}
