//! A client connection's I/O: protocol sniffing (HTTP/2 prior knowledge or HTTP/1), byte
//! replay, activity counting for the idle timeout, and the desync tracker's tap.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::desync::Tracker;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// State shared between a connection's I/O, its driver and its requests.
#[derive(Debug)]
pub(crate) struct ConnShared {
    /// Bumped on every read or write; the idle timer compares snapshots of it.
    pub(crate) activity: AtomicU64,
    /// Requests of this connection being handled (until their response head is ready).
    pub(crate) in_flight: AtomicU64,
    /// Requests received so far.
    pub(crate) requests: AtomicU64,
    /// Responses whose body is still being sent.
    pub(crate) streaming: AtomicU64,
    /// HTTP/1 requests seen by the service, in order.
    pub(crate) req_seq: AtomicU64,
    /// Index of the first request whose head had both Content-Length and Transfer-Encoding.
    pub(crate) bad_head: AtomicU64,
    /// The listener's access log, when it keeps one.
    pub(crate) access_log: Option<crate::request_log::ConnLog>,
}

impl Default for ConnShared {
    fn default() -> Self {
        Self {
            activity: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            streaming: AtomicU64::new(0),
            req_seq: AtomicU64::new(0),
            bad_head: AtomicU64::new(u64::MAX),
            access_log: None,
        }
    }
}

impl ConnShared {
    /// Marks that bytes moved or a request ended. A plain store rather than an atomic
    /// increment, as it happens several times per request: the watch only asks whether the
    /// value changed since its last look, and the only concurrent bumps (HTTP/2 streams
    /// ending while the connection reads) are as good as one.
    pub(crate) fn bump_activity(&self) {
        let now = self.activity.load(Ordering::Relaxed);
        self.activity.store(now.wrapping_add(1), Ordering::Relaxed);
    }
}

/// Which protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// Reads until the first bytes tell HTTP/2's connection preface from an HTTP/1 request.
/// Returns `None` if the client closed first. The bytes read are returned for replay.
pub(crate) async fn sniff(stream: &mut TcpStream) -> io::Result<Option<(Protocol, Bytes)>> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(None);
        }
        let n = buf.len().min(H2_PREFACE.len());
        if buf[..n] != H2_PREFACE[..n] {
            return Ok(Some((Protocol::Http1, buf.freeze())));
        }
        if n == H2_PREFACE.len() {
            return Ok(Some((Protocol::Http2, buf.freeze())));
        }
    }
}

/// The client socket as hyper sees it.
pub(crate) struct ClientIo {
    inner: TcpStream,
    replay: Bytes,
    tracker: Option<Box<Tracker>>,
    shared: Arc<ConnShared>,
}

impl ClientIo {
    pub(crate) fn new(
        inner: TcpStream,
        replay: Bytes,
        tracker: Option<Tracker>,
        shared: Arc<ConnShared>,
    ) -> Self {
        Self {
            inner,
            replay,
            tracker: tracker.map(Box::new),
            shared,
        }
    }

    fn observed(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.shared.bump_activity();
        if let Some(t) = self.tracker.as_mut() {
            t.feed(data);
        }
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            let chunk = this.replay.split_to(n);
            buf.put_slice(&chunk);
            this.observed(&chunk);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let filled = buf.filled();
        if filled.len() > before {
            this.shared.bump_activity();
            if let Some(t) = this.tracker.as_mut() {
                t.feed(&filled[before..]);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
        this.shared.bump_activity();
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs))?;
        this.shared.bump_activity();
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
