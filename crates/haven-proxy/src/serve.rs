//! The listener loop: accepting clients, HTTP/1.1 and HTTP/2 (prior knowledge) connections
//! with their limits and timeouts, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::access_log::AccessLog;
use crate::conn::{self, ClientIo, ConnShared, Protocol};
use crate::desync::Tracker;
use crate::error::Error;
use crate::handler::{self, ConnCtx, ServeShared};
use crate::listener::Listener;
use crate::metrics::Counter;
use crate::request_log::ConnLog;
use crate::target::{CUT_EPOCH, CUTS};
use crate::{upstream, workers};

/// Drives a hyper connection until it ends, shutting it down gracefully on the shutdown
/// signal or when idle, and dropping it when a request head is too slow. A macro because
/// the HTTP/1 and HTTP/2 connection types share no trait for `graceful_shutdown`.
macro_rules! drive {
    ($conn:ident, $stopping:ident, $watch:ident, $peer:ident) => {{
        let mut watch = $watch;
        let conn = $conn;
        tokio::pin!(conn);
        let timer = tokio::time::sleep(watch.tick);
        tokio::pin!(timer);
        let mut closing = false;
        // Waking up polls the connection, and with it its requests, which notice a cut.
        let mut cuts = cut_wakeup();
        loop {
            tokio::select! {
                biased;
                result = conn.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(peer = %$peer, %err, "client connection ended with an error");
                    }
                    break;
                }
                () = &mut cuts => cuts = cut_wakeup(),
                () = &mut $stopping, if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                // Waking up also polls the connection above, and with it the requests in
                // flight, which check their target timeout then.
                () = &mut timer, if !closing => match watch.check() {
                    Verdict::Busy => timer.as_mut().reset(tokio::time::Instant::now() + watch.tick),
                    Verdict::Idle => {
                        tracing::debug!(peer = %$peer, "idle timeout; closing client connection");
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    Verdict::SlowHead => {
                        tracing::debug!(peer = %$peer, "no complete request head in time; dropping client connection");
                        break;
                    }
                },
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
    ///
    /// This and the next two are checked four times per the shortest of them on each
    /// HTTP/1 connection, rather than with a timer per request, so each fires within a
    /// quarter of its time after it elapsed.
    pub idle_timeout: Duration,
    /// Time a target has to send its response head before the client gets 504 (on the
    /// ALB this is the same idle timeout, default 60 s).
    pub target_timeout: Duration,
    /// An HTTP/1 client must send a complete request head within this time, or the
    /// connection is dropped (slow-loris protection). The time runs whenever the
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
    /// Threads that serve clients. `0` serves on the caller's Tokio runtime. `n > 0` serves
    /// on `n` proxy worker threads, like nginx worker processes: each has its own
    /// single-threaded runtime and its own connection pools to targets, so a request and
    /// its target connection never change threads, and each new client connection goes to
    /// the worker with the fewest. The threads are the process's, started on first use and
    /// shared by every listener served this way. Health checks and draining stay on the
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
        port_text: local.port().to_string(),
    });
    if workers == 0 {
        accept_loop(tcp, shared, shutdown, None).await;
        return Ok(());
    }
    let handles = workers::handles(workers).map_err(Error::Listener)?;
    let std_listener = tcp.into_std().map_err(Error::Listener)?;
    let balance = Arc::new(Balance::new(handles.clone()));
    let mut loops = Vec::with_capacity(workers);
    for (me, handle) in handles.iter().enumerate() {
        let socket = std_listener.try_clone().map_err(Error::Listener)?;
        let (shared, shutdown, balance) = (shared.clone(), shutdown.clone(), balance.clone());
        loops.push(handle.spawn(async move {
            // Registered with the worker's own I/O driver, hence converted there.
            let tcp = TcpListener::from_std(socket).map_err(Error::Listener)?;
            accept_loop(tcp, shared, shutdown, Some((me, balance))).await;
            Ok::<(), Error>(())
        }));
    }
    drop(std_listener);
    let mut result = Ok(());
    for done in loops {
        match done.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => result = Err(err),
            Err(err) => {
                result = Err(Error::Listener(std::io::Error::other(format!(
                    "proxy worker task failed: {err}"
                ))))
            }
        }
    }
    result
}

/// A listener's address, bound but not listening: connections to it are refused, and the
/// port stays bound meanwhile. [`serve_when_healthy`] starts listening on it.
#[derive(Debug)]
pub struct Reserved {
    socket: tokio::net::TcpSocket,
}

