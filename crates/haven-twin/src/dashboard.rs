//! The dashboard: a web page the supervisor serves on loopback (`monitoring.dashboard`), with
//! a small JSON API for it. Reads need no token; writes (approving or rejecting a pipeline run)
//! need the control token in `Authorization: Bearer`, as the control API does.
//!
//! The page and its script and styles are compiled into the binary (`dashboard/`); nothing is
//! fetched from elsewhere. The API calls the supervisor's control handler in-process, so the
//! page sees exactly what `haven status` sees, and reads metrics from each region's
//! `metrics.db` read-only. Drill runs are listed from the state directory's `drills/`, each
//! run's HTML report served as `haven drill run` wrote it.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use haven_metrics::catalog as cw;
use haven_metrics::{MetricStore, Query, Retention, Stat};
use haven_spec::settings::Twin;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use haven_control::control::{Call, Reply};
use haven_control::paths::Paths;

use crate::region::monitor::Names;
use crate::{Error, lock};

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const APP_CSS: &str = include_str!("dashboard/app.css");

/// Bodies of the only writes (a comment) are small.
const MAX_BODY: usize = 16 * 1024;
/// A read-only store knows the rollups done when it opened; reopened this often.
const REOPEN_STORE: Duration = Duration::from_secs(30);
/// Everything the page loads comes from the dashboard itself; no inline script or style.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// A drill report is one page with its styles inline and no script: nothing else is allowed.
const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A region as the dashboard lays it out: the spec's AZs, whether or not tasks run in them.
#[derive(Debug, Clone)]
pub struct RegionLayout {
    pub name: String,
    pub azs: Vec<String>,
}

impl RegionLayout {
    pub fn of(twin: &Twin) -> Vec<Self> {
        twin.regions
            .iter()
            .map(|r| Self {
                name: r.name.clone(),
                azs: r.azs.clone(),
            })
            .collect()
    }
}

/// What the dashboard serves.
pub struct Dashboard<H> {
    pub project: String,
    pub regions: Vec<RegionLayout>,
    pub paths: Paths,
    /// The control token: approving or rejecting a run needs it.
    pub token: Arc<str>,
    /// The supervisor's control handler, called in-process (the token is checked here first
    /// for writes).
    pub handler: H,
}

/// A region's metrics, opened read-only, with when it was opened.
type OpenStore = (Arc<Mutex<MetricStore>>, Instant);

struct Shared<H> {
    dash: Dashboard<H>,
    stores: Mutex<HashMap<String, OpenStore>>,
}

/// Binds the dashboard's address. When another program holds the port, any free port instead,
/// with a note saying so: the dashboard only shows the twin, which is no reason to refuse to run
/// it (and twins of several projects can run side by side).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr, Option<String>), Error> {
    let bound = |addr: SocketAddr, source| Error::Bind { addr, source };
    let (listener, note) = match TcpListener::bind(addr).await {
        Ok(l) => (l, None),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && addr.port() != 0 => {
            let any = SocketAddr::new(addr.ip(), 0);
            let l = TcpListener::bind(any).await.map_err(|e| bound(any, e))?;
            (l, Some(addr))
        }
        Err(e) => return Err(bound(addr, e)),
    };
    let local = listener.local_addr().map_err(|e| bound(addr, e))?;
    let note = note.map(|wanted| {
        format!(
            "{wanted} (local.dashboard_port) is in use; the dashboard is on http://{local} instead"
        )
    });
    Ok((listener, local, note))
}

/// Serves the dashboard on `listener` until `shutdown` turns true.
pub async fn serve<H, F>(
    listener: TcpListener,
    dashboard: Dashboard<H>,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Call) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let shared = Arc::new(Shared {
        dash: dashboard,
        stores: Mutex::new(HashMap::new()),
    });
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(route(&shared, req).await) }
            });
            // A browser that closes a connection mid-request is not an error worth reporting.
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!("dashboard connection: {e}");
            }
        });
    }
}

