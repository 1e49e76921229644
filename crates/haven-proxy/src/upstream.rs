//! Connections to targets: HTTP/1.1 keep-alive over TCP, pooled per proxy worker, used
//! directly by the request (no connection task, no channel between tasks).
//!
//! The request that checks a connection out writes its head (and body), reads the response
//! head, and hands the connection to the response body, which reads the rest as the client
//! takes it. A request, its client connection and its target connection so make progress
//! in one task on one thread. When the body is complete, the connection goes back to the
//! pool of the worker thread that used it.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::headers::{BodyFraming, Outgoing};
use crate::wire::{self, Chunked, Decoded, Framing, Malformed, ResponseHead};

/// Most proxy worker threads with their own connection pools; more share slots.
pub(crate) const MAX_WORKERS: usize = 64;

/// Idle connections kept per target and worker, like nginx's `keepalive`; connections
/// coming back to a full pool are closed.
const MAX_IDLE: usize = 256;

/// Size of a connection's read buffer.
const READ_SIZE: usize = 8 * 1024;

/// Below this much free room, the read buffer gets a fresh `READ_SIZE` before a read.
/// Responses are cut from the buffer and handed on without copying, so it is shared until
/// they are sent; reading into the rest of it until little is left saves an allocation per
/// response.
const MIN_ROOM: usize = 1024;

/// Hands out a distinct generation to every worker thread ever started.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// (pool slot, generation) of the calling thread: slot 0 and generation 0 on the
    /// caller's runtime, 1.. on the proxy's own worker threads.
    static WORKER: Cell<(usize, u64)> = const { Cell::new((0, 0)) };
}

/// Marks the calling thread as proxy worker `slot` (1..). Its generation tells its pooled
/// connections from those of an earlier worker with the same slot, whose runtime (and with
/// it the connections' I/O driver) is gone.
pub(crate) fn enter_worker(slot: usize) {
    let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
    WORKER.with(|w| w.set((slot, generation)));
}

fn worker() -> (usize, u64) {
    WORKER.with(Cell::get)
}

/// Why an exchange with a target failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Nothing of the request reached the target: the connection was already closed.
    NotSent,
    /// The connection closed or failed before a complete response head.
    Lost,
    /// The target answered with something that is not HTTP/1.1.
    Malformed,
}

/// One HTTP/1.1 connection to a target. Boxed so that moving it between pool, request and
/// response body moves a pointer, not its buffers.
pub(crate) struct Conn(Box<ConnState>);

struct ConnState {
    io: TcpStream,
    /// Bytes read from the target and not yet used.
    rbuf: BytesMut,
    /// The request head being written, and chunk framing; reused for every request.
    wbuf: Vec<u8>,
    generation: u64,
    /// Taken from the pool, rather than opened for this request.
    reused: bool,
}

impl Conn {
    /// Whether it came from the pool (the target may have closed it meanwhile).
    pub(crate) fn reused(&self) -> bool {
        self.0.reused
    }

