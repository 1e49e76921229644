//! Integration tests: run the built `hello` binary on a free port and talk HTTP to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(10);
/// Pause between polls; every wait below is a poll against a deadline.
const POLL: Duration = Duration::from_millis(5);

/// A running `hello`, killed when dropped.
struct Hello {
    child: Child,
    addr: SocketAddr,
    /// The startup line, `hello VERSION listening on ADDR`.
    banner: String,
    stdout: Receiver<String>,
}

impl Hello {
    fn command(env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hello"));
        for name in [
            "HAVEN_SERVICE",
            "HAVEN_REGION",
            "HAVEN_AZ",
            "HAVEN_TASK_ID",
            "HELLO_VERSION",
            "HELLO_BIND",
            "HELLO_FAIL_HEALTH",
            "HELLO_CRASH_ON_START",
        ] {
            cmd.env_remove(name);
        }
        // Port 0: the kernel picks a free port, which the startup line reports.
        cmd.env("PORT", "0").envs(env.iter().copied());
        cmd
    }

    fn start(env: &[(&str, &str)]) -> Hello {
        let mut child = Self::command(env).stdout(Stdio::piped()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, stdout) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let banner = stdout.recv_timeout(DEADLINE).expect("no startup line");
        let (_, addr) = banner
            .split_once(" listening on ")
            .expect("unexpected startup line");
        let addr = addr.parse().unwrap();
        Hello {
            child,
            addr,
            banner,
            stdout,
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream
    }

    /// Sends one request with `Connection: close` and reads the answer.
    fn get(&self, target: &str) -> Reply {
        self.send(&format!(
            "GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        ))
    }

    fn send(&self, raw: &str) -> Reply {
        let mut stream = self.connect();
        stream.write_all(raw.as_bytes()).unwrap();
        read_reply(&mut BufReader::new(stream), raw.starts_with("HEAD"))
    }

    /// Waits for the process to exit.
    fn wait(&mut self) -> ExitStatus {
        wait_with_deadline(&mut self.child)
    }

    /// Waits for a stdout line starting with `prefix`, skipping others.
    fn wait_logged(&self, prefix: &str) -> String {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            let line = self.stdout.recv_timeout(left).expect("line never logged");
            if line.starts_with(prefix) {
                return line;
            }
        }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_deadline(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < DEADLINE, "process did not exit");
        thread::sleep(POLL);
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.as_str())
    }
}

/// Reads one Content-Length framed response.
fn read_reply(reader: &mut BufReader<TcpStream>, head_only: bool) -> Reply {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .expect("no status line")
        .parse()
        .unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: String::new(),
    };
    let length = reply
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    if !head_only {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        reply.body = String::from_utf8(body).unwrap();
    }
    reply
}

/// Whether the server closed `reader`'s connection (EOF, not a timeout).
fn closed(reader: &mut BufReader<TcpStream>) -> bool {
    let mut byte = [0];
    matches!(reader.read(&mut byte), Ok(0))
}

/// Polls `/metrics` until the in-flight gauge reaches `n`.
fn wait_in_flight(hello: &Hello, n: u64) {
    let start = Instant::now();
    loop {
        let metrics = hello.get("/metrics").body;
        let line = metrics
            .lines()
            .find(|l| l.starts_with("hello_in_flight_requests "));
        let value: u64 = line.unwrap().rsplit(' ').next().unwrap().parse().unwrap();
        if value >= n {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "in-flight gauge never reached {n}"
        );
        thread::sleep(POLL);
    }
}

#[test]
fn routes_answer_as_documented() {
    let hello = Hello::start(&[
        ("HAVEN_SERVICE", "web"),
        ("HAVEN_REGION", "eu-west-1"),
        ("HAVEN_AZ", "eu-west-1a"),
        ("HELLO_VERSION", "2.5.0-test"),
    ]);

    let root = hello.get("/");
    assert_eq!(root.status, 200);
    assert_eq!(
        root.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        root.body,
        "hello from web 2.5.0-test in eu-west-1/eu-west-1a task -\n"
    );

    let json = hello.get("/?format=json");
    assert_eq!(json.header("content-type"), Some("application/json"));
    let expected = r#"{"service":"web","version":"2.5.0-test","region":"eu-west-1","az":"eu-west-1a","task":"-"}"#;
    assert_eq!(json.body.trim_end(), expected);
    let accept =
        hello.send("GET / HTTP/1.1\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    assert_eq!(accept.body.trim_end(), expected);

    let head = hello.send("HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n");
    let length = root.body.len().to_string();
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some(&*length))
    );

    assert_eq!(
        (hello.get("/health").status, &*hello.get("/health").body),
        (200, "ok\n")
    );

    let started = Instant::now();
    let work = hello.get("/work?ms=50");
    assert_eq!((work.status, &*work.body), (200, "worked 50 ms\n"));
    assert!(started.elapsed() >= Duration::from_millis(50));

    let started = Instant::now();
    assert_eq!(hello.get("/sleep?ms=50").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(50));

    assert_eq!(hello.get("/status/503").status, 503);
    assert_eq!(hello.get("/status/204").status, 204);
    assert_eq!(hello.get("/status/100").status, 400);
    assert_eq!(hello.get("/nope").status, 404);

    let metrics = hello.get("/metrics");
    assert_eq!(
        metrics.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    for line in [
        r#"hello_requests_total{path="/",code="200"} 4"#,
        r#"hello_requests_total{path="/status",code="503"} 1"#,
        r#"hello_requests_total{path="other",code="404"} 1"#,
        "# TYPE hello_in_flight_requests gauge",
        "hello_in_flight_requests 1",
        r#"hello_build_info{version="2.5.0-test"} 1"#,
    ] {
        assert!(
            metrics.body.lines().any(|l| l == line),
            "{line} missing:\n{}",
            metrics.body
        );
    }
    assert!(metrics.body.contains("\nhello_uptime_seconds "));

    assert!(hello.wait_logged("GET /status/503 503 ").ends_with("ms"));
}