async fn route<H, F>(shared: &Shared<H>, req: Request<Incoming>) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    if !host_allowed(req.headers()) {
        // A page on another site that re-points its own name at 127.0.0.1 (DNS rebinding)
        // sends its name as the Host; the dashboard answers only IP addresses and localhost.
        return json_error(
            StatusCode::FORBIDDEN,
            "the dashboard answers only requests addressed to an IP address or localhost",
        );
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let get = method == Method::GET || method == Method::HEAD;
    match path.as_str() {
        "/" | "/index.html" if get => asset(INDEX_HTML, "text/html; charset=utf-8"),
        "/app.js" if get => asset(APP_JS, "text/javascript; charset=utf-8"),
        "/app.css" if get => asset(APP_CSS, "text/css; charset=utf-8"),
        "/api/status" if get => api_status(shared).await,
        "/api/metrics" if get => api_metrics(shared, &query).await,
        "/api/alarms" if get => api_alarms(shared).await,
        "/api/releases" if get => api_releases(shared).await,
        "/api/pipeline/runs" if get => api_runs(shared).await,
        "/api/drills" | "/drills" if get => api_drills(shared).await,
        p if p.starts_with("/drills/") && get => drill_file(shared, p).await,
        p if p.starts_with("/api/pipeline/runs/") && method == Method::POST => {
            let headers = req.headers().clone();
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        format!("cannot read the body of POST {p}: {e}"),
                    );
                }
            };
            api_decide(shared, p, &headers, body).await
        }
        "/" | "/index.html" | "/app.js" | "/app.css" | "/api/status" | "/api/metrics"
        | "/api/alarms" | "/api/releases" | "/api/pipeline/runs" | "/api/drills" | "/drills" => {
            let mut resp = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} {path}: only GET is served here"),
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            resp
        }
        p if p.starts_with("/drills/") => {
            let mut resp = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} {path}: drill reports are only read here"),
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            resp
        }
        p if p.starts_with("/api/") => {
            json_error(StatusCode::NOT_FOUND, format!("no route {method} {path}"))
        }
        _ => {
            let mut resp = Response::new(Full::new(Bytes::from(format!(
                "no page {path}; the dashboard is at /\n"
            ))));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            set(&mut resp, header::CONTENT_TYPE, "text/plain; charset=utf-8");
            resp
        }
    }
}

/// `localhost`, `localhost:port`, an IPv4 address, or a bracketed IPv6 address, with any port.
fn host_allowed(headers: &http::HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        // HTTP/1.0 clients may send none; they are not browsers on someone else's page.
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

fn set(resp: &mut Response<Full<Bytes>>, name: header::HeaderName, value: &'static str) {
    resp.headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

fn asset(text: &'static str, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    set(&mut resp, header::CONTENT_TYPE, content_type);
    // The assets change with the binary; a stale cached script after an upgrade would
    // misread the API.
    set(&mut resp, header::CACHE_CONTROL, "no-cache");
    set(&mut resp, header::CONTENT_SECURITY_POLICY, CSP);
    set(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut resp, header::REFERRER_POLICY, "no-referrer");
    resp
}

fn json(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(body).unwrap_or_default(),
    )));
    *resp.status_mut() = status;
    set(&mut resp, header::CONTENT_TYPE, "application/json");
    set(&mut resp, header::CACHE_CONTROL, "no-store");
    set(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    resp
}

fn json_error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    json(status, &json!({ "error": message.into() }))
}

fn from_reply(reply: Reply) -> Response<Full<Bytes>> {
    json(reply.status, &reply.body)
}

async fn call<H, F>(shared: &Shared<H>, method: Method, path: String, body: Bytes) -> Reply
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    (shared.dash.handler)(Call { method, path, body }).await
}

