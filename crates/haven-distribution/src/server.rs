//! The HTTP server: the listener loop with graceful shutdown, the upload reaper, and the
//! handlers of the distribution API's endpoints.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use haven_registry::{BlobUpload, Digest, MAX_JSON_BLOB, Reference, Registry};

use crate::auth;
use crate::body::{self, Body};
use crate::error::{ApiError, ErrorCode};
use crate::route::{Route, valid_name};
use crate::uploads::Sessions;

/// Told about every manifest stored, after it is stored and before the client's push
/// completes: the twin runs scan-on-push and lifecycle rules from here. Called on a blocking
/// thread; long work belongs on a thread of the hook's own.
pub trait OnPush: Send + Sync {
    /// `tag` is `None` for a manifest pushed by digest.
    fn pushed(&self, repo: &str, tag: Option<&str>, digest: &Digest);
}

/// What a server serves.
#[derive(Clone)]
pub struct ServerConfig {
    /// Repository name → its registry (the twin has one repository per region).
    pub repositories: BTreeMap<String, Registry>,
    /// The password of user `AWS` (ECR's authorization token).
    pub token: String,
    /// The account id, in ECR's messages and challenge.
    pub account: String,
    pub region: String,
    pub on_push: Option<Arc<dyn OnPush>>,
    /// An upload session unused this long is dropped with its temp file.
    pub upload_timeout: Duration,
}

impl ServerConfig {
    /// A config with ECR's defaults: no hook, uploads expire after an hour.
    pub fn new(
        repositories: BTreeMap<String, Registry>,
        token: impl Into<String>,
        account: impl Into<String>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            repositories,
            token: token.into(),
            account: account.into(),
            region: region.into(),
            on_push: None,
            upload_timeout: haven_registry::UPLOAD_GRACE,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field(
                "repositories",
                &self.repositories.keys().collect::<Vec<_>>(),
            )
            .field("account", &self.account)
            .field("region", &self.region)
            .field("upload_timeout", &self.upload_timeout)
            .finish_non_exhaustive()
    }
}

struct State {
    config: ServerConfig,
    sessions: Sessions,
}

/// Serves the API on `listener` until `shutdown` turns true: then no new connection is
/// accepted, requests in flight finish, and upload sessions are dropped (their temp files
/// removed).
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let state = Arc::new(State {
        config,
        sessions: Sessions::default(),
    });
    let mut tasks = JoinSet::new();
    tasks.spawn(reaper(state.clone(), shutdown.clone()));
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break; // The sender is gone: nobody can stop us any more, so stop.
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tasks.spawn(connection(stream, peer, state.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(%e, "registry: accept failed");
                    // Out of descriptors, say: wait a little rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
    state.sessions.clear();
}

/// One client connection, shut down gracefully (the request in flight finishes) on the
/// shutdown signal.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<State>,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, req).await) }
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = *shutdown.borrow();
    if closing {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, %e, "registry: connection ended with an error");
                }
                return;
            }
            changed = shutdown.changed(), if !closing => {
                if changed.is_err() || *shutdown.borrow() {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Drops idle upload sessions, and temp files of uploads a previous process left behind.
async fn reaper(state: Arc<State>, mut shutdown: watch::Receiver<bool>) {
    let timeout = state.config.upload_timeout;
    let tick = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
    let mut interval = tokio::time::interval(tick);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        let expired = state.sessions.expire(timeout);
        if expired > 0 {
            tracing::info!(expired, "registry: dropped idle upload sessions");
        }
        let registries: Vec<Registry> = state.config.repositories.values().cloned().collect();
        let cleaned = tokio::task::spawn_blocking(move || {
            for reg in registries {
                // Temp files no session holds: a previous process's. Twice the timeout, so that
                // a live session's file only ever goes with its session (expired above), and
                // an upload is never answered as known once its bytes are gone. Failing to
                // remove one now is retried next tick.
                if let Err(e) = reg.remove_stale_uploads(timeout * 2) {
                    tracing::warn!(%e, "registry: cannot remove stale uploads");
                }
            }
        });
        // The blocking task only logs; its panic would be a bug reported by the runtime.
        cleaned.await.ok();
    }
}

type Result<T, E = ApiError> = std::result::Result<T, E>;

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut response = match route(state, req).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(%method, %path, code = ?e.code, message = %e.message, "registry: error");
            e.into_response()
        }
    };
    response.headers_mut().insert(
        "docker-distribution-api-version",
        HeaderValue::from_static("registry/2.0"),
    );
    response
}

