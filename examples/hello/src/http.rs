//! Just enough HTTP/1.x: request-head parsing and Content-Length framed responses.

use std::fmt::Write as _;
use std::io::{self, Write};

/// Longest request head accepted; longer ones get 431.
pub const MAX_HEAD: usize = 16 * 1024;

/// A parsed request head. Bodies are read (and dropped) by the connection loop.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Names lowercased, values trimmed, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(&self.target, |(path, _)| path)
    }

    /// The raw value of query parameter `key`, if present (`?flag` gives `Some("")`).
    pub fn query(&self, key: &str) -> Option<&str> {
        let (_, query) = self.target.split_once('?')?;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(v)
        })
    }

    /// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 only if told `keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let tokens = self.headers.iter().filter(|(n, _)| n == "connection");
        let tokens = tokens.flat_map(|(_, v)| v.split(',')).map(str::trim);
        let (mut close, mut keep) = (false, false);
        for token in tokens {
            close |= token.eq_ignore_ascii_case("close");
            keep |= token.eq_ignore_ascii_case("keep-alive");
        }
        !close && (self.minor >= 1 || keep)
    }

    /// The body length, or the status to answer when the body cannot be framed. Chunked bodies
    /// get 411: this service never needs a body, so it asks for Content-Length instead.
    pub fn body_length(&self) -> Result<u64, u16> {
        if self.header("transfer-encoding").is_some() {
            return Err(411);
        }
        let mut length = None;
        let values = self.headers.iter().filter(|(n, _)| n == "content-length");
        for part in values.flat_map(|(_, v)| v.split(',')).map(str::trim) {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(400);
            }
            let n = part.parse::<u64>().map_err(|_| 400u16)?;
            if length.is_some_and(|l| l != n) {
                return Err(400);
            }
            length = Some(n);
        }
        Ok(length.unwrap_or(0))
    }
}

/// Index just past the blank line that ends a request head, if `buf` holds one.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| match &buf[i..] {
        [b'\n', b'\n', ..] => Some(i + 2),
        [b'\n', b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

/// Parses a request head (request line and headers), or gives the status to answer instead.
pub fn parse_head(head: &[u8]) -> Result<Request, u16> {
    let text = std::str::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_graphic()) || target.is_empty() {
        return Err(400);
    }
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        v if v.starts_with("HTTP/") => return Err(505),
        _ => return Err(400),
    };
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        // Whitespace before the colon and obsolete line folding are both malformed (RFC 9112).
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(400);
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    let (method, target) = (method.to_string(), target.to_string());
    Ok(Request {
        method,
        target,
        minor,
        headers,
    })
}

/// A response to serialise with `write_response`.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A `text/plain` response; the body gets a trailing newline.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        body.push('\n');
        let content_type = "text/plain; charset=utf-8";
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    pub fn json(status: u16, mut body: String) -> Self {
        body.push('\n');
        let content_type = "application/json";
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into_bytes(),
        }
    }

    /// A plain response whose body is the lowercased reason phrase.
    pub fn error(status: u16) -> Self {
        Self::text(status, reason(status).to_ascii_lowercase())
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// Writes `resp` in one go. `head_only` answers HEAD: same headers, no body.
pub fn write_response(
    w: &mut impl Write,
    resp: &Response,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    // 204 and 304 never carry a body, so they get no body headers either.
    let bodyless = matches!(resp.status, 204 | 304);
    if !bodyless {
        let _ = write!(head, "Content-Type: {}\r\n", resp.content_type);
        let _ = write!(head, "Content-Length: {}\r\n", resp.body.len());
    }
    for (name, value) in &resp.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(head, "Connection: {connection}\r\n\r\n");
    let mut out = head.into_bytes();
    if !head_only && !bodyless {
        out.extend_from_slice(&resp.body);
    }
    w.write_all(&out)?;
    w.flush()
}

/// Reason phrases for the statuses this service is likely to send; others get an empty one,
/// which HTTP/1.1 allows.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(head: &str) -> Result<Request, u16> {
        parse_head(head.as_bytes())
    }

    #[test]
    fn parses_request_line_and_headers() {
        let req = parse("GET /work?ms=5&x HTTP/1.1\r\nHost: a\r\nX-Thing:  v 1 \r\n\r\n").unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path(), "/work");
        assert_eq!(req.query("ms"), Some("5"));
        assert_eq!(req.query("x"), Some(""));
        assert_eq!(req.query("y"), None);
        assert_eq!(req.minor, 1);
        assert_eq!(req.header("host"), Some("a"));
        assert_eq!(req.header("x-thing"), Some("v 1"));
    }

    #[test]
    fn rejects_malformed_heads() {
        assert_eq!(parse("GET /\r\n\r\n"), Err(400));
        assert_eq!(parse("GET  / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(parse("GET / HTTP/2.0\r\n\r\n"), Err(505));
        assert_eq!(parse("GET / FTP/1.0\r\n\r\n"), Err(400));
        assert_eq!(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), Err(400));
        assert_eq!(parse("GET / HTTP/1.1\r\nno colon\r\n\r\n"), Err(400));
        assert_eq!(parse("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), Err(400));
        assert_eq!(parse_head(b"GET /\xff HTTP/1.1\r\n\r\n"), Err(400));
    }

    #[test]
    fn finds_head_end_with_crlf_or_bare_lf() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn keep_alive_follows_version_and_connection_header() {
        let ka = |head: &str| parse(head).unwrap().keep_alive();
        assert!(ka("GET / HTTP/1.1\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    }

    #[test]
    fn frames_bodies_by_content_length_only() {
        let len = |head: &str| parse(head).unwrap().body_length();
        assert_eq!(len("GET / HTTP/1.1\r\n\r\n"), Ok(0));
        assert_eq!(len("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"), Ok(12));
        assert_eq!(
            len("POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n"),
            Ok(3)
        );
        assert_eq!(
            len("POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 4\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            len("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n"),
            Err(400)
        );
        assert_eq!(
            len("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(411)
        );
    }

    #[test]
    fn writes_content_length_framed_responses() {
        let mut out = Vec::new();
        let resp = Response::text(200, "ok").with_header("X-A", "b");
        write_response(&mut out, &resp, false, true).unwrap();
        let expected = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
                        Content-Length: 3\r\nX-A: b\r\nConnection: keep-alive\r\n\r\nok\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);

        let mut out = Vec::new();
        write_response(&mut out, &Response::text(404, "nope"), true, false).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(out.ends_with("Content-Length: 5\r\nConnection: close\r\n\r\n"));

        let mut out = Vec::new();
        write_response(&mut out, &Response::text(204, "x"), false, true).unwrap();
        let expected = "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}
