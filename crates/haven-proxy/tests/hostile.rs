//! Hostile or malformed clients: request smuggling, oversized headers, slow loris,
//! TRACE and overlong X-Forwarded-For. None of it may disturb other clients.

mod common;

use std::time::Duration;

use common::*;
use haven_proxy::{DesyncMitigationMode, ForwardAction, ProxyConfig};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn setup(cfg: ProxyConfig) -> (Stop, Backend, Proxy) {
    let stop = Stop::new();
    let g = rr_group(&stop, "hostile");
    let [a] = healthy_backends(&g, ["a"]).await;
    let proxy = Proxy::start(ForwardAction::single(g), cfg).await;
    (stop, a, proxy)
}

const CL_TE: &[u8] =
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_is_400_in_strictest_mode() {
    let cfg = ProxyConfig {
        desync_mitigation_mode: DesyncMitigationMode::Strictest,
        ..ProxyConfig::default()
    };
    let (_stop, a, proxy) = setup(cfg).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    // A normal request first: the verdict must hit the right request on the connection.
    let ok = raw_exchange(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let resp = raw_exchange(&mut s, CL_TE).await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("400 Bad Request"), "{resp}");
    closed_by_peer(&mut s).await;
    assert_eq!(a.hits(), 1);
    assert_eq!(
        proxy.listener.metrics().desync_non_compliant_request_count,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_length_with_transfer_encoding_is_forwarded_then_closed_by_default() {
    let (_stop, a, proxy) = setup(ProxyConfig::default()).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let resp = raw_exchange(&mut s, CL_TE).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("x-body-len: 0"), "{resp}");
    closed_by_peer(&mut s).await;
    assert_eq!(a.hits(), 1);
    assert_eq!(
        proxy.listener.metrics().desync_non_compliant_request_count,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differing_content_lengths_are_400() {
    let (_stop, a, proxy) = setup(ProxyConfig::default()).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let resp = raw_exchange(
        &mut s,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(a.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_431() {
    let (_stop, a, proxy) = setup(ProxyConfig::default()).await;
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let big = "a".repeat(70 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let resp = raw_exchange(&mut s, req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
    assert_eq!(a.hits(), 0);
    // Just under the limit is fine.
    let ok = "a".repeat(60 * 1024);
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let resp = raw_exchange(
        &mut s,
        format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {ok}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_client_is_cut_off_while_others_are_served() {
    let cfg = ProxyConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ProxyConfig::default()
    };
    let (_stop, _a, proxy) = setup(cfg).await;
    let mut slow = TcpStream::connect(proxy.addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let r = get(&client(), &proxy.url("/")).await;
    assert_eq!(r.status, 200);
    let mut silent = TcpStream::connect(proxy.addr).await.unwrap();
    closed_by_peer(&mut slow).await;
    closed_by_peer(&mut silent).await;
    assert_eq!(get(&client(), &proxy.url("/")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_is_405_and_long_forwarded_for_is_463() {
    let (_stop, a, proxy) = setup(ProxyConfig::default()).await;
    let c = client();
    let r = send(&c, http::Method::TRACE, &proxy.url("/"), "").await;
    assert_eq!(r.status, 405);
    let xff = (0..31)
        .map(|i| format!("10.0.0.{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let resp = raw_exchange(
        &mut s,
        format!("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {xff}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 463"), "{resp}");
    assert_eq!(a.hits(), 0);
    assert_eq!(proxy.listener.metrics().http_code_elb_4xx, 2);
}
