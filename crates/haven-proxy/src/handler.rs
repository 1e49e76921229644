//! Forwarding one request: target choice, header rewriting, the upstream call with its
//! timeouts, error mapping to ALB status codes, the one-time retry, metrics and logging.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use http::uri::{Authority, PathAndQuery};
use http::{HeaderValue, Method, Request, Response, Version, header};
use hyper::body::{Body as _, Incoming};

use crate::access_log::{AccessLogEntry, LogProtocol};
use crate::body::{ProxyBody, Streaming, Tail};
use crate::conn::{ConnShared, Protocol};
use crate::error_page;
use crate::headers::{self, BodyFraming, MAX_FORWARDED_FOR, Outgoing, Scan};
use crate::listener::Listener;
use crate::metrics::Counter;
use crate::serve::{DesyncMitigationMode, ProxyConfig};
use crate::target::{InFlight, Target};
use crate::target_group::TargetGroup;
use crate::upstream::{self, Conn, Fault};
use crate::wire::ResponseHead;

/// Per-`serve` state shared by all connections.
pub(crate) struct ServeShared {
    pub(crate) config: ProxyConfig,
    pub(crate) listener: Arc<Listener>,
    pub(crate) elb_name: Arc<str>,
    pub(crate) port: u16,
    /// The listener's port as text, for `X-Forwarded-Port`.
    pub(crate) port_text: String,
}

/// Per-connection state shared by its requests.
pub(crate) struct ConnCtx {
    pub(crate) shared: Arc<ServeShared>,
    pub(crate) conn: Arc<ConnShared>,
    pub(crate) client: SocketAddr,
    /// The client's address as text, for `X-Forwarded-For`.
    pub(crate) client_ip: String,
    pub(crate) protocol: Protocol,
}

/// Counts a request as in progress on its connection (the idle timer leaves it alone).
struct Active<'a>(&'a ConnShared);