    /// Whether the connection is open and quiet, as an idle connection must be. Looks at
    /// the readiness the I/O driver last saw and reads only when that reports something.
    fn idle_and_open(&mut self) -> bool {
        let st = &mut *self.0;
        if !st.rbuf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        match st.io.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readable: closed, unexpected bytes, or a stale readiness; a read tells.
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(st.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Sends the request (head, then `body`) and reads the response head. A response that
    /// arrives while the body is still being sent ends the sending; the connection is then
    /// not reused. `body` is taken only once the head went out (it stays for the next
    /// connection after `Fault::NotSent`).
    pub(crate) async fn exchange(
        &mut self,
        req: &Outgoing<'_>,
        body: &mut Option<Incoming>,
    ) -> Result<ResponseHead, Fault> {
        let st = &mut *self.0;
        let head_request = *req.method == http::Method::HEAD;
        req.write_head(&mut st.wbuf);
        let mut sent = 0;
        while sent < st.wbuf.len() {
            match st.io.write(&st.wbuf[sent..]).await {
                Ok(0) | Err(_) if sent == 0 => return Err(Fault::NotSent),
                Ok(0) | Err(_) => return Err(Fault::Lost),
                Ok(n) => sent += n,
            }
        }
        if let Some(body) = body.take() {
            let (mut rd, mut wr) = st.io.split();
            let sending = send_body(&mut wr, &mut st.wbuf, body, req.body);
            let early = read_head(&mut rd, &mut st.rbuf, head_request);
            let complete = tokio::select! {
                biased;
                sent = sending => sent,
                head = early => {
                    let mut head = head?;
                    head.keep_alive = false;
                    return Ok(head);
                }
            };
            match complete {
                Ok(()) => {}
                Err(Upload::ClientGone) => return Err(Fault::Lost),
                // The target may have answered and closed without taking the whole body;
                // its answer is still to be read.
                Err(Upload::TargetGone) => {
                    let mut head = read_head(&mut st.io, &mut st.rbuf, head_request).await?;
                    head.keep_alive = false;
                    return Ok(head);
                }
            }
        }
        read_head(&mut st.io, &mut st.rbuf, head_request).await
    }

    /// Reads the next piece of the response body. `Ok(None)`: the body is complete.
    pub(crate) fn poll_body(
        &mut self,
        cx: &mut Context<'_>,
        body: &mut BodyState,
    ) -> Poll<Result<Option<Bytes>, Fault>> {
        let st = &mut *self.0;
        loop {
            match body {
                BodyState::Done => return Poll::Ready(Ok(None)),
                BodyState::Length(left) => {
                    if !st.rbuf.is_empty() {
                        let n =
                            usize::try_from(*left).map_or(st.rbuf.len(), |l| l.min(st.rbuf.len()));
                        *left -= n as u64;
                        if *left == 0 {
                            *body = BodyState::Done;
                        }
                        return Poll::Ready(Ok(Some(st.rbuf.split_to(n).freeze())));
                    }
                }
                BodyState::Chunked(decoder) => match decoder.decode(&mut st.rbuf) {
                    Ok(Decoded::Data(data)) => return Poll::Ready(Ok(Some(data))),
                    Ok(Decoded::End) => *body = BodyState::Done,
                    Ok(Decoded::More) => {}
                    Err(Malformed) => return Poll::Ready(Err(Fault::Malformed)),
                },
                BodyState::UntilClose => {
                    if !st.rbuf.is_empty() {
                        return Poll::Ready(Ok(Some(st.rbuf.split().freeze())));
                    }
                }
            }
            if matches!(body, BodyState::Done) {
                continue;
            }
            let n = ready!(poll_fill(&mut st.io, &mut st.rbuf, cx)).map_err(|_| Fault::Lost)?;
            if n == 0 {
                return Poll::Ready(match body {
                    BodyState::UntilClose => {
                        *body = BodyState::Done;
                        Ok(None)
                    }
                    _ => Err(Fault::Lost),
                });
            }
        }
    }
}

/// Where the reading of a response body is.
#[derive(Debug)]
pub(crate) enum BodyState {
    /// Bytes still to come.
    Length(u64),
    Chunked(Chunked),
    UntilClose,
    Done,
}

impl BodyState {
    pub(crate) fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty => Self::Done,
            Framing::Length(n) => Self::Length(n),
            Framing::Chunked => Self::Chunked(Chunked::default()),
            Framing::Close => Self::UntilClose,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }
}

/// Reads into `buf`, making room first. `Ok(0)`: the peer closed the connection.
fn poll_fill(
    io: &mut TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    buf.reserve(READ_SIZE);
    // The future only holds its borrows; building one per poll costs nothing.
    pin!(io.read_buf(buf)).poll(cx)
}

fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < MIN_ROOM {
        buf.reserve(READ_SIZE);
    }
}

async fn read_head(
    io: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<ResponseHead, Fault> {
    loop {
        if !buf.is_empty() {
            if let Some(head) =
                wire::parse_response(buf, head_request).map_err(|Malformed| Fault::Malformed)?
            {
                return Ok(head);
            }
        }
        make_room(buf);
        match io.read_buf(buf).await {
            Ok(0) | Err(_) => return Err(Fault::Lost),
            Ok(_) => {}
        }
    }
}

/// Why a request body did not reach its end.
enum Upload {
    /// The client's upload broke off: the target cannot get a complete request.
    ClientGone,
    /// Writing to the target failed.
    TargetGone,
}

/// Streams the client's request body to the target, as it framed it or chunked.
async fn send_body(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    scratch: &mut Vec<u8>,
    mut body: Incoming,
    framing: BodyFraming,
) -> Result<(), Upload> {
    let chunked = framing == BodyFraming::Chunked;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Upload::ClientGone)?;
        let Ok(data) = frame.into_data() else {
            // Trailers: dropped, like the ones targets send.
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let written = if chunked {
            scratch.clear();
            scratch.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
            scratch.extend_from_slice(&data);
            scratch.extend_from_slice(b"\r\n");
            wr.write_all(scratch).await
        } else {
            wr.write_all(&data).await
        };
        written.map_err(|_| Upload::TargetGone)?;
    }
    if chunked {
        wr.write_all(b"0\r\n\r\n")
            .await
            .map_err(|_| Upload::TargetGone)?;
    }
    Ok(())
}

