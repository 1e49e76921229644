//! Building Dockerfiles with the real buildah into temp storages and registries: the hello
//! example's image end to end (built, imported, unpacked, its binary answering), Dockerfile
//! errors with their lines, the offline refusal of remote bases, concurrent builds, and a
//! storage that does not grow across builds.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haven_dockerfile::{BuildRequest, Buildah, Built, Error, Unavailable, import, probe};
use haven_registry::{Registry, TagPolicy};

/// buildah on this machine, with its storage under `root`; a test without it fails saying so.
fn buildah(root: &Path) -> Buildah {
    match probe(root) {
        Ok(b) => b,
        Err(e) => panic!("these tests need buildah, installed and permitted: {e}"),
    }
}

/// A statically linked program printing `text`, written to `dir/name` by `gcc -static`.
fn static_program(dir: &Path, name: &str, text: &str) {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(
        &src,
        format!("#include <stdio.h>\nint main(void){{puts(\"{text}\");return 0;}}\n"),
    )
    .expect("write C source");
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(dir.join(name))
        .arg(&src)
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need gcc (with static libc) to make a binary: {e}")
        });
    assert!(
        out.status.success(),
        "gcc -static failed (is libc6-dev installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(src).expect("remove C source");
}

/// A build context with a static `hi` program and `dockerfile` as `Dockerfile`.
fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    static_program(dir.path(), "hi", "hi");
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    dir
}

/// Nothing of any build is left in the storage: no working container, no image.
fn assert_clean(buildah: &Buildah, root: &Path) {
    let containers = buildah.containers(root).expect("buildah containers");
    assert!(containers.is_empty(), "containers left: {containers:?}");
    let images = buildah.images(root).expect("buildah images");
    assert!(images.is_empty(), "images left: {images:?}");
}

fn dir_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .expect("read_dir")
        .map(|e| dir_size(&e.expect("dir entry").path()))
        .sum::<u64>()
}

fn registry(dir: &Path) -> Registry {
    Registry::open(dir, TagPolicy::default()).expect("open registry")
}

#[test]
fn probe_says_the_version_and_a_missing_buildah_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    assert!(
        b.version().split('.').count() >= 2,
        "version {:?}",
        b.version()
    );
    assert_clean(&b, root.path());
    let missing = haven_dockerfile::probe_program("buildah-not-installed-here", root.path())
        .expect_err("a missing program is unavailable");
    assert!(
        matches!(missing, Unavailable::NotInstalled { .. }),
        "{missing:?}"
    );
    let text = missing.to_string();
    assert!(
        text.contains("buildah is not installed") && text.contains("buildah-not-installed-here"),
        "{text}"
    );
}