async fn route(state: &State, req: Request<Incoming>) -> Result<Response<Body>> {
    let config = &state.config;
    if !auth::authorized(req.headers(), &config.token) {
        return Err(auth::challenge(&config.account, &config.region));
    }
    let path = req.uri().path().to_owned();
    let Some(route) = Route::parse(&path) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::Unsupported,
            format!("{path} is not part of the distribution API"),
        ));
    };
    let registry = match route.name() {
        None => None,
        Some(name) if !valid_name(name) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::NameInvalid,
                format!("invalid repository name '{name}'"),
            ));
        }
        Some(name) => Some(
            config
                .repositories
                .get(name)
                .cloned()
                .ok_or_else(|| ApiError::name_unknown(name, &config.account))?,
        ),
    };
    let query = Query::of(&req);
    let method = req.method().clone();
    match (route, registry) {
        (Route::Base, _) if method == Method::GET || method == Method::HEAD => {
            Ok(json(StatusCode::OK, &serde_json::json!({})))
        }
        (Route::Catalog, _) if method == Method::GET => {
            let names: Vec<String> = config.repositories.keys().cloned().collect();
            let (page, next) = paginate(names, &query)?;
            let mut response = json(StatusCode::OK, &serde_json::json!({ "repositories": page }));
            link(&mut response, "/v2/_catalog", next);
            Ok(response)
        }
        (Route::Tags { name }, Some(reg)) if method == Method::GET => {
            let tags = blocking(name, move || reg.tags()).await?;
            let (page, next) = paginate(tags, &query)?;
            let mut response = json(
                StatusCode::OK,
                &serde_json::json!({ "name": name, "tags": page }),
            );
            link(&mut response, &format!("/v2/{name}/tags/list"), next);
            Ok(response)
        }
        (Route::Manifest { name, reference }, Some(reg)) => {
            manifest(state, &method, name, reference, reg, req).await
        }
        (Route::Blob { name, digest }, Some(reg))
            if method == Method::GET || method == Method::HEAD =>
        {
            get_blob(&method, name, digest, reg).await
        }
        (Route::UploadStart { name }, Some(reg)) if method == Method::POST => {
            start_upload(state, name, reg, &query, req).await
        }
        (Route::Upload { name, id }, Some(_)) => {
            upload(state, &method, name, id, &query, req).await
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            format!("{method} is not supported on {path}"),
        )),
    }
}

/// Runs registry work (file I/O, its lock) on a blocking thread.
async fn blocking<T: Send + 'static>(
    repo: &str,
    work: impl FnOnce() -> haven_registry::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| ApiError::from_registry(e, repo)),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unknown,
            format!("the registry task failed: {e}"),
        )),
    }
}

async fn manifest(
    state: &State,
    method: &Method,
    name: &str,
    reference: &str,
    reg: Registry,
    req: Request<Incoming>,
) -> Result<Response<Body>> {
    let parsed = Reference::parse(reference).map_err(|e| ApiError::from_registry(e, name))?;
    match *method {
        Method::GET | Method::HEAD => {
            let stored = blocking(name, move || reg.get_manifest(&parsed)).await?;
            let len = stored.bytes.len();
            let body = if method == Method::HEAD {
                body::empty()
            } else {
                body::full(stored.bytes)
            };
            let mut response = Response::new(body);
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, header_value(&stored.media_type)?);
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            h.insert(
                "docker-content-digest",
                header_value(&stored.digest.to_string())?,
            );
            Ok(response)
        }
        Method::PUT => {
            let content_type = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = read_manifest_body(req).await?;
            let put = blocking(name, move || {
                reg.put_manifest(&parsed, content_type.as_deref(), &bytes)
            })
            .await?;
            if let Some(hook) = state.config.on_push.clone() {
                let (repo, tag, digest) = (
                    name.to_owned(),
                    put.tagged.as_ref().map(|t| t.tag.clone()),
                    put.digest.clone(),
                );
                let called = tokio::task::spawn_blocking(move || {
                    hook.pushed(&repo, tag.as_deref(), &digest);
                })
                .await;
                if let Err(e) = called {
                    // The manifest is stored: the push stands whatever the hook did.
                    tracing::error!(%e, "registry: the push hook failed");
                }
            }
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::CREATED;
            let h = response.headers_mut();
            h.insert(
                header::LOCATION,
                header_value(&format!("/v2/{name}/manifests/{}", put.digest))?,
            );
            h.insert(
                "docker-content-digest",
                header_value(&put.digest.to_string())?,
            );
            Ok(response)
        }
        Method::DELETE => {
            let Reference::Digest(digest) = parsed else {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    ErrorCode::Unsupported,
                    "manifests are deleted by digest (delete a tag with the ECR API)",
                ));
            };
            blocking(name, move || reg.delete_manifest(&digest)).await?;
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::ACCEPTED;
            Ok(response)
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            format!("{method} is not supported on manifests"),
        )),
    }
}

