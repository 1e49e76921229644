//! The listener loop: accepting clients, HTTP/1.1 and HTTP/2 (prior knowledge) connections
//! with their limits and timeouts, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::access_log::AccessLog;
use crate::conn::{self, ClientIo, ConnShared, Protocol};
use crate::desync::Tracker;
use crate::error::Error;
use crate::handler::{self, ConnCtx, ServeShared};
use crate::listener::Listener;
use crate::metrics::Counter;
use crate::upstream;

/// Drives a hyper connection until it ends, shutting it down gracefully on the shutdown
/// signal or when idle. A macro because the HTTP/1 and HTTP/2 connection types share no
/// trait for `graceful_shutdown`.
macro_rules! drive {
    ($conn:ident, $shutdown:ident, $idle:ident, $peer:ident) => {{
        let mut idle = $idle;
        let conn = $conn;
        tokio::pin!(conn);
        let timer = tokio::time::sleep(idle.tick);
        tokio::pin!(timer);
        let mut closing = *$shutdown.borrow();
        if closing {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                biased;
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(peer = %$peer, %err, "client connection ended with an error");
                    }
                    break;
                }
                changed = $shutdown.changed(), if !closing => {
                    if changed.is_err() || *$shutdown.borrow() {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
                () = &mut timer, if !closing => {
                    if idle.expired() {
                        tracing::debug!(peer = %$peer, "idle timeout; closing client connection");
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    } else {
                        timer.as_mut().reset(tokio::time::Instant::now() + idle.tick);
                    }
                }
            }
        }
    }};
}

/// How requests that might be HTTP desync (smuggling) attempts are handled; the ALB's
/// `routing.http.desync_mitigation_mode`. The twin classifies one case, a request with
/// both `Content-Length` and `Transfer-Encoding` (`Ambiguous`, `BothTeClPresent`).
/// Requests with differing `Content-Length` values (`Severe`) are always rejected with 400
/// by hyper, in every mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DesyncMitigationMode {
    /// Forward everything; only count non-compliant requests.
    Monitor,
    /// The ALB default: forward ambiguous requests (framed by `Transfer-Encoding`), then
    /// close both the client and the target connection.
    #[default]
    Defensive,
    /// Reject ambiguous requests with 400 and close the client connection.
    Strictest,
}

/// Settings of a served listener. Defaults follow the ALB where it defines them.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// A client connection with no data sent or received for this long is closed
    /// (ALB idle timeout, default 60 s). Connections with a request in progress stay open.
    pub idle_timeout: Duration,
    /// Time a target has to send its response head before the client gets 504 (on the
    /// ALB this is the same idle timeout, default 60 s).
    pub target_timeout: Duration,
    /// An HTTP/1 client must send a complete request head within this time, or the
    /// connection is closed (slow-loris protection). hyper starts this timer whenever the
    /// connection waits for a request, so it also bounds idle time between requests:
    /// keep it at or above `idle_timeout` unless a tighter bound is wanted. It also bounds
    /// how long a new connection may take to show which protocol it speaks.
    pub header_read_timeout: Duration,
    /// Largest request head, all lines together; larger ones get 431.
    /// (The ALB documents 64 KiB in total, 16 KiB per line, and answers 400.)
    pub max_header_bytes: usize,
    /// Most header fields in an HTTP/1 request; more get 431.
    pub max_headers: usize,
    /// Streams an HTTP/2 client may open at once.
    pub h2_max_concurrent_streams: u32,
    /// Largest HTTP/2 header list (uncompressed, as RFC 9113 counts it).
    pub h2_max_header_list_size: u32,
    /// After shutdown is signalled, in-flight requests get this long to finish before
    /// their connections are dropped.
    pub shutdown_timeout: Duration,
    /// Handling of requests with both `Content-Length` and `Transfer-Encoding`.
    pub desync_mitigation_mode: DesyncMitigationMode,
    /// Where access-log entries go; `None` logs nothing.
    pub access_log: Option<AccessLog>,
    /// Beyond the ALB: retry an idempotent request once on another target when the first
    /// one could not be reached or dropped the connection before answering. See
    /// [`serve`].
    pub retry_idempotent: bool,
    /// Threads that serve clients. `0` serves on the caller's Tokio runtime. `n > 0` starts
    /// `n` threads, each with its own single-threaded runtime accepting from the listener
    /// and its own connection pools to targets, like nginx worker processes: a request and
    /// its upstream connection then never change threads, which roughly doubles throughput
    /// compared with a work-stealing runtime. Health checks and draining stay on the
    /// caller's runtime.
    pub workers: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(60),
            target_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            h2_max_concurrent_streams: 128,
            h2_max_header_list_size: 64 * 1024,
            shutdown_timeout: Duration::from_secs(30),
            desync_mitigation_mode: DesyncMitigationMode::Defensive,
            access_log: None,
            retry_idempotent: true,
            workers: 0,
        }
    }
}

