//! Response bodies: whole ones (JSON, manifests) and blobs streamed from a blocking reader
//! through a bounded channel, so no blob is ever held in memory whole.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Frame;
use tokio::sync::mpsc;

use haven_registry::BlobReader;

pub type Body = BoxBody<Bytes, io::Error>;

/// How much of a blob is read per chunk.
const CHUNK: usize = 64 * 1024;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// A blob's bytes, read on a blocking thread. When the bytes turn out not to hash to the
/// blob's digest, the body ends with an error rather than cleanly, so the client sees a
/// broken transfer instead of corrupt content that looks complete.
pub fn blob(mut reader: BlobReader) -> Body {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    // The client is gone when this fails too: nothing more to tell.
                    tx.blocking_send(Err(e)).ok();
                    return;
                }
            };
            buf.truncate(n);
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return; // The client went away.
            }
        }
        if let Err(e) = reader.finish() {
            tracing::error!(%e, "a blob served does not match its digest");
            // As above: a client that is gone needs no error.
            tx.blocking_send(Err(io::Error::other(e.to_string()))).ok();
        }
    });
    ChannelBody { rx }.boxed()
}

struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }
}