/// Builds the real example: its static release binary, its Dockerfile and .dockerignore;
/// imports the image, checks how it runs, unpacks it and gets 200 from its binary.
#[test]
fn the_example_builds_offline_and_its_image_runs() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let ctx = tempfile::tempdir().expect("tempdir");
    // Run from the example's directory, so that its .cargo/config.toml (crt-static) applies,
    // into the temp context's target/ (the Dockerfile copies target/release/hello).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["build", "--release", "--locked"])
        .current_dir(&example)
        .env("CARGO_TARGET_DIR", ctx.path().join("target"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build of the example failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let binary = ctx.path().join("target/release/hello");
    assert!(
        !has_interpreter(&binary),
        "{} is dynamically linked (it has a PT_INTERP): .cargo/config.toml's crt-static did not apply",
        binary.display()
    );
    for file in ["Dockerfile", ".dockerignore"] {
        std::fs::copy(example.join(file), ctx.path().join(file)).expect("copy example file");
    }

    let state = tempfile::tempdir().expect("tempdir");
    let root = state.path().join("buildah");
    let b = buildah(&root);
    let reg = registry(&state.path().join("registry"));
    let mut req = BuildRequest::new(ctx.path(), "Dockerfile", &root);
    req.labels = BTreeMap::from([("haven.build".to_owned(), "b-1".to_owned())]);
    let mut log = Vec::new();
    let started = Instant::now();
    let built = b
        .build(&req, |line| log.push(line.to_owned()))
        .unwrap_or_else(|e| panic!("build failed: {e}\n{}", log.join("\n")));
    let image = import(&built, &reg, "v1").expect("import");
    let took = started.elapsed();
    eprintln!(
        "example image: bud + push + import {took:?}, {} bytes, digest {}",
        image.size, image.digest
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("STEP 1/") && l.ends_with(": FROM scratch")),
        "the log streams buildah's steps: {log:?}"
    );
    assert_eq!(image.digest, built.digest, "the import keeps the digest");
    assert!(image.changed && image.moved_from.is_none(), "{image:?}");

    let config = reg.config("v1").expect("config");
    assert_eq!(config.entrypoint, ["/usr/local/bin/hello"]);
    assert_eq!(config.user.as_deref(), Some("10001:10001"));
    assert_eq!(config.exposed_port, Some(8080));
    for var in [("HELLO_BIND", "0.0.0.0"), ("PORT", "8080")] {
        assert!(
            config
                .env
                .iter()
                .any(|(k, v)| (k.as_str(), v.as_str()) == var),
            "{var:?} in {:?}",
            config.env
        );
    }
    assert_eq!(
        config.labels.get("haven.build").map(String::as_str),
        Some("b-1")
    );
    let detail = reg.inspect("v1").expect("inspect");
    assert_eq!(detail.layers.len(), 1, "one squashed layer");
    // Only the binary is in the image: .dockerignore kept the context to it.
    let layer_size = detail.layers[0].size;
    let binary_size = std::fs::metadata(&binary).expect("binary").len();
    assert!(
        layer_size < binary_size + 16 * 1024,
        "layer {layer_size} bytes for a {binary_size}-byte binary"
    );

    let rootfs = reg
        .unpack("v1", &state.path().join("rootfs"))
        .expect("unpack");
    let program = rootfs.join("usr/local/bin/hello");
    assert!(program.is_file(), "{} in the rootfs", program.display());
    assert_clean(&b, &root);

    // The image's program, with the image's environment (bound to loopback for the test)
    // and nothing of the host's: it answers /health.
    let port = free_port();
    let mut cmd = Command::new(&program);
    cmd.env_clear()
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .env("HELLO_BIND", "127.0.0.1")
        .env("PORT", port.to_string())
        .current_dir(&rootfs)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = Killed(cmd.spawn().expect("start the image's binary"));
    let answer = get_health(port, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(child);
}

/// Failing Dockerfiles: the error names the Dockerfile and the failing step's line, and no
/// container or image is left behind.
#[test]
fn dockerfile_errors_name_the_file_and_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "unknown instruction",
            "FROM scratch\nCOPY hi /hi\n\n# a comment\nFROBNICATE x\n",
            5,
            "Unknown instruction",
        ),
        (
            "missing source",
            "FROM scratch\nCOPY nothere /x\n",
            2,
            "nothere",
        ),
        (
            "no argument",
            "FROM scratch\nCOPY hi /hi\nUSER\n",
            3,
            "USER requires exactly one argument",
        ),
        (
            "a failing RUN in a later stage",
            "FROM scratch AS a\nCOPY hi /hi\nFROM scratch\nCOPY --from=a /hi /hi\nRUN [\"/hi\"]\nRUN [\"/nope\"]\n",
            6,
            "exit status",
        ),
    ];
    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    for (what, text, line, message) in cases {
        let ctx = context(text);
        let req = BuildRequest::new(ctx.path(), "Dockerfile", root.path());
        let err = b.build(&req, |_| {}).expect_err(what);
        let Error::Dockerfile {
            dockerfile,
            line: got,
            ..
        } = &err
        else {
            panic!("{what}: not a Dockerfile error: {err:?}");
        };
        assert_eq!(dockerfile, &ctx.path().join("Dockerfile"), "{what}");
        assert_eq!(*got, Some(*line), "{what}: {err}");
        let text = err.to_string();
        let located = format!("{}:{line}", ctx.path().join("Dockerfile").display());
        assert!(
            text.starts_with(&located) && text.contains(message),
            "{what}: {text}"
        );
        assert_clean(&b, root.path());
    }
}