impl ProxyConfig {
    fn validate(&self) -> Result<(), Error> {
        for (name, value) in [
            ("idle_timeout", self.idle_timeout),
            ("target_timeout", self.target_timeout),
            ("header_read_timeout", self.header_read_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::ZeroTimeout { name, value });
            }
        }
        Ok(())
    }
}

/// Serves `listener` on the bound socket `tcp` until `shutdown` turns true (or its sender
/// is dropped). Then it stops accepting, lets in-flight requests finish (HTTP/1 connections
/// close after their current response, HTTP/2 ones get GOAWAY), and returns once all
/// connections are done or `shutdown_timeout` has passed.
///
/// Clients may speak HTTP/1.1 (or 1.0) or HTTP/2 with prior knowledge; targets are
/// always spoken to in HTTP/1.1 over pooled keep-alive connections. Protocol upgrades
/// (WebSocket, `CONNECT` tunnels) are not supported: `Upgrade` is a hop-by-hop header and
/// is removed like the others.
///
/// Errors are answered as the ALB answers them: 502 when a target refuses or resets the
/// connection, closes it before answering or answers malformed; 503 when the forward
/// action has no target to send to; 504 when the target does not answer within
/// `target_timeout` or cannot be connected to within the group's connect timeout; 405 for
/// TRACE; 463 when `X-Forwarded-For` already holds more than 30 addresses.
///
/// Beyond the ALB: an idempotent request (GET, HEAD, OPTIONS, PUT, DELETE) without a body
/// whose target cannot be connected to (refused, reset) or closes the connection before a
/// complete response head (including a pooled connection the target had closed) is sent
/// once more, to a different target of the same group. A task that is killed therefore
/// costs its clients nothing until health checks take it out of rotation. The failed
/// attempt still counts in `TargetConnectionErrorCount`. Timeouts are not retried.
pub async fn serve(
    tcp: TcpListener,
    listener: Arc<Listener>,
    config: ProxyConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    config.validate()?;
    let local = tcp.local_addr().map_err(Error::Listener)?;
    let workers = config.workers.min(upstream::MAX_WORKERS);
    let shared = Arc::new(ServeShared {
        elb_name: Arc::from(listener.name()),
        listener,
        config,
        port: local.port(),
    });
    if workers == 0 {
        accept_loop(tcp, shared, shutdown).await;
        return Ok(());
    }
    let std_listener = tcp.into_std().map_err(Error::Listener)?;
    let mut done = Vec::with_capacity(workers);
    for i in 0..workers {
        let socket = std_listener.try_clone().map_err(Error::Listener)?;
        let (shared, shutdown) = (shared.clone(), shutdown.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("haven-proxy-{i}"))
            .spawn(move || {
                let result = worker(i + 1, socket, shared, shutdown);
                // serve() may have been dropped; then nobody waits for this result.
                if tx.send(result).is_err() {
                    tracing::trace!("serve() gone before worker {i} finished");
                }
            })
            .map_err(Error::Listener)?;
        done.push(rx);
    }
    drop(std_listener);
    let mut result = Ok(());
    for rx in done {
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => result = Err(err),
            Err(_) => {
                result = Err(Error::Listener(std::io::Error::other(
                    "proxy worker thread died",
                )))
            }
        }
    }
    result
}

/// One worker thread: a single-threaded runtime serving its share of the connections.
fn worker(
    slot: usize,
    socket: std::net::TcpListener,
    shared: Arc<ServeShared>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    upstream::set_worker_slot(slot);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Listener)?;
    rt.block_on(async move {
        let tcp = TcpListener::from_std(socket).map_err(Error::Listener)?;
        accept_loop(tcp, shared, shutdown).await;
        Ok(())
    })
}