impl<'a> Active<'a> {
    fn new(conn: &'a ConnShared) -> Self {
        conn.requests.fetch_add(1, Ordering::Relaxed);
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(conn)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.bump_activity();
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
    fn capture(ctx: &ConnCtx, req: &Request<Incoming>) -> Self {
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
    ) -> AccessLogEntry {
        AccessLogEntry {
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
            target_group: target.map(|(_, g)| g.name_arc()),
            trace_id: self.trace_id,
            domain_name: self.host,
            actions_executed: "forward",
            error_reason,
            classification: self.classification.map(|c| c.0),
            classification_reason: self.classification.map(|c| c.1),
        }
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
        let entry = info.entry(
            status,
            tg,
            None,
            times,
            error_page::len(status) as u64,
            error_reason,
        );
        if let Some(sink) = &ctx.conn.access_log {
            sink.push(&entry);
        }
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
        .map(|_| LogInfo::capture(ctx, &req));
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
    let (parts, body) = req.into_parts();
    let scan = Scan::of(&parts.headers);
    if scan.forwarded_for > MAX_FORWARDED_FOR {
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

    let trace_id = (!scan.has_trace_id).then(headers::trace_id);
    if let (Some(info), Some(id)) = (log.as_mut(), trace_id.as_ref()) {
        info.trace_id = Some(String::from_utf8_lossy(id).into_owned());
    }
    let empty = body.is_end_stream();
    let outgoing = Outgoing {
        method: &parts.method,
        // Targets get origin-form; HTTP/2 and absolute-form requests carry more, which
        // the Host field already holds.
        target: parts.uri.path_and_query().map_or("/", PathAndQuery::as_str),
        headers: &parts.headers,
        scan: &scan,
        authority: parts.uri.authority().map(Authority::as_str),
        client_ip: &ctx.client_ip,
        port: &shared.port_text,
        trace_id: trace_id.as_ref().map_or(&[][..], |id| &id[..]),
        body: match (empty, scan.has_content_length) {
            (true, _) => BodyFraming::None,
            (false, true) => BodyFraming::Length,
            (false, false) => BodyFraming::Chunked,
        },
        close: close_upstream,
    };
    // Only a request without a body can be sent twice.
    let mut retry = shared.config.retry_idempotent && empty && idempotent(&parts.method);
    let mut body = (!empty).then_some(body);

    loop {
        let in_flight = InFlight::new(target.clone());
        let sent_at = Instant::now();
        match send(ctx, &target, &outgoing, body.take(), sent_at).await {
            Ok((head, conn)) => {
                let head_at = Instant::now();
                let status = head.status.as_u16();
                let rt = head_at - sent_at;
                for m in [lm, gm] {
                    m.target_status(status);
                    m.response_time(rt);
                }
                let log = log.map(|info| {
                    let size: usize = head
                        .headers
                        .iter()
                        .map(|(n, v)| n.as_str().len() + v.len() + 4)
                        .sum();
                    let entry = info.entry(
                        status,
                        Some((&target, &group)),
                        Some(status),
                        [Some(sent_at - arrived), Some(rt), Some(head_at.elapsed())],
                        size as u64 + 17,
                        None,
                    );
                    Box::new(entry)
                });
                let tail = Tail {
                    in_flight,
                    log,
                    sent: 0,
                    streaming: Streaming::new(ctx.conn.clone()),
                };
                let mut resp = Response::new(ProxyBody::upstream(
                    conn,
                    head.framing,
                    head.keep_alive,
                    tail,
                ));
                *resp.status_mut() = head.status;
                *resp.headers_mut() = head.headers;
                return resp;
            }
            Err(failure) => {
                drop(in_flight);
                if failure.is_connection_error() {
                    lm.incr(Counter::TargetConnectionErrors);
                    gm.incr(Counter::TargetConnectionErrors);
                }
                tracing::debug!(group = group.name(), target = %target.addr, ?failure, "forwarding failed");
                if failure.retryable() && retry {
                    retry = false;
                    if let Some(next) = group.pick(Some(&target)) {
                        lm.incr(Counter::RetriedRequests);
                        gm.incr(Counter::RetriedRequests);
                        target = next;
                        continue;
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

/// One attempt, bounded by the target timeout and by the target's deregistration delay.
///
/// On HTTP/1 neither costs a registration per request: the request checks its deadline and
/// its target's cut flag whenever it is polled, and its connection gets polled periodically
/// by the connection's watch (see `ProxyConfig`) and at once when a target is cut. HTTP/2
/// streams run in tasks of their own, so there a timer and the target's notification wake
/// the request.
async fn send(
    ctx: &ConnCtx,
    target: &Arc<Target>,
    req: &Outgoing<'_>,
    body: Option<Incoming>,
    started: Instant,
) -> Result<(ResponseHead, Conn), Failure> {
    let timeout = ctx.shared.config.target_timeout;
    let deadline = started + timeout;
    let h2 = ctx.protocol == Protocol::Http2;
    let timer = h2.then(|| tokio::time::sleep(timeout));
    let cut = h2.then(|| target.cut_notify.notified());
    let exchange = exchange(target, req, body);
    tokio::pin!(timer, cut, exchange);
    if let Some(cut) = cut.as_mut().as_pin_mut() {
        // Register before checking the flag so a cut in between is not missed.
        cut.enable();
    }
    let mut first = true;
    poll_fn(|cx| {
        if target.is_cut() {
            return Poll::Ready(Err(Failure::Cut));
        }
        if let Poll::Ready(result) = exchange.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if let Some(cut) = cut.as_mut().as_pin_mut() {
            if cut.poll(cx).is_ready() {
                return Poll::Ready(Err(Failure::Cut));
            }
        }
        let expired = match timer.as_mut().as_pin_mut() {
            Some(timer) => timer.poll(cx).is_ready(),
            // The deadline is `started` + timeout: no need to read the clock at once.
            None => !std::mem::take(&mut first) && Instant::now() >= deadline,
        };
        if expired {
            return Poll::Ready(Err(Failure::Timeout));
        }
        Poll::Pending
    })
    .await
}

/// Sends on a pooled connection or a new one. A pooled connection that turns out closed
/// before any of the request went out is no failure: the request goes out on the next one.
async fn exchange(
    target: &Target,
    req: &Outgoing<'_>,
    mut body: Option<Incoming>,
) -> Result<(ResponseHead, Conn), Failure> {
    loop {
        let mut conn = match target.pools.checkout() {
            Some(conn) => conn,
            None => upstream::connect(target.addr, target.connect_timeout)
                .await
                .map_err(|err| match err.kind() {
                    io::ErrorKind::TimedOut => Failure::ConnectTimeout,
                    _ => Failure::ConnectFailed,
                })?,
        };
        match conn.exchange(req, &mut body).await {
            Ok(head) => return Ok((head, conn)),
            Err(Fault::NotSent) if conn.reused() => {}
            Err(Fault::NotSent | Fault::Lost) => return Err(Failure::Lost),
            Err(Fault::Malformed) => return Err(Failure::Malformed),
        }
    }
}
