//! Webhooks: the SNS-style JSON payload POSTed over HTTP/1.1, signed with HMAC-SHA256 of the
//! raw body under the topic's secret, so that a receiver can tell the twin's messages from
//! anyone else's.

use std::pin::pin;
use std::time::Duration;

use base64::prelude::{BASE64_STANDARD, Engine as _};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use sha2::Sha256;
use tokio::net::TcpStream;

use crate::error::WebhookError;
use crate::message::Message;

pub const SIGNATURE_HEADER: &str = "x-haven-signature";
pub const TIMESTAMP_HEADER: &str = "x-haven-timestamp";
pub const MESSAGE_ID_HEADER: &str = "x-haven-message-id";
/// 1 for the first attempt of a delivery, 2 for its first retry, ...
pub const ATTEMPT_HEADER: &str = "x-haven-delivery-attempt";

/// How much of a failing receiver's answer goes into the error.
const ERROR_BODY_CHARS: usize = 200;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>`: the `X-Haven-Signature` value for `body`.
pub fn sign(secret: impl AsRef<[u8]>, body: &[u8]) -> String {
    let tag = mac(secret.as_ref(), body).finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0x0f));
    }
    out
}

/// Whether `header` (an `X-Haven-Signature` value) is the signature of `body` under
/// `secret`. The comparison takes the same time wherever the first difference is.
pub fn verify_signature(secret: impl AsRef<[u8]>, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Some(tag) = unhex(hex) else {
        return false;
    };
    mac(secret.as_ref(), body).verify_slice(&tag).is_ok()
}

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; the error exists for MACs with fixed-size keys.
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    m.update(body);
    m
}

fn hex_digit(n: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(n & 0x0f)])
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = char::from(p[0]).to_digit(16)?;
            let lo = char::from(p[1]).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// Where a webhook URL points.
struct Target {
    host: String,
    port: u16,
    /// `Host` header: the authority without user information.
    authority: String,
    path: String,
    /// `user:password` from the URL, sent as basic authentication, as SNS does.
    userinfo: Option<String>,
}

fn target(url: &str) -> Result<Target, WebhookError> {
    let bad = |reason: &str| WebhookError::BadUrl {
        url: redact(url),
        reason: reason.to_owned(),
    };
    let uri: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(WebhookError::Https { url: redact(url) });
        }
        _ => return Err(bad("only http:// URLs are delivered by the local twin")),
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    let (userinfo, hostport) = match authority.as_str().rsplit_once('@') {
        Some((u, h)) => (Some(u.to_owned()), h.to_owned()),
        None => (None, authority.as_str().to_owned()),
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok(Target {
        host: host.to_owned(),
        port: authority.port_u16().unwrap_or(80),
        authority: hostport,
        path: uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        userinfo,
    })
}

/// `url` with its user information (a password, perhaps) masked, for errors and logs.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some((_, host)) = rest[..end].rsplit_once('@') {
            return format!("{scheme}://****@{host}{}", &rest[end..]);
        }
    }
    url.to_owned()
}

/// Checks that `url` is one the twin can deliver to, without connecting.
pub fn check_url(url: &str) -> Result<(), WebhookError> {
    target(url).map(drop)
}

/// POSTs `message`'s payload to `url` once. Succeeds on a 2xx answer within `timeout`.
pub async fn post(
    url: &str,
    message: &Message,
    secret: Option<&str>,
    attempt: u32,
    timeout: Duration,
) -> Result<(), WebhookError> {
    let t = target(url)?;
    let body = Bytes::from(message.json.to_string());
    let mut req = Request::post(t.path.as_str())
        .header(http::header::HOST, t.authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("haven-notify/", env!("CARGO_PKG_VERSION")),
        )
        // One request per connection: retries are seconds apart.
        .header(http::header::CONNECTION, "close")
        .header(TIMESTAMP_HEADER, unix_now().to_string())
        .header(MESSAGE_ID_HEADER, message.id.as_str())
        .header(ATTEMPT_HEADER, attempt.to_string())
        .header("x-amz-sns-message-type", "Notification")
        .header("x-amz-sns-message-id", message.id.as_str())
        .header("x-amz-sns-topic-arn", message.topic_arn.as_str());
    if let Some(secret) = secret {
        req = req.header(SIGNATURE_HEADER, sign(secret, &body));
    }
    if let Some(u) = &t.userinfo {
        req = req.header(
            http::header::AUTHORIZATION,
            format!("Basic {}", BASE64_STANDARD.encode(u.as_bytes())),
        );
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| WebhookError::BadUrl {
            url: redact(url),
            reason: e.to_string(),
        })?;
    match tokio::time::timeout(timeout, exchange(url, &t, req)).await {
        Ok(r) => r,
        Err(_) => Err(WebhookError::Timeout {
            url: redact(url),
            after: timeout,
        }),
    }
}

async fn exchange(url: &str, t: &Target, req: Request<Full<Bytes>>) -> Result<(), WebhookError> {
    let http = |source| WebhookError::Http {
        url: redact(url),
        source,
    };
    let stream = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|source| WebhookError::Connect {
            url: redact(url),
            source,
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http)?;
    // The connection is driven here, next to the request, rather than in a task of its own,
    // so that nothing outlives this call.
    let mut conn = pin!(conn);
    let mut answer = pin!(async {
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status();
        let body = if status.is_success() {
            String::new()
        } else {
            // The receiver's explanation is a courtesy: a body that cannot be read is
            // left out.
            match Limited::new(resp.into_body(), 16 * 1024).collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes())
                    .chars()
                    .take(ERROR_BODY_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_owned(),
                Err(_) => String::new(),
            }
        };
        Ok::<_, WebhookError>((status, body))
    });
    let (status, body) = tokio::select! {
        biased;
        r = &mut answer => r?,
        r = &mut conn => {
            r.map_err(http)?;
            // The connection ended after handing over the answer.
            answer.await?
        }
    };
    if status.is_success() {
        Ok(())
    } else {
        Err(WebhookError::Status {
            url: redact(url),
            status,
            body,
        })
    }
}

fn unix_now() -> u64 {
    haven_time::now_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_reject() {
        // RFC 4231 test case 2.
        let sig = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify_signature(
            "Jefe",
            b"what do ya want for nothing?",
            &sig
        ));
        assert!(!verify_signature(
            "Jefe",
            b"what do ya want for nothing!",
            &sig
        ));
        assert!(!verify_signature(
            "jefe",
            b"what do ya want for nothing?",
            &sig
        ));
        assert!(!verify_signature(
            "Jefe",
            b"what do ya want for nothing?",
            &sig[7..]
        ));
        assert!(!verify_signature("Jefe", b"x", "sha256=zz"));
    }

    #[test]
    fn urls() {
        let t = target("http://u:p@127.0.0.1:9/hook?x=1")
            .ok()
            .map(|t| (t.host, t.port, t.authority, t.path, t.userinfo));
        assert_eq!(
            t,
            Some((
                "127.0.0.1".to_owned(),
                9,
                "127.0.0.1:9".to_owned(),
                "/hook?x=1".to_owned(),
                Some("u:p".to_owned())
            ))
        );
        assert!(matches!(
            target("https://example.com/"),
            Err(WebhookError::Https { .. })
        ));
        assert!(matches!(
            target("ftp://example.com/"),
            Err(WebhookError::BadUrl { .. })
        ));
        assert_eq!(
            target("http://[::1]/").ok().map(|t| t.host),
            Some("::1".to_owned())
        );
    }
}
