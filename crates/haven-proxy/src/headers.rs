//! Header rewriting between client and target: hop-by-hop removal, `X-Forwarded-*`, the
//! `X-Amzn-Trace-Id` request id, and the request head as written to a target.

use std::cell::Cell;

use http::Method;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// The ALB rejects requests whose `X-Forwarded-For` already lists more than this many
/// addresses (HTTP 463).
pub(crate) const MAX_FORWARDED_FOR: usize = 30;

/// Hop-by-hop fields (RFC 9110 §7.6.1) and their relatives that describe one connection
/// only; never forwarded. (Fields the `Connection` field names are removed too.)
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    match name.len() {
        2 => is(b"te"),
        7 => is(b"trailer") || is(b"upgrade"),
        10 => is(b"connection") || is(b"keep-alive"),
        16 => is(b"proxy-connection"),
        17 => is(b"transfer-encoding"),
        _ => false,
    }
}

/// What forwarding and the access log need to know about a client request's fields, found
/// in one pass.
#[derive(Debug, Default)]
pub(crate) struct Scan<'a> {
    /// Addresses already in `X-Forwarded-For`.
    pub(crate) forwarded_for: usize,
    /// The first `Host`, `User-Agent` and `X-Amzn-Trace-Id` values.
    pub(crate) host: Option<&'a HeaderValue>,
    pub(crate) user_agent: Option<&'a HeaderValue>,
    pub(crate) trace_id: Option<&'a HeaderValue>,
    pub(crate) has_content_length: bool,
    /// The fields' size on the wire: names, values, `: ` and CRLF.
    pub(crate) fields_len: usize,
    /// Fields named by `Connection` (besides the usual `close`, `keep-alive`, ...).
    named: Vec<HeaderName>,
}

impl<'a> Scan<'a> {
    pub(crate) fn of(headers: &'a HeaderMap) -> Self {
        let mut scan = Self::default();
        for (name, value) in headers {
            scan.fields_len += name.as_str().len() + value.len() + 4;
            if *name == header::HOST {
                scan.host.get_or_insert(value);
            } else if *name == header::USER_AGENT {
                scan.user_agent.get_or_insert(value);
            } else if *name == header::CONTENT_LENGTH {
                scan.has_content_length = true;
            } else if *name == X_FORWARDED_FOR {
                scan.forwarded_for += value.as_bytes().split(|b| *b == b',').count();
            } else if *name == X_AMZN_TRACE_ID {
                scan.trace_id.get_or_insert(value);
            } else if *name == header::CONNECTION {
                let Ok(value) = value.to_str() else { continue };
                for token in value.split(',').map(str::trim) {
                    // Common tokens that name no extra field (or one removed anyway).
                    if token.is_empty() || is_hop_by_hop(token.as_bytes()) || token == "close" {
                        continue;
                    }
                    if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                        scan.named.push(name);
                    }
                }
            }
        }
        scan
    }
}

/// How the request body goes to the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body (or the client's own `Content-Length: 0`).
    None,
    /// As the client framed it, by its `Content-Length`.
    Length,
    /// Chunked, as the client's body has no declared length.
    Chunked,
}

/// A request as it goes to targets: the client's request with the ALB's changes.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    /// Origin-form request target, e.g. `/path?query`.
    pub(crate) target: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) scan: &'a Scan<'a>,
    /// `Host` to send when the client sent none (HTTP/2 sends `:authority` instead).
    pub(crate) authority: Option<&'a str>,
    pub(crate) client_ip: &'a str,
    pub(crate) port: &'a str,
    /// `X-Amzn-Trace-Id` to add when the client sent none.
    pub(crate) trace_id: &'a [u8],
    pub(crate) body: BodyFraming,
    /// Ask the target to close the connection after this request.
    pub(crate) close: bool,
}

impl Outgoing<'_> {
    /// Writes the HTTP/1.1 request head into `buf`: hop-by-hop fields removed,
    /// `X-Forwarded-For` extended with the client's address, `X-Forwarded-Proto` and
    /// `X-Forwarded-Port` set to the listener's, a trace id added if missing.
    pub(crate) fn write_head(&self, buf: &mut Vec<u8>) {
        buf.clear();
        buf.extend_from_slice(self.method.as_str().as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(self.target.as_bytes());
        buf.extend_from_slice(b" HTTP/1.1\r\n");
        if self.scan.host.is_none() {
            if let Some(host) = self.authority {
                field(buf, b"host", host.as_bytes());
            }
        }
        for (name, value) in self.headers {
            let n = name.as_str().as_bytes();
            let replaced = *name == X_FORWARDED_FOR
                || n == b"x-forwarded-proto"
                || n == b"x-forwarded-port"
                || (self.body == BodyFraming::Chunked && *name == header::CONTENT_LENGTH);
            if replaced || is_hop_by_hop(n) || self.scan.named.contains(name) {
                continue;
            }
            field(buf, n, value.as_bytes());
        }
        buf.extend_from_slice(b"x-forwarded-for: ");
        if self.scan.forwarded_for > 0 {
            for v in self.headers.get_all(&X_FORWARDED_FOR) {
                buf.extend_from_slice(v.as_bytes());
                buf.extend_from_slice(b", ");
            }
        }
        buf.extend_from_slice(self.client_ip.as_bytes());
        buf.extend_from_slice(b"\r\n");
        field(buf, b"x-forwarded-proto", b"http");
        field(buf, b"x-forwarded-port", self.port.as_bytes());
        if self.scan.trace_id.is_none() {
            field(buf, b"x-amzn-trace-id", self.trace_id);
        }
        if self.body == BodyFraming::Chunked {
            field(buf, b"transfer-encoding", b"chunked");
        }
        if self.close {
            field(buf, b"connection", b"close");
        }
        buf.extend_from_slice(b"\r\n");
    }
}