#[test]
fn default_version_is_the_one_in_the_startup_line() {
    let hello = Hello::start(&[("HAVEN_TASK_ID", "t-1")]);
    let body = hello.get("/").body;
    let version = body.split(' ').nth(3).unwrap();
    assert_eq!(body, format!("hello from - {version} in -/- task t-1\n"));
    assert_eq!(
        hello.banner,
        format!("hello {version} listening on {}", hello.addr)
    );
    assert_eq!(hello.addr.ip().to_string(), "127.0.0.1");
}

#[test]
fn keep_alive_and_pipelining() {
    let hello = Hello::start(&[]);
    let mut stream = hello.connect();
    // Two pipelined requests, the first with a body that must be skipped.
    stream
        .write_all(
            b"POST /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /health HTTP/1.1\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let first = read_reply(&mut reader, false);
    assert_eq!(
        (first.status, first.header("allow")),
        (405, Some("GET, HEAD"))
    );
    let second = read_reply(&mut reader, false);
    assert_eq!(
        (second.status, second.header("connection")),
        (200, Some("keep-alive"))
    );

    stream
        .write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let last = read_reply(&mut reader, false);
    assert_eq!(
        (last.status, last.header("connection")),
        (200, Some("close"))
    );
    assert!(closed(&mut reader));

    // HTTP/1.0 closes unless asked to keep the connection.
    let mut stream = hello.connect();
    stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    assert_eq!(
        read_reply(&mut reader, false).header("connection"),
        Some("close")
    );
    assert!(closed(&mut reader));

    let mut stream = hello.connect();
    stream
        .write_all(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    assert_eq!(
        read_reply(&mut reader, false).header("connection"),
        Some("keep-alive")
    );
    stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_reply(&mut reader, false).status, 200);
}

#[test]
fn unframeable_requests_are_refused() {
    let hello = Hello::start(&[]);
    let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    let reply = hello.send(chunked);
    assert_eq!(
        (reply.status, reply.header("connection")),
        (411, Some("close"))
    );

    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(17 * 1024));
    assert_eq!(hello.send(&huge).status, 431);
    assert_eq!(hello.send("GET / HTTP/2.0\r\n\r\n").status, 505);
    assert_eq!(hello.send("nonsense\r\n\r\n").status, 400);
}

#[test]
fn failing_health_check() {
    let hello = Hello::start(&[("HELLO_FAIL_HEALTH", "1")]);
    let reply = hello.get("/health");
    assert_eq!((reply.status, &*reply.body), (500, "unhealthy\n"));
    assert_eq!(hello.get("/").status, 200);
}

#[test]
fn crash_on_start() {
    let mut child = Hello::command(&[("HELLO_CRASH_ON_START", "1")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_deadline(&mut child);
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(
        stderr,
        "hello: crashing on start as HELLO_CRASH_ON_START=1 asks\n"
    );
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    let mut hello = Hello::start(&[]);

    // An idle keep-alive connection, between requests when SIGTERM arrives.
    let mut idle = hello.connect();
    idle.write_all(b"GET /health HTTP/1.1\r\n\r\n").unwrap();
    let mut idle = BufReader::new(idle);
    assert_eq!(read_reply(&mut idle, false).status, 200);

    // A request in flight when SIGTERM arrives.
    let mut busy = hello.connect();
    busy.write_all(b"GET /sleep?ms=500 HTTP/1.1\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let in_flight = thread::spawn(move || read_reply(&mut BufReader::new(busy), false));
    wait_in_flight(&hello, 2); // the sleep, plus the /metrics request asking

    let pid = hello.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );

    // New connections are refused from now on.
    let start = Instant::now();
    while TcpStream::connect(hello.addr).is_ok() {
        assert!(start.elapsed() < DEADLINE, "still accepting after SIGTERM");
        thread::sleep(POLL);
    }
    // The idle connection is closed well before its 5 s idle timeout.
    idle.get_ref()
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    assert!(closed(&mut idle), "idle connection not closed");

    let reply = in_flight.join().unwrap();
    assert_eq!((reply.status, &*reply.body), (200, "slept 500 ms\n"));
    assert_eq!(reply.header("connection"), Some("close"));
    assert!(started.elapsed() >= Duration::from_millis(500));

    let status = hello.wait();
    assert!(status.success(), "exited with {status}");
    // The process has exited, so this reads its stdout to the end.
    let logged: Vec<String> = hello.stdout.iter().collect();
    assert!(
        logged
            .iter()
            .any(|l| l.starts_with("GET /sleep?ms=500 200 ")),
        "{logged:?}"
    );
    assert_eq!(logged.last().map(String::as_str), Some("hello: stopped"));
}