#[test]
fn a_missing_dockerfile_is_named() {
    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    let ctx = context("FROM scratch\n");
    let req = BuildRequest::new(ctx.path(), "docker/app.Dockerfile", root.path());
    let err = b.build(&req, |_| {}).expect_err("no such Dockerfile");
    let path = ctx.path().join("docker/app.Dockerfile");
    assert!(
        matches!(&err, Error::MissingDockerfile { path: p } if *p == path),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

/// A remote base image is never pulled: the error says so, names the `FROM` line and what
/// works instead, and the storage holds nothing afterwards.
#[test]
fn a_remote_base_image_is_refused_offline() {
    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    let image = "public.ecr.aws/docker/library/rust:1-slim-bookworm";
    let ctx = context(&format!(
        "# syntax=docker/dockerfile:1\n\nFROM {image} AS build\nRUN cargo build\nFROM scratch\nCOPY --from=build /x /x\n"
    ));
    let req = BuildRequest::new(ctx.path(), "Dockerfile", root.path());
    let err = b.build(&req, |_| {}).expect_err("no registry");
    let Error::BaseImageNotLocal {
        line, image: got, ..
    } = &err
    else {
        panic!("not a base image error: {err:?}");
    };
    assert_eq!((*line, got.as_str()), (Some(3), image));
    let text = err.to_string();
    for part in [
        "Dockerfile:3",
        image,
        "no registry is reachable",
        "FROM scratch",
    ] {
        assert!(text.contains(part), "`{part}` in: {text}");
    }
    assert_clean(&b, root.path());
}

/// Two builds at once on one storage (two regions' pipelines): both succeed, each image is
/// its own, identical builds give one digest, and nothing is left behind.
#[test]
fn concurrent_builds_share_a_storage() {
    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    let reg_dir = tempfile::tempdir().expect("tempdir");
    let reg = registry(reg_dir.path());
    let texts = [
        "FROM scratch\nCOPY hi /hi\nENV WHICH=a\nENTRYPOINT [\"/hi\"]\n",
        "FROM scratch\nCOPY hi /hi\nENV WHICH=b\nENTRYPOINT [\"/hi\"]\n",
        "FROM scratch\nCOPY hi /hi\nENV WHICH=a\nENTRYPOINT [\"/hi\"]\n",
        "FROM scratch\nCOPY hi /hi\nENV WHICH=a\nENTRYPOINT [\"/hi\"]\n",
    ];
    let contexts: Vec<_> = texts.iter().map(|t| context(t)).collect();
    // The same binary everywhere, so that identical Dockerfiles make identical images.
    for ctx in &contexts[1..] {
        std::fs::copy(contexts[0].path().join("hi"), ctx.path().join("hi")).expect("copy hi");
    }
    let built: Vec<Built> = std::thread::scope(|s| {
        let handles: Vec<_> = contexts
            .iter()
            .map(|ctx| {
                let req = BuildRequest::new(ctx.path(), "Dockerfile", root.path());
                let b = &b;
                s.spawn(move || b.build(&req, |_| {}))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("build thread").expect("concurrent build"))
            .collect()
    });
    let digests: Vec<_> = built.iter().map(|b| b.digest.clone()).collect();
    assert_ne!(digests[0], digests[1], "different images");
    assert_eq!(
        digests[0], digests[2],
        "reproducible: same inputs, same digest"
    );
    assert_eq!(digests[0], digests[3]);
    for (i, built) in built.iter().enumerate() {
        let image = import(built, &reg, &format!("t{i}")).expect("import");
        let config = reg.config(&image.tag).expect("config");
        let which = if i == 1 { "b" } else { "a" };
        assert!(
            config.env.contains(&("WHICH".to_owned(), which.to_owned())),
            "{:?}",
            config.env
        );
    }
    assert_clean(&b, root.path());
}

/// `RUN` steps have no network: a program that reaches a listener on the host's loopback
/// from the host cannot from a `RUN` step.
#[test]
fn run_steps_have_no_network() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("address").port();
    let ctx = context("FROM scratch\nCOPY reach /reach\nRUN [\"/reach\"]\n");
    let src = ctx.path().join("reach.c");
    std::fs::write(
        &src,
        format!(
            "#include <arpa/inet.h>\n#include <stdio.h>\n#include <sys/socket.h>\n\
             int main(void){{struct sockaddr_in a={{0}};a.sin_family=AF_INET;\
             a.sin_port=htons({port});a.sin_addr.s_addr=htonl(0x7f000001);\
             int s=socket(AF_INET,SOCK_STREAM,0);\
             if(connect(s,(struct sockaddr*)&a,sizeof a)==0){{puts(\"reached\");return 1;}}\
             puts(\"isolated\");return 0;}}\n"
        ),
    )
    .expect("write C source");
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(ctx.path().join("reach"))
        .arg(&src)
        .output()
        .expect("gcc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&src).expect("remove C source");
    let on_host = Command::new(ctx.path().join("reach"))
        .output()
        .expect("run the probe on the host");
    assert!(
        !on_host.status.success(),
        "the probe reaches the host's listener from the host"
    );

    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    let req = BuildRequest::new(ctx.path(), "Dockerfile", root.path());
    let mut log = Vec::new();
    let built = b.build(&req, |line| log.push(line.to_owned()));
    assert!(built.is_ok(), "{built:?}\n{}", log.join("\n"));
    assert!(log.iter().any(|l| l == "isolated"), "{log:?}");
    drop(listener);
    assert_clean(&b, root.path());
}

/// Builds leave nothing in the storage: its size after five builds is its size after one.
#[test]
fn the_storage_does_not_grow_across_builds() {
    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    // Two stages: the first stage's image must go too.
    let ctx = context(
        "FROM scratch AS a\nCOPY hi /hi\nFROM scratch\nCOPY --from=a /hi /hi\nENTRYPOINT [\"/hi\"]\n",
    );
    let mut sizes = Vec::new();
    for i in 0..5 {
        // A different image each time (a label), so no build reuses another's.
        let mut req = BuildRequest::new(ctx.path(), "Dockerfile", root.path());
        req.labels.insert("n".to_owned(), i.to_string());
        req.timestamp = None;
        let built = b.build(&req, |_| {}).expect("build");
        drop(built);
        sizes.push(dir_size(root.path()));
    }
    eprintln!("build storage after each of 5 builds: {sizes:?} bytes");
    let (first, last) = (sizes[0], sizes[4]);
    assert!(
        last <= first + 64 * 1024,
        "the storage grew from {first} to {last} bytes over 5 builds: {sizes:?}"
    );
    assert_clean(&b, root.path());
}

/// What a killed build leaves (its image, a working container) is removed by the next build.
#[test]
fn a_killed_builds_leftovers_go_with_the_next_build() {
    let root = tempfile::tempdir().expect("tempdir");
    let b = buildah(root.path());
    let ctx = context("FROM scratch\nCOPY hi /hi\n");
    let raw = |args: &[&str]| {
        let out = Command::new("unshare")
            .arg("--net")
            .arg("buildah")
            .arg("--root")
            .arg(root.path().join("storage"))
            .arg("--runroot")
            .arg(root.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("run buildah");
        assert!(
            out.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dockerfile = ctx.path().join("Dockerfile");
    let dockerfile = dockerfile.to_str().expect("UTF-8 path");
    let context_dir = ctx.path().to_str().expect("UTF-8 path");
    raw(&[
        "bud",
        "--isolation",
        "chroot",
        "--pull=never",
        "--quiet",
        "--tag",
    ]
    .into_iter()
    .chain([
        "localhost/haven-build-0123456789abcdef",
        "--file",
        dockerfile,
        context_dir,
    ])
    .collect::<Vec<_>>());
    raw(&["from", "--quiet", "scratch"]);
    assert_eq!(b.images(root.path()).expect("images").len(), 1);
    assert_eq!(b.containers(root.path()).expect("containers").len(), 1);
    let req = BuildRequest::new(ctx.path(), "Dockerfile", root.path());
    b.build(&req, |_| {}).expect("build");
    assert_clean(&b, root.path());
}

/// Whether an ELF file asks for a program interpreter (the dynamic loader): a statically
/// linked binary, PIE or not, does not.
fn has_interpreter(path: &Path) -> bool {
    const PT_INTERP: u32 = 3;
    let bytes = std::fs::read(path).expect("read binary");
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not ELF", path.display());
    assert_eq!(bytes[4], 2, "64-bit ELF expected");
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[o..o + 8]);
        u64::from_le_bytes(b) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) == PT_INTERP
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `GET /health` on 127.0.0.1:`port`, retried until the server listens or `within` passes.
fn get_health(port: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut stream) => {
                stream
                    .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .expect("send request");
                let mut answer = String::new();
                stream.read_to_string(&mut answer).expect("read answer");
                return answer;
            }
            // Not listening yet: poll again shortly, until the deadline.
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("nothing listens on 127.0.0.1:{port}: {e}"),
        }
    }
}

/// A child killed and reaped when dropped, also when an assertion fails.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        // Already exited is fine; the wait reaps it either way.
        self.0.kill().ok();
        self.0.wait().ok();
    }
}