/// The supervisor's status, each region with its AZs and each service with the dimensions its
/// metrics are published under (so the page never rebuilds AWS names itself).
async fn api_status<H, F>(shared: &Shared<H>) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let reply = call(shared, Method::GET, "/status".to_owned(), Bytes::new()).await;
    if !reply.status.is_success() {
        return from_reply(reply);
    }
    let mut status = reply.body;
    let project = status
        .get("project")
        .and_then(Value::as_str)
        .unwrap_or(&shared.dash.project)
        .to_owned();
    if let Some(regions) = status.get_mut("regions").and_then(Value::as_array_mut) {
        for region in regions {
            let name = region
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let azs = shared
                .dash
                .regions
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.azs.clone())
                .unwrap_or_default();
            if let Some(obj) = region.as_object_mut() {
                obj.insert("azs".to_owned(), json!(azs));
            }
            let Some(services) = region.get_mut("services").and_then(Value::as_array_mut) else {
                continue;
            };
            for svc in services {
                let service = svc.get("name").and_then(Value::as_str).unwrap_or_default();
                let names = Names::new(&project, service);
                if let Some(obj) = svc.as_object_mut() {
                    obj.insert(
                        "metric_dims".to_owned(),
                        json!({
                            "ecs": {
                                cw::CLUSTER_NAME: names.cluster,
                                cw::SERVICE_NAME: names.service,
                            },
                            "alb": {
                                cw::LOAD_BALANCER: names.load_balancer,
                                cw::TARGET_GROUP: names.target_group,
                            },
                        }),
                    );
                }
            }
        }
    }
    json(StatusCode::OK, &status)
}

/// Calls `/regions/<r>/<sub>` for every region: the answers that are lists, by region, and
/// the regions that could not answer (a region killed by a drill) with why.
async fn per_region<H, F>(shared: &Shared<H>, sub: &str) -> (Vec<(String, Vec<Value>)>, Vec<Value>)
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let mut lists = Vec::new();
    let mut unavailable = Vec::new();
    for r in &shared.dash.regions {
        let reply = call(
            shared,
            Method::GET,
            format!("/regions/{}/{sub}", r.name),
            Bytes::new(),
        )
        .await;
        match reply.body {
            Value::Array(items) if reply.status.is_success() => lists.push((r.name.clone(), items)),
            other => unavailable.push(json!({
                "region": r.name,
                "error": other
                    .get("error")
                    .and_then(Value::as_str)
                    .map_or_else(|| reply.status.to_string(), str::to_owned),
            })),
        }
    }
    (lists, unavailable)
}

/// Every region's alarms, flattened: `{alarms: [{region, name, state, ...}], unavailable}`.
async fn api_alarms<H, F>(shared: &Shared<H>) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let (lists, unavailable) = per_region(shared, "alarms").await;
    let mut alarms = Vec::new();
    for (region, items) in lists {
        for a in items {
            let spec = &a["spec"];
            alarms.push(json!({
                "region": region,
                "name": spec["name"],
                "description": spec["description"],
                "namespace": spec["namespace"],
                "metric": spec["metric"],
                "statistic": spec["stat"],
                "comparison": spec["comparison"],
                "threshold": spec["threshold"],
                "period_seconds": spec["period"],
                "state": a["state"],
                "reason": a["reason"],
                "updated_at": a["updated_at"],
            }));
        }
    }
    json(
        StatusCode::OK,
        &json!({ "alarms": alarms, "unavailable": unavailable }),
    )
}

/// Every region's releases, newest first, each with its region.
async fn api_releases<H, F>(shared: &Shared<H>) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let (lists, unavailable) = per_region(shared, "releases").await;
    let mut releases: Vec<Value> = Vec::new();
    for (region, items) in lists {
        for mut r in items {
            if let Some(obj) = r.as_object_mut() {
                obj.insert("region".to_owned(), json!(region));
            }
            releases.push(r);
        }
    }
    releases.sort_by_key(|r| std::cmp::Reverse(r["started_at_ms"].as_u64().unwrap_or(0)));
    json(
        StatusCode::OK,
        &json!({ "releases": releases, "unavailable": unavailable }),
    )
}

/// The supervisor's pipeline runs; none while the supervisor has no pipeline route.
async fn api_runs<H, F>(shared: &Shared<H>) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let reply = call(
        shared,
        Method::GET,
        "/pipeline/runs".to_owned(),
        Bytes::new(),
    )
    .await;
    if reply.status == StatusCode::NOT_FOUND {
        return json(StatusCode::OK, &json!([]));
    }
    from_reply(reply)
}

