//! Test fixtures: real backend servers on loopback, a running proxy, and HTTP clients.
#![allow(dead_code)]
// Fixtures fail loudly: a panic here is a failed test, which is what we want.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use haven_proxy::{
    Algorithm, ForwardAction, HealthCheck, Listener, Matcher, ProxyConfig, Routing, TargetGroup,
    TargetGroupConfig, TargetState,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Generous bound for anything a test waits on; tests never sleep to synchronise.
pub const WAIT: Duration = Duration::from_secs(10);

pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// What a backend does and has seen.
pub struct BackendState {
    pub hits: AtomicU64,
    pub health_status: AtomicU16,
    pub health_ok: AtomicU64,
    pub health_fail: AtomicU64,
    pub slow_entered: watch::Sender<u64>,
    pub release: watch::Sender<bool>,
    pub hang_hits: AtomicU64,
}

/// A small hyper HTTP/1.1 server that answers with its name.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    pub state: Arc<BackendState>,
    task: JoinHandle<()>,
}

impl Backend {
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(BackendState {
            hits: AtomicU64::new(0),
            health_status: AtomicU16::new(200),
            health_ok: AtomicU64::new(0),
            health_fail: AtomicU64::new(0),
            slow_entered: watch::Sender::new(0),
            release: watch::Sender::new(false),
            hang_hits: AtomicU64::new(0),
        });
        let name_arc: Arc<str> = Arc::from(name);
        let st = state.clone();
        let task = tokio::spawn(async move {
            // Connections live in this set: aborting the task kills them all, like a
            // killed process.
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (name, st) = (name_arc.clone(), st.clone());
                conns.spawn(async move {
                    let svc = service_fn(move |req| backend_handle(name.clone(), st.clone(), req));
                    // A client hanging up mid-request is not the backend's problem.
                    if let Err(err) = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await
                    {
                        eprintln!("backend connection: {err}");
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Self {
            name: name.to_owned(),
            addr,
            state,
            task,
        }
    }

    pub fn set_health(&self, status: u16) {
        self.state.health_status.store(status, Ordering::SeqCst);
    }

    pub fn hits(&self) -> u64 {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Kills the server: listener closed, every connection dropped.
    pub fn kill(&self) {
        self.task.abort();
    }

    /// Waits until `n` requests to /slow have arrived.
    pub async fn slow_entered(&self, n: u64) {
        let mut rx = self.state.slow_entered.subscribe();
        within("slow request to arrive", rx.wait_for(|v| *v >= n))
            .await
            .unwrap();
    }

    pub fn release_slow(&self) {
        self.state.release.send_replace(true);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn backend_handle(
    name: Arc<str>,
    st: Arc<BackendState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let text = |status: u16, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r
    };
    match req.uri().path() {
        "/health" => {
            let code = st.health_status.load(Ordering::SeqCst);
            if code == 200 || code == 204 {
                st.health_ok.fetch_add(1, Ordering::SeqCst);
            } else {
                st.health_fail.fetch_add(1, Ordering::SeqCst);
            }
            Ok(text(code, String::new()))
        }
        "/slow" => {
            st.hits.fetch_add(1, Ordering::SeqCst);
            let mut rx = st.release.subscribe();
            st.slow_entered.send_modify(|n| *n += 1);
            // The sender lives as long as the backend.
            rx.wait_for(|r| *r).await.ok();
            Ok(text(200, name.to_string()))
        }
        "/hang" => {
            st.hang_hits.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await;
            unreachable!()
        }
        "/echo" => {
            st.hits.fetch_add(1, Ordering::SeqCst);
            let mut lines = format!("version: {:?}\n", req.version());
            for (n, v) in req.headers() {
                lines.push_str(&format!("{}: {}\n", n, v.to_str().unwrap_or("?")));
            }
            let mut r = text(200, lines);
            let h = r.headers_mut();
            h.insert("connection", "X-Resp-Hop".parse().unwrap());
            h.insert("x-resp-hop", "1".parse().unwrap());
            h.insert("keep-alive", "timeout=5".parse().unwrap());
            h.insert("x-backend", name.parse().unwrap());
            Ok(r)
        }
        _ => {
            st.hits.fetch_add(1, Ordering::SeqCst);
            let body = req
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let mut r = text(200, name.to_string());
            r.headers_mut()
                .insert("x-body-len", body.len().to_string().parse().unwrap());
            Ok(r)
        }
    }
}

/// A server that accepts, reads the request and closes without answering.
pub async fn closing_backend() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                // Read the request (or fail), then hang up without answering.
                let got = stream.read(&mut buf).await.unwrap_or(0);
                drop((got, stream));
            });
        }
    });
    (addr, task)
}

/// An address nothing listens on (connections are refused).
pub async fn refused_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Shutdown switch for the health checkers and proxies of one test.
pub struct Stop {
    pub tx: watch::Sender<bool>,
}

