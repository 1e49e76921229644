//! HTTP/1.1 towards targets: reading response heads, their framing and keep-alive
//! (RFC 9112 §6), and decoding chunked bodies. Requests are written by `headers.rs`.

use std::mem::MaybeUninit;

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};

use crate::desync::{self, Chunk};
use crate::headers;

/// Most header fields in a target's response; more make it malformed (hyper's limit is 100).
const MAX_HEADERS: usize = 128;

/// Largest response head; a larger one is malformed (the ALB answers 502 too).
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Most bytes of chunk framing (size line, extensions, trailers) between two pieces of data.
const MAX_FRAMING: usize = 64 * 1024;

/// The target sent something that is not valid HTTP/1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: a response to HEAD, 204, 304, or `Content-Length: 0`.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the target closes the connection.
    Close,
}

/// A response head as the proxy forwards it: hop-by-hop fields already removed.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// The connection may carry another request once the body has been read.
    pub(crate) keep_alive: bool,
}

/// Parses the response head at the start of `buf` and removes it from there. `Ok(None)`:
/// incomplete, read more. Interim (1xx) responses are skipped; `101 Switching Protocols`
/// is malformed, as the proxy never asks for an upgrade.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    head_request: bool,
) -> Result<Option<ResponseHead>, Malformed> {
    loop {
        // Byte ranges of each field's name and value in `buf`: the parser borrows `buf`,
        // and the values are cut from it afterwards without copying.
        let mut spans = [[0u32; 4]; MAX_HEADERS];
        let (len, code, minor, count) = {
            let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default()
                .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
            let len = match parsed {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Ok(None),
                Ok(httparse::Status::Partial) | Err(_) => return Err(Malformed),
            };
            if len > MAX_HEAD {
                return Err(Malformed);
            }
            let base = buf.as_ptr() as usize;
            let offset = |s: &[u8]| u32::try_from(s.as_ptr() as usize - base).unwrap_or(0);
            for (span, h) in spans.iter_mut().zip(resp.headers.iter()) {
                let (name, value) = (offset(h.name.as_bytes()), offset(h.value));
                // Offsets and lengths are below MAX_HEAD, so they fit.
                *span = [
                    name,
                    name + h.name.len() as u32,
                    value,
                    value + h.value.len() as u32,
                ];
            }
            (
                len,
                resp.code.ok_or(Malformed)?,
                resp.version.ok_or(Malformed)?,
                resp.headers.len(),
            )
        };
        if (100..200).contains(&code) {
            if code == 101 {
                return Err(Malformed);
            }
            buf.advance(len);
            continue;
        }
        let status = StatusCode::from_u16(code).map_err(|_| Malformed)?;
        let head = buf.split_to(len).freeze();
        return build(&head, &spans[..count], status, minor, head_request).map(Some);
    }
}

fn build(
    head: &Bytes,
    spans: &[[u32; 4]],
    status: StatusCode,
    minor: u8,
    head_request: bool,
) -> Result<ResponseHead, Malformed> {
    let name = |s: &[u32; 4]| &head[s[0] as usize..s[1] as usize];
    let value = |s: &[u32; 4]| &head[s[2] as usize..s[3] as usize];
    let version = if minor == 0 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };

    // One pass: fields that decide framing and keep-alive are read (and, being hop-by-hop,
    // left out), the others copied over.
    let (mut close, mut keep) = (false, false);
    let mut named: Vec<&[u8]> = Vec::new();
    let (mut chunked, mut te) = (false, false);
    let mut length: Option<u64> = None;
    let mut headers = HeaderMap::with_capacity(spans.len());
    for s in spans {
        let n = name(s);
        if n.eq_ignore_ascii_case(b"connection") {
            for token in value(s).split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep = true;
                } else if !token.is_empty() {
                    named.push(token);
                }
            }
            continue;
        }
        if n.eq_ignore_ascii_case(b"transfer-encoding") {
            te = true;
            // Like hyper: chunked must be the last coding of the last such field.
            chunked = value(s)
                .rsplit(|b| *b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            continue;
        }
        if n.eq_ignore_ascii_case(b"content-length") {
            for part in value(s).split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                let n = parse_length(part).ok_or(Malformed)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Malformed);
                }
                length = Some(n);
            }
        } else if headers::is_hop_by_hop(n) {
            continue;
        }
        let v = HeaderValue::from_maybe_shared(head.slice(s[2] as usize..s[3] as usize))
            .map_err(|_| Malformed)?;
        headers.append(field_name(n)?, v);
    }
    if te {
        headers.remove(header::CONTENT_LENGTH);
    }
    for token in named {
        if let Ok(n) = HeaderName::from_bytes(token) {
            headers.remove(n);
        }
    }
    let no_body =
        head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = match (no_body, te, chunked, length) {
        (true, ..) | (false, false, _, Some(0)) => Framing::Empty,
        (false, true, true, _) => Framing::Chunked,
        (false, true, false, _) | (false, false, _, None) => Framing::Close,
        (false, false, _, Some(n)) => Framing::Length(n),
    };
    // Both framings at once may be an attempt at response splitting: read this response
    // by its Transfer-Encoding (RFC 9112 §6.3), then close the connection.
    let keep_alive = !close
        && (version == Version::HTTP_11 || keep)
        && framing != Framing::Close
        && !(te && length.is_some());
    Ok(ResponseHead {
        status,
        headers,
        framing,
        keep_alive,
    })
}

