//! Registry policies from the command line, without a running twin: `haven image scan`
//! flags a planted key and a vulnerable dependency and fails at the spec's threshold;
//! lifecycle rules applied on push and by `haven image lifecycle` keep the last N images and
//! never the one a region runs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::Twin;
use haven_state::{Store, TaskRecord, TaskStatus};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn advisory_db() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/advisory-db")
}

/// A project from `haven init` with `registry` settings replaced as given.
fn project(edit: impl FnOnce(String) -> String) -> Twin {
    Twin::unbuilt(edit)
}

/// A build's artifacts: the service's program (a script) plus `files`; made current.
fn fake_build(twin: &Twin, id: &str, files: &[(&str, &str)]) {
    let root = twin.path().join(".haven/builds").join(id);
    let bin = root.join("target/release/hello");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::write(&bin, format!("#!/bin/sh\necho {id}\n")).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (rel, contents) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    std::fs::write(twin.path().join(".haven/builds/current"), format!("{id}\n")).unwrap();
}

/// A PEM private key, made at run time so that this file holds none.
fn private_key() -> String {
    let body: String = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun"
        .chars()
        .cycle()
        .take(1100)
        .collect();
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let label = ["RSA", "PRIVATE KEY"].join(" ");
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn lockfile(dep_version: &str) -> String {
    format!(
        "version = 4\n\n[[package]]\nname = \"hello\"\nversion = \"1.0.0\"\ndependencies = [\"hello-vuln-dep\"]\n\n\
         [[package]]\nname = \"hello-vuln-dep\"\nversion = \"{dep_version}\"\n\
         source = \"registry+https://github.com/rust-lang/crates.io-index\"\n"
    )
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn set_threshold(twin: &Twin, severity: &str) {
    let spec = twin.path().join("haven.toml");
    let s = std::fs::read_to_string(&spec).unwrap();
    let line = s
        .lines()
        .find(|l| l.starts_with("scan_fail_severity"))
        .unwrap()
        .to_owned();
    std::fs::write(
        &spec,
        s.replace(&line, &format!("scan_fail_severity = \"{severity}\"")),
    )
    .unwrap();
}

#[test]
fn scan_flags_a_planted_key_and_a_vulnerable_dependency_and_fails_at_the_threshold() {
    let db = advisory_db();
    let twin = project(|s| {
        s.replace(
            "scan_on_push = true\n",
            &format!("scan_on_push = true\nadvisory_db = \"{}\"\n", db.display()),
        )
    });
    // The source's Cargo.lock names an affected version (< 1.0.1, high).
    std::fs::write(twin.path().join("Cargo.lock"), lockfile("1.0.0")).unwrap();
    fake_build(
        &twin,
        "b1",
        &[
            ("config/deploy.pem", &private_key()),
            ("static/site.css", "body{}\n"),
        ],
    );

    // Scan on push: the push stands, with a one-line summary and a warning.
    let out = twin.haven(&["image", "build", "--tag", "v1"]);
    assert_ok(&out);
    let err = text(&out.stderr);
    assert!(
        err.contains("Scanned v1: 2 findings: 1 CRITICAL, 1 HIGH"),
        "{err}"
    );
    assert!(err.contains("registry.scan_fail_severity"), "{err}");

    let out = twin.haven(&["image", "scan", "v1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("SEVERITY  ID"), "{table}");
    assert!(
        lines[1].starts_with("CRITICAL  private-key") && lines[1].contains("/config/deploy.pem:1"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("HIGH      RUSTSEC-2099-0101  hello-vuln-dep 1.0.0"),
        "{table}"
    );
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        !table.contains("MIIEowIBAAKCAQEA"),
        "findings never show the secret"
    );
    let err = text(&out.stderr);
    assert!(err.contains("against 2 advisories"), "{err}");
    assert!(
        err.contains("at or above HIGH (registry.scan_fail_severity)"),
        "{err}"
    );

    let out = twin.haven(&["image", "scan", "v1", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["failed"], true);
    assert_eq!(json["threshold"], "high");
    let ids: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["private-key", "RUSTSEC-2099-0101"]);

    // A clean build: only the dependency is left, high. At a `critical` threshold it passes;
    // with the fixed version there is nothing to find.
    fake_build(&twin, "b2", &[]);
    assert_ok(&twin.haven(&["image", "build", "--tag", "v2"]));
    let out = twin.haven(&["image", "scan", "v2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    set_threshold(&twin, "critical");
    let out = twin.haven(&["image", "scan", "v2"]);
    assert_ok(&out);
    assert!(
        text(&out.stderr).contains("1 finding: 1 HIGH, none at or above CRITICAL"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(twin.path().join("Cargo.lock"), lockfile("1.0.1")).unwrap();
    let out = twin.haven(&["image", "scan", "v2"]);
    assert_ok(&out);
    assert_eq!(text(&out.stdout), "");
    assert!(text(&out.stderr).contains("no findings"));

    // A broken database is named, key and file, and changes nothing.
    let bad = twin.path().join("db/crates/x/RUSTSEC-2099-0009.md");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, "# no front matter\n").unwrap();
    let spec = twin.path().join("haven.toml");
    let s = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, s.replace(&db.display().to_string(), "db")).unwrap();
    let out = twin.haven(&["image", "scan", "v2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("registry.advisory_db"), "{err}");
    assert!(err.contains("RUSTSEC-2099-0009.md"), "{err}");
}

/// The tags of the primary's images, most recently pushed first.
fn tags(twin: &Twin) -> Vec<String> {
    let out = twin.haven(&["image", "ls", "--json"]);
    assert_ok(&out);
    let images: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    images
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

fn push(twin: &Twin, tag: &str) -> (String, String) {
    let out = twin.haven(&[
        "image",
        "build",
        "--tag",
        tag,
        "--env",
        &format!("TAG={tag}"),
    ]);
    assert_ok(&out);
    (text(&out.stdout).trim().to_owned(), text(&out.stderr))
}

#[test]
fn lifecycle_keeps_the_last_n_images_but_never_the_running_one() {
    let twin = project(|s| {
        s.replace("scan_on_push = true", "scan_on_push = false")
            .replace(
                "description = \"Keep the 30 most recent images\"",
                "description = \"Keep the 2 most recent images\"",
            )
            .replace("count = 30", "count = 2")
    });
    fake_build(&twin, "b1", &[]);
    let (v1, _) = push(&twin, "v1");
    // The secondary runs v1: a live task of its production service.
    let db = twin.path().join(".haven/regions/us-west-2/state.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let store = Store::open(&db).unwrap();
    store
        .insert_task(&TaskRecord {
            id: "task-1".into(),
            service: "hello-production".into(),
            az: "us-west-2a".into(),
            port: 40001,
            image: v1.clone(),
            status: TaskStatus::Running,
            pid: None,
            start_time: None,
            pgid: None,
            stopped_reason: None,
            created_at_ms: haven_state::now_ms(),
            stopped_at_ms: None,
        })
        .unwrap();

    push(&twin, "v2");
    push(&twin, "v3");
    // Applied on push: v2 is past the newest two; v1 is too, but it runs.
    let (_, err) = push(&twin, "v4");
    assert!(err.contains("Expired v2"), "{err}");
    assert!(!err.contains("Expired v1"), "{err}");
    assert_eq!(tags(&twin), ["v4", "v3", "v1"]);

    let out = twin.haven(&["image", "lifecycle", "--dry-run", "--json"]);
    assert_ok(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["expired"], serde_json::json!([]));
    assert_eq!(plan["kept_in_use"][0]["digest"], v1.as_str());
    assert_eq!(plan["kept_in_use"][0]["priority"], 2);

    // The task stops, but the primary's service still has v1 as its image.
    store
        .stop_task("task-1", &haven_state::StopReason::ScalingActivity)
        .unwrap();
    let primary = Store::open(&twin.path().join(".haven/regions/us-east-1/state.db")).unwrap();
    primary.set_desired("hello-production", 2).unwrap();
    primary.image_or_init("hello-production", &v1).unwrap();
    let out = twin.haven(&["image", "lifecycle"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("kept: in use  v1"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(tags(&twin), ["v4", "v3", "v1"]);

    // Released away from v1: now it expires; a dry run first changes nothing.
    let v4_digest = {
        let out = twin.haven(&["image", "inspect", "v4", "--json"]);
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        d["digest"].as_str().unwrap().to_owned()
    };
    primary.set_image("hello-production", &v4_digest).unwrap();
    let out = twin.haven(&["image", "lifecycle", "--dry-run"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("would expire  v1"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("nothing changed"));
    assert_eq!(tags(&twin), ["v4", "v3", "v1"]);
    let out = twin.haven(&["image", "lifecycle"]);
    assert_ok(&out);
    assert!(
        text(&out.stdout).contains("expired  v1"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("Expired 1 image(s) in us-east-1, freed"));
    assert_eq!(tags(&twin), ["v4", "v3"]);
}
