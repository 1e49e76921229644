//! The dashboard's drill runs: listed newest first from the state directory's `drills/`, each
//! run's reports served at `/drills/<id>/report.html` and `.json`, and nothing else of the
//! state directory reachable through an id. In headless Chromium, the page lists the runs
//! and a served report renders under its content security policy without a console message.

#![allow(clippy::unwrap_used)]

#[path = "../../haven-drill/tests/support/chromium.rs"]
mod chromium;

use std::net::SocketAddr;
use std::path::Path;

use haven_control::control::{Call, Reply};
use haven_control::paths::Paths;
use haven_drill::report::{Drill, LoadSummary, Measured, Report, SteadyState, VERSION, Verdict};
use haven_drill::{Scenario, store};
use haven_twin::dashboard::{Dashboard, serve};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A drill as little as the listing needs: scenario, target, verdict, RTO.
fn drill(scenario: Scenario, target: &str, passed: bool, rto_ms: u64) -> Drill {
    Drill {
        scenario,
        target: target.to_owned(),
        started_at_ms: 1_796_551_200_000,
        fault_ms: 5_000,
        heal_ms: None,
        end_ms: 20_000,
        load: LoadSummary::default(),
        steady_before: SteadyState::default(),
        steady_after: SteadyState::default(),
        measured: Measured {
            rto_ms: Some(rto_ms),
            ..Measured::default()
        },
        projected: Vec::new(),
        verdicts: vec![Verdict {
            check: haven_drill::report::Check::RtoTwin,
            subject: None,
            found: format!("{rto_ms} ms"),
            limit: "≤ 5m".to_owned(),
            passed,
        }],
        passed,
        sample_ms: 1000,
        timeline: Vec::new(),
        events: Vec::new(),
        alarms: Vec::new(),
        notifications: Vec::new(),
        notes: Vec::new(),
    }
}

fn report(id: &str, started_at: &str, drills: Vec<Drill>) -> Report {
    Report {
        version: VERSION,
        id: id.to_owned(),
        project: "hello".to_owned(),
        started_at: started_at.to_owned(),
        finished_at: started_at.to_owned(),
        passed: drills.iter().all(|d| d.passed),
        drills,
    }
}

/// A dashboard over `paths` in front of a supervisor with no region and no pipeline: drills
/// need nothing from it, the page only its status.
async fn dashboard(paths: Paths) -> (SocketAddr, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let handler = |call: Call| async move {
        match call.path.as_str() {
            "/status" => Reply::ok(json!({
                "project": "hello",
                "state_dir": "/srv/hello/.haven",
                "edge": {"url": "http://127.0.0.1:4000", "mode": "failover",
                         "serving_regions": []},
                "regions": [],
            })),
            p => Reply::not_found(format!("no route {p}")),
        }
    };
    tokio::spawn(serve(
        listener,
        Dashboard {
            project: "hello".to_owned(),
            regions: Vec::new(),
            paths,
            token: "secret-token".into(),
            handler,
        },
        stopped,
    ));
    (addr, stop)
}

/// One answer: status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// `method path` over a fresh connection, the path sent exactly as given.
async fn send(addr: SocketAddr, method: &str, path: &str) -> Answer {
    let raw = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        Answer {
            status: head[9..12].parse().unwrap(),
            head: head.to_owned(),
            body: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_runs_are_listed_newest_first_with_their_reports() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path());
    let older = report(
        "20261206-100000-task-loss",
        "2026-12-06T10:00:00Z",
        vec![drill(
            Scenario::TaskLoss,
            "task 3f2a1c in us-east-1",
            true,
            2_400,
        )],
    );
    let newer = report(
        "20261206-110000-all",
        "2026-12-06T11:00:00Z",
        vec![
            drill(Scenario::TaskLoss, "task 9b7e01 in us-west-2", true, 2_100),
            drill(
                Scenario::RegionLoss,
                "<script>x</script> us-east-1",
                false,
                250_000,
            ),
        ],
    );
    for r in [&older, &newer] {
        store::save(&paths, r).unwrap();
    }
    // The newest run's record is damaged: listed with why, not dropped.
    let damaged = paths.drill_run("20261206-120000-region-loss");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::write(damaged.join(store::REPORT_JSON), "{not json").unwrap();
    // Not a run: a name no id can have.
    std::fs::create_dir_all(paths.drills().join("not a run")).unwrap();

    let (addr, _stop) = dashboard(paths.clone()).await;
    let listing = send(addr, "GET", "/api/drills").await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    let runs = listing.json();
    let ids: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "20261206-120000-region-loss",
            "20261206-110000-all",
            "20261206-100000-task-loss"
        ]
    );
    assert!(
        runs[0]["error"].as_str().unwrap().contains("damaged"),
        "{}",
        runs[0]
    );
    assert_eq!(
        runs[1],
        json!({
            "id": "20261206-110000-all",
            "project": "hello",
            "started_at": "2026-12-06T11:00:00Z",
            "finished_at": "2026-12-06T11:00:00Z",
            "passed": false,
            "drills": [
                {"scenario": "task-loss", "target": "task 9b7e01 in us-west-2",
                 "passed": true, "rto_ms": 2100},
                {"scenario": "region-loss", "target": "<script>x</script> us-east-1",
                 "passed": false, "rto_ms": 250000},
            ],
            "report_html": "/drills/20261206-110000-all/report.html",
            "report_json": "/drills/20261206-110000-all/report.json",
        })
    );
    assert_eq!(runs[2]["passed"], true);
    assert_eq!(
        send(addr, "GET", "/drills").await.json(),
        runs,
        "/drills answers the listing too"
    );

    let page = send(addr, "GET", "/drills/20261206-110000-all/report.html").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "the report may run no script: {csp}"
    );
    assert_eq!(page.body, haven_drill::html::render(&newer));
    assert!(page.body.contains("&lt;script&gt;x&lt;/script&gt;"));

    let record = send(addr, "GET", "/drills/20261206-100000-task-loss/report.json").await;
    assert_eq!(record.status, 200);
    assert_eq!(record.header("content-type"), Some("application/json"));
    let back: Report = serde_json::from_str(&record.body).unwrap();
    assert_eq!(back, older);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_are_not_plain_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path());
    let run = report(
        "20261206-100000-task-loss",
        "2026-12-06T10:00:00Z",
        vec![drill(Scenario::TaskLoss, "task", true, 1_000)],
    );
    store::save(&paths, &run).unwrap();
    // What a climbing id would reach: the token beside `drills/`, and a file in the run.
    std::fs::write(paths.token(), "the-control-token").unwrap();
    std::fs::write(paths.drills().join("report.html"), "the-control-token").unwrap();
    let (addr, _stop) = dashboard(paths.clone()).await;
    for path in [
        "/drills/../token",
        "/drills/..%2Ftoken/report.html",
        "/drills/%2E%2E/report.html",
        "/drills/../report.html",
        "/drills/./report.html",
        "/drills//report.html",
        "/drills/20261206-100000-task-loss/../../token",
        "/drills/20261206-100000-task-loss/summary.md",
        "/drills/20261206-100000-task-loss/report.html/",
        "/drills/20261206-100000-task-loss",
        "/drills/a.b/report.html",
        "/drills/no-such-run/report.html",
    ] {
        let answer = send(addr, "GET", path).await;
        assert_eq!(answer.status, 404, "{path}: {}", answer.body);
        assert!(!answer.body.contains("the-control-token"), "{path}");
    }
    let post = send(
        addr,
        "POST",
        "/drills/20261206-100000-task-loss/report.html",
    )
    .await;
    assert_eq!(post.status, 405, "{}", post.body);
    assert_eq!(
        send(addr, "GET", "/drills/20261206-100000-task-loss/report.html")
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_drill_runs_is_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _stop) = dashboard(Paths::new(dir.path())).await;
    let listing = send(addr, "GET", "/api/drills").await;
    assert_eq!((listing.status, listing.json()), (200, json!([])));
}

