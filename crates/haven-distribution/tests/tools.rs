//! Real tools as judges: skopeo and buildah push to and pull from the twin's registry, by tag
//! and by digest, OCI and Docker v2 schema 2; what they push unpacks and keeps its digests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use haven_registry::Reference;

#[test]
fn skopeo_pushes_an_oci_layout_and_copies_it_back_digest_for_digest() {
    let t = twin();
    let src = t.dir.path().join("src");
    let digest = oci_layout(&src, "v1", "hello from skopeo\n", "1000:1000");
    let mut args = vec!["copy".to_owned()];
    args.extend(dest_flags());
    args.push(format!("oci:{}:v1", src.display()));
    args.push(t.docker("app:v1"));
    let out = skopeo(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The manifest arrived byte for byte: same digest.
    let mut inspect = vec![
        "inspect".to_owned(),
        "--raw".to_owned(),
        "--tls-verify=false".to_owned(),
    ];
    inspect.push(format!("--creds=AWS:{TOKEN}"));
    inspect.push(t.docker("app:v1"));
    let raw = skopeo(&inspect);
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert_eq!(sha256(&raw.stdout), digest);
    assert_eq!(t.app.resolve("v1").unwrap().to_string(), digest);

    // Copied back, by tag and by digest: every blob is the one pushed.
    for (reference, tag) in [
        ("app:v1".to_owned(), "back"),
        (format!("app@{digest}"), "bydigest"),
    ] {
        let dest = t.dir.path().join(tag);
        let mut args = vec!["copy".to_owned()];
        args.extend(src_flags());
        args.push(t.docker(&reference));
        args.push(format!("oci:{}:{tag}", dest.display()));
        let out = skopeo(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(layout_blobs(&dest), layout_blobs(&src), "{reference}");
    }

    // The hook saw the push once, with its tag and digest.
    assert_eq!(
        t.pushes.all(),
        [("app".to_owned(), Some("v1".to_owned()), digest.clone())]
    );

    // What was pushed (gzip) runs: it unpacks, and its config says who runs it.
    let rootfs = t.app.unpack("v1", &t.dir.path().join("cache")).unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
        "hello from skopeo\n"
    );
    assert_eq!(
        t.app.config("v1").unwrap().user.as_deref(),
        Some("1000:1000")
    );
}

#[test]
fn skopeo_pushes_docker_v2_schema_2() {
    let t = twin();
    let src = t.dir.path().join("src");
    oci_layout(&src, "v1", "docker format\n", "");
    let mut args = vec!["copy".to_owned(), "--format=v2s2".to_owned()];
    args.extend(dest_flags());
    args.push(format!("oci:{}:v1", src.display()));
    args.push(t.docker("app:v2s2"));
    let out = skopeo(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let reply = request(
        t.addr(),
        "GET",
        "/v2/app/manifests/v2s2",
        &[(
            "Accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )],
        b"",
    );
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("application/vnd.docker.distribution.manifest.v2+json")
    );
    assert_eq!(
        reply.header("docker-content-digest"),
        Some(sha256(&reply.body).as_str())
    );
    let manifest = reply.json();
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let detail = t.app.inspect("v2s2").unwrap();
    assert_eq!(
        detail.media_type,
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let rootfs = t.app.unpack("v2s2", &t.dir.path().join("cache")).unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
        "docker format\n"
    );
    assert_eq!(t.app.config("v2s2").unwrap().user, None);
}

/// buildah's flags for a storage of its own in the test's temp dir.
fn buildah(t: &Twin, args: &[&str]) -> String {
    let root = t.dir.path().join("buildah-root");
    let runroot = t.dir.path().join("buildah-runroot");
    let mut full = vec![
        "--root".to_owned(),
        root.display().to_string(),
        "--runroot".to_owned(),
        runroot.display().to_string(),
        "--storage-driver=vfs".to_owned(),
    ];
    full.extend(args.iter().map(|a| (*a).to_owned()));
    let full: Vec<&str> = full.iter().map(String::as_str).collect();
    ok("buildah", &full).trim().to_owned()
}

#[test]
fn buildah_pushes_and_pulls_by_tag_and_by_digest() {
    let t = twin();
    let creds = format!("--creds=AWS:{TOKEN}");
    let file = t.dir.path().join("hello.txt");
    std::fs::write(&file, "built by buildah\n").unwrap();
    let ctr = buildah(&t, &["from", "scratch"]);
    buildah(&t, &["copy", &ctr, file.to_str().unwrap(), "/hello.txt"]);
    buildah(
        &t,
        &[
            "config",
            "--user",
            "65534",
            "--entrypoint",
            r#"["/hello"]"#,
            &ctr,
        ],
    );
    buildah(
        &t,
        &["commit", "--quiet", &ctr, "localhost/haven-test:built"],
    );

    let digest_file = t.dir.path().join("digest");
    buildah(
        &t,
        &[
            "push",
            "--tls-verify=false",
            &creds,
            "--digestfile",
            digest_file.to_str().unwrap(),
            "localhost/haven-test:built",
            &t.docker("app:built"),
        ],
    );
    let digest = std::fs::read_to_string(&digest_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(t.app.resolve("built").unwrap().to_string(), digest);
    assert_eq!(t.pushes.all().last().unwrap().2, digest);

    // What buildah pushed unpacks here and keeps its user.
    let rootfs = t.app.unpack("built", &t.dir.path().join("cache")).unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("hello.txt")).unwrap(),
        "built by buildah\n"
    );
    assert_eq!(
        t.app.config("built").unwrap().user.as_deref(),
        Some("65534")
    );

    // Pulled back by tag and by digest: the same image.
    buildah(&t, &["rmi", "--all", "--force"]);
    let by_tag = t
        .docker("app:built")
        .trim_start_matches("docker://")
        .to_owned();
    let by_digest = format!("{}/app@{digest}", t.addr());
    for reference in [&by_tag, &by_digest] {
        buildah(
            &t,
            &["pull", "--quiet", "--tls-verify=false", &creds, reference],
        );
        let out = buildah(
            &t,
            &[
                "inspect",
                "--type",
                "image",
                "--format",
                "{{.FromImageDigest}}",
                reference,
            ],
        );
        assert_eq!(out, digest, "{reference}");
    }
}

#[test]
fn an_immutable_repository_refuses_a_new_image_under_an_old_tag() {
    let t = twin();
    let push = |content: &str| {
        let src = t.dir.path().join(content);
        oci_layout(&src, "v1", content, "");
        let mut args = vec!["copy".to_owned()];
        args.extend(dest_flags());
        args.push(format!("oci:{}:v1", src.display()));
        args.push(t.docker("locked:v1"));
        skopeo(&args)
    };
    assert!(push("first").status.success());
    // The same image again is fine: the tag does not move.
    assert!(push("first").status.success());
    let out = push("second");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "The image tag 'v1' already exists in the 'locked' repository and cannot be \
             overwritten because the repository is immutable."
        ),
        "{stderr}"
    );

    // The same refusal, raw: a manifest of the first image's blobs under a new tag works,
    // under `v1` with other content it does not.
    let first = t
        .locked
        .get_manifest(&Reference::parse("v1").unwrap())
        .unwrap();
    let mut changed: serde_json::Value = serde_json::from_slice(&first.bytes).unwrap();
    changed["annotations"] = serde_json::json!({"x": "y"});
    let body = changed.to_string();
    let ct = ("Content-Type", "application/vnd.oci.image.manifest.v1+json");
    let reply = request(
        t.addr(),
        "PUT",
        "/v2/locked/manifests/v1",
        &[ct],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.code(), "TAG_INVALID");
    assert_eq!(
        reply.json()["errors"][0]["message"],
        "The image tag 'v1' already exists in the 'locked' repository and cannot be \
         overwritten because the repository is immutable."
    );
    let reply = request(
        t.addr(),
        "PUT",
        "/v2/locked/manifests/v2",
        &[ct],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 201, "{reply:?}");
    assert_eq!(
        reply.header("docker-content-digest"),
        Some(sha256(body.as_bytes()).as_str())
    );
    assert_eq!(t.locked.resolve("v1").unwrap(), first.digest);
}