/// Opens a connection to `addr`. A connect that takes longer than `timeout` fails with
/// `ErrorKind::TimedOut`.
pub(crate) async fn connect(
    dialer: Option<&std::sync::Arc<dyn crate::Dialer>>,
    zone: Option<&str>,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<Conn> {
    let dialed = crate::dial::connect(dialer, zone, addr);
    let io = match tokio::time::timeout(timeout, dialed).await {
        Ok(stream) => stream?,
        Err(_elapsed) => return Err(io::ErrorKind::TimedOut.into()),
    };
    // Without it small requests wait for delayed ACKs; failure only costs latency.
    if let Err(err) = io.set_nodelay(true) {
        tracing::debug!(%addr, %err, "set_nodelay failed");
    }
    Ok(Conn(Box::new(ConnState {
        io,
        rbuf: BytesMut::with_capacity(READ_SIZE),
        wbuf: Vec::with_capacity(1024),
        generation: worker().1,
        reused: false,
    })))
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// One pool per worker slot, each on its own cache lines so that workers never contend.
#[repr(align(128))]
#[derive(Default)]
struct Slot(Mutex<Vec<Idle>>);

/// A target's idle connections, one pool per worker thread.
pub(crate) struct Pools {
    slots: Box<[Slot]>,
    idle_timeout: Duration,
}

impl Pools {
    /// `idle_timeout`: idle connections older than this are closed, never reused. Keep it
    /// below the targets' own keep-alive timeout, so the proxy closes an idle connection
    /// before the target does and never writes into a closing socket.
    pub(crate) fn new(idle_timeout: Duration) -> Self {
        Self {
            slots: (0..=MAX_WORKERS).map(|_| Slot::default()).collect(),
            idle_timeout,
        }
    }

    fn slot(&self, slot: usize) -> MutexGuard<'_, Vec<Idle>> {
        // A panic while holding the lock leaves at worst a connection too many or too few.
        self.slots[slot % self.slots.len()]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection of the calling worker that is still open.
    pub(crate) fn checkout(&self) -> Option<Conn> {
        let (slot, generation) = worker();
        let now = Instant::now();
        let mut idle = self.slot(slot);
        // Newest last: when the newest has expired, all have.
        while let Some(mut entry) = idle.pop() {
            if now.duration_since(entry.since) >= self.idle_timeout {
                idle.clear();
                return None;
            }
            if entry.conn.0.generation == generation && entry.conn.idle_and_open() {
                entry.conn.0.reused = true;
                return Some(entry.conn);
            }
        }
        None
    }

    /// Returns a connection whose exchange is complete.
    pub(crate) fn checkin(&self, mut conn: Conn) {
        let (slot, generation) = worker();
        if conn.0.generation != generation || !conn.idle_and_open() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.slot(slot);
        if idle
            .first()
            .is_some_and(|oldest| now.duration_since(oldest.since) >= self.idle_timeout)
        {
            self.expire(&mut idle, now);
        }
        if idle.len() < MAX_IDLE {
            idle.push(Idle { conn, since: now });
        }
    }

    /// Closes idle connections past the idle timeout, in every slot. Called periodically
    /// (by the target's health checker) so that a pool nobody uses holds no sockets.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        for slot in 0..self.slots.len() {
            self.expire(&mut self.slot(slot), now);
        }
    }

    fn expire(&self, idle: &mut Vec<Idle>, now: Instant) {
        let expired = idle.partition_point(|e| now.duration_since(e.since) >= self.idle_timeout);
        idle.drain(..expired);
    }
}