/// The DOM Chromium builds from `url` (its timers run on virtual time) and the console lines
/// it logged.
fn dump_dom(work: &Path, url: &str) -> (String, Vec<String>) {
    let run = chromium::run_chromium(
        work,
        &[
            "--virtual-time-budget=3000".to_owned(),
            "--dump-dom".to_owned(),
            url.to_owned(),
        ],
    );
    (run.stdout, run.console)
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

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let i = tag.find(&needle)? + needle.len();
    Some(&tag[i..i + tag[i..].find('"')?])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_drill_runs_and_a_report_renders_under_its_policy() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::new(dir.path().join(".haven"));
    for r in [
        report(
            "20261206-100000-task-loss",
            "2026-12-06T10:00:00Z",
            vec![drill(Scenario::TaskLoss, "task 3f2a1c", true, 2_400)],
        ),
        report(
            "20261206-110000-all",
            "2026-12-06T11:00:00Z",
            vec![
                drill(Scenario::TaskLoss, "task 9b7e01", true, 2_100),
                drill(Scenario::RegionLoss, "<b>us-east-1</b>", false, 250_000),
            ],
        ),
    ] {
        store::save(&paths, &r).unwrap();
    }
    let (addr, _stop) = dashboard(paths).await;
    let work = dir.path().to_path_buf();
    let (dom, console) = tokio::task::spawn_blocking(move || {
        let page = dump_dom(&work, &format!("http://{addr}/"));
        let report = dump_dom(
            &work,
            &format!("http://{addr}/drills/20261206-110000-all/report.html"),
        );
        (page, report)
    })
    .await
    .unwrap();
    let (page, page_console) = dom;
    let (report, report_console) = console;
    assert!(page.contains("data-ready=\"1\""), "{page}");
    // Chromium's own `[DOM]` advice (the token dialog's password field outside a form) is a
    // hint, not an error the page made.
    let errors: Vec<&String> = page_console
        .iter()
        .filter(|l| !l.contains("] \"[DOM] "))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let runs: Vec<(&str, &str)> = tags(&page, "drill-run")
        .iter()
        .map(|t| {
            (
                attr(t, "data-run").unwrap(),
                attr(t, "data-passed").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        runs,
        [
            ("20261206-110000-all", "false"),
            ("20261206-100000-task-loss", "true")
        ]
    );
    let links: Vec<&str> = tags(&page, "drill-report")
        .iter()
        .map(|t| attr(t, "href").unwrap())
        .collect();
    assert_eq!(
        links,
        [
            "/drills/20261206-110000-all/report.html",
            "/drills/20261206-100000-task-loss/report.html"
        ]
    );
    // The target is an attribute's text, never markup.
    assert!(!page.contains("<b>us-east-1</b>"), "{page}");
    assert!(tags(&page, "drill-scenario").len() == 3);
    assert_eq!(attr(tags(&page, "error")[0], "hidden"), Some(""), "{page}");

    // A CSP that blocked the report's inline styles would log a violation here.
    assert!(report_console.is_empty(), "{report_console:?}");
    assert!(report.contains("<svg class=\"timeline\""), "{report}");
    assert!(report.contains("&lt;b&gt;us-east-1&lt;/b&gt;"));
}
