//! Responses the proxy generates itself, with the ALB's small HTML pages.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::ProxyBody;

/// The `Server` header the ALB puts on responses it generates.
pub(crate) const SERVER: &str = "awselb/2.0";

/// A header (beyond the ALB) on the 503 a listener answers when it has no target to send
/// a request to. A proxy in front (the edge) reads it as "nothing was done here": an
/// idempotent request may go to another target, as after a refused connection. A 503 from
/// a target never carries it.
pub const NO_TARGET_HEADER: &str = "x-haven-no-target";

fn page(status: u16) -> &'static str {
    match status {
        400 => {
            "<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n</body>\r\n</html>\r\n"
        }
        405 => {
            "<html>\r\n<head><title>405 Method Not Allowed</title></head>\r\n<body>\r\n<center><h1>405 Method Not Allowed</h1></center>\r\n</body>\r\n</html>\r\n"
        }
        463 => {
            "<html>\r\n<head><title>463</title></head>\r\n<body>\r\n<center><h1>463</h1></center>\r\n</body>\r\n</html>\r\n"
        }
        502 => {
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
        }
        503 => {
            "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
        }
        504 => {
            "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n</body>\r\n</html>\r\n"
        }
        _ => {
            "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n"
        }
    }
}

/// An ELB-generated response. `close` asks the client connection to close after it.
pub(crate) fn response(status: u16, close: bool) -> Response<ProxyBody> {
    let body = page(status);
    let mut resp = Response::new(ProxyBody::full(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static(SERVER));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Marks a generated 503 as the listener's "no target" answer ([`NO_TARGET_HEADER`]).
pub(crate) fn mark_no_target(resp: &mut Response<ProxyBody>) {
    resp.headers_mut()
        .insert(NO_TARGET_HEADER, HeaderValue::from_static("1"));
}

/// Length of a generated page, for access logs.
pub(crate) fn len(status: u16) -> usize {
    page(status).len()
}
