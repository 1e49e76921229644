//! Test servers on 127.0.0.1: an SMTP sink and webhook receivers, plus helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use haven_notify::{
    Delivery, Message, MessageId, Notifier, NotifyConfig, OutboxEntry, RetryPolicy, TopicConfig,
    verify_signature,
};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Every wait in the tests ends by this deadline.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub const SECRET: &str = "s3cret-webhook-key";

/// Fast retries so that tests finish in milliseconds.
pub fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        attempts,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    }
}

pub fn config(
    topic: &str,
    t: TopicConfig,
    relay: Option<SocketAddr>,
    retry: RetryPolicy,
) -> NotifyConfig {
    NotifyConfig {
        from: "haven@example.com".to_owned(),
        smtp_relay: relay.map(|a| a.to_string()),
        topics: BTreeMap::from([(topic.to_owned(), t)]),
        retry,
        timeout: Duration::from_secs(5),
    }
}

/// A notifier with its shutdown sender (which must outlive it).
pub async fn open(dir: &Path, cfg: NotifyConfig) -> (Notifier, watch::Sender<bool>) {
    let (tx, rx) = watch::channel(false);
    let n = Notifier::open(dir, cfg, rx).await.unwrap();
    (n, tx)
}

/// Waits (with the deadline) until every delivery of `id` is delivered or failed.
pub async fn settled(n: &Notifier, id: &MessageId) -> OutboxEntry {
    let e = tokio::time::timeout(DEADLINE, n.wait(id))
        .await
        .expect("deliveries did not settle by the deadline")
        .unwrap();
    assert!(e.is_settled(), "{e:#?}");
    e
}

/// Publishes one small message to `cfg`'s only topic through a notifier in a fresh directory,
/// and waits until its deliveries settle.
pub async fn publish_settled(cfg: NotifyConfig) -> OutboxEntry {
    let dir = tempfile::tempdir().unwrap();
    let topic = cfg.topics.keys().next().expect("one topic").clone();
    let (n, _tx) = open(dir.path(), cfg).await;
    let id = n
        .publish(Message::new("hello", &topic, "us-east-1", "s", "b"))
        .await
        .unwrap();
    settled(&n, &id).await
}

/// Waits (with the deadline) until `ok` holds for the recorded deliveries of `id`.
pub async fn until(
    n: &Notifier,
    id: &MessageId,
    ok: impl Fn(&[Delivery]) -> bool,
) -> Vec<Delivery> {
    let mut changes = n.watch();
    tokio::time::timeout(DEADLINE, async {
        loop {
            let d = n.deliveries(id).await.unwrap();
            if ok(&d) {
                return d;
            }
            changes.changed().await.unwrap();
        }
    })
    .await
    .expect("condition not reached by the deadline")
}

/// A port on 127.0.0.1 with nothing listening (yet).
pub async fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// Aborts a server task when the test is done with it.
pub struct Server(JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ---------------------------------------------------------------- SMTP sink

/// How the sink behaves.
#[derive(Clone, Default)]
pub struct SinkRules {
    /// Answer EHLO with 502, as a relay that only knows HELO.
    pub no_ehlo: bool,
    /// Addresses refused with 550 at RCPT TO.
    pub reject_rcpt: Vec<String>,
    /// Sessions whose MAIL FROM gets 451 (counted from 0).
    pub busy_sessions: usize,
}

/// One mail transaction as the sink saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Every command line, in order.
    pub commands: Vec<String>,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The data lines as they came over the wire (dot-stuffed), without the final `.`.
    pub raw: Vec<String>,
    /// The message after un-stuffing, lines joined with CRLF.
    pub message: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.message.split_once("\r\n\r\n")?;
        let mut value: Option<String> = None;
        let mut current = false;
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if current {
                    value.as_mut()?.push_str(line);
                }
                continue;
            }
            let (n, v) = line.split_once(": ")?;
            current = n.eq_ignore_ascii_case(name);
            if current {
                value = Some(v.to_owned());
            }
        }
        value
    }

    pub fn body(&self) -> String {
        self.message
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }
}

pub struct Sink {
    pub addr: SocketAddr,
    pub mails: mpsc::UnboundedReceiver<Received>,
    _server: Server,
}

impl Sink {
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(DEADLINE, self.mails.recv())
            .await
            .expect("no mail by the deadline")
            .expect("sink stopped")
    }
}