/// `POST /api/pipeline/runs/<id>/approve|reject`: checks the token, then asks the supervisor.
async fn api_decide<H, F>(
    shared: &Shared<H>,
    path: &str,
    headers: &http::HeaderMap,
    body: Bytes,
) -> Response<Full<Bytes>>
where
    H: Fn(Call) -> F,
    F: Future<Output = Reply>,
{
    let rest = &path["/api/pipeline/runs/".len()..];
    let Some((id, action)) = rest
        .split_once('/')
        .filter(|(id, a)| valid_run_id(id) && (*a == "approve" || *a == "reject"))
    else {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("no route POST {path}: use /api/pipeline/runs/<id>/approve or /reject"),
        );
    };
    if !haven_control::control::bearer_matches(headers, &shared.dash.token) {
        return json_error(
            StatusCode::UNAUTHORIZED,
            format!(
                "to {action} a run, give the control token (Authorization: Bearer): it is in \
                 {}; a missing or wrong token changes nothing",
                shared.dash.paths.token().display()
            ),
        );
    }
    // The body is `{"comment": "..."}`; checked here so a bad one never reaches the pipeline.
    let comment = if body.is_empty() {
        String::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => match m.get("comment") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(c)) => c.clone(),
                Some(_) => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        format!("POST {path}: `comment` must be a string"),
                    );
                }
            },
            Ok(_) | Err(_) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "POST {path}: the body must be a JSON object like {{\"comment\": \"...\"}}"
                    ),
                );
            }
        }
    };
    let forward = serde_json::to_vec(&json!({ "comment": comment })).unwrap_or_default();
    from_reply(
        call(
            shared,
            Method::POST,
            format!("/pipeline/runs/{id}/{action}"),
            Bytes::from(forward),
        )
        .await,
    )
}

/// Every drill run, newest first (`GET /api/drills`, also `/drills`): its id, when it ran,
/// its scenarios with their verdicts, and where its reports are. A run whose `report.json`
/// cannot be read is listed with the reason, so that it does not silently vanish.
async fn api_drills<H>(shared: &Shared<H>) -> Response<Full<Bytes>> {
    let paths = shared.dash.paths.clone();
    match tokio::task::spawn_blocking(move || drill_runs(&paths)).await {
        Ok(Ok(runs)) => json(StatusCode::OK, &Value::Array(runs)),
        Ok(Err(e)) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("/api/drills: {e}"),
        ),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("/api/drills: {e}"),
        ),
    }
}

fn drill_runs(paths: &Paths) -> Result<Vec<Value>, haven_drill::Error> {
    let ids = haven_drill::store::ids(paths)?;
    Ok(ids
        .into_iter()
        .map(|id| {
            let links = json!({
                "report_html": format!("/drills/{id}/{}", haven_drill::store::REPORT_HTML),
                "report_json": format!("/drills/{id}/{}", haven_drill::store::REPORT_JSON),
            });
            let mut run = match haven_drill::store::read(paths, &id) {
                Ok(r) => json!({
                    "id": r.id,
                    "project": r.project,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "passed": r.passed,
                    "drills": r.drills.iter().map(|d| json!({
                        "scenario": d.scenario.name(),
                        "target": d.target,
                        "passed": d.passed,
                        "rto_ms": d.measured.rto_ms,
                    })).collect::<Vec<_>>(),
                }),
                Err(e) => json!({ "id": id, "error": e.to_string() }),
            };
            if let (Some(obj), Value::Object(l)) = (run.as_object_mut(), links) {
                obj.extend(l);
            }
            run
        })
        .collect())
}