/// A manifest body, at most the registry's JSON limit (413 beyond it, without reading on).
async fn read_manifest_body(req: Request<Incoming>) -> Result<Vec<u8>> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::ManifestInvalid,
            format!("the manifest is over the registry's limit of {MAX_JSON_BLOB} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_JSON_BLOB) {
        return Err(too_large());
    }
    let limit = usize::try_from(MAX_JSON_BLOB).unwrap_or(usize::MAX);
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ManifestInvalid,
            format!("the manifest could not be read: {e}"),
        )),
    }
}

async fn get_blob(
    method: &Method,
    name: &str,
    digest: &str,
    reg: Registry,
) -> Result<Response<Body>> {
    let digest = Digest::parse(digest).map_err(|e| ApiError::from_registry(e, name))?;
    let wanted = digest.clone();
    let reader = blocking(name, move || reg.read_blob_stream(&wanted))
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::BlobUnknown,
                format!("blob {digest} is not in the repository"),
            )
            .with_detail(serde_json::json!({ "digest": digest }))
        })?;
    let size = reader.size();
    let body = if method == Method::HEAD {
        body::empty()
    } else {
        body::blob(reader)
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert("docker-content-digest", header_value(&digest.to_string())?);
    Ok(response)
}

/// `POST /v2/<name>/blobs/uploads/`: a cross-repository mount, a monolithic upload
/// (`?digest=`), or a new session.
async fn start_upload(
    state: &State,
    name: &str,
    reg: Registry,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>> {
    if let (Some(mount), Some(from)) = (query.get("mount"), query.get("from")) {
        let digest = Digest::parse(mount).map_err(|e| ApiError::from_registry(e, name))?;
        // A source the client may not read, or that does not exist, is no mount: the
        // client pushes the blob instead (the spec's fallback).
        if let Some(source) = state.config.repositories.get(from).cloned() {
            let (dest, wanted) = (reg.clone(), digest.clone());
            if blocking(name, move || dest.mount_blob(&source, &wanted))
                .await?
                .is_some()
            {
                return blob_created(name, &digest);
            }
        }
    }
    let upload = {
        let reg = reg.clone();
        blocking(name, move || reg.start_upload()).await?
    };
    if let Some(digest) = query.get("digest") {
        let digest = Digest::parse(digest).map_err(|e| ApiError::from_registry(e, name))?;
        let upload = stream_into(name, upload, req.into_body()).await?;
        let wanted = digest.clone();
        blocking(name, move || upload.finish(&wanted)).await?;
        return blob_created(name, &digest);
    }
    let id = state.sessions.insert(name, upload);
    upload_status(StatusCode::ACCEPTED, name, &id, 0)
}

/// `/v2/<name>/blobs/uploads/<id>`: status, a chunk, the last chunk, or cancellation.
async fn upload(
    state: &State,
    method: &Method,
    name: &str,
    id: &str,
    query: &Query,
    req: Request<Incoming>,
) -> Result<Response<Body>> {
    let shared = state
        .sessions
        .get(id)
        .ok_or_else(|| ApiError::upload_unknown(id))?;
    let mut session = shared.lock().await;
    if session.repo != name {
        return Err(ApiError::upload_unknown(id));
    }
    let Some(size) = session.upload.as_ref().map(BlobUpload::size) else {
        // A request streaming into it was abandoned midway: its bytes are gone.
        state.sessions.remove(id);
        return Err(ApiError::upload_unknown(id));
    };
    session.touched = std::time::Instant::now();
    match *method {
        Method::GET => upload_status(StatusCode::NO_CONTENT, name, id, size),
        Method::DELETE => {
            state.sessions.remove(id);
            let upload = session.upload.take();
            blocking(name, move || {
                drop(upload); // Removes its temp file.
                Ok(())
            })
            .await?;
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            Ok(response)
        }
        Method::PATCH | Method::PUT => {
            if let Some(start) = content_range_start(req.headers())?
                && start != size
            {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    ErrorCode::BlobUploadInvalid,
                    format!("the chunk starts at byte {start}, but the upload has {size} bytes"),
                )
                .with_header(header::RANGE, range(size))
                .with_header(header::LOCATION, header_value(&upload_location(name, id))?));
            }
            let digest = if *method == Method::PUT {
                let raw = query.get("digest").ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::DigestInvalid,
                        "finishing an upload needs ?digest=",
                    )
                })?;
                Some(Digest::parse(raw).map_err(|e| ApiError::from_registry(e, name))?)
            } else {
                None
            };
            let Some(upload) = session.upload.take() else {
                return Err(ApiError::upload_unknown(id));
            };
            let upload = match stream_into(name, upload, req.into_body()).await {
                Ok(u) => u,
                Err(e) => {
                    state.sessions.remove(id);
                    return Err(e);
                }
            };
            match digest {
                None => {
                    let size = upload.size();
                    session.upload = Some(upload);
                    session.touched = std::time::Instant::now();
                    upload_status(StatusCode::ACCEPTED, name, id, size)
                }
                Some(digest) => {
                    // Finished or refused, the session is over (a refused upload's bytes
                    // are gone).
                    state.sessions.remove(id);
                    let wanted = digest.clone();
                    blocking(name, move || upload.finish(&wanted)).await?;
                    blob_created(name, &digest)
                }
            }
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Unsupported,
            format!("{method} is not supported on uploads"),
        )),
    }
}