impl Stop {
    pub fn new() -> Self {
        Self {
            tx: watch::Sender::new(false),
        }
    }
    pub fn rx(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

impl Drop for Stop {
    fn drop(&mut self) {
        self.tx.send_replace(true);
    }
}

pub fn fast_health() -> HealthCheck {
    HealthCheck {
        path: "/health".into(),
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(80),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
        matcher: Matcher::parse("200").unwrap(),
    }
}

pub fn group_config(name: &str) -> TargetGroupConfig {
    let mut cfg = TargetGroupConfig::new(name);
    cfg.health_check = fast_health();
    cfg.deregistration_delay = Duration::from_secs(30);
    cfg
}

/// A group with fast health checks, already checking.
pub fn group(stop: &Stop, cfg: TargetGroupConfig) -> Arc<TargetGroup> {
    let g = TargetGroup::new(cfg).unwrap();
    g.spawn_health_checks(stop.rx());
    g
}

pub fn rr_group(stop: &Stop, name: &str) -> Arc<TargetGroup> {
    group(stop, group_config(name))
}

pub fn lor_group(stop: &Stop, name: &str) -> Arc<TargetGroup> {
    let mut cfg = group_config(name);
    cfg.algorithm = Algorithm::LeastOutstandingRequests;
    group(stop, cfg)
}

pub fn failover_group(stop: &Stop, name: &str) -> Arc<TargetGroup> {
    let mut cfg = group_config(name);
    cfg.routing = Routing::Failover;
    group(stop, cfg)
}

pub async fn wait_state(g: &TargetGroup, id: &str, state: TargetState) {
    within(
        &format!("{id} to become {state}"),
        g.wait_for_state(id, state),
    )
    .await;
}

/// Backends named `names`, started, registered in `g` under their names, and healthy there.
pub async fn healthy_backends<const N: usize>(g: &TargetGroup, names: [&str; N]) -> [Backend; N] {
    let mut backends = Vec::with_capacity(N);
    for name in names {
        let b = Backend::start(name).await;
        g.register(name, b.addr);
        backends.push(b);
    }
    wait_healthy(g, N).await;
    match backends.try_into() {
        Ok(all) => all,
        Err(_) => unreachable!("one backend per name"),
    }
}

/// The next event `pick` keeps from `events`.
pub async fn next_event(
    what: &str,
    events: &mut tokio::sync::broadcast::Receiver<haven_proxy::TargetEvent>,
    pick: impl Fn(&haven_proxy::TargetEvent) -> bool,
) -> haven_proxy::TargetEvent {
    within(what, async {
        loop {
            let ev = events.recv().await.unwrap();
            if pick(&ev) {
                return ev;
            }
        }
    })
    .await
}

pub async fn wait_healthy(g: &TargetGroup, n: usize) {
    within(
        "targets to become healthy",
        g.wait_until(|ts| {
            ts.iter()
                .filter(|t| t.state == TargetState::Healthy)
                .count()
                == n
        }),
    )
    .await;
}

/// A running proxy on an ephemeral port.
pub struct Proxy {
    pub addr: SocketAddr,
    pub listener: Arc<Listener>,
    pub stop: watch::Sender<bool>,
    pub task: JoinHandle<Result<(), haven_proxy::Error>>,
}

impl Proxy {
    pub async fn start(forward: ForwardAction, cfg: ProxyConfig) -> Self {
        let listener = Listener::new("app/test", forward);
        Self::start_listener(listener, cfg).await
    }

    pub async fn start_listener(listener: Arc<Listener>, cfg: ProxyConfig) -> Self {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(haven_proxy::serve(tcp, listener.clone(), cfg, rx));
        Self {
            addr,
            listener,
            stop,
            task,
        }
    }

    pub async fn single(group: &Arc<TargetGroup>) -> Self {
        Self::start(ForwardAction::single(group.clone()), ProxyConfig::default()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn h2c_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

pub async fn send(c: &HttpClient, method: Method, url: &str, body: &'static str) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    let resp = within("a response", c.request(req))
        .await
        .expect("request failed");
    let (parts, body) = resp.into_parts();
    let body = within("a response body", body.collect())
        .await
        .expect("body failed")
        .to_bytes();
    Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A GET of `path` sent in the background (`/slow`: the backend holds it until released).
pub fn spawn_get(c: &HttpClient, proxy: &Proxy, path: &str) -> JoinHandle<Reply> {
    let (c, url) = (c.clone(), proxy.url(path));
    tokio::spawn(async move { get(&c, &url).await })
}

pub async fn get(c: &HttpClient, url: &str) -> Reply {
    send(c, Method::GET, url, "").await
}

/// Sends `n` sequential GETs and counts responses by body.
pub async fn spread(c: &HttpClient, url: &str, n: usize) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let r = get(c, url).await;
        assert_eq!(r.status, 200, "unexpected {} {}", r.status, r.body);
        *seen.entry(r.body).or_insert(0) += 1;
    }
    seen
}

/// Writes raw bytes and reads one response (head and Content-Length body).
pub async fn raw_exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.unwrap();
    read_response(stream).await
}

pub async fn read_response(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if buf.len() >= end + 4 + len {
                return String::from_utf8_lossy(&buf[..end + 4 + len]).into_owned();
            }
        }
        let n = within("raw response bytes", stream.read(&mut chunk))
            .await
            .unwrap();
        if n == 0 {
            return String::from_utf8_lossy(&buf).into_owned();
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits until the peer closes the connection (EOF or reset), ignoring any data.
pub async fn closed_by_peer(stream: &mut TcpStream) {
    let mut chunk = [0u8; 4096];
    within("the connection to be closed", async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