/// `GET /drills/<id>/report.html` (or `report.json`): a run's report as written. The id is
/// checked to be a plain name and the file one of the two, so no request reaches anything
/// else in the state directory.
async fn drill_file<H>(shared: &Shared<H>, path: &str) -> Response<Full<Bytes>> {
    use haven_drill::store::{REPORT_HTML, REPORT_JSON};
    let rest = &path["/drills/".len()..];
    let found = rest.split_once('/').and_then(|(id, file)| {
        let content_type = match file {
            REPORT_HTML => "text/html; charset=utf-8",
            REPORT_JSON => "application/json",
            _ => return None,
        };
        haven_drill::store::valid_id(id).then_some((id, file, content_type))
    });
    let Some((id, file, content_type)) = found else {
        return json_error(
            StatusCode::NOT_FOUND,
            format!(
                "no page {path}: drill reports are at /drills/<id>/{REPORT_HTML} and \
                 /drills/<id>/{REPORT_JSON}, the id letters, digits, `-` and `_`"
            ),
        );
    };
    let file_path = shared.dash.paths.drill_run(id).join(file);
    let body = match tokio::fs::read(&file_path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return json_error(
                StatusCode::NOT_FOUND,
                format!("drill run {id} has no {file}; /api/drills lists the runs"),
            );
        }
        Err(e) => {
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", file_path.display()),
            );
        }
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    set(&mut resp, header::CONTENT_TYPE, content_type);
    // A run's reports never change, but a run id can be reused after its directory is removed.
    set(&mut resp, header::CACHE_CONTROL, "no-cache");
    set(&mut resp, header::CONTENT_SECURITY_POLICY, REPORT_CSP);
    set(&mut resp, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(&mut resp, header::REFERRER_POLICY, "no-referrer");
    resp
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A GetMetricStatistics request from the query string.
#[derive(Debug, PartialEq)]
struct MetricsRequest {
    region: String,
    namespace: String,
    metric: String,
    dims: Vec<(String, String)>,
    stats: Vec<Stat>,
    period: Duration,
    since: Duration,
}

/// `region`, `namespace`, `metric` (required), `dim=K=V` (repeated), `stat` (repeated;
/// `Average` by default), `period` and `since` (durations such as `5s` or `10m`, or seconds;
/// 60 s and 1 h by default, CloudWatch's).
fn parse_metrics_query(query: &str) -> Result<MetricsRequest, String> {
    let mut region = None;
    let mut namespace = None;
    let mut metric = None;
    let mut dims = Vec::new();
    let mut stats = Vec::new();
    let mut period = Duration::from_secs(60);
    let mut since = Duration::from_secs(3600);
    // As browsers encode forms (`+` for space, `%XX`); a malformed escape stays as written.
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "region" => region = Some(v.into_owned()),
            "namespace" => namespace = Some(v.into_owned()),
            "metric" => metric = Some(v.into_owned()),
            "dim" => {
                let (name, value) = v
                    .split_once('=')
                    .filter(|(n, _)| !n.is_empty())
                    .ok_or_else(|| format!("dim `{v}`: write it as NAME=VALUE"))?;
                dims.push((name.to_owned(), value.to_owned()));
            }
            "stat" => stats.push(Stat::from_str(&v).map_err(|e| format!("stat: {e}"))?),
            "period" => period = duration("period", &v)?,
            "since" => since = duration("since", &v)?,
            other => {
                return Err(format!(
                    "unknown parameter `{other}`: use region, namespace, metric, dim, stat, \
                     period, since"
                ));
            }
        }
    }
    let need = |v: Option<String>, name: &str| {
        v.filter(|v| !v.is_empty())
            .ok_or_else(|| format!("give the `{name}` parameter"))
    };
    if stats.is_empty() {
        stats.push(Stat::Average);
    }
    Ok(MetricsRequest {
        region: need(region, "region")?,
        namespace: need(namespace, "namespace")?,
        metric: need(metric, "metric")?,
        dims,
        stats,
        period,
        since,
    })
}

fn duration(name: &str, text: &str) -> Result<Duration, String> {
    let d = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => haven_spec::Dur::parse(text)
            .map(Duration::from)
            .map_err(|e| format!("{name} `{text}`: {e}"))?,
    };
    if d.is_zero() {
        return Err(format!("{name} must be longer than 0 seconds"));
    }
    Ok(d)
}

