//! The dashboard of a running twin: its page, assets and API over plain HTTP (content types,
//! metrics, alarms, the token on writes), and the page as headless Chromium renders it, with a
//! screenshot.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../haven-drill/tests/support/chromium.rs"]
mod chromium;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::*;

/// A raw HTTP/1.1 exchange: status, headers (names lower-cased) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn exchange(url: &str, method: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut raw = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        path_of(url),
        host_of(url),
        body.len()
    );
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    let mut s = TcpStream::connect(host_of(url)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn get_answer(url: &str) -> Answer {
    exchange(url, "GET", &[], "")
}

/// Runs headless Chromium with a fresh profile and `args`, the page's timers on virtual time
/// (two refreshes and more, without waiting); its stdout.
fn run_chromium(work: &Path, args: &[String]) -> String {
    let mut all = vec!["--virtual-time-budget=7000".to_owned()];
    all.extend_from_slice(args);
    chromium::run_chromium(work, &all).stdout
}

/// The opening tags of the elements with `data-testid="<id>"`.
fn tags<'a>(dom: &'a str, id: &str) -> Vec<&'a str> {
    let needle = format!("data-testid=\"{id}\"");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = dom[from..].find(&needle) {
        let at = from + i;
        let start = dom[..at].rfind('<').unwrap();
        let end = at + dom[at..].find('>').unwrap();
        out.push(&dom[start..=end]);
        from = end;
    }
    out
}

/// An attribute's value in an opening tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

/// The markup of a table row after its opening tag `tag`.
fn row_of<'a>(dom: &'a str, tag: &str) -> &'a str {
    let at = dom.find(tag).unwrap() + tag.len();
    let rest = &dom[at..];
    &rest[..rest.find("</tr>").unwrap()]
}

/// The markup after the opening tag `tag`, up to the end of its row, item or paragraph.
fn text_after<'a>(dom: &'a str, tag: &str) -> &'a str {
    let at = dom.find(tag).unwrap() + tag.len();
    let rest = &dom[at..];
    let end = ["</tr>", "</li>", "</p>"]
        .iter()
        .filter_map(|e| rest.find(e))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

fn metrics_query(url: &str, region: &str, ns: &str, metric: &str, dims: &[(&str, &str)]) -> String {
    let enc = |s: &str| s.replace('/', "%2F").replace('=', "%3D");
    let mut q = format!(
        "{url}/api/metrics?region={region}&namespace={}&metric={metric}&stat=Average&stat=Sum&period=5s&since=5m",
        enc(ns)
    );
    for (k, v) in dims {
        q.push_str(&format!("&dim={}", enc(&format!("{k}={v}"))));
    }
    q
}

