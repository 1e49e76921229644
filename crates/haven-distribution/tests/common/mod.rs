//! Shared by the distribution tests: a server over two repositories in a temp dir, a raw
//! HTTP/1.1 client over std's TcpStream, an OCI layout written by hand, and the real tools.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::prelude::{BASE64_STANDARD, Engine as _};
use haven_distribution::{Background, OnPush, ServerConfig};
use haven_registry::{Digest, Registry, TagPolicy};

pub const TOKEN: &str = "test-token-Zm9vYmFy";
pub const ACCOUNT: &str = "123456789012";

/// A mutable repository `app` and an immutable one `locked`.
pub struct Twin {
    pub dir: tempfile::TempDir,
    pub server: Background,
    pub app: Registry,
    pub locked: Registry,
    pub pushes: Arc<Pushes>,
}

/// Every push the hook saw: (repo, tag, digest).
#[derive(Default)]
pub struct Pushes(pub Mutex<Vec<(String, Option<String>, String)>>);

impl OnPush for Pushes {
    fn pushed(&self, repo: &str, tag: Option<&str>, digest: &Digest) {
        self.0
            .lock()
            .unwrap()
            .push((repo.to_owned(), tag.map(str::to_owned), digest.to_string()));
    }
}

impl Pushes {
    pub fn all(&self) -> Vec<(String, Option<String>, String)> {
        self.0.lock().unwrap().clone()
    }
}

pub fn twin() -> Twin {
    twin_with(|_| {})
}

pub fn twin_with(tweak: impl FnOnce(&mut ServerConfig)) -> Twin {
    let dir = tempfile::tempdir().unwrap();
    let app = Registry::open(&dir.path().join("app"), TagPolicy { immutable: false }).unwrap();
    let locked = Registry::open(&dir.path().join("locked"), TagPolicy { immutable: true }).unwrap();
    let pushes = Arc::new(Pushes::default());
    let mut config = ServerConfig::new(
        BTreeMap::from([
            ("app".to_owned(), app.clone()),
            ("locked".to_owned(), locked.clone()),
        ]),
        TOKEN,
        ACCOUNT,
        "eu-west-1",
    );
    config.on_push = Some(pushes.clone());
    tweak(&mut config);
    let server = Background::start("127.0.0.1:0".parse().unwrap(), config).unwrap();
    Twin {
        dir,
        server,
        app,
        locked,
        pushes,
    }
}

impl Twin {
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `docker://127.0.0.1:<port>/<rest>`
    pub fn docker(&self, rest: &str) -> String {
        format!("docker://{}/{rest}", self.addr())
    }
}

/// A response to a raw request.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The first error's code in the spec's error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        BASE64_STANDARD.encode(format!("{user}:{password}"))
    )
}

/// One HTTP/1.1 request with `Connection: close`, credentials `AWS:TOKEN` unless `headers`
/// has an `Authorization` of its own (or `Authorization: -` for none), and the body's length
/// unless `headers` declares one.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let has_auth = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
    if !has_auth {
        head.push_str(&format!("Authorization: {}\r\n", basic("AWS", TOKEN)));
    }
    for (k, v) in headers {
        if *v != "-" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    // A test may declare a length of its own (and send less: a server refusing the
    // declared size answers before reading).
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_reply(&raw, method == "HEAD")
}

fn parse_reply(raw: &[u8], head_only: bool) -> Reply {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    Digest::of(bytes).to_string()
}

/// Runs a tool; a missing tool fails the test naming it.
pub fn tool(program: &str, args: &[&str]) -> Output {
    match Command::new(program).args(args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "`{program}` is needed by this test and could not be run ({e}); install it \
             (Debian: apt-get install {program})"
        ),
    }
}

/// Runs a tool that must succeed; returns its stdout.
pub fn ok(program: &str, args: &[&str]) -> String {
    let out = tool(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// skopeo's flags for the twin: plain HTTP, its credentials.
pub fn dest_flags() -> Vec<String> {
    vec![
        "--dest-tls-verify=false".into(),
        format!("--dest-creds=AWS:{TOKEN}"),
    ]
}

pub fn src_flags() -> Vec<String> {
    vec![
        "--src-tls-verify=false".into(),
        format!("--src-creds=AWS:{TOKEN}"),
    ]
}

pub fn skopeo(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tool("skopeo", &args)
}

/// A tar with one static file, `hello.txt`, of `content`.
pub fn layer_tar(content: &str) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder
        .append_data(&mut header, "hello.txt", content.as_bytes())
        .unwrap();
    builder.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Writes an OCI image layout at `dir` holding one image tagged `tag`: a gzip layer with
/// `hello.txt` of `content`, a config running as `user`. Returns the manifest's digest.
pub fn oci_layout(dir: &Path, tag: &str, content: &str, user: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let digest = sha256(bytes);
        std::fs::write(blobs.join(&digest[7..]), bytes).unwrap();
        digest
    };
    let tar = layer_tar(content);
    let layer = gzip(&tar);
    let layer_digest = put(&layer);
    let platform = haven_registry::host_platform();
    let config = serde_json::json!({
        "architecture": platform.architecture, "os": platform.os,
        "config": {"User": user, "Cmd": ["/hello"], "Env": ["PATH=/"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&tar)]},
    })
    .to_string();
    let config_digest = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest, "size": layer.len()}],
    })
    .to_string();
    let manifest_digest = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_digest
}

/// The blob digests of an OCI layout, sorted.
pub fn layout_blobs(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Waits for `cond` to hold, failing after `secs`.
pub fn eventually(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}
