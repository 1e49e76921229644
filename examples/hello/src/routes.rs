//! The service's routes: what each path answers, and the label it is counted under in /metrics.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::Config;
use crate::http::{Request, Response};
use crate::metrics::{self, Metrics};

/// Caps keep one request from tying up a task for too long.
const WORK_CAP_MS: u64 = 10_000;
const SLEEP_CAP_MS: u64 = 60_000;

/// The `path` label a request is counted under: a fixed set, so clients probing random paths
/// cannot grow the number of series.
pub fn label(target: &str) -> &'static str {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match path {
        "/" => "/",
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/work" => "/work",
        "/sleep" => "/sleep",
        p if p.starts_with("/status/") => "/status",
        _ => "other",
    }
}

/// Answers one request.
pub fn handle(req: &Request, config: &Config, metrics: &Metrics) -> Response {
    let label = label(&req.target);
    if label == "other" {
        return Response::error(404);
    }
    if req.method != "GET" && req.method != "HEAD" {
        return Response::error(405).with_header("Allow", "GET, HEAD");
    }
    match label {
        "/" | "/health" if config.broken() => Response::text(500, "broken"),
        "/" => hello(req, config),
        "/health" if config.fail_health => Response::text(500, "unhealthy"),
        "/health" => Response::text(200, "ok"),
        "/metrics" => Response {
            status: 200,
            content_type: metrics::CONTENT_TYPE,
            headers: Vec::new(),
            body: metrics.render(&config.version).into_bytes(),
        },
        "/work" => with_ms(req, WORK_CAP_MS, |ms| {
            burn(Duration::from_millis(ms));
            format!("worked {ms} ms")
        }),
        "/sleep" => with_ms(req, SLEEP_CAP_MS, |ms| {
            std::thread::sleep(Duration::from_millis(ms));
            format!("slept {ms} ms")
        }),
        _ => status(req.path()),
    }
}

/// `GET /`: who answered, as a line of text or as JSON.
fn hello(req: &Request, c: &Config) -> Response {
    let wants_json = req.query("format") == Some("json")
        || req
            .header("accept")
            .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        let fields = [
            ("service", &c.service),
            ("version", &c.version),
            ("region", &c.region),
            ("az", &c.az),
            ("task", &c.task),
        ];
        let fields: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("\"{k}\":{}", json_string(v)))
            .collect();
        return Response::json(200, format!("{{{}}}", fields.join(",")));
    }
    let line = format!(
        "hello from {} {} in {}/{} task {}",
        c.service, c.version, c.region, c.az, c.task
    );
    Response::text(200, line)
}

/// Runs `f` with the `ms` query parameter capped at `cap`, or answers 400 without one.
fn with_ms(req: &Request, cap: u64, f: impl FnOnce(u64) -> String) -> Response {
    match req.query("ms").map(str::parse::<u64>) {
        Some(Ok(ms)) => Response::text(200, f(ms.min(cap))),
        _ => Response::text(400, "expected ?ms=N, N a whole number of milliseconds"),
    }
}

