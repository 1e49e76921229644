//! HTTP desync (request smuggling) detection for HTTP/1 client connections.
//!
//! hyper accepts a request carrying both `Content-Length` and `Transfer-Encoding`: it
//! follows `Transfer-Encoding`, drops `Content-Length` and closes the connection afterwards,
//! so the service never sees that both were sent. The ALB classifies such a request as
//! `Ambiguous` (`BothTeClPresent`) and, in `strictest` mode, rejects it with 400. To know,
//! this tracker follows the request framing of the byte stream hyper reads (heads parsed
//! with the same `httparse`, bodies skipped by length or chunk by chunk) and records the
//! index of the first request whose head had both headers. The service counts requests
//! and looks the index up. Anything it cannot follow makes it stop tracking (hyper rejects
//! such input and closes the connection itself), so it never flags a request wrongly.

use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::conn::ConnShared;

/// Largest head the tracker buffers while it arrives in pieces; larger heads are refused
/// by hyper (431) before any request is served.
const MAX_PARTIAL_HEAD: usize = 128 * 1024;

/// More headers than this and the tracker stops (hyper's own default limit is 100).
const MAX_TRACKED_HEADERS: usize = 128;

/// Where a chunked body is, between bytes (RFC 9112 §7.1). Shared with the decoder of
/// target responses (`wire.rs`), so both read chunked framing the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    Start,
    Size,
    SizeLws,
    Extension,
    SizeLf,
    Body,
    BodyCr,
    BodyLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Fixed(u64),
    Chunked(Chunk, u64),
    Lost,
}

pub(crate) struct Tracker {
    state: State,
    partial: Vec<u8>,
    heads: u64,
    max_headers: usize,
    shared: Arc<ConnShared>,
}

impl Tracker {
    pub(crate) fn new(shared: Arc<ConnShared>, max_headers: usize) -> Self {
        Self {
            state: State::Head,
            partial: Vec::new(),
            heads: 0,
            max_headers,
            shared,
        }
    }

    /// Observes bytes hyper has just read from the client.
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.state {
                State::Lost => return,
                State::Head => {
                    if self.partial.is_empty() {
                        match self.parse_head(data) {
                            Some(Some(n)) => data = &data[n..],
                            Some(None) => {
                                self.partial.extend_from_slice(data);
                                return;
                            }
                            None => return,
                        }
                    } else {
                        self.partial.extend_from_slice(data);
                        if self.partial.len() > MAX_PARTIAL_HEAD {
                            self.lose();
                            return;
                        }
                        let buf = std::mem::take(&mut self.partial);
                        match self.parse_head(&buf) {
                            Some(Some(n)) => {
                                let rest = buf[n..].to_vec();
                                self.feed(&rest);
                            }
                            Some(None) => self.partial = buf,
                            None => {}
                        }
                        return;
                    }
                }
                State::Fixed(left) => {
                    let take = usize::try_from(left).map_or(data.len(), |l| l.min(data.len()));
                    data = &data[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Head
                    } else {
                        State::Fixed(left)
                    };
                }
                State::Chunked(Chunk::Body, left) => {
                    let take = usize::try_from(left).map_or(data.len(), |l| l.min(data.len()));
                    data = &data[take..];
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        State::Chunked(Chunk::BodyCr, 0)
                    } else {
                        State::Chunked(Chunk::Body, left)
                    };
                }
                State::Chunked(chunk, size) => {
                    let b = data[0];
                    data = &data[1..];
                    self.state = match step(chunk, size, b) {
                        Some((Chunk::Done, _)) => State::Head,
                        Some((c, s)) => State::Chunked(c, s),
                        None => {
                            self.lose();
                            return;
                        }
                    };
                }
            }
        }
    }

    fn lose(&mut self) {
        self.state = State::Lost;
        self.partial = Vec::new();
    }

    /// `Some(Some(len))`: a head of `len` bytes was parsed; `Some(None)`: incomplete;
    /// `None`: unparseable (tracking stops).
    fn parse_head(&mut self, buf: &[u8]) -> Option<Option<usize>> {
        // Uninitialised on the stack: no allocation or zeroing per request.
        let mut headers: [MaybeUninit<httparse::Header<'_>>; MAX_TRACKED_HEADERS] =
            [const { MaybeUninit::uninit() }; MAX_TRACKED_HEADERS];
        let n = self.max_headers.min(MAX_TRACKED_HEADERS);
        let mut req = httparse::Request::new(&mut []);
        let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
            &mut req,
            buf,
            &mut headers[..n],
        ) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Some(None),
            Err(_) => {
                self.lose();
                return None;
            }
        };
        let mut has_cl = false;
        let mut cl: Option<u64> = None;
        let mut has_te = false;
        let mut chunked = false;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                has_te = true;
                // Like hyper: chunked must be the last coding of the last TE header.
                chunked = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.rsplit(',').next())
                    .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            } else if h.name.eq_ignore_ascii_case("content-length") {
                has_cl = true;
                cl = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            }
        }
        let index = self.heads;
        self.heads += 1;
        if has_te && has_cl {
            // Only the first one matters: hyper closes the connection after it.
            let _first = self.shared.bad_head.compare_exchange(
                u64::MAX,
                index,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        let is_connect = req
            .method
            .is_some_and(|m| m.eq_ignore_ascii_case("CONNECT"));
        self.state = if is_connect {
            State::Lost
        } else if has_te {
            if chunked {
                State::Chunked(Chunk::Start, 0)
            } else {
                State::Lost
            }
        } else if has_cl {
            match cl {
                Some(0) => State::Head,
                Some(n) => State::Fixed(n),
                None => State::Lost,
            }
        } else {
            State::Head
        };
        Some(Some(len))
    }
}