impl Reserved {
    /// Binds `addr` (with `SO_REUSEADDR`, as a listener binds) without listening.
    pub fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        Ok(Self { socket })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// [`serve`], once a target group of `listener`'s forward action has a healthy target:
/// until then the address refuses connections, as a load balancer that is not yet in DNS
/// takes none. A proxy in front (the edge) then counts the listener as down and sends its
/// requests elsewhere, rather than getting answers of 503 from a listener that has nothing
/// to send them to. Returns at once when `shutdown` comes first.
pub async fn serve_when_healthy(
    reserved: Reserved,
    listener: Arc<Listener>,
    config: ProxyConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    config.validate()?;
    tokio::select! {
        () = listener.wait_healthy() => {}
        // Stopping, or the sender is gone (which also means stop).
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    }
    let tcp = reserved.socket.listen(1024).map_err(Error::Listener)?;
    serve(tcp, listener, config, shutdown).await
}

/// Accepts connections and serves them. With workers, `balance` is this worker's index and
/// the workers' shared load: every worker accepts from the same socket, and each connection
/// goes to the worker with the fewest.
async fn accept_loop(
    tcp: TcpListener,
    shared: Arc<ServeShared>,
    mut shutdown: watch::Receiver<bool>,
    balance: Option<(usize, Arc<Balance>)>,
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
                    let (shared, shutdown) = (shared.clone(), shutdown.clone());
                    let Some((me, balance)) = &balance else {
                        conns.spawn(connection(stream, peer, shared, shutdown, None));
                        continue;
                    };
                    let (to, load) = balance.assign(*me);
                    if to == *me {
                        conns.spawn(connection(stream, peer, shared, shutdown, Some(load)));
                        continue;
                    }
                    // To another worker: off this worker's I/O driver, onto that one's.
                    match stream.into_std() {
                        Ok(std) => {
                            conns.spawn_on(
                                async move {
                                    match TcpStream::from_std(std) {
                                        Ok(stream) => connection(stream, peer, shared, shutdown, Some(load)).await,
                                        Err(err) => tracing::debug!(%peer, %err, "cannot hand a connection over"),
                                    }
                                },
                                &balance.handles[to],
                            );
                        }
                        Err(err) => tracing::debug!(%peer, %err, "cannot hand a connection over"),
                    }
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

/// The connections each worker of one `serve` has, for assigning new ones evenly.
///
/// Rather than `SO_REUSEPORT`, whose hash spreads a few long-lived connections unevenly
/// (64 connections over 2 workers split 28/36 as often as not), and then the busier
/// worker's clients wait while the other has time to spare.
struct Balance {
    handles: Vec<Handle>,
    active: Box<[AtomicUsize]>,
}

impl Balance {
    fn new(handles: Vec<Handle>) -> Self {
        Self {
            active: handles.iter().map(|_| AtomicUsize::new(0)).collect(),
            handles,
        }
    }

    /// The worker for a connection accepted by worker `me`: the one with the fewest, `me`
    /// on a tie (no hand-over needed).
    fn assign(self: &Arc<Self>, me: usize) -> (usize, Load) {
        let count = |i: usize| self.active[i].load(Ordering::Relaxed);
        let mut to = me;
        for i in 0..self.active.len() {
            if count(i) < count(to) {
                to = i;
            }
        }
        self.active[to].fetch_add(1, Ordering::Relaxed);
        (
            to,
            Load {
                balance: self.clone(),
                worker: to,
            },
        )
    }
}

/// A connection's place in its worker's count, given back when the connection ends.
struct Load {
    balance: Arc<Balance>,
    worker: usize,
}

impl Drop for Load {
    fn drop(&mut self) {
        self.balance.active[self.worker].fetch_sub(1, Ordering::Relaxed);
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
    _load: Option<Load>,
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
    // Resolves once shutdown is signalled (or its sender is gone); kept for the whole
    // connection so that it registers with the channel once, not on every wake-up.
    let changed = shutdown.clone();
    let mut stopping = SharedWakeup::new(
        Box::pin(async move {
            if shutdown.wait_for(|stop| *stop).await.is_err() {
                tracing::trace!("shutdown sender dropped; closing client connection");
            }
        }),
        // A dropped sender counts as a change: the future is ready then.
        move || changed.has_changed().unwrap_or(true),
    );
    let sniffed = tokio::select! {
        r = tokio::time::timeout(cfg.header_read_timeout, conn::sniff(&mut stream)) => r,
        () = &mut stopping => return,
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
    let conn_shared = Arc::new(ConnShared {
        access_log: cfg.access_log.clone().map(|sink| ConnLog {
            sink,
            elb: shared.elb_name.clone(),
        }),
        ..ConnShared::default()
    });
    let tracker = (protocol == Protocol::Http1
        && cfg.desync_mitigation_mode != DesyncMitigationMode::Monitor)
        .then(|| Tracker::new(conn_shared.clone(), cfg.max_headers));
    let io = TokioIo::new(ClientIo::new(stream, replay, tracker, conn_shared.clone()));
    let ctx = Arc::new(ConnCtx {
        shared: shared.clone(),
        conn: conn_shared.clone(),
        client: peer,
        client_ip: peer.ip().to_string(),
        protocol,
    });
    let svc = service_fn(move |req| handler::handle(ctx.clone(), req));
    let watch = Watch::new(cfg, protocol, conn_shared);
    match protocol {
        Protocol::Http1 => {
            // No hyper timer: the header read timeout is the connection watch's, which
            // costs nothing per request.
            let mut b = hyper::server::conn::http1::Builder::new();
            b.max_header_size(cfg.max_header_bytes)
                .max_headers(cfg.max_headers)
                // Head and body copied into one buffer and sent with one `send`: cheaper
                // than gathering them for `writev` for the small bodies most answers have.
                .writev(false)
                .keep_alive(true);
            let conn = b.serve_connection(io, svc);
            drive!(conn, stopping, watch, peer);
        }
        Protocol::Http2 => {
            let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
            b.timer(TokioTimer::new())
                .max_concurrent_streams(cfg.h2_max_concurrent_streams)
                .max_header_list_size(cfg.h2_max_header_list_size);
            let conn = b.serve_connection(io, svc);
            drive!(conn, stopping, watch, peer);
        }
    }
}

/// A wake-up every connection shares (target cuts, shutdown), polled only when `fired` says
/// it may be ready or the task's waker changed. Polling a waiting `Notified` takes the lock of
/// its `Notify`, which the connections of every worker share: without this, each connection
/// took two such locks on every wake-up, several times per request.
struct SharedWakeup<F, C> {
    future: Pin<Box<F>>,
    fired: C,
    /// The waker the future last registered, once it has.
    waker: Option<Waker>,
}

impl<F: Future, C: Fn() -> bool> SharedWakeup<F, C> {
    fn new(future: Pin<Box<F>>, fired: C) -> Self {
        Self {
            future,
            fired,
            waker: None,
        }
    }
}

impl<F: Future, C: Fn() -> bool + Unpin> Future for SharedWakeup<F, C> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        // Registered with this task, and nothing fired since: the future would only take
        // its lock to find that out.
        if this.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) && !(this.fired)() {
            return Poll::Pending;
        }
        let poll = this.future.as_mut().poll(cx);
        this.waker = poll.is_pending().then(|| cx.waker().clone());
        poll
    }
}

/// The wake-up for the next target cut. Registered before the count is read: a cut after
/// this reads the count notifies the registration.
fn cut_wakeup() -> SharedWakeup<tokio::sync::futures::Notified<'static>, impl Fn() -> bool> {
    let mut notified = Box::pin(CUTS.notified());
    notified.as_mut().enable();
    let seen = CUT_EPOCH.load(Ordering::Acquire);
    SharedWakeup::new(notified, move || CUT_EPOCH.load(Ordering::Acquire) != seen)
}

