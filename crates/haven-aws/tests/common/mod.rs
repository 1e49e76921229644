//! The moto harness: a moto server on a free loopback port for each test (killed on drop),
//! clients that talk to it with dummy keys, specs in temp dirs, and `aws_facts.py`, which reads
//! what was created through boto3 and prints JSON.
//!
//! moto and boto3 come from the project's venv (`scripts/test` creates `.venv`), or from PATH;
//! a test fails, rather than skips, when they are missing.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haven_aws::client::StaticKeys;
use haven_aws::{Aws, Bundle, ClientOptions, Event, Method, Options};

/// A program from the venv, else from PATH; panics with how to install it.
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin");
    let candidate = venv.join(name);
    if candidate.is_file() {
        return candidate;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let c = dir.join(name);
            if c.is_file() {
                return c;
            }
        }
    }
    panic!(
        "`{name}` is not installed: the AWS tests need moto and boto3 from the project's venv. \
         Run scripts/test (it creates .venv from scripts/requirements-test.txt), or \
         `python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-test.txt`"
    );
}

/// A moto server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    pub url: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Self {
        let bin = venv_bin("moto_server");
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        // Try a few free ports: another process may take the one we found before moto binds it.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let out = std::fs::File::create(&log).unwrap();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut moto = Self {
                child,
                url: format!("http://127.0.0.1:{port}"),
                log: log.clone(),
                _dir: tempfile::tempdir().unwrap(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // exited: probably the port; try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    moto._dir = dir;
                    return moto;
                }
                assert!(
                    Instant::now() < deadline,
                    "moto did not answer within 30 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!(
            "moto would not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Clients for this server.
    pub fn options(&self) -> ClientOptions {
        client_options(&self.url)
    }

    pub async fn aws(&self) -> Aws {
        Aws::load(&self.options(), "us-east-1").await
    }

    /// What exists, through boto3 (see aws_facts.py).
    pub fn inspect(&self, regions: &[&str]) -> serde_json::Value {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws_facts.py");
        let out = Command::new(venv_bin("python3"))
            .arg(&script)
            .arg(&self.url)
            .args(regions)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws_facts.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Runs a boto3 snippet with `endpoint` defined; returns its stdout.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json\nendpoint = {:?}\n\
             def client(s, r='us-east-1'):\n    \
             return boto3.client(s, endpoint_url=endpoint, region_name=r, \
             aws_access_key_id='testing', aws_secret_access_key='testing')\n",
            self.url
        );
        let out = Command::new(venv_bin("python3"))
            .arg("-c")
            .arg(format!("{prelude}{code}"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The requests, and the first lines of the last traceback (they name the cause).
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let start = lines
                .iter()
                .rposition(|l| l.starts_with("Traceback"))
                .unwrap_or(lines.len().saturating_sub(40));
            eprintln!("--- moto's log, from its last traceback:");
            for line in lines
                .iter()
                .skip(start)
                .take(60)
                .filter(|l| !l.trim_start().starts_with('^'))
            {
                eprintln!("{line}");
            }
            if let Some(last) = lines.last() {
                eprintln!("...\n{last}");
            }
            eprintln!("--- moto's last requests:");
            let requests: Vec<&&str> = lines.iter().filter(|l| l.contains("\" ")).collect();
            for line in requests.iter().rev().take(15).rev() {
                eprintln!("{line}");
            }
        }
        // The server is ours; if it already exited, kill fails and wait still reaps it.
        if let Err(e) = self.child.kill() {
            eprintln!("moto: kill: {e}");
        }
        if let Err(e) = self.child.wait() {
            eprintln!("moto: wait: {e}");
        }
    }
}

/// Clients for an endpoint, with dummy keys and few retries (moto answers at once).
pub fn client_options(url: &str) -> ClientOptions {
    ClientOptions {
        endpoint_url: Some(url.to_owned()),
        static_keys: Some(StaticKeys {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        }),
        max_attempts: 2,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

/// A project: the default fixture's spec (edited by `edit`) and a buildspec, in a temp dir.
pub struct Project {
    pub dir: tempfile::TempDir,
}

/// The default architecture (two regions), with the desired task count written out so that a
/// test can change it.
pub const BASE_SPEC: &str = r#"[project]
name = "hello"

[service]
command = ["target/release/hello"]
port = 8080
desired = 2

[notifications.topics.alerts]
email = ["ops@example.com"]
"#;

impl Project {
    pub fn new(edit: impl FnOnce(String) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../haven-cfn/tests/fixtures/default");
        std::fs::copy(
            fixtures.join("buildspec.yml"),
            dir.path().join("buildspec.yml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("haven.toml"), edit(BASE_SPEC.to_owned())).unwrap();
        Self { dir }
    }

    pub fn spec_path(&self) -> PathBuf {
        self.dir.path().join("haven.toml")
    }

    pub fn edit(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.spec_path()).unwrap();
        std::fs::write(self.spec_path(), edit(text)).unwrap();
    }

    pub fn spec(&self) -> haven_spec::Spec {
        match haven_spec::load(&self.spec_path()) {
            Ok(l) => l.spec,
            Err(e) => panic!("the spec does not load: {e}"),
        }
    }

    /// The spec's stacks, made deployable on moto by [`for_moto`].
    pub fn bundle(&self) -> Bundle {
        let spec = self.spec();
        let synthesis = haven_cfn::synth(&spec).unwrap();
        for_moto(Bundle::from_synthesis(&spec, &synthesis).unwrap())
    }
}

/// moto cannot create `AWS::IAM::Group` through CloudFormation: a `Ref` to the group comes back
/// empty and the policy attached to it fails the whole stack ("Group None not found"). So the
/// developers' group and its branch-protection policy (primary delivery stack) are removed
/// before deploying to moto; everything else is deployed as synthesized.
pub fn for_moto(mut bundle: Bundle) -> Bundle {
    for stack in &mut bundle.stacks {
        let mut t: serde_json::Value = serde_json::from_str(&stack.body).unwrap();
        let resources = t["Resources"].as_object_mut().unwrap();
        let groups: Vec<String> = resources
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::IAM::Group")
            .map(|(id, _)| id.clone())
            .collect();
        if groups.is_empty() {
            continue;
        }
        let attached_to_group = |r: &serde_json::Value| {
            r["Type"] == "AWS::IAM::Policy"
                && r["Properties"]["Groups"].as_array().is_some_and(|g| {
                    g.iter()
                        .any(|x| groups.iter().any(|id| x["Ref"] == id.as_str()))
                })
        };
        resources.retain(|id, r| !groups.contains(id) && !attached_to_group(r));
        stack.body = serde_json::to_string(&t).unwrap();
    }
    bundle
}

/// Options for moto: the given method, `ImageTag`, fast polls, short timeouts.
pub fn options(method: Method) -> Options {
    Options {
        method,
        parameters: [("ImageTag".to_owned(), "v1".to_owned())].into(),
        stack_timeout: Duration::from_secs(60),
        first_poll: Duration::from_millis(20),
        max_poll: Duration::from_millis(200),
    }
}

/// Collects events for assertions.
#[derive(Default)]
pub struct Events(pub std::sync::Mutex<Vec<Event>>);

impl Events {
    pub fn push(&self, e: Event) {
        self.0.lock().unwrap().push(e);
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A current-thread runtime, as the CLI uses.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