/// GetMetricStatistics on a region's `metrics.db`, answered as `haven metrics get --json` is.
async fn api_metrics<H>(shared: &Shared<H>, query: &str) -> Response<Full<Bytes>> {
    let req = match parse_metrics_query(query) {
        Ok(r) => r,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, format!("/api/metrics: {e}")),
    };
    if !shared.dash.regions.iter().any(|r| r.name == req.region) {
        return json_error(
            StatusCode::NOT_FOUND,
            format!("/api/metrics: the spec has no region `{}`", req.region),
        );
    }
    let db = shared.dash.paths.region_dir(&req.region).join("metrics.db");
    let store = {
        let mut stores = lock(&shared.stores);
        match stores.get(&req.region) {
            Some((s, opened)) if opened.elapsed() < REOPEN_STORE => Some(s.clone()),
            _ => {
                stores.remove(&req.region);
                None
            }
        }
    };
    let region = req.region.clone();
    let result = tokio::task::spawn_blocking(move || {
        let store = match store {
            Some(s) => s,
            None => {
                if !db.is_file() {
                    return Err((
                        StatusCode::NOT_FOUND,
                        format!(
                            "{} has recorded no metrics yet (no {})",
                            req.region,
                            db.display()
                        ),
                    ));
                }
                let s = MetricStore::open_read_only(&db, Retention::default()).map_err(|e| {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot open {}: {e}", db.display()),
                    )
                })?;
                Arc::new(Mutex::new(s))
            }
        };
        let now = haven_time::now();
        let mut q = Query::new(&req.namespace, &req.metric, now)
            .stats(&req.stats)
            .period(req.period)
            .range(now.checked_sub(req.since).unwrap_or(now), now);
        for (k, v) in &req.dims {
            q = q.dim(k, v);
        }
        let points = lock(&store)
            .get_statistics(&q, now)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("/api/metrics: {e}")))?;
        Ok((
            store,
            json!({ "Label": req.metric, "Region": req.region, "Datapoints": points }),
        ))
    })
    .await;
    match result {
        Ok(Ok((store, body))) => {
            lock(&shared.stores)
                .entry(region)
                .or_insert_with(|| (store, Instant::now()));
            json(StatusCode::OK, &body)
        }
        Ok(Err((status, message))) => json_error(status, message),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("/api/metrics: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn metrics_queries_parse_or_name_the_fault() {
        let ok = parse_metrics_query(
            "region=us-east-1&namespace=AWS%2FECS&metric=CPUUtilization\
             &dim=ClusterName%3Dhello&dim=ServiceName=hello-production&stat=Maximum&stat=p99\
             &period=5s&since=10m",
        )
        .unwrap();
        assert_eq!(ok.region, "us-east-1");
        assert_eq!(ok.namespace, "AWS/ECS");
        assert_eq!(
            ok.dims,
            vec![
                ("ClusterName".to_owned(), "hello".to_owned()),
                ("ServiceName".to_owned(), "hello-production".to_owned()),
            ]
        );
        assert_eq!(ok.stats.len(), 2);
        assert_eq!(ok.period, Duration::from_secs(5));
        assert_eq!(ok.since, Duration::from_secs(600));
        let defaults = parse_metrics_query("region=r&namespace=n&metric=m&period=30").unwrap();
        assert_eq!(defaults.stats, vec![Stat::Average]);
        assert_eq!(defaults.period, Duration::from_secs(30));
        assert_eq!(defaults.since, Duration::from_secs(3600));

        for (query, fault) in [
            ("namespace=n&metric=m", "`region`"),
            ("region=r&metric=m", "`namespace`"),
            ("region=r&namespace=n&metric=", "`metric`"),
            ("region=r&namespace=n&metric=m&dim=novalue", "dim `novalue`"),
            ("region=r&namespace=n&metric=m&stat=Mean", "stat"),
            ("region=r&namespace=n&metric=m&period=0", "period must be"),
            ("region=r&namespace=n&metric=m&since=soon", "since `soon`"),
            ("region=r&namespace=n&metric=m&colour=red", "`colour`"),
        ] {
            let err = parse_metrics_query(query).unwrap_err();
            assert!(err.contains(fault), "{query}: {err}");
        }
        // A malformed escape is kept as written, as browsers and the URL standard keep it.
        let odd = parse_metrics_query("region=%zz+1&namespace=n&metric=m%2Fs").unwrap();
        assert_eq!((odd.region.as_str(), odd.metric.as_str()), ("%zz 1", "m/s"));
    }

    #[test]
    fn only_ip_and_localhost_hosts_are_answered() {
        for (host, allowed) in [
            ("127.0.0.1:4100", true),
            ("localhost:4100", true),
            ("LOCALHOST", true),
            ("[::1]:4100", true),
            ("10.0.0.5", true),
            ("evil.example:4100", false),
            ("localhost.evil.example", false),
            ("127.0.0.1.nip.io:4100", false),
        ] {
            let mut h = http::HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            assert_eq!(host_allowed(&h), allowed, "{host}");
        }
    }

    #[test]
    fn run_ids_are_plain_names() {
        assert!(valid_run_id("run-1a2b.3_c"));
        for bad in ["", "../shutdown", "a/b", "a b", "a%2Fb"] {
            assert!(!valid_run_id(bad), "{bad}");
        }
    }

    /// What the fake supervisor was asked: method, path, body.
    type Calls = Arc<Mutex<Vec<(Method, String, String)>>>;

    /// A dashboard in front of a fake supervisor that records its calls: regions `r1` (up,
    /// with metrics in its `metrics.db`) and `r2` (down), no pipeline route.
    async fn fake() -> (SocketAddr, Calls, tempfile::TempDir, watch::Sender<bool>) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        std::fs::create_dir_all(paths.region_dir("r1")).unwrap();
        let mut store = MetricStore::open(&paths.region_dir("r1").join("metrics.db")).unwrap();
        let dims = [("ClusterName", "p"), ("ServiceName", "p-production")];
        let now = haven_time::now();
        for (ago, v) in [(20u64, 10.0), (12, 30.0), (3, 50.0)] {
            let at = now - Duration::from_secs(ago);
            store
                .put(
                    "AWS/ECS",
                    "CPUUtilization",
                    &dims,
                    haven_metrics::Unit::Percent,
                    v,
                    at,
                )
                .unwrap();
        }
        drop(store);
        let calls: Calls = Arc::default();
        let seen = calls.clone();
        let handler = move |call: Call| {
            let seen = seen.clone();
            async move {
                let body = String::from_utf8_lossy(&call.body).into_owned();
                seen.lock()
                    .unwrap()
                    .push((call.method.clone(), call.path.clone(), body));
                match (call.method, call.path.as_str()) {
                    (Method::GET, "/status") => Reply::ok(json!({
                        "project": "p",
                        "regions": [{"name": "r1", "services": [{"name": "p-production"}]},
                                    {"name": "r2", "services": []}],
                    })),
                    (Method::GET, "/regions/r1/alarms") => Reply::ok(json!([{
                        "spec": {"name": "p-production-cpu", "metric": "CPUUtilization"},
                        "state": "ALARM",
                    }])),
                    (Method::GET, "/regions/r1/releases") => Reply::ok(json!([
                        {"id": "rel-old", "started_at_ms": 1},
                        {"id": "rel-new", "started_at_ms": 2},
                    ])),
                    (Method::GET, p) if p.starts_with("/regions/r2/") => Reply::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "region r2 is not reachable",
                    ),
                    (Method::POST, "/pipeline/runs/run-7/approve") => {
                        Reply::ok(json!({"message": "approved"}))
                    }
                    (m, p) => Reply::not_found(format!("no route {m} {p}")),
                }
            }
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(
            listener,
            Dashboard {
                project: "p".to_owned(),
                regions: ["r1", "r2"]
                    .map(|r| RegionLayout {
                        name: r.to_owned(),
                        azs: vec![format!("{r}a"), format!("{r}b")],
                    })
                    .to_vec(),
                paths,
                token: "secret-token".into(),
                handler,
            },
            stopped,
        ));
        (addr, calls, dir, stop)
    }

    /// One request over a fresh connection: status and JSON body.
    async fn send(addr: SocketAddr, raw: String) -> (u16, Value) {
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(raw.as_bytes()).unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            let status = text[9..12].parse().unwrap();
            let body = text.split_once("\r\n\r\n").unwrap().1;
            (status, serde_json::from_str(body).unwrap_or(Value::Null))
        })
        .await
        .unwrap()
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    }

    fn post(path: &str, auth: Option<&str>, body: &str) -> String {
        let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_come_from_the_supervisor_and_the_regions_files() {
        let (addr, _calls, _dir, _stop) = fake().await;
        let (code, status) = send(addr, get("/api/status")).await;
        assert_eq!(code, 200);
        assert_eq!(status["regions"][0]["azs"], json!(["r1a", "r1b"]));
        assert_eq!(
            status["regions"][0]["services"][0]["metric_dims"],
            json!({
                "ecs": {"ClusterName": "p", "ServiceName": "p-production"},
                "alb": {"LoadBalancer": "app/p-production-alb/local",
                        "TargetGroup": "targetgroup/p-production-tg/local"},
            })
        );
        let (_, alarms) = send(addr, get("/api/alarms")).await;
        assert_eq!(alarms["alarms"][0]["region"], "r1");
        assert_eq!(alarms["alarms"][0]["name"], "p-production-cpu");
        assert_eq!(alarms["alarms"][0]["state"], "ALARM");
        assert_eq!(
            alarms["unavailable"],
            json!([{"region": "r2", "error": "region r2 is not reachable"}])
        );
        let (_, releases) = send(addr, get("/api/releases")).await;
        assert_eq!(releases["releases"][0]["id"], "rel-new", "newest first");
        assert_eq!(releases["releases"][0]["region"], "r1");
        // No pipeline route on the supervisor yet: no runs, not an error.
        assert_eq!(
            send(addr, get("/api/pipeline/runs")).await,
            (200, json!([]))
        );

        let (code, metrics) = send(
            addr,
            get(
                "/api/metrics?region=r1&namespace=AWS%2FECS&metric=CPUUtilization\
                 &dim=ClusterName%3Dp&dim=ServiceName%3Dp-production&stat=Maximum\
                 &period=60&since=5m",
            ),
        )
        .await;
        assert_eq!(code, 200, "{metrics}");
        let points = metrics["Datapoints"].as_array().unwrap();
        let max = points
            .iter()
            .map(|p| p["Maximum"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert_eq!(max, 50.0, "{metrics}");
        let (code, err) = send(
            addr,
            get("/api/metrics?region=r2&namespace=AWS%2FECS&metric=CPUUtilization"),
        )
        .await;
        assert_eq!(code, 404);
        assert!(
            err["error"].as_str().unwrap().contains("metrics.db"),
            "{err}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn approving_needs_the_token_and_a_refused_one_changes_nothing() {
        let (addr, calls, _dir, _stop) = fake().await;
        let posts = |calls: &Calls| {
            calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(m, _, _)| m == Method::POST)
                .cloned()
                .collect::<Vec<_>>()
        };
        let body = r#"{"comment":"ship it"}"#;
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("secret-token"),
            Some("Basic secret-token"),
        ] {
            let (code, err) =
                send(addr, post("/api/pipeline/runs/run-7/approve", auth, body)).await;
            assert_eq!(code, 401, "{auth:?}: {err}");
            assert!(err["error"].as_str().unwrap().contains("token"), "{err}");
        }
        assert!(
            posts(&calls).is_empty(),
            "a refused write reached the supervisor"
        );
        let auth = Some("Bearer secret-token");
        for (path, body, code) in [
            ("/api/pipeline/runs/run-7/approve", "not json", 400),
            ("/api/pipeline/runs/run-7/approve", r#"{"comment": 5}"#, 400),
            ("/api/pipeline/runs/run-7/merge", body, 404),
            ("/api/pipeline/runs/..%2Fshutdown/approve", body, 404),
        ] {
            assert_eq!(
                send(addr, post(path, auth, body)).await.0,
                code,
                "{path} {body}"
            );
        }
        assert!(
            posts(&calls).is_empty(),
            "a bad write reached the supervisor"
        );
        let (code, answer) = send(addr, post("/api/pipeline/runs/run-7/approve", auth, body)).await;
        assert_eq!((code, answer), (200, json!({"message": "approved"})));
        assert_eq!(
            posts(&calls),
            vec![(
                Method::POST,
                "/pipeline/runs/run-7/approve".to_owned(),
                r#"{"comment":"ship it"}"#.to_owned()
            )]
        );
        // The supervisor's own answer passes through (here: no such run).
        let (code, _) = send(addr, post("/api/pipeline/runs/run-8/reject", auth, "")).await;
        assert_eq!(code, 404);
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("app.js", APP_JS),
            ("app.css", APP_CSS),
        ] {
            for external in ["http://", "https://", "//cdn", "@import", "fonts.g"] {
                // The SVG namespace is a name, not a fetch.
                let uses = text.replace("http://www.w3.org/2000/svg", "");
                assert!(!uses.contains(external), "{name} refers to {external}");
            }
        }
        assert!(INDEX_HTML.contains("src=\"/app.js\""));
        assert!(INDEX_HTML.contains("href=\"/app.css\""));
        // No inline script or style: the content security policy forbids them.
        assert!(!INDEX_HTML.contains("<script>"));
        assert!(!INDEX_HTML.contains("style="));
    }
}