/// What the periodic look at a connection found.
enum Verdict {
    Busy,
    /// Nothing moved for the idle timeout: close gracefully.
    Idle,
    /// An HTTP/1 client took longer than the header read timeout to send a request head.
    SlowHead,
}

/// Timeouts of a client connection, checked on a tick rather than with a timer per request:
/// idle (no byte moved and no request in progress for `idle_timeout`), slow request heads
/// (HTTP/1: waiting for a complete head for `header_read_timeout`), and, through the
/// wake-up, the target timeout of HTTP/1 requests in flight. The tick is a quarter of the
/// shortest, so each fires within 25 % of its time.
struct Watch {
    tick: Duration,
    idle_timeout: Duration,
    /// `None` for HTTP/2, which has no request heads to wait for in this sense.
    header_read_timeout: Option<Duration>,
    shared: Arc<ConnShared>,
    activity: u64,
    quiet: Duration,
    requests: u64,
    waiting: Duration,
}

impl Watch {
    fn new(cfg: &ProxyConfig, protocol: Protocol, shared: Arc<ConnShared>) -> Self {
        let http1 = protocol == Protocol::Http1;
        let mut shortest = cfg.idle_timeout;
        if http1 {
            shortest = shortest
                .min(cfg.header_read_timeout)
                .min(cfg.target_timeout);
        }
        Self {
            tick: (shortest / 4).max(Duration::from_millis(1)),
            idle_timeout: cfg.idle_timeout,
            header_read_timeout: http1.then_some(cfg.header_read_timeout),
            shared,
            activity: 0,
            quiet: Duration::ZERO,
            requests: 0,
            waiting: Duration::ZERO,
        }
    }

    /// Called every `tick`.
    fn check(&mut self) -> Verdict {
        let s = &self.shared;
        let activity = s.activity.load(Ordering::Relaxed);
        let requests = s.requests.load(Ordering::Relaxed);
        let busy = s.in_flight.load(Ordering::Relaxed) > 0;
        // A request head is awaited when no request runs and no response is streaming.
        if busy || s.streaming.load(Ordering::Relaxed) > 0 || requests != self.requests {
            self.waiting = Duration::ZERO;
        } else {
            self.waiting += self.tick;
        }
        self.requests = requests;
        if busy || activity != self.activity {
            self.quiet = Duration::ZERO;
        } else {
            self.quiet += self.tick;
        }
        self.activity = activity;
        if self
            .header_read_timeout
            .is_some_and(|limit| self.waiting >= limit)
        {
            Verdict::SlowHead
        } else if self.quiet >= self.idle_timeout {
            Verdict::Idle
        } else {
            Verdict::Busy
        }
    }
}
