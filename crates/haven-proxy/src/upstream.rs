//! The connection pool to targets: HTTP/1.1 keep-alive over loopback TCP, and the request body type.

use std::cell::Cell;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Most proxy worker threads with their own connection pools; more share slots.
pub(crate) const MAX_WORKERS: usize = 64;

thread_local! {
    /// 0 on threads of the caller's runtime; 1.. on the proxy's own worker threads.
    static WORKER_SLOT: Cell<usize> = const { Cell::new(0) };
}

pub(crate) fn worker_slot() -> usize {
    WORKER_SLOT.with(Cell::get)
}

pub(crate) fn set_worker_slot(slot: usize) {
    WORKER_SLOT.with(|s| s.set(slot));
}

/// Pooled HTTP/1.1 client for one target.
pub(crate) type UpstreamClient = Client<HttpConnector, UpstreamBody>;

/// Builds the pool for one target. One pool per target keeps pool-lock contention per
/// target and closes a removed target's idle connections when it is dropped.
pub(crate) fn client(connect_timeout: Duration, pool_idle_timeout: Duration) -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        // Shorter than the targets' own keep-alive idle timeout, so the proxy closes an
        // idle connection before the target does and never writes into a closing socket.
        .pool_idle_timeout(pool_idle_timeout)
        .build(connector)
}

/// Body sent to a target: nothing, or the client's body streamed through.
pub(crate) enum UpstreamBody {
    Empty,
    Incoming(Incoming),
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Incoming(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Incoming(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Incoming(body) => body.size_hint(),
        }
    }
}