/// Appends `name: value\r\n`.
fn field(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    buf.extend_from_slice(name);
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
}

/// A new `Root=1-<8 hex seconds>-<24 hex random>` trace id, the ALB's format.
pub(crate) fn trace_id() -> [u8; 40] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = *b"Root=1-00000000-000000000000000000000000";
    // Seconds since the epoch fit 32 bits until 2106; the ALB prints them as 8 hex digits.
    let secs = haven_time::now_secs() & 0xffff_ffff;
    for i in 0..8 {
        buf[7 + i] = HEX[((secs >> (28 - 4 * i)) & 0xf) as usize];
    }
    let (a, b) = (random_u64(), random_u64());
    for i in 0..16 {
        buf[16 + i] = HEX[((a >> (60 - 4 * i)) & 0xf) as usize];
    }
    for i in 0..8 {
        buf[32 + i] = HEX[((b >> (60 - 4 * i)) & 0xf) as usize];
    }
    buf
}

thread_local! {
    // Seeded once per thread from the OS (haven-fs's one source of randomness).
    static RNG: Cell<u64> = Cell::new(haven_fs::random::seed() | 1);
}

/// wyrand: fast, non-cryptographic; request ids only need to be unlikely to collide.
pub(crate) fn random_u64() -> u64 {
    RNG.with(|s| {
        let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        #[allow(clippy::cast_possible_truncation)]
        let folded = (t as u64) ^ ((t >> 64) as u64);
        folded
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &HeaderMap, body: BodyFraming, close: bool) -> String {
        let scan = Scan::of(headers);
        let out = Outgoing {
            method: &Method::GET,
            target: "/a?b=1",
            headers,
            scan: &scan,
            authority: Some("example.com"),
            client_ip: "127.0.0.1",
            port: "8080",
            trace_id: b"Root=1-new",
            body,
            close,
        };
        let mut buf = b"left over".to_vec();
        out.write_head(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn hop_by_hop_and_named_fields_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("x"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Foo"),
        );
        h.insert("x-foo", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-keep", HeaderValue::from_static("yes"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(
            head(&h, BodyFraming::Chunked, true),
            "GET /a?b=1 HTTP/1.1\r\nhost: x\r\nx-keep: yes\r\nx-forwarded-for: 127.0.0.1\r\n\
             x-forwarded-proto: http\r\nx-forwarded-port: 8080\r\nx-amzn-trace-id: Root=1-new\r\n\
             transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn forwarded_for_is_extended_and_trace_id_kept() {
        let mut h = HeaderMap::new();
        h.append(&X_FORWARDED_FOR, HeaderValue::from_static("1.1.1.1"));
        h.append(
            &X_FORWARDED_FOR,
            HeaderValue::from_static("2.2.2.2, 3.3.3.3"),
        );
        h.insert(&X_AMZN_TRACE_ID, HeaderValue::from_static("Root=1-keep"));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let scan = Scan::of(&h);
        assert_eq!(scan.forwarded_for, 3);
        assert_eq!(
            scan.trace_id.map(HeaderValue::as_bytes),
            Some(&b"Root=1-keep"[..])
        );
        assert_eq!(scan.host, None);
        // "x-forwarded-for: 1.1.1.1\r\n" and so on.
        assert_eq!(
            scan.fields_len,
            (15 + 7 + 4) + (15 + 16 + 4) + (15 + 11 + 4) + (14 + 1 + 4)
        );
        assert_eq!(
            head(&h, BodyFraming::None, false),
            "GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\nx-amzn-trace-id: Root=1-keep\r\n\
             content-length: 0\r\nx-forwarded-for: 1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1\r\n\
             x-forwarded-proto: http\r\nx-forwarded-port: 8080\r\n\r\n"
        );
    }

    #[test]
    fn trace_ids_look_like_the_albs() {
        let id = trace_id();
        let id = std::str::from_utf8(&id).unwrap();
        assert!(
            id.starts_with("Root=1-") && id.as_bytes()[15] == b'-',
            "{id}"
        );
        assert_ne!(trace_id(), trace_id());
    }
}
