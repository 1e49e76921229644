//! Header rewriting between client and target: hop-by-hop removal, `X-Forwarded-*`,
//! and the `X-Amzn-Trace-Id` request id.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub(crate) static X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The ALB rejects requests whose `X-Forwarded-For` already lists more than this many
/// addresses (HTTP 463).
pub(crate) const MAX_FORWARDED_FOR: usize = 30;

/// Removes hop-by-hop headers (RFC 9110 §7.6.1): the fixed list and any header the
/// `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        // Collect first: the map cannot be changed while its values are borrowed.
        let mut named: Vec<HeaderName> = Vec::new();
        for value in headers.get_all(header::CONNECTION) {
            let Ok(value) = value.to_str() else { continue };
            for token in value.split(',') {
                let token = token.trim();
                // Common tokens that name no extra header (or one removed below anyway).
                if token.is_empty()
                    || token.eq_ignore_ascii_case("close")
                    || token.eq_ignore_ascii_case("keep-alive")
                    || token.eq_ignore_ascii_case("upgrade")
                    || token.eq_ignore_ascii_case("te")
                {
                    continue;
                }
                if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                    named.push(name);
                }
            }
        }
        for name in named {
            headers.remove(name);
        }
        headers.remove(header::CONNECTION);
    }
    for name in [
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
    ] {
        if headers.contains_key(name) {
            headers.remove(name);
        }
    }
}

/// Number of addresses already in `X-Forwarded-For`.
pub(crate) fn forwarded_for_len(headers: &HeaderMap) -> usize {
    headers
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .map(|v| v.as_bytes().split(|b| *b == b',').count())
        .sum()
}

/// Sets the `X-Forwarded-*` headers as the ALB does: the client address appended to
/// `X-Forwarded-For`, protocol and listener port overwritten.
pub(crate) fn add_forwarded(headers: &mut HeaderMap, client_ip: &HeaderValue, port: &HeaderValue) {
    let mut existing = headers.get_all(&X_FORWARDED_FOR).iter();
    match (existing.next(), existing.next()) {
        (None, _) => {
            headers.insert(X_FORWARDED_FOR.clone(), client_ip.clone());
        }
        (Some(first), rest) => {
            let mut joined = Vec::with_capacity(first.len() + client_ip.len() + 16);
            joined.extend_from_slice(first.as_bytes());
            for v in rest.into_iter().chain(existing) {
                joined.extend_from_slice(b", ");
                joined.extend_from_slice(v.as_bytes());
            }
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(client_ip.as_bytes());
            match HeaderValue::from_bytes(&joined) {
                Ok(v) => {
                    headers.insert(X_FORWARDED_FOR.clone(), v);
                }
                // Parts were valid header values and ", " is too, so this cannot fail;
                // fall back to the client address alone rather than dropping it.
                Err(_) => {
                    headers.insert(X_FORWARDED_FOR.clone(), client_ip.clone());
                }
            }
        }
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    headers.insert(X_FORWARDED_PORT.clone(), port.clone());
    if !headers.contains_key(&X_AMZN_TRACE_ID) {
        headers.insert(X_AMZN_TRACE_ID.clone(), trace_id());
    }
}

/// A new `Root=1-<8 hex seconds>-<24 hex random>` trace id, the ALB's format.
pub(crate) fn trace_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut buf = *b"Root=1-00000000-000000000000000000000000";
    // Seconds since the epoch fit 32 bits until 2106; the ALB prints them as 8 hex digits.
    let secs = secs & 0xffff_ffff;
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
    match HeaderValue::from_bytes(&buf) {
        Ok(v) => v,
        // Only ASCII letters, digits and '-' / '=' were written.
        Err(_) => HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(RandomState::new().hash_one(std::thread::current().id()) | 1);
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

    #[test]
    fn strips_hop_by_hop_and_named() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Foo"),
        );
        h.insert("x-foo", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("x-keep", HeaderValue::from_static("yes"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn forwarded_headers() {
        let ip = HeaderValue::from_static("127.0.0.1");
        let port = HeaderValue::from_static("8080");
        let mut h = HeaderMap::new();
        add_forwarded(&mut h, &ip, &port);
        assert_eq!(h[&X_FORWARDED_FOR], "127.0.0.1");
        assert_eq!(h[&X_FORWARDED_PROTO], "http");
        assert_eq!(h[&X_FORWARDED_PORT], "8080");
        let id = h[&X_AMZN_TRACE_ID].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 40);
        assert!(id.starts_with("Root=1-") && id.as_bytes()[15] == b'-');

        let mut h = HeaderMap::new();
        h.append(&X_FORWARDED_FOR, HeaderValue::from_static("1.1.1.1"));
        h.append(
            &X_FORWARDED_FOR,
            HeaderValue::from_static("2.2.2.2, 3.3.3.3"),
        );
        h.insert(&X_AMZN_TRACE_ID, HeaderValue::from_static("Root=1-keep"));
        assert_eq!(forwarded_for_len(&h), 3);
        add_forwarded(&mut h, &ip, &port);
        assert_eq!(h[&X_FORWARDED_FOR], "1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1");
        assert_eq!(h[&X_AMZN_TRACE_ID], "Root=1-keep");
        assert_ne!(trace_id(), trace_id());
    }
}
