//! A harness for tests that run the twin: a project in a temp dir, `haven up` in the
//! background, status polled with deadlines, plain HTTP on loopback.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod sinks;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub fn haven_bin() -> &'static str {
    env!("CARGO_BIN_EXE_haven")
}

/// The example service, built once per test binary (std-only: a few seconds).
pub fn hello_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let target = root.join("target").join("hello-for-tests");
        let status = Command::new("cargo")
            .args([
                "build",
                "--release",
                "--offline",
                "--quiet",
                "--manifest-path",
            ])
            .arg(root.join("examples/hello/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building examples/hello failed");
        target.join("release/hello")
    })
}

pub struct Twin {
    pub dir: tempfile::TempDir,
    pub up: Option<Child>,
}

/// Fails (never skips) when a tool a test needs is missing, naming it and what needs it.
pub fn require_tools(tools: &[&str], needed_by: &str) {
    for tool in tools {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "`{tool}` is not installed: {needed_by} need it (scripts/test installs it from Debian's packages)"
        );
    }
}

/// Polls `f` until it returns `Some`, or panics after `secs` seconds with `what`.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Twin {
    /// A fresh project from `haven init`, with free ports, fast local times, and a build of the
    /// example already in place; `edit` changes the spec text further.
    pub fn project(edit: impl FnOnce(String) -> String) -> Self {
        let twin = Self::unbuilt(edit);
        let build = twin.path().join(".haven/builds/test-build/target/release");
        std::fs::create_dir_all(&build).unwrap();
        std::fs::copy(hello_binary(), build.join("hello")).unwrap();
        std::fs::write(twin.path().join(".haven/builds/current"), "test-build\n").unwrap();
        twin
    }

    /// Like [`Twin::project`], without a build: `haven up` makes one from the buildspec.
    pub fn unbuilt(edit: impl FnOnce(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(haven_bin())
            .args(["init", "-q"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let spec = dir.path().join("haven.toml");
        let text = std::fs::read_to_string(&spec).unwrap();
        let text = text
            .replace("edge_port = 4000 ", "edge_port = 0 ")
            .replace("alb_port_base = 4001 ", "alb_port_base = 0 ")
            .replace("[local]                               # the local twin: fast times so drills take seconds",
                "[local]\nderegistration_delay = \"1s\"\nstop_timeout = \"2s\"\ndashboard_port = 0")
            // Tasks as processes unless a test asks for containers (tests/containers.rs):
            // the fixture's build is a binary, not an image built from the Dockerfile.
            .replace("runtime = \"auto\" ", "runtime = \"process\" ");
        std::fs::write(&spec, edit(text)).unwrap();
        Self { dir, up: None }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn haven(&self, args: &[&str]) -> Output {
        Command::new(haven_bin())
            .args(args)
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    }

    /// Starts `haven up` in the background, its output in `up.log`, without waiting.
    pub fn start(&mut self) {
        let log = std::fs::File::create(self.path().join("up.log")).unwrap();
        let child = Command::new(haven_bin())
            .arg("up")
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.up = Some(child);
    }

    /// Starts `haven up` and waits until it reports ready.
    pub fn up(&mut self) {
        self.start();
        eventually(90, "haven up to be ready", || {
            let log = std::fs::read_to_string(self.path().join("up.log")).unwrap_or_default();
            if let Some(Ok(Some(status))) = self.up.as_mut().map(Child::try_wait) {
                // The twin's own processes say why they stopped in their logs.
                let mut logs = String::new();
                if let Ok(dir) = std::fs::read_dir(self.path().join(".haven/logs")) {
                    for e in dir.flatten() {
                        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                        let tail: Vec<&str> = text.lines().rev().take(15).collect();
                        logs.push_str(&format!("\n--- {}\n", e.path().display()));
                        for l in tail.iter().rev() {
                            logs.push_str(l);
                            logs.push('\n');
                        }
                    }
                }
                panic!("haven up exited with {status}:\n{log}{logs}");
            }
            log.contains("Ready").then_some(())
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("up.log")).unwrap_or_default()
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self.haven(&["status", "--json"]);
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Polls status until `pred` holds.
    pub fn wait_status(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        eventually(secs, what, || {
            let out = self.haven(&["status", "--json"]);
            if !out.status.success() {
                return None;
            }
            let s: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            pred(&s).then_some(s)
        })
    }

    pub fn edge_url(&self) -> String {
        self.status()["edge"]["url"].as_str().unwrap().to_owned()
    }

    /// The production ALB twin's URL in `region`.
    pub fn alb_url(&self, region_name: &str) -> String {
        region(&self.status(), region_name)["alb_url"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Every pid the twin has recorded: supervisor, edge, regions and tasks.
    pub fn recorded_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        let s = self.status();
        pids.push(s["supervisor_pid"].as_u64().unwrap() as u32);
        if let Some(p) = s["edge"]["pid"].as_u64() {
            pids.push(p as u32);
        }
        for r in s["regions"].as_array().unwrap() {
            if let Some(p) = r["pid"].as_u64() {
                pids.push(p as u32);
            }
            for svc in r["services"].as_array().unwrap() {
                for t in svc["tasks"].as_array().unwrap() {
                    if let Some(p) = t["pid"].as_u64() {
                        pids.push(p as u32);
                    }
                }
            }
        }
        pids
    }

    /// SIGKILLs `haven up` (its supervisor), as a crash would, then runs the next command a
    /// user would, `haven down`, which must succeed; its output.
    pub fn kill_up_then_down(&mut self) -> Output {
        let supervisor = self.status()["supervisor_pid"].as_u64().unwrap();
        let killed = Command::new("kill")
            .args(["-9", &supervisor.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        if let Some(mut up) = self.up.take() {
            up.wait().unwrap();
        }
        let out = self.haven(&["down"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn down(&mut self) {
        let out = self.haven(&["down"]);
        assert!(
            out.status.success(),
            "down failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(mut up) = self.up.take() {
            let status = up.wait().unwrap();
            assert!(
                status.success(),
                "haven up exited with {status}:\n{}",
                self.log()
            );
        }
    }
}

impl Drop for Twin {
    fn drop(&mut self) {
        if let Some(mut up) = self.up.take() {
            // Best effort on a failed test: stop the twin so no process outlives it.
            let _down = Command::new(haven_bin())
                .arg("down")
                .current_dir(self.path())
                .output();
            up.kill().ok();
            up.wait().ok();
        }
    }
}

/// `haven ARGS` in `dir` with `stdin` as its standard input.
pub fn haven_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(haven_bin())
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// True while a process with this pid exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

pub fn assert_all_gone(pids: &[u32]) {
    eventually(20, "every recorded process to exit", || {
        pids.iter().all(|p| !alive(*p)).then_some(())
    });
}

/// A plain HTTP/1.1 GET with `Connection: close`: (status, body).
pub fn get(url: &str) -> std::io::Result<(u16, String)> {
    request(
        url,
        &format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            path_of(url)
        ),
    )
}

/// GETs `url` `each` times from each of `clients` threads at once; the status codes, in no
/// particular order (an error is a panic).
pub fn burst(url: &str, clients: usize, each: usize) -> Vec<u16> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|_| scope.spawn(|| (0..each).map(|_| get(url).unwrap().0).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

pub fn path_of(url: &str) -> &str {
    let rest = url.trim_start_matches("http://");
    rest.find('/').map_or("/", |i| &rest[i..])
}

pub fn host_of(url: &str) -> &str {
    let rest = url.trim_start_matches("http://");
    rest.split('/').next().unwrap()
}

/// Sends raw request bytes and reads the whole answer.
pub fn request(url: &str, raw: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(host_of(url))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(raw.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status line in {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Sends `count` GETs from `threads` threads, returning (ok, failed) counts and the failures.
pub fn load(url: &str, threads: usize, stop: &std::sync::atomic::AtomicBool) -> (u64, Vec<String>) {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let (mut ok, mut failed) = (0u64, Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match get(url) {
                            Ok((200, _)) => ok += 1,
                            Ok((code, body)) => failed.push(format!("{code}: {body}")),
                            Err(e) => failed.push(e.to_string()),
                        }
                    }
                    (ok, failed)
                })
            })
            .collect();
        handles
            .into_iter()
            .fold((0, Vec::new()), |(ok, mut failed), h| {
                let (o, f) = h.join().unwrap();
                failed.extend(f);
                (ok + o, failed)
            })
    })
}

/// Runs `during` while `threads` threads GET `url` in a loop: `during`'s result, the number of
/// 200 answers, and the failures. The load stops however `during` ends: a failed assertion in
/// it must fail the test, not leave the load threads running and the test hanging.
pub fn under_load<R>(
    url: &str,
    threads: usize,
    during: impl FnOnce() -> R,
) -> (R, u64, Vec<String>) {
    struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let load = scope.spawn(|| load(url, threads, &stop));
        let result = {
            let _stop = StopOnDrop(&stop);
            during()
        };
        let (ok, failed) = load.join().unwrap();
        (result, ok, failed)
    })
}

/// The example service with its version set to `version`, built once per version per test binary.
pub fn hello_version(version: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap();
    if let Some((_, p)) = built.iter().find(|(v, _)| v == version) {
        return p.clone();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let work = root.join("target").join(format!("hello-{version}-src"));
    // A previous run's sources, if any, are rewritten below.
    std::fs::remove_dir_all(&work).ok();
    std::fs::create_dir_all(work.join("src")).unwrap();
    for f in ["Cargo.toml", "Cargo.lock"] {
        std::fs::copy(root.join("examples/hello").join(f), work.join(f)).unwrap();
    }
    for entry in std::fs::read_dir(root.join("examples/hello/src")).unwrap() {
        let entry = entry.unwrap();
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let text = text.replace(
            "const VERSION: &str = \"1.0.0\";",
            &format!("const VERSION: &str = \"{version}\";"),
        );
        std::fs::write(work.join("src").join(entry.file_name()), text).unwrap();
    }
    let target = root
        .join("target")
        .join(format!("hello-{version}-for-tests"));
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--offline",
            "--quiet",
            "--manifest-path",
        ])
        .arg(work.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success());
    let bin = target.join("release/hello");
    built.push((version.to_owned(), bin.clone()));
    bin
}

impl Twin {
    /// Pushes an image tagged `tag` whose binary is `bin`, with `env` baked in, to the primary's
    /// registry; returns its digest. The current build is left as it was.
    pub fn add_image(&self, tag: &str, bin: &Path, env: &[&str]) -> String {
        let build = format!("{tag}-build");
        let dir = self
            .path()
            .join(".haven/builds")
            .join(&build)
            .join("target/release");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(bin, dir.join("hello")).unwrap();
        let current = self.path().join(".haven/builds/current");
        let previous = std::fs::read_to_string(&current).ok();
        std::fs::write(&current, format!("{build}\n")).unwrap();
        let mut args = vec!["image", "build", "--tag", tag];
        for e in env {
            args.extend(["--env", e]);
        }
        let out = self.haven(&args);
        match previous {
            Some(p) => std::fs::write(&current, p).unwrap(),
            None => std::fs::remove_file(&current).unwrap(),
        }
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// Outcome of a keep-alive load run.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub non_2xx: Vec<String>,
    pub connection_errors: Vec<String>,
    /// Response bodies seen, counted (e.g. to see versions switch).
    pub bodies: std::collections::BTreeMap<String, u64>,
}

/// Keep-alive clients: each thread keeps one connection and sends GETs on it until `stop`.
/// `classify` maps a body to the key counted in `bodies`.
pub fn keepalive_load(
    url: &str,
    threads: usize,
    stop: &std::sync::atomic::AtomicBool,
    classify: fn(&str) -> String,
) -> LoadReport {
    use std::io::BufRead;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut r = LoadReport::default();
                    let mut conn: Option<std::io::BufReader<TcpStream>> = None;
                    let req = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", path_of(url));
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let c = match conn.as_mut() {
                            Some(c) => c,
                            None => match TcpStream::connect(host_of(url)) {
                                Ok(s) => {
                                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                                    conn.insert(std::io::BufReader::new(s))
                                }
                                Err(e) => {
                                    r.connection_errors.push(format!("connect: {e}"));
                                    continue;
                                }
                            },
                        };
                        let result = (|| -> std::io::Result<(u16, String, bool)> {
                            c.get_mut().write_all(req.as_bytes())?;
                            let mut line = String::new();
                            if c.read_line(&mut line)? == 0 {
                                return Err(std::io::Error::other(
                                    "connection closed before a response",
                                ));
                            }
                            let code: u16 = line
                                .split(' ')
                                .nth(1)
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(0);
                            let (mut len, mut close) = (0usize, false);
                            loop {
                                let mut h = String::new();
                                c.read_line(&mut h)?;
                                let h = h.trim_end();
                                if h.is_empty() {
                                    break;
                                }
                                let lower = h.to_ascii_lowercase();
                                if let Some(v) = lower.strip_prefix("content-length:") {
                                    len = v.trim().parse().unwrap_or(0);
                                }
                                if lower == "connection: close" {
                                    close = true;
                                }
                            }
                            let mut body = vec![0; len];
                            c.read_exact(&mut body)?;
                            Ok((code, String::from_utf8_lossy(&body).into_owned(), close))
                        })();
                        match result {
                            Ok((code, body, close)) => {
                                if (200..300).contains(&code) {
                                    r.ok += 1;
                                    *r.bodies.entry(classify(&body)).or_default() += 1;
                                } else {
                                    r.non_2xx.push(format!("{code}: {body}"));
                                }
                                if close {
                                    conn = None;
                                }
                            }
                            Err(e) => {
                                r.connection_errors.push(e.to_string());
                                conn = None;
                            }
                        }
                    }
                    r
                })
            })
            .collect();
        handles
            .into_iter()
            .fold(LoadReport::default(), |mut acc, h| {
                let r = h.join().unwrap();
                acc.ok += r.ok;
                acc.non_2xx.extend(r.non_2xx);
                acc.connection_errors.extend(r.connection_errors);
                for (k, v) in r.bodies {
                    *acc.bodies.entry(k).or_default() += v;
                }
                acc
            })
    })
}

/// The version in a hello response body.
pub fn version_of(body: &str) -> String {
    body.split_whitespace().nth(3).unwrap_or("?").to_owned()
}

/// A region's entry in `haven status --json`.
pub fn region<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()
}

/// A region's production service in `haven status --json`.
pub fn production(r: &serde_json::Value) -> &serde_json::Value {
    r["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["environment"] == "production")
        .unwrap()
}

/// Runs git in `dir` with a fixed identity; (success, stdout + stderr).
pub fn git(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs git in `dir`, which must succeed; its output.
pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, text) = git(dir, args);
    assert!(ok, "git {args:?}: {text}");
    text
}

/// Clones the twin's source repository (`haven source url`) into `clone` in the project.
pub fn clone_source(twin: &Twin) -> PathBuf {
    let out = twin.haven(&["source", "url"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let clone = twin.path().join("clone");
    git_ok(
        twin.path(),
        &["clone", "--quiet", &url, clone.to_str().unwrap()],
    );
    clone
}