/// Keeps a CPU busy for `duration`, so autoscaling tests can raise CPU utilisation.
fn burn(duration: Duration) {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// `GET /status/{code}`: answers with that code, for 5xx and error-rate tests.
fn status(path: &str) -> Response {
    match path.strip_prefix("/status/").map(str::parse::<u16>) {
        Some(Ok(code @ 200..=599)) => Response::text(code, format!("status {code}")),
        _ => Response::text(400, "expected /status/{code}, code in 200..=599"),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // Writing to a String cannot fail.
            c if u32::from(c) < 0x20 => _ = write!(out, "\\u{:04x}", u32::from(c)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_head;

    fn config() -> Config {
        Config {
            service: "web".into(),
            version: crate::VERSION.into(),
            region: "eu-west-1".into(),
            az: "eu-west-1a".into(),
            task: "-".into(),
            fail_health: false,
            break_file: None,
        }
    }

    fn call(config: &Config, head: &str) -> (u16, String) {
        let req = parse_head(head.as_bytes()).unwrap();
        let resp = handle(&req, config, &Metrics::new());
        (resp.status, String::from_utf8(resp.body).unwrap())
    }

    fn get(path: &str) -> (u16, String) {
        call(&config(), &format!("GET {path} HTTP/1.1\r\n\r\n"))
    }

    #[test]
    fn root_says_who_answered() {
        let line = format!(
            "hello from web {} in eu-west-1/eu-west-1a task -\n",
            crate::VERSION
        );
        assert_eq!(get("/"), (200, line));
    }

    #[test]
    fn root_answers_json_on_request() {
        let json = format!(
            "{{\"service\":\"web\",\"version\":\"{}\",\"region\":\"eu-west-1\",\
             \"az\":\"eu-west-1a\",\"task\":\"-\"}}\n",
            crate::VERSION
        );
        assert_eq!(get("/?format=json"), (200, json.clone()));
        let head = "GET / HTTP/1.1\r\nAccept: application/json\r\n\r\n";
        assert_eq!(call(&config(), head), (200, json));
    }

    #[test]
    fn health_can_be_made_to_fail() {
        assert_eq!(get("/health"), (200, "ok\n".into()));
        let failing = Config {
            fail_health: true,
            ..config()
        };
        assert_eq!(
            call(&failing, "GET /health HTTP/1.1\r\n\r\n"),
            (500, "unhealthy\n".into())
        );
    }

    #[test]
    fn the_root_and_health_break_while_the_break_file_exists() {
        let dir = std::env::temp_dir().join(format!("hello-break-{}", std::process::id()));
        let breaking = Config {
            break_file: Some(dir.clone()),
            ..config()
        };
        assert_eq!(call(&breaking, "GET / HTTP/1.1\r\n\r\n").0, 200);
        std::fs::create_dir_all(&dir).unwrap();
        for head in ["GET / HTTP/1.1\r\n\r\n", "GET /health HTTP/1.1\r\n\r\n"] {
            assert_eq!(call(&breaking, head), (500, "broken\n".into()));
        }
        assert_eq!(call(&breaking, "GET /sleep?ms=1 HTTP/1.1\r\n\r\n").0, 200);
        std::fs::remove_dir(&dir).unwrap();
        assert_eq!(call(&breaking, "GET /health HTTP/1.1\r\n\r\n").0, 200);
    }

    #[test]
    fn work_and_sleep_take_capped_milliseconds() {
        assert_eq!(get("/work?ms=0"), (200, "worked 0 ms\n".into()));
        assert_eq!(get("/sleep?ms=1"), (200, "slept 1 ms\n".into()));
        assert_eq!(get("/work").0, 400);
        assert_eq!(get("/sleep?ms=-1").0, 400);
        let req = parse_head(b"GET /work?ms=99999 HTTP/1.1\r\n\r\n").unwrap();
        let resp = with_ms(&req, WORK_CAP_MS, |ms| ms.to_string());
        assert_eq!(resp.body, b"10000\n");
    }

    #[test]
    fn status_answers_the_code_asked_for() {
        assert_eq!(get("/status/503"), (503, "status 503\n".into()));
        assert_eq!(get("/status/200").0, 200);
        assert_eq!(get("/status/101").0, 400);
        assert_eq!(get("/status/600").0, 400);
        assert_eq!(get("/status/abc").0, 400);
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        assert_eq!(get("/nope").0, 404);
        assert_eq!(get("/health/").0, 404);
        assert_eq!(call(&config(), "POST /health HTTP/1.1\r\n\r\n").0, 405);
        assert_eq!(call(&config(), "HEAD /health HTTP/1.1\r\n\r\n").0, 200);
    }

    #[test]
    fn metrics_route_serves_the_text_format() {
        let req = parse_head(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let resp = handle(&req, &config(), &Metrics::new());
        assert_eq!(resp.content_type, metrics::CONTENT_TYPE);
        let body = String::from_utf8(resp.body).unwrap();
        let info = format!("hello_build_info{{version=\"{}\"}} 1", crate::VERSION);
        assert!(body.contains(&info));
    }

    #[test]
    fn labels_are_a_fixed_set() {
        assert_eq!(label("/?format=json"), "/");
        assert_eq!(label("/work?ms=5"), "/work");
        assert_eq!(label("/status/503"), "/status");
        assert_eq!(label("/random/thing"), "other");
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), r#""a\"b\\c\u000a""#);
    }
}