/// An SMTP server speaking just enough of RFC 5321: a multi-line greeting, EHLO (multi-line
/// answer with 8BITMIME), HELO, MAIL, RCPT, DATA (until the `.` line), RSET, NOOP, QUIT.
pub async fn smtp_sink(rules: SinkRules) -> Sink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let sessions = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let rules = rules.clone();
            let session = sessions.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                w.write_all(b"220-sink.test ESMTP test sink\r\n220 ready\r\n")
                    .await
                    .unwrap();
                let mut commands = Vec::new();
                let mut mail_from = String::new();
                let mut rcpt_to = Vec::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap() == 0 {
                        return;
                    }
                    assert!(line.ends_with("\r\n"), "command without CRLF: {line:?}");
                    let line = line.trim_end().to_owned();
                    commands.push(line.clone());
                    let upper = line.to_ascii_uppercase();
                    let reply: String = if upper.starts_with("EHLO ") {
                        if rules.no_ehlo {
                            "502 5.5.1 EHLO not implemented\r\n".into()
                        } else {
                            "250-sink.test greets you\r\n250-8BITMIME\r\n250-SIZE 10000000\r\n250 PIPELINING\r\n".into()
                        }
                    } else if upper.starts_with("HELO ") {
                        "250 sink.test\r\n".into()
                    } else if upper.starts_with("MAIL FROM:") {
                        if session < rules.busy_sessions {
                            "451 4.3.0 try again later\r\n".into()
                        } else {
                            mail_from = line["MAIL FROM:".len()..].to_owned();
                            rcpt_to.clear();
                            "250 2.1.0 ok\r\n".into()
                        }
                    } else if upper.starts_with("RCPT TO:") {
                        let to = line["RCPT TO:".len()..].trim_matches(['<', '>']).to_owned();
                        if rules.reject_rcpt.contains(&to) {
                            format!("550 5.1.1 <{to}>: no such user\r\n")
                        } else {
                            rcpt_to.push(to);
                            "250 2.1.5 ok\r\n".into()
                        }
                    } else if upper == "DATA" {
                        w.write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                            .await
                            .unwrap();
                        let mut raw = Vec::new();
                        loop {
                            let mut l = String::new();
                            assert!(r.read_line(&mut l).await.unwrap() > 0, "EOF in DATA");
                            assert!(l.ends_with("\r\n"), "data line without CRLF: {l:?}");
                            let l = l.strip_suffix("\r\n").unwrap().to_owned();
                            if l == "." {
                                break;
                            }
                            raw.push(l);
                        }
                        let message = raw
                            .iter()
                            .map(|l| l.strip_prefix('.').unwrap_or(l))
                            .collect::<Vec<_>>()
                            .join("\r\n");
                        tx.send(Received {
                            commands: commands.clone(),
                            mail_from: mail_from.clone(),
                            rcpt_to: rcpt_to.clone(),
                            raw,
                            message,
                        })
                        .unwrap();
                        "250 2.0.0 queued\r\n".into()
                    } else if upper == "RSET" || upper == "NOOP" {
                        "250 ok\r\n".into()
                    } else if upper == "QUIT" {
                        w.write_all(b"221 2.0.0 bye\r\n").await.unwrap();
                        return;
                    } else {
                        "500 5.5.2 unrecognised command\r\n".into()
                    };
                    w.write_all(reply.as_bytes()).await.unwrap();
                }
            });
        }
    });
    Sink {
        addr,
        mails: rx,
        _server: Server(task),
    }
}

// ---------------------------------------------------------------- webhook receiver

/// One request as the receiver saw it.
#[derive(Debug)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub signature_ok: bool,
    pub status: u16,
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub hits: mpsc::UnboundedReceiver<Hit>,
    _server: Server,
}

impl Receiver {
    pub fn url(&self) -> String {
        format!("http://{}/hooks/sns?source=haven", self.addr)
    }

    /// The hits so far.
    pub fn drain(&mut self) -> Vec<Hit> {
        let mut out = Vec::new();
        while let Ok(h) = self.hits.try_recv() {
            out.push(h);
        }
        out
    }
}

/// A webhook receiver that checks signatures with `verify_signature` (401 when wrong) and
/// answers 500 to the first `fail_first` requests, 200 after.
pub async fn receiver(listener: TcpListener, fail_first: usize) -> Receiver {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicUsize::new(0));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    let count = Arc::clone(&count);
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let sig = parts
                            .headers
                            .get("x-haven-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        let signature_ok = verify_signature(SECRET, &body, sig);
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        let (status, text) = if !signature_ok {
                            (StatusCode::UNAUTHORIZED, "bad signature".to_owned())
                        } else if n < fail_first {
                            (
                                StatusCode::INTERNAL_SERVER_ERROR,
                                format!("receiver down for request {}", n + 1),
                            )
                        } else {
                            (StatusCode::OK, "ok".to_owned())
                        };
                        tx.send(Hit {
                            method: parts.method.to_string(),
                            path: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                            signature_ok,
                            status: status.as_u16(),
                        })
                        .unwrap();
                        let mut resp = Response::new(Full::new(Bytes::from(text)));
                        *resp.status_mut() = status;
                        Ok::<_, Infallible>(resp)
                    }
                });
                // A connection error only ends that connection; the test looks at hits.
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    eprintln!("receiver connection: {e}");
                }
            });
        }
    });
    Receiver {
        addr,
        hits: rx,
        _server: Server(task),
    }
}

pub async fn receiver_on_free_port(fail_first: usize) -> Receiver {
    receiver(TcpListener::bind("127.0.0.1:0").await.unwrap(), fail_first).await
}
