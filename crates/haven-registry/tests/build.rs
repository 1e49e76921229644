//! Building images: deterministic digests, modes and symlinks kept through build and unpack,
//! the config round trip, and the layout checked against the OCI image-spec's essentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use haven_registry::{Digest, Error};
use sha2::{Digest as _, Sha256};

#[test]
fn same_inputs_give_the_same_digest_anywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    let first = open(&tmp.path().join("r1"), IMMUTABLE)
        .build(&a, &spec(), "v1")
        .unwrap();
    // Another registry, another tag, another copy of the artifacts with other mtimes.
    let b = artifacts(&tmp.path().join("elsewhere/b"), "hello");
    std::fs::write(b.join("static/css/site.css"), "body { color: black }\n").unwrap();
    let second = open(&tmp.path().join("r2"), IMMUTABLE)
        .build(&b, &spec(), "other")
        .unwrap();
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.size, second.size);

    // Any change to content, mode or config is a new image.
    let c = artifacts(&tmp.path().join("c"), "hello!");
    let reg = open(&tmp.path().join("r3"), MUTABLE);
    assert_ne!(reg.build(&c, &spec(), "x").unwrap().digest, first.digest);
    std::fs::set_permissions(
        b.join("static/css/site.css"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert_ne!(reg.build(&b, &spec(), "x").unwrap().digest, first.digest);
    let mut other_spec = spec();
    other_spec.exposed_port = Some(9090);
    assert_ne!(
        reg.build(&a, &other_spec, "x").unwrap().digest,
        first.digest
    );
}

#[test]
fn executables_stay_executable_and_symlinks_stay_links() {
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    reg.build(&a, &spec(), "v1").unwrap();
    let rootfs = reg.unpack("v1", &tmp.path().join("cache")).unwrap();

    assert_eq!(tree(&rootfs), tree(&a));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&rootfs.join("target/release/hello")), 0o755);
    assert_eq!(mode(&rootfs.join("static/css/site.css")), 0o644);
    assert_eq!(mode(&rootfs.join("static")), 0o755);
    assert_eq!(
        std::fs::read_link(rootfs.join("run")).unwrap(),
        Path::new("target/release/hello")
    );
    // It runs, straight from the unpacked image, through the symlink too.
    let out = std::process::Command::new(rootfs.join("run"))
        .arg("world")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world\n");
}

#[test]
fn the_layer_is_deterministic_tar() {
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    reg.build(&a, &spec(), "v1").unwrap();
    let layer = layer_of(&reg, "v1");
    let file = std::fs::File::open(reg.blob_path(&layer.digest)).unwrap();
    let mut archive = tar::Archive::new(file);
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        names.push(entry.path().unwrap().display().to_string());
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(
        names,
        [
            "run",
            "static",
            "static/css",
            "static/css/site.css",
            "target",
            "target/release",
            "target/release/hello"
        ]
    );
}

#[test]
fn the_config_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let built = reg.build(&a, &spec(), "v1").unwrap();
    assert_eq!(reg.config("v1").unwrap(), spec());
    assert_eq!(reg.config(&built.digest.to_string()).unwrap(), spec());

    let detail = reg.inspect("v1").unwrap();
    let c = &detail.config.config;
    assert_eq!(
        c.entrypoint.as_deref(),
        Some(&["target/release/hello".to_owned(), "--serve".to_owned()][..])
    );
    assert_eq!(
        c.env.as_deref(),
        Some(&["GREETING=hi".to_owned(), "PORT=8080".to_owned()][..])
    );
    assert!(c.exposed_ports.as_ref().unwrap().contains_key("8080/tcp"));
    assert_eq!(c.working_dir.as_deref(), Some("/"));
    assert_eq!(c.labels.as_ref().unwrap()["haven.build"], "b1");
}

#[test]
fn an_entrypoint_missing_from_the_artifacts_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let mut s = spec();
    s.entrypoint = vec!["target/release/missing".into()];
    let err = reg.build(&a, &s, "v1").unwrap_err();
    assert!(matches!(err, Error::InvalidSpec { .. }), "{err}");
    assert!(err.to_string().contains("target/release/missing"), "{err}");
    s.entrypoint = vec!["static/css/site.css".into()];
    let err = reg.build(&a, &s, "v1").unwrap_err();
    assert!(err.to_string().contains("not an executable"), "{err}");
    assert!(reg.list().unwrap().is_empty());
    assert_eq!(blob_count(&reg), 0);
}

fn sha256_of(path: &Path) -> String {
    format!("sha256:{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Checks a descriptor against the blob it names: media type, size, digest.
fn check_descriptor(root: &Path, desc: &serde_json::Value, media_type: &str) -> std::path::PathBuf {
    assert_eq!(desc["mediaType"], media_type, "{desc}");
    let digest = desc["digest"].as_str().unwrap();
    let hex = digest.strip_prefix("sha256:").unwrap();
    let path = root.join("blobs/sha256").join(hex);
    assert_eq!(
        desc["size"].as_u64().unwrap(),
        std::fs::metadata(&path).unwrap().len(),
        "{desc}"
    );
    assert_eq!(sha256_of(&path), digest);
    path
}

#[test]
fn the_layout_follows_the_oci_image_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    let root = tmp.path().join("reg");
    let reg = open(&root, IMMUTABLE);
    reg.build(&a, &spec(), "v1").unwrap();
    reg.tag("v1", "latest").unwrap();

    assert_eq!(
        json(&root.join("oci-layout"))["imageLayoutVersion"],
        "1.0.0"
    );
    let index = json(&root.join("index.json"));
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let manifests = index["manifests"].as_array().unwrap();
    let mut tags: Vec<&str> = manifests
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    tags.sort();
    assert_eq!(tags, ["latest", "v1"]);
    for desc in manifests {
        assert!(desc["platform"]["architecture"].is_string());
        assert!(desc["annotations"]["org.opencontainers.image.created"].is_string());
        let path = check_descriptor(&root, desc, "application/vnd.oci.image.manifest.v1+json");
        let manifest = json(&path);
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        let config = json(&check_descriptor(
            &root,
            &manifest["config"],
            "application/vnd.oci.image.config.v1+json",
        ));
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1);
        check_descriptor(&root, &layers[0], "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(config["rootfs"]["type"], "layers");
        // Uncompressed layers: the diff_id is the layer's digest.
        assert_eq!(config["rootfs"]["diff_ids"][0], layers[0]["digest"]);
        assert_eq!(config["os"], std::env::consts::OS);
        assert!(config.get("created").is_none());
    }
    // Nothing in blobs/ but the three blobs of the one image.
    assert_eq!(blob_count(&reg), 3);
    // Digests in the API are the same strings.
    let d: Digest = manifests[0]["digest"].as_str().unwrap().parse().unwrap();
    assert_eq!(reg.resolve("v1").unwrap(), d);
}

#[test]
fn a_registry_reopens_and_refuses_what_is_not_a_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    let root = tmp.path().join("reg");
    let built = open(&root, IMMUTABLE).build(&a, &spec(), "v1").unwrap();
    assert_eq!(open(&root, MUTABLE).resolve("v1").unwrap(), built.digest);

    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
    let err = haven_registry::Registry::open(&bad, IMMUTABLE).unwrap_err();
    assert!(matches!(err, Error::NotALayout { .. }), "{err}");
}
