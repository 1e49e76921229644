//! The control API: JSON over HTTP/1.1 on loopback, every request carrying the state
//! directory's token. Each twin process serves one; the CLI talks to the supervisor's.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use haven_fs::WithPath;

use crate::Error;

/// Where a process's control API listens; written to `<name>.json` in the state directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub pid: u32,
    /// `/proc` start time of `pid`, so a stale file is recognised after pid reuse.
    pub start_time: u64,
}

impl Endpoint {
    pub fn read(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).with_path(path)?;
        serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Written atomically (temp file + rename) so a reader never sees half a file.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        crate::paths::write_atomic(path, text.as_bytes())
    }

    pub fn is_alive(&self) -> bool {
        haven_process::ProcessIdentity::of(self.pid)
            .is_ok_and(|id| id.start_time == self.start_time && id.is_alive())
    }
}

/// A request to a control API, as its handler sees it.
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Bytes,
}

impl Call {
    pub fn json<T: for<'de> Deserialize<'de>>(&self) -> Result<T, Reply> {
        if self.body.is_empty() {
            return serde_json::from_slice(b"{}").map_err(|e| Reply::bad_request(e.to_string()));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Reply::bad_request(format!("invalid JSON body for {}: {e}", self.path)))
    }
}

/// A handler's answer: a status and a JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn ok(body: impl Serialize) -> Self {
        Self {
            status: StatusCode::OK,
            body: serde_json::to_value(body).unwrap_or(serde_json::Value::Null),
        }
    }

    pub fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }

    /// Plain text (the Prometheus exposition format), not JSON.
    pub fn text(text: String) -> Self {
        Self {
            status: StatusCode::OK,
            body: serde_json::Value::String(text),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::error(StatusCode::NOT_FOUND, what)
    }
}

const MAX_BODY: usize = 64 * 1024;

/// Serves `handler` on `listener` until `shutdown` turns true. With a token, requests without
/// it get 401 and never reach the handler; `None` serves everyone (read-only endpoints such as
/// a region's `/metrics`).
pub async fn serve<H, F>(
    listener: TcpListener,
    token: Option<Arc<str>>,
    handler: H,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Call) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let handler = handler.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                let token = token.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(handle(req, token.as_deref(), handler).await)
                }
            });
            // A client that goes away mid-request is its own problem, not the server's.
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("control connection: {e}");
            }
        });
    }
}

async fn handle<H, F>(
    req: Request<Incoming>,
    token: Option<&str>,
    handler: H,
) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let authorized = token.is_none_or(|token| bearer_matches(req.headers(), token));
    let reply = if !authorized {
        Reply::error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong control token (it is in the state directory's `token` file)",
        )
    } else {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(body) => {
                handler(Call {
                    method,
                    path,
                    body: body.to_bytes(),
                })
                .await
            }
            Err(e) => Reply::bad_request(format!("cannot read the request body: {e}")),
        }
    };
    // A bare string body is text (the Prometheus format); everything else is JSON.
    let (body, content_type) = match reply.body {
        serde_json::Value::String(text) => (
            text.into_bytes(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        other => (
            serde_json::to_vec(&other).unwrap_or_default(),
            "application/json",
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = reply.status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    resp
}

/// The request carries `Authorization: Bearer <token>` (the dashboard's writes check it too).
pub fn bearer_matches(headers: &http::HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a control API's answer to `path` as the type the API sends there.
pub fn parse<T: DeserializeOwned>(path: &str, value: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::Answer {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Calls a control API; a non-2xx answer becomes [`Error::Api`] with the server's message.
pub async fn call(
    addr: SocketAddr,
    token: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
    timeout: Duration,
) -> Result<serde_json::Value, Error> {
    let fut = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::Unreachable {
                addr,
                reason: e.to_string(),
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Unreachable {
                addr,
                reason: e.to_string(),
            })?;
        tokio::spawn(async move {
            // The connection ends when the response is read or the server goes away.
            if let Err(e) = conn.await {
                tracing::debug!("control client connection: {e}");
            }
        });
        let bytes = body
            .map(|b| serde_json::to_vec(&b).unwrap_or_default())
            .unwrap_or_default();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, addr.to_string())
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| Error::Unreachable {
                addr,
                reason: e.to_string(),
            })?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Error::Unreachable {
                addr,
                reason: e.to_string(),
            })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Unreachable {
                addr,
                reason: e.to_string(),
            })?
            .to_bytes();
        let value: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            let message = value
                .get("error")
                .and_then(|m| m.as_str())
                .map_or_else(|| status.to_string(), str::to_owned);
            Err(Error::Api {
                status: status.as_u16(),
                message,
            })
        }
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| Error::Unreachable {
            addr,
            reason: format!("no answer within {timeout:?}"),
        })?
}