async fn accept_loop(
    tcp: TcpListener,
    shared: Arc<ServeShared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let shutdown_timeout = shared.config.shutdown_timeout;
    let mut conns = JoinSet::new();
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        tokio::select! {
            biased;
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if let Err(err) = done {
                    if err.is_panic() {
                        tracing::error!(%err, "connection task panicked");
                    }
                }
            }
            accepted = tcp.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(connection(stream, peer, shared.clone(), shutdown.clone()));
                }
                // Another worker took the connection first.
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => {
                    // Usually out of file descriptors; back off instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
    drop(tcp);
    tracing::debug!(
        connections = conns.len(),
        "listener closed; draining connections"
    );
    let deadline = tokio::time::sleep(shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = conns.join_next() => if next.is_none() { break },
            () = &mut deadline => {
                tracing::warn!(connections = conns.len(), "shutdown timeout; dropping connections");
                conns.shutdown().await;
                break;
            }
        }
    }
}

/// Lowers the active-connection gauge when the connection ends, however it ends.
struct ConnGauge(Arc<ServeShared>);

impl Drop for ConnGauge {
    fn drop(&mut self) {
        self.0
            .listener
            .live_metrics()
            .decr(Counter::ActiveConnections);
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<ServeShared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let metrics = shared.listener.live_metrics();
    metrics.incr(Counter::NewConnections);
    metrics.incr(Counter::ActiveConnections);
    let _gauge = ConnGauge(shared.clone());
    // Without it small responses wait for delayed ACKs; failure only costs latency.
    if let Err(err) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %err, "set_nodelay failed");
    }
    let cfg = &shared.config;
    let sniffed = tokio::select! {
        r = tokio::time::timeout(cfg.header_read_timeout, conn::sniff(&mut stream)) => r,
        _ = shutdown.changed() => return,
    };
    let (protocol, replay) = match sniffed {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) => return,
        Ok(Err(err)) => {
            tracing::debug!(%peer, %err, "client connection failed before a request");
            return;
        }
        Err(_elapsed) => {
            tracing::debug!(%peer, "client sent no request in time");
            return;
        }
    };
    let conn_shared = Arc::new(ConnShared::default());
    let tracker = (protocol == Protocol::Http1
        && cfg.desync_mitigation_mode != DesyncMitigationMode::Monitor)
        .then(|| Tracker::new(conn_shared.clone(), cfg.max_headers));
    let io = TokioIo::new(ClientIo::new(stream, replay, tracker, conn_shared.clone()));
    let ctx = Arc::new(ConnCtx {
        shared: shared.clone(),
        conn: conn_shared.clone(),
        client: peer,
        client_ip: HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("0.0.0.0")),
        port_value: HeaderValue::from(shared.port),
        protocol,
    });
    let svc = service_fn(move |req| handler::handle(ctx.clone(), req));
    let idle = Idle::new(cfg.idle_timeout, conn_shared);
    match protocol {
        Protocol::Http1 => {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(cfg.header_read_timeout)
                .max_header_size(cfg.max_header_bytes)
                .max_headers(cfg.max_headers)
                .keep_alive(true);
            let conn = b.serve_connection(io, svc);
            drive!(conn, shutdown, idle, peer);
        }
        Protocol::Http2 => {
            let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            b.timer(TokioTimer::new())
                .max_concurrent_streams(cfg.h2_max_concurrent_streams)
                .max_header_list_size(cfg.h2_max_header_list_size);
            let conn = b.serve_connection(io, svc);
            drive!(conn, shutdown, idle, peer);
        }
    }
}

/// Idle detection: the connection is idle when no byte moved and no request was in
/// progress for a whole `timeout`, checked every quarter of it.
struct Idle {
    timeout: Duration,
    tick: Duration,
    shared: Arc<ConnShared>,
    last: u64,
    quiet: Duration,
}

impl Idle {
    fn new(timeout: Duration, shared: Arc<ConnShared>) -> Self {
        Self {
            timeout,
            tick: (timeout / 4).max(Duration::from_millis(1)),
            shared,
            last: 0,
            quiet: Duration::ZERO,
        }
    }

    /// Called every `tick`; true when the connection has been idle for `timeout`.
    fn expired(&mut self) -> bool {
        let now = self.shared.activity.load(Ordering::Relaxed);
        if now != self.last || self.shared.in_flight.load(Ordering::Relaxed) > 0 {
            self.last = now;
            self.quiet = Duration::ZERO;
            return false;
        }
        self.quiet += self.tick;
        self.quiet >= self.timeout
    }
}