/// The names responses mostly carry, matched directly: cheaper than the general parser,
/// which lowercases into a scratch buffer first.
#[rustfmt::skip]
static KNOWN_NAMES: [HeaderName; 12] = {
    use header::*;
    [DATE, ETAG, VARY, SERVER, EXPIRES, LOCATION, SET_COOKIE, CONTENT_TYPE, CACHE_CONTROL,
        LAST_MODIFIED, CONTENT_LENGTH, CONTENT_ENCODING]
};

/// A field name.
fn field_name(n: &[u8]) -> Result<HeaderName, Malformed> {
    // Lengths first: most names differ in length, and that test is one comparison.
    match KNOWN_NAMES.iter().find(|known| {
        let known = known.as_str().as_bytes();
        known.len() == n.len() && n.eq_ignore_ascii_case(known)
    }) {
        Some(name) => Ok(name.clone()),
        None => HeaderName::from_bytes(n).map_err(|_| Malformed),
    }
}

/// A Content-Length value: digits only, no sign, no overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// What the chunked decoder found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// A piece of chunk data.
    Data(Bytes),
    /// The last chunk and the trailer section (trailers are dropped: hyper would only
    /// forward them to clients that ask, and the proxy removes `TE` on the way in).
    End,
    /// Read more.
    More,
}

/// Decodes a chunked body as it arrives.
#[derive(Debug)]
pub(crate) struct Chunked {
    state: Chunk,
    size: u64,
    framing: usize,
}

impl Default for Chunked {
    fn default() -> Self {
        Self {
            state: Chunk::Start,
            size: 0,
            framing: 0,
        }
    }
}

impl Chunked {
    /// Takes what it can from the start of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Malformed> {
        loop {
            match self.state {
                Chunk::Done => return Ok(Decoded::End),
                Chunk::Body => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let n = usize::try_from(self.size).map_or(buf.len(), |s| s.min(buf.len()));
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = Chunk::BodyCr;
                    }
                    self.framing = 0;
                    return Ok(Decoded::Data(buf.split_to(n).freeze()));
                }
                state => {
                    let Some(&b) = buf.first() else {
                        return Ok(Decoded::More);
                    };
                    buf.advance(1);
                    self.framing += 1;
                    if self.framing > MAX_FRAMING {
                        return Err(Malformed);
                    }
                    (self.state, self.size) = desync::step(state, self.size, b).ok_or(Malformed)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str, head_request: bool) -> (Result<Option<ResponseHead>, Malformed>, usize) {
        let mut buf = BytesMut::from(raw.as_bytes());
        let r = parse_response(&mut buf, head_request);
        (r, buf.len())
    }

    #[test]
    fn heads_framing_and_keep_alive() {
        let (r, rest) = parse(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Other: 2\r\n\r\nhello",
            false,
        );
        let head = r.unwrap().unwrap();
        assert_eq!(rest, 5);
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(head.headers.len(), 2, "{:?}", head.headers);
        assert_eq!(head.headers["x-other"], "2");

        let (r, _) = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n",
            false,
        );
        let head = r.unwrap().unwrap();
        assert_eq!(head.framing, Framing::Chunked);
        assert!(!head.keep_alive && head.headers.is_empty());

        let (r, _) = parse("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false);
        assert!(!r.unwrap().unwrap().keep_alive);
        let (r, _) = parse("HTTP/1.1 200 OK\r\n\r\nuntil close", false);
        assert_eq!(r.unwrap().unwrap().framing, Framing::Close);
        let (r, _) = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true);
        let head = r.unwrap().unwrap();
        assert_eq!((head.framing, head.keep_alive), (Framing::Empty, true));
        let (r, _) = parse("HTTP/1.1 304 Not Modified\r\n\r\n", false);
        assert_eq!(r.unwrap().unwrap().framing, Framing::Empty);
    }

    #[test]
    fn partial_and_malformed() {
        assert!(
            parse("HTTP/1.1 200 OK\r\nContent-Le", false)
                .0
                .unwrap()
                .is_none()
        );
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "garbage\r\n\r\n",
        ] {
            assert_eq!(parse(bad, false).0.unwrap_err(), Malformed, "{bad}");
        }
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
        assert_eq!(parse(&huge, false).0.unwrap_err(), Malformed);
    }

    #[test]
    fn chunked_bodies_in_pieces() {
        let body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
        for split in 1..body.len() {
            let mut d = Chunked::default();
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in [&body[..split], &body[split..]] {
                buf.extend_from_slice(piece);
                loop {
                    match d.decode(&mut buf).unwrap() {
                        Decoded::Data(b) => out.extend_from_slice(&b),
                        Decoded::End => break,
                        Decoded::More => break,
                    }
                }
            }
            assert_eq!(d.decode(&mut buf).unwrap(), Decoded::End, "split {split}");
            assert_eq!(out, b"hello world");
            assert!(buf.is_empty());
        }
        let mut bad = BytesMut::from(&b"zz\r\n"[..]);
        assert_eq!(Chunked::default().decode(&mut bad), Err(Malformed));
    }
}
