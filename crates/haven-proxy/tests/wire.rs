//! HTTP/1.1 towards targets as the wire shows it: pooled keep-alive connections, request and
//! response framings (Content-Length, chunked, until close, none), early answers to
//! uploads, and connections the target closed while they sat in the pool.

#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::*;
use haven_proxy::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the raw backend read it.
#[derive(Debug)]
struct Seen {
    head: String,
    body: Vec<u8>,
}

impl Seen {
    fn path(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }
}

/// What the raw backend does after answering.
enum After {
    KeepOpen,
    Close,
    /// Close the connection a little later, as a target's keep-alive timeout would.
    CloseSoon,
}

type Script = Arc<dyn Fn(&Seen) -> (Vec<u8>, After) + Send + Sync>;

/// A backend that speaks raw bytes: it parses requests (Content-Length or chunked bodies)
/// and answers whatever `script` returns. Health checks get `200`. Counts the connections
/// that carried anything but health checks.
struct RawBackend {
    addr: std::net::SocketAddr,
    conns: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawBackend {
    async fn start(script: impl Fn(&Seen) -> (Vec<u8>, After) + Send + Sync + 'static) -> Self {
        let script: Script = Arc::new(script);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(AtomicU64::new(0));
        let counted = conns.clone();
        let task = tokio::spawn(async move {
            let mut all = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                all.spawn(serve_raw(stream, script.clone(), counted.clone()));
            }
        });
        Self { addr, conns, task }
    }

    fn conns(&self) -> u64 {
        self.conns.load(Ordering::SeqCst)
    }
}

async fn serve_raw(mut stream: TcpStream, script: Script, conns: Arc<AtomicU64>) {
    let mut buf = Vec::new();
    let mut counted = false;
    loop {
        let Some(seen) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        if seen.path() == "/health" {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            return;
        }
        if !counted {
            counted = true;
            conns.fetch_add(1, Ordering::SeqCst);
        }
        let (answer, after) = script(&seen);
        if stream.write_all(&answer).await.is_err() {
            return;
        }
        match after {
            After::KeepOpen => {}
            After::Close => return,
            After::CloseSoon => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return;
            }
        }
    }
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
    let end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if !fill(stream, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if lower.contains("x-answer-early: 1") {
        // Answered before the body arrives, as a target refusing an upload does.
    } else if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap())
    {
        while buf.len() < len {
            if !fill(stream, buf).await {
                return None;
            }
        }
        body = buf.drain(..len).collect();
    } else if lower.contains("transfer-encoding: chunked") {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if !fill(stream, buf).await {
                    return None;
                }
            };
            let size = usize::from_str_radix(
                std::str::from_utf8(&buf[..line_end])
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap(),
                16,
            )
            .unwrap();
            while buf.len() < line_end + 2 + size + 2 {
                if !fill(stream, buf).await {
                    return None;
                }
            }
            body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
            buf.drain(..line_end + 2 + size + 2);
            if size == 0 {
                break;
            }
        }
    }
    Some(Seen { head, body })
}

/// Reads a response head byte by byte, so that nothing after it is consumed.
async fn read_head_only(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(within("a response head", s.read_u8()).await.unwrap());
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn proxy_to(backend: &RawBackend, stop: &Stop) -> (Proxy, Arc<TargetGroup>) {
    let g = rr_group(stop, "wire");
    g.register("raw", backend.addr);
    wait_healthy(&g, 1).await;
    (Proxy::single(&g).await, g)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_connections_are_kept_alive_and_reused() {
    let stop = Stop::new();
    let b = RawBackend::start(|_| (ok("hi"), After::KeepOpen)).await;
    let (proxy, _g) = proxy_to(&b, &stop).await;
    let c = client();
    for _ in 0..20 {
        let r = get(&c, &proxy.url("/")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "hi"));
    }
    assert_eq!(b.conns(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_and_close_delimited_bodies_stream_through() {
    let stop = Stop::new();
    let b = RawBackend::start(|seen| match seen.path() {
        "/chunked" => (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"
                .to_vec(),
            After::KeepOpen,
        ),
        _ => (
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end".to_vec(),
            After::Close,
        ),
    })
    .await;
    let (proxy, _g) = proxy_to(&b, &stop).await;
    let c = client();
    for _ in 0..3 {
        let r = get(&c, &proxy.url("/chunked")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "hello world"));
        let r = get(&c, &proxy.url("/close")).await;
        assert_eq!((r.status, r.body.as_str()), (200, "until the end"));
    }
    // Each close-delimited answer used up the connection the chunked one before it left.
    assert_eq!(b.conns(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_keep_their_framing_or_go_chunked() {
    let stop = Stop::new();
    let b = RawBackend::start(|seen| {
        let framing = if seen.head.contains("transfer-encoding: chunked") {
            "chunked"
        } else {
            "length"
        };
        let body = format!("{framing} {}", String::from_utf8_lossy(&seen.body));
        (ok(&body), After::KeepOpen)
    })
    .await;
    let (proxy, _g) = proxy_to(&b, &stop).await;
    let r = send(&client(), http::Method::POST, &proxy.url("/"), "payload").await;
    assert_eq!(r.body, "length payload");
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let resp = raw_exchange(
        &mut s,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
    )
    .await;
    assert!(resp.ends_with("chunked abcdefg"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_and_not_modified_answers_have_no_body() {
    let stop = Stop::new();
    let b = RawBackend::start(|seen| {
        if seen.head.starts_with("HEAD") {
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec(),
                After::KeepOpen,
            )
        } else {
            (
                b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n".to_vec(),
                After::KeepOpen,
            )
        }
    })
    .await;
    let (proxy, _g) = proxy_to(&b, &stop).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let resp = read_head_only(&mut s).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            resp.to_ascii_lowercase().contains("content-length: 5"),
            "{resp}"
        );
        let resp = raw_exchange(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(resp.starts_with("HTTP/1.1 304"), "{resp}");
    }
    assert_eq!(b.conns(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_answer_is_502() {
    let stop = Stop::new();
    let b = RawBackend::start(|_| (b"HTTP/1.1 abc nonsense\r\n\r\n".to_vec(), After::Close)).await;
    let (proxy, g) = proxy_to(&b, &stop).await;
    let r = get(&client(), &proxy.url("/")).await;
    assert_eq!(r.status, 502);
    assert_eq!(g.metrics().http_code_elb_502, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_before_the_upload_ends_is_forwarded() {
    let stop = Stop::new();
    let b = RawBackend::start(|_| {
        (
            b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig".to_vec(),
            After::CloseSoon,
        )
    })
    .await;
    let (proxy, _g) = proxy_to(&b, &stop).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    // The client promises a large body and sends only the start of it: the target's answer
    // must not wait for the rest.
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Answer-Early: 1\r\nContent-Length: 10000000\r\n\r\nstart",
    )
    .await
    .unwrap();
    let resp = read_response(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_target_closed_is_replaced() {
    let stop = Stop::new();
    let b = RawBackend::start(|_| (ok("fresh"), After::CloseSoon)).await;
    let (proxy, g) = proxy_to(&b, &stop).await;
    let c = client();
    for _ in 0..3 {
        // POST is not retried on another target: it must find a live connection.
        let r = send(&c, http::Method::POST, &proxy.url("/"), "x").await;
        assert_eq!((r.status, r.body.as_str()), (200, "fresh"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(b.conns(), 3);
    assert_eq!(g.metrics().http_code_elb_5xx, 0);
}