#[test]
fn dashboard_shows_the_twin_in_chromium_and_guards_its_writes() {
    // The harness sets `dashboard_port = 0`: tests run side by side, each dashboard on a free
    // port, kept in ports.json.
    let mut twin = Twin::project(|t| t);
    twin.up();
    let status = twin.status();
    let url = status["dashboard_url"]
        .as_str()
        .expect("haven status --json has dashboard_url")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    // `haven up` lists it among its endpoints, `haven status` prints it.
    let log = twin.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("dashboard ") && l.contains(&url)),
        "no dashboard row in haven up's endpoints:\n{log}"
    );
    let human = twin.haven(&["status"]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains(&format!("dashboard {url}")), "{human}");

    // The page and its assets, with their content types; nothing else is served as a page.
    for (path, content_type, marker) in [
        ("/", "text/html; charset=utf-8", "data-testid=\"regions\""),
        ("/app.js", "text/javascript; charset=utf-8", "/api/metrics"),
        ("/app.css", "text/css; charset=utf-8", ".chart"),
    ] {
        let a = get_answer(&format!("{url}{path}"));
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        assert_eq!(a.header("content-type"), Some(content_type), "{path}");
        assert!(a.body.contains(marker), "{path} lacks {marker}");
        assert!(
            a.header("content-security-policy")
                .is_some_and(|c| c.contains("default-src 'none'")),
            "{path} has no content security policy"
        );
    }
    let missing = get_answer(&format!("{url}/nothing-here"));
    assert_eq!(missing.status, 404);
    let post_page = exchange(&format!("{url}/api/status"), "POST", &[], "");
    assert_eq!(post_page.status, 405, "{}", post_page.body);
    // A page elsewhere reaching it through a name of its own (DNS rebinding) is refused.
    let mut s = TcpStream::connect(host_of(&url)).unwrap();
    s.write_all(b"GET /api/status HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 403"), "{raw}");

    // The status the page reads: the supervisor's, with AZs and metric dimensions added.
    let api = get_answer(&format!("{url}/api/status")).json();
    assert_eq!(api["project"], "hello");
    let east = region(&api, "us-east-1");
    assert_eq!(east["azs"], serde_json::json!(["us-east-1a", "us-east-1b"]));
    assert_eq!(
        production(east)["metric_dims"]["ecs"]["ServiceName"],
        "hello-production"
    );

    // Traffic, so that the ALB's charts have requests to show.
    let edge = twin.edge_url();
    for _ in 0..30 {
        assert_eq!(get(&edge).unwrap().0, 200);
    }
    let ecs_dims = [
        ("ClusterName", "hello"),
        ("ServiceName", "hello-production"),
    ];
    let cpu = eventually(30, "CPUUtilization datapoints from /api/metrics", || {
        let a = get_answer(&metrics_query(
            &url,
            "us-east-1",
            "AWS/ECS",
            "CPUUtilization",
            &ecs_dims,
        ));
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.header("content-type"), Some("application/json"));
        let v = a.json();
        let points = v["Datapoints"].as_array().unwrap().clone();
        (!points.is_empty()).then_some(points)
    });
    assert!(cpu[0]["Average"].is_number(), "{cpu:?}");
    assert_eq!(cpu[0]["Unit"], "Percent");
    let alb_dims = [
        ("LoadBalancer", "app/hello-production-alb/local"),
        ("TargetGroup", "targetgroup/hello-production-tg/local"),
    ];
    eventually(30, "the requests sent to show in RequestCount", || {
        let v = get_answer(&metrics_query(
            &url,
            "us-east-1",
            "AWS/ApplicationELB",
            "RequestCount",
            &alb_dims,
        ))
        .json();
        let sum: f64 = v["Datapoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Sum"].as_f64().unwrap())
            .sum();
        (sum >= 30.0).then_some(())
    });
    for (query, code, fault) in [
        ("region=us-east-1&namespace=AWS%2FECS", 400, "`metric`"),
        (
            "region=mars-1&namespace=AWS%2FECS&metric=CPUUtilization",
            404,
            "mars-1",
        ),
        (
            "region=us-east-1&namespace=AWS%2FECS&metric=CPUUtilization&stat=Mean",
            400,
            "Mean",
        ),
    ] {
        let a = get_answer(&format!("{url}/api/metrics?{query}"));
        assert_eq!(a.status, code, "{query}: {}", a.body);
        assert!(
            a.json()["error"].as_str().unwrap().contains(fault),
            "{query}: {}",
            a.body
        );
    }

    // Alarms of both regions, each with its state.
    let alarms = get_answer(&format!("{url}/api/alarms")).json();
    let names: Vec<(String, String)> = alarms["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert!(a["state"].is_string(), "{a}");
            (
                a["region"].as_str().unwrap().to_owned(),
                a["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for region in ["us-east-1", "us-west-2"] {
        assert!(
            names
                .iter()
                .any(|(r, n)| r == region && n == "hello-production-cpu"),
            "{names:?}"
        );
    }
    let releases = get_answer(&format!("{url}/api/releases")).json();
    assert!(releases["releases"].is_array(), "{releases}");
    let runs = get_answer(&format!("{url}/api/pipeline/runs"));
    assert_eq!(runs.status, 200, "{}", runs.body);
    assert!(runs.json().is_array(), "{}", runs.body);

    // Writes need the control token; without it or with a wrong one nothing reaches the
    // supervisor.
    let approve = format!("{url}/api/pipeline/runs/run-1/approve");
    let body = r#"{"comment":"looks good"}"#;
    let none = exchange(&approve, "POST", &[], body);
    assert_eq!(none.status, 401, "{}", none.body);
    let why = none.json()["error"].as_str().unwrap().to_owned();
    assert!(
        why.contains("control token") && why.contains("token"),
        "the 401 says what is missing and where it is: {why}"
    );
    let wrong = exchange(
        &format!("{url}/api/pipeline/runs/run-1/reject"),
        "POST",
        &[("Authorization", "Bearer 0000")],
        body,
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    let token = std::fs::read_to_string(twin.path().join(".haven/token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let right = exchange(&approve, "POST", &[("Authorization", &bearer)], body);
    assert_ne!(right.status, 401, "the right token passes: {}", right.body);
    assert!(
        right.json()["error"].is_string() || right.status == 200,
        "{}",
        right.body
    );
    let bad_body = exchange(&approve, "POST", &[("Authorization", &bearer)], "[1]");
    assert_eq!(bad_body.status, 400, "{}", bad_body.body);

    // The page, rendered by Chromium: regions, AZs, services, tasks, alarms, charts.
    let work = twin.path().to_path_buf();
    let page = format!("{url}/");
    let dom = eventually(120, "Chromium to render charts with data points", || {
        let dom = run_chromium(&work, &["--dump-dom".to_owned(), page.clone()]);
        let ready = dom.contains("data-ready=\"1\"");
        let charted = tags(&dom, "chart-svg")
            .iter()
            .filter(|t| attr(t, "data-points").is_some_and(|p| p != "0"))
            .count();
        (ready && charted >= 2).then_some(dom)
    });
    let status = twin.status();
    let regions = tags(&dom, "region");
    let region_names: Vec<&str> = regions
        .iter()
        .map(|t| attr(t, "data-region").unwrap())
        .collect();
    assert_eq!(region_names, ["us-east-1", "us-west-2"]);
    for t in &regions {
        assert_eq!(attr(t, "data-state"), Some("running"), "{t}");
        assert_eq!(attr(t, "data-healthy"), Some("true"), "{t}");
    }
    assert!(dom.contains(">primary<") && dom.contains(">secondary<"));
    let azs: Vec<&str> = tags(&dom, "az")
        .iter()
        .map(|t| attr(t, "data-az").unwrap())
        .collect();
    assert_eq!(
        azs,
        ["us-east-1a", "us-east-1b", "us-west-2a", "us-west-2b"]
    );
    for r in status["regions"].as_array().unwrap() {
        for svc in r["services"].as_array().unwrap() {
            let name = svc["name"].as_str().unwrap();
            let row = tags(&dom, "service")
                .into_iter()
                .find(|t| attr(t, "data-service") == Some(name))
                .unwrap_or_else(|| panic!("no row for {name}"));
            let desired = svc["desired"].as_u64().unwrap().to_string();
            assert_eq!(attr(row, "data-desired"), Some(desired.as_str()), "{row}");
            assert_eq!(attr(row, "data-healthy"), Some(desired.as_str()), "{row}");
            assert!(
                row_of(&dom, row).contains(&format!(">{desired}/{desired}<")),
                "{name}'s healthy count is shown as text"
            );
        }
    }
    let task_rows = tags(&dom, "task");
    let shown: Vec<&str> = task_rows
        .iter()
        .map(|t| attr(t, "data-task").unwrap())
        .collect();
    let mut expected = 0;
    for r in status["regions"].as_array().unwrap() {
        for svc in r["services"].as_array().unwrap() {
            for t in svc["tasks"].as_array().unwrap() {
                expected += 1;
                let id = t["id"].as_str().unwrap();
                assert!(shown.contains(&id), "task {id} is not shown: {shown:?}");
                let row = task_rows
                    .iter()
                    .find(|row| attr(row, "data-task") == Some(id))
                    .unwrap();
                assert_eq!(attr(row, "data-az"), t["az"].as_str());
                assert!(row_of(&dom, row).contains(">healthy<"), "{row}");
            }
        }
    }
    assert_eq!(shown.len(), expected);
    let alarm_rows = tags(&dom, "alarm");
    for (region, name) in &names {
        let row = alarm_rows
            .iter()
            .find(|t| {
                attr(t, "data-alarm") == Some(name.as_str())
                    && attr(t, "data-region") == Some(region.as_str())
            })
            .unwrap_or_else(|| panic!("alarm {name} of {region} is not in the table"));
        let state = attr(row, "data-state").unwrap();
        assert!(
            ["OK", "ALARM", "INSUFFICIENT_DATA"].contains(&state),
            "{row}"
        );
        assert!(row_of(&dom, row).contains(&format!(">{state}<")));
    }
    let charts = tags(&dom, "chart");
    assert!(
        charts
            .iter()
            .any(|t| attr(t, "data-chart") == Some("cpu-memory")
                && attr(t, "data-region") == Some("us-east-1")),
        "no CPU chart for us-east-1"
    );
    for id in ["requests", "target-5xx", "response-time", "hosts"] {
        assert!(
            charts.iter().any(|t| attr(t, "data-chart") == Some(id)),
            "no {id} chart"
        );
    }
    assert!(dom.contains("<polyline") && dom.contains("<circle"));
    assert!(
        tags(&dom, "pipeline-runs").len() == 1
            && (dom.contains("data-testid=\"no-pipeline-runs\"")
                || dom.contains("data-testid=\"pipeline-run\"")),
        "the pipeline section shows its runs or says there are none"
    );
    assert!(dom.contains(&format!(">{}<", status["edge"]["url"].as_str().unwrap())));
    let banner = tags(&dom, "error");
    assert_eq!(
        attr(banner[0], "hidden"),
        Some(""),
        "the page met an API error: {}",
        text_after(&dom, banner[0])
    );

    // A screenshot, for humans.
    let png = work.join("dashboard.png");
    run_chromium(
        &work,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,1000".to_owned(),
            "--hide-scrollbars".to_owned(),
            page.clone(),
        ],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 20_000,
        "a near-empty screenshot: {} bytes",
        bytes.len()
    );
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    if target.is_dir() {
        std::fs::copy(&png, target.join("dashboard.png")).unwrap();
    }

    // The port is kept in ports.json: the next `haven up` serves the dashboard where it was.
    twin.down();
    twin.up();
    assert_eq!(twin.status()["dashboard_url"].as_str(), Some(url.as_str()));
    twin.down();
}

#[test]
fn dashboard_off_is_not_served() {
    let mut twin = Twin::project(|t| {
        assert!(t.contains("dashboard = true"));
        t.replacen("dashboard = true", "dashboard = false", 1)
    });
    twin.up();
    let status = twin.status();
    assert!(status["dashboard_url"].is_null(), "{status}");
    assert!(
        !twin.log().lines().any(|l| l.starts_with("dashboard ")),
        "{}",
        twin.log()
    );
    let human = twin.haven(&["status"]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("dashboard off"),
        "{}",
        String::from_utf8_lossy(&human.stdout)
    );
    twin.down();
}

/// A fake supervisor's answers: one region with an impaired AZ, a scaling activity, a release
/// rolled back, a region that is down, and two pipeline runs, one waiting for approval.
fn fake_supervisor(call: &haven_control::control::Call) -> haven_control::control::Reply {
    use haven_control::control::Reply;
    use serde_json::json;
    let stage = |name: &str, status: &str, message: &str| {
        json!({"name": name, "status": status, "started_at_ms": 1_764_000_000_000u64,
               "ended_at_ms": null, "message": message, "attempts": 1, "detail": {}})
    };
    let service = json!({
        "name": "shop-production", "environment": "production",
        "alb_url": "http://127.0.0.1:4001", "test_url": "", "state": "ACTIVE",
        "failure": null, "image": "sha256:0123456789abcdef", "desired": 3,
        "running": 3, "healthy": 3, "min": 2, "max": 10, "cpu_percent": 91.5,
        "memory_percent": 40.0, "events": [], "tasks": [],
        "scaling_activities": [{"at_ms": 1_764_000_000_000u64, "from": 2, "to": 3,
            "cause": "CPUUtilization 91.5 above the target 70"}],
    });
    match (call.method.as_str(), call.path.as_str()) {
        ("GET", "/status") => Reply::ok(json!({
            "project": "shop",
            "supervisor_pid": 1,
            "control_url": "http://127.0.0.1:1",
            "dashboard_url": null,
            "state_dir": "/srv/shop/.haven",
            "edge": {"url": "http://127.0.0.1:4000", "pid": 2, "mode": "failover",
                     "serving_regions": ["eu-west-1"], "regions": []},
            "regions": [
                {"name": "eu-west-1", "role": "primary", "state": "running", "pid": 3,
                 "alb_url": "http://127.0.0.1:4001", "metrics_url": "", "healthy": true,
                 "impaired_azs": ["eu-west-1b"],
                 "services": [service]},
                {"name": "eu-central-1", "role": "secondary", "state": "stopped", "pid": null,
                 "alb_url": "", "metrics_url": "", "healthy": false, "impaired_azs": [],
                 "services": []},
            ],
        })),
        ("GET", "/regions/eu-west-1/alarms") => Reply::ok(json!([{
            "spec": {"name": "shop-production-cpu", "namespace": "AWS/ECS",
                     "metric": "CPUUtilization", "stat": "Average", "threshold": 80.0,
                     "comparison": "GreaterThanThreshold", "period": 5},
            "state": "ALARM", "reason": "Threshold Crossed", "updated_at": "2025-11-24T16:00:00Z",
        }])),
        ("GET", "/regions/eu-west-1/releases") => Reply::ok(json!([{
            "id": "rel-1", "service": "shop-production", "from_image": "sha256:aaaaaaaaaaaaaaaa",
            "to_image": "sha256:bbbbbbbbbbbbbbbb", "strategy": "blue-green",
            "state": "ROLLED_BACK", "shifted": false, "reason": "green tasks crashed",
            "started_at_ms": 1_764_000_000_000u64, "ended_at_ms": 1_764_000_060_000u64,
            "steps": [],
        }])),
        ("GET", p) if p.starts_with("/regions/eu-central-1/") => Reply::error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "region eu-central-1 is not reachable",
        ),
        ("GET", "/pipeline/runs") => Reply::ok(json!([
            {"id": 7, "commit": "c0ffee1234567890", "branch": "main", "status": "InProgress",
             "started_at_ms": 1_764_000_000_000u64, "ended_at_ms": null, "message": "",
             "image": null, "build_id": null,
             "stages": [stage("Source", "Succeeded", ""), stage("Build", "Succeeded", ""),
                        stage("Staging", "Succeeded", ""), stage("Approval", "InProgress", ""),
                        stage("Production", "Pending", "")]},
            {"id": 6, "commit": "badc0de123456789", "branch": "main", "status": "Failed",
             "started_at_ms": 1_763_999_000_000u64, "ended_at_ms": null,
             "message": "Build failed: exit status 1", "image": null, "build_id": null,
             "stages": [stage("Source", "Succeeded", ""),
                        stage("Build", "Failed", "exit status 1")]},
        ])),
        (m, p) => Reply::not_found(format!("no route {m} {p}")),
    }
}

#[test]
fn pipeline_runs_releases_and_impaired_azs_render_from_the_api() {
    use haven_twin::dashboard::{Dashboard, RegionLayout, serve};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    rt.spawn(serve(
        listener,
        Dashboard {
            project: "shop".to_owned(),
            regions: vec![
                RegionLayout {
                    name: "eu-west-1".to_owned(),
                    azs: vec!["eu-west-1a".to_owned(), "eu-west-1b".to_owned()],
                },
                RegionLayout {
                    name: "eu-central-1".to_owned(),
                    azs: vec!["eu-central-1a".to_owned(), "eu-central-1b".to_owned()],
                },
            ],
            paths: haven_control::paths::Paths::new(dir.path().join(".haven")),
            token: "t".repeat(64).into(),
            handler: |call: haven_control::control::Call| {
                let reply = fake_supervisor(&call);
                async move { reply }
            },
        },
        stopped,
    ));
    let dom = run_chromium(dir.path(), &["--dump-dom".to_owned(), url]);
    assert!(dom.contains("data-ready=\"1\""), "{dom}");

    // Run 7 waits at its approval: Approve and Reject, and the stage says so in words.
    let runs = tags(&dom, "pipeline-run");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(attr(runs[0], "data-run"), Some("7"));
    assert_eq!(attr(runs[0], "data-awaiting-approval"), Some("true"));
    assert_eq!(attr(runs[1], "data-awaiting-approval"), Some("false"));
    let buttons: Vec<(&str, &str)> = tags(&dom, "approve")
        .into_iter()
        .chain(tags(&dom, "reject"))
        .map(|t| {
            (
                attr(t, "data-testid").unwrap(),
                attr(t, "data-run").unwrap(),
            )
        })
        .collect();
    assert_eq!(buttons, [("approve", "7"), ("reject", "7")]);
    assert!(dom.contains(">Approve</button>") && dom.contains(">Reject</button>"));
    let run7 = row_of(&dom, runs[0]);
    assert!(run7.contains(">awaiting approval<"), "{run7}");
    assert!(
        run7.contains(">Pending<") && run7.contains(">InProgress<"),
        "{run7}"
    );
    let run6 = row_of(&dom, runs[1]);
    assert!(run6.contains(">Failed<") && run6.contains("Build failed: exit status 1"));
    assert!(!dom.contains("data-testid=\"no-pipeline-runs\""));

    // The impaired AZ is marked in words; the stopped region says it has nothing to show.
    let azs = tags(&dom, "az");
    let impaired: Vec<&str> = azs
        .iter()
        .filter(|t| attr(t, "data-impaired") == Some("true"))
        .map(|t| attr(t, "data-az").unwrap())
        .collect();
    assert_eq!(impaired, ["eu-west-1b"]);
    assert!(text_after(&dom, azs[1]).contains(">impaired<"));
    assert_eq!(azs.len(), 4, "the stopped region's AZs are listed too");
    assert!(dom.contains("eu-central-1 is stopped: no services to show"));

    // Releases, scaling activities and alarms, and the region that could not answer.
    let release = tags(&dom, "release");
    assert_eq!(release.len(), 1);
    assert_eq!(attr(release[0], "data-state"), Some("ROLLED_BACK"));
    assert!(row_of(&dom, release[0]).contains("green tasks crashed"));
    let scaling = tags(&dom, "scaling-activity");
    assert_eq!(scaling.len(), 1);
    let activity = row_of(&dom, scaling[0]);
    assert!(activity.contains("2 → 3") && activity.contains("CPUUtilization 91.5"));
    let alarm = tags(&dom, "alarm");
    assert_eq!(attr(alarm[0], "data-state"), Some("ALARM"));
    assert!(row_of(&dom, alarm[0]).contains(">ALARM<"));
    assert!(dom.contains("eu-central-1: region eu-central-1 is not reachable"));
    // The service row, its CPU in words and numbers.
    let svc = tags(&dom, "service");
    assert_eq!(attr(svc[0], "data-healthy"), Some("3"));
    assert!(row_of(&dom, svc[0]).contains("91.5%"));
    assert!(
        dom.contains("/srv/shop/.haven/token"),
        "the token dialog names the file"
    );
}