/// Streams a request body into an upload on a blocking thread, a bounded channel between
/// them: the blob is never held whole, and a slow disk slows the client down.
async fn stream_into(name: &str, upload: BlobUpload, mut body: Incoming) -> Result<BlobUpload> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(8);
    let writer = tokio::task::spawn_blocking(move || {
        let mut upload = upload;
        let mut result = Ok(());
        while let Some(chunk) = rx.blocking_recv() {
            result = upload.append(&chunk);
            if result.is_err() {
                break;
            }
        }
        (upload, result)
    });
    let mut read_error = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data()
                    && tx.send(data).await.is_err()
                {
                    break; // The writer failed; its error is below.
                }
            }
            Err(e) => {
                read_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let (upload, written) = writer.await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unknown,
            format!("the upload task failed: {e}"),
        )
    })?;
    written.map_err(|e| ApiError::from_registry(e, name))?;
    if let Some(e) = read_error {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::BlobUploadInvalid,
            format!("the upload's body could not be read: {e}"),
        ));
    }
    Ok(upload)
}

/// The first byte of a `Content-Range: <start>-<end>` (as docker sends it, or with a
/// `bytes ` prefix), if any.
fn content_range_start(headers: &http::HeaderMap) -> Result<Option<u64>> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    let spec = text
        .trim()
        .trim_start_matches("bytes")
        .trim_start_matches([' ', '=']);
    spec.split(['-', '/'])
        .next()
        .and_then(|s| s.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::BlobUploadInvalid,
                format!("invalid Content-Range `{text}`"),
            )
        })
}

fn upload_location(name: &str, id: &str) -> String {
    format!("/v2/{name}/blobs/uploads/{id}")
}

/// The spec's `Range: 0-<last byte>` of what an upload has (`0-0` when empty, as registries
/// send it).
fn range(size: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("0-{}", size.saturating_sub(1)))
        .unwrap_or(HeaderValue::from_static("0-0"))
}

fn upload_status(status: StatusCode, name: &str, id: &str, size: u64) -> Result<Response<Body>> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::LOCATION, header_value(&upload_location(name, id))?);
    h.insert("docker-upload-uuid", header_value(id)?);
    h.insert(header::RANGE, range(size));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    Ok(response)
}

fn blob_created(name: &str, digest: &Digest) -> Result<Response<Body>> {
    let mut response = Response::new(body::empty());
    *response.status_mut() = StatusCode::CREATED;
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        header_value(&format!("/v2/{name}/blobs/{digest}"))?,
    );
    h.insert("docker-content-digest", header_value(&digest.to_string())?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    Ok(response)
}

fn header_value(text: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(text).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Unknown,
            format!("`{text}` cannot be a header value"),
        )
    })
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(body::full(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// A request's query parameters.
struct Query(Vec<(String, String)>);

impl Query {
    fn of<B>(req: &Request<B>) -> Self {
        let pairs = req.uri().query().map_or_else(Vec::new, |q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        });
        Self(pairs)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// When a page is not the last: its size and its last entry (for the `Link` header).
type Next = Option<(usize, String)>;

/// The spec's pagination of a sorted list: entries after `last`, at most `n` of them; the
/// page and, when more follow, what the next page's link needs.
fn paginate(items: Vec<String>, query: &Query) -> Result<(Vec<String>, Next)> {
    let n = match query.get("n") {
        None => None,
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::SizeInvalid,
                format!("n={v} is not a number"),
            )
        })?),
    };
    let last = query.get("last");
    let mut rest: Vec<String> = items
        .into_iter()
        .filter(|i| last.is_none_or(|l| i.as_str() > l))
        .collect();
    let next = match n {
        Some(n) if rest.len() > n => {
            rest.truncate(n);
            rest.last().map(|l| (n, l.clone()))
        }
        _ => None,
    };
    Ok((rest, next))
}

/// The spec's `Link: <path?n=N&last=L>; rel="next"` when a page is not the last.
fn link(response: &mut Response<Body>, path: &str, next: Next) {
    let Some((n, last)) = next else {
        return;
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("n", &n.to_string())
        .append_pair("last", &last)
        .finish();
    if let Ok(value) = HeaderValue::from_str(&format!("<{path}?{query}>; rel=\"next\"")) {
        response.headers_mut().insert(header::LINK, value);
    }
}