/// One byte of chunked framing outside chunk data, mirroring hyper's decoder. `size` is
/// the chunk size read so far; `Body` (chunk data) is the caller's to skip. `None`: invalid.
pub(crate) fn step(state: Chunk, size: u64, b: u8) -> Option<(Chunk, u64)> {
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    };
    let grow = |d: u64| size.checked_mul(16)?.checked_add(d);
    Some(match state {
        Chunk::Start => (Chunk::Size, grow(hex(b)?)?),
        Chunk::Size => match b {
            b'\t' | b' ' => (Chunk::SizeLws, size),
            b';' => (Chunk::Extension, size),
            b'\r' => (Chunk::SizeLf, size),
            _ => (Chunk::Size, grow(hex(b)?)?),
        },
        Chunk::SizeLws => match b {
            b'\t' | b' ' => (Chunk::SizeLws, size),
            b';' => (Chunk::Extension, size),
            b'\r' => (Chunk::SizeLf, size),
            _ => return None,
        },
        Chunk::Extension => match b {
            b'\r' => (Chunk::SizeLf, size),
            b'\n' => return None,
            _ => (Chunk::Extension, size),
        },
        Chunk::SizeLf => match (b, size) {
            (b'\n', 0) => (Chunk::EndCr, 0),
            (b'\n', n) => (Chunk::Body, n),
            _ => return None,
        },
        Chunk::Body => return None,
        Chunk::BodyCr => (b == b'\r').then_some((Chunk::BodyLf, 0))?,
        Chunk::BodyLf => (b == b'\n').then_some((Chunk::Start, 0))?,
        Chunk::Trailer => {
            if b == b'\r' {
                (Chunk::TrailerLf, 0)
            } else {
                (Chunk::Trailer, 0)
            }
        }
        Chunk::TrailerLf => (b == b'\n').then_some((Chunk::EndCr, 0))?,
        Chunk::EndCr => {
            if b == b'\r' {
                (Chunk::EndLf, 0)
            } else {
                (Chunk::Trailer, 0)
            }
        }
        Chunk::EndLf => (b == b'\n').then_some((Chunk::Done, 0))?,
        Chunk::Done => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> (Tracker, Arc<ConnShared>) {
        let shared = Arc::new(ConnShared::default());
        (Tracker::new(shared.clone(), 100), shared)
    }

    #[test]
    fn flags_only_the_request_with_both_headers() {
        let (mut t, shared) = tracker();
        let stream = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /b HTTP/1.1\r\nHost: x\r\n\r\n\
POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n\
POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        // Feed in awkward pieces to exercise partial heads and chunk lines.
        for piece in stream.chunks(7) {
            t.feed(piece);
        }
        assert_eq!(shared.bad_head.load(Ordering::Relaxed), 3);
        assert_eq!(t.heads, 4);
        assert_eq!(t.state, State::Head);
    }

    #[test]
    fn body_that_looks_like_a_head_is_skipped() {
        let (mut t, shared) = tracker();
        let smuggled =
            b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            smuggled.len()
        );
        t.feed(head.as_bytes());
        t.feed(smuggled);
        assert_eq!(shared.bad_head.load(Ordering::Relaxed), u64::MAX);
        assert_eq!(t.heads, 1);
    }

    #[test]
    fn garbage_stops_tracking() {
        let (mut t, shared) = tracker();
        t.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n");
        assert_eq!(t.state, State::Lost);
        t.feed(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(shared.bad_head.load(Ordering::Relaxed), u64::MAX);
    }
}
