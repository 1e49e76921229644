//! The protocol's edges, with raw requests: credentials, uploads whose bytes do not match
//! their digest, out-of-order chunks, mounts across repositories, pagination, limits,
//! expiry of abandoned uploads, and ECR's errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

#[test]
fn wrong_or_missing_credentials_get_ecrs_challenge() {
    let t = twin();
    for auth in [
        "-",
        &basic("AWS", "wrong"),
        &basic("admin", TOKEN),
        "Bearer x",
    ] {
        let reply = request(t.addr(), "GET", "/v2/", &[("Authorization", auth)], b"");
        assert_eq!(reply.status, 401, "{auth}");
        assert_eq!(reply.code(), "UNAUTHORIZED");
        assert_eq!(
            reply.header("www-authenticate"),
            Some(&*format!(
                "Basic realm=\"https://{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/\",service=\"ecr.amazonaws.com\""
            ))
        );
    }
    let reply = request(t.addr(), "GET", "/v2/", &[], b"");
    assert_eq!((reply.status, reply.json()), (200, serde_json::json!({})));
    assert_eq!(
        reply.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    // skopeo with the wrong token is refused too.
    let src = t.dir.path().join("src");
    oci_layout(&src, "v1", "x", "");
    let out = skopeo(&[
        "copy".into(),
        "--dest-tls-verify=false".into(),
        "--dest-creds=AWS:not-the-token".into(),
        format!("oci:{}:v1", src.display()),
        t.docker("app:v1"),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("unauthorized"), "{stderr}");
    assert!(t.app.list().unwrap().is_empty());
}

#[test]
fn unknown_repositories_and_names_are_refused_as_ecr_does() {
    let t = twin();
    let reply = request(t.addr(), "GET", "/v2/other/tags/list", &[], b"");
    assert_eq!((reply.status, reply.code().as_str()), (404, "NAME_UNKNOWN"));
    assert_eq!(
        reply.json()["errors"][0]["message"],
        format!(
            "The repository with name 'other' does not exist in the registry with id '{ACCOUNT}'"
        )
    );
    let reply = request(t.addr(), "GET", "/v2/Bad..Name/tags/list", &[], b"");
    assert_eq!((reply.status, reply.code().as_str()), (400, "NAME_INVALID"));
    let reply = request(t.addr(), "GET", "/v2/app/manifests/nope", &[], b"");
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (404, "MANIFEST_UNKNOWN")
    );
    let missing = sha256(b"missing");
    let reply = request(
        t.addr(),
        "HEAD",
        &format!("/v2/app/blobs/{missing}"),
        &[],
        b"",
    );
    assert_eq!(reply.status, 404);
    let reply = request(t.addr(), "GET", "/v2/_catalog", &[], b"");
    assert_eq!(
        reply.json()["repositories"],
        serde_json::json!(["app", "locked"])
    );
}

#[test]
fn uploads_whose_bytes_do_not_match_the_digest_store_nothing() {
    let t = twin();
    let wrong = sha256(b"something else");
    // Monolithic.
    let reply = request(
        t.addr(),
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={wrong}"),
        &[],
        b"the bytes",
    );
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (400, "DIGEST_INVALID"),
        "{reply:?}"
    );
    // Chunked: two chunks, then the wrong digest.
    let start = request(t.addr(), "POST", "/v2/app/blobs/uploads/", &[], b"");
    assert_eq!(start.status, 202);
    assert_eq!(start.header("range"), Some("0-0"));
    let location = start.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!(
            "/v2/app/blobs/uploads/{}",
            start.header("docker-upload-uuid").unwrap()
        )
    );
    let first = request(
        t.addr(),
        "PATCH",
        &location,
        &[("Content-Range", "0-3")],
        b"the ",
    );
    assert_eq!((first.status, first.header("range")), (202, Some("0-3")));
    // A chunk that does not start where the upload ends: 416, the upload unchanged.
    let gap = request(
        t.addr(),
        "PATCH",
        &location,
        &[("Content-Range", "9-12")],
        b"oops",
    );
    assert_eq!(
        (gap.status, gap.code().as_str()),
        (416, "BLOB_UPLOAD_INVALID")
    );
    assert_eq!(gap.header("range"), Some("0-3"));
    let second = request(t.addr(), "PATCH", &location, &[], b"bytes");
    assert_eq!(second.header("range"), Some("0-8"));
    let status = request(t.addr(), "GET", &location, &[], b"");
    assert_eq!((status.status, status.header("range")), (204, Some("0-8")));
    let done = request(
        t.addr(),
        "PUT",
        &format!("{location}?digest={wrong}"),
        &[],
        b"",
    );
    assert_eq!((done.status, done.code().as_str()), (400, "DIGEST_INVALID"));
    // Nothing stored, no temp file left, and the session is over.
    let right = sha256(b"the bytes");
    assert_eq!(
        request(
            t.addr(),
            "HEAD",
            &format!("/v2/app/blobs/{right}"),
            &[],
            b""
        )
        .status,
        404
    );
    assert!(files_in(&t.app.root().join(".tmp")).is_empty());
    let gone = request(t.addr(), "GET", &location, &[], b"");
    assert_eq!(
        (gone.status, gone.code().as_str()),
        (404, "BLOB_UPLOAD_UNKNOWN")
    );

    // The right digest stores it, readable back with its digest and length.
    let start = request(t.addr(), "POST", "/v2/app/blobs/uploads/", &[], b"");
    let location = start.header("location").unwrap().to_owned();
    request(t.addr(), "PATCH", &location, &[], b"the ");
    let done = request(
        t.addr(),
        "PUT",
        &format!("{location}?digest={right}"),
        &[],
        b"bytes",
    );
    assert_eq!(done.status, 201, "{done:?}");
    assert_eq!(
        done.header("location"),
        Some(&*format!("/v2/app/blobs/{right}"))
    );
    let got = request(t.addr(), "GET", &format!("/v2/app/blobs/{right}"), &[], b"");
    assert_eq!((got.status, got.body.as_slice()), (200, &b"the bytes"[..]));
    assert_eq!(got.header("docker-content-digest"), Some(right.as_str()));
    let head = request(
        t.addr(),
        "HEAD",
        &format!("/v2/app/blobs/{right}"),
        &[],
        b"",
    );
    assert_eq!(head.header("content-length"), Some("9"));
}

#[test]
fn a_cancelled_or_abandoned_upload_leaves_no_temp_file() {
    let t = twin_with(|c| c.upload_timeout = Duration::from_millis(200));
    let start = request(t.addr(), "POST", "/v2/app/blobs/uploads/", &[], b"");
    let location = start.header("location").unwrap().to_owned();
    request(t.addr(), "PATCH", &location, &[], b"half a blob");
    let cancel = request(t.addr(), "DELETE", &location, &[], b"");
    assert_eq!(cancel.status, 204);
    assert!(files_in(&t.app.root().join(".tmp")).is_empty());

    let start = request(t.addr(), "POST", "/v2/app/blobs/uploads/", &[], b"");
    let location = start.header("location").unwrap().to_owned();
    request(t.addr(), "PATCH", &location, &[], b"abandoned");
    assert_eq!(files_in(&t.app.root().join(".tmp")).len(), 1);
    eventually(10, "the abandoned upload's temp file to go", || {
        files_in(&t.app.root().join(".tmp")).is_empty()
    });
    let gone = request(t.addr(), "GET", &location, &[], b"");
    assert_eq!(gone.code(), "BLOB_UPLOAD_UNKNOWN");
}

#[test]
fn a_blob_mounts_from_a_repository_that_has_it() {
    let t = twin();
    let blob = b"shared layer";
    let digest = sha256(blob);
    let push = request(
        t.addr(),
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={digest}"),
        &[],
        blob,
    );
    assert_eq!(push.status, 201);
    let mount = request(
        t.addr(),
        "POST",
        &format!("/v2/locked/blobs/uploads/?mount={digest}&from=app"),
        &[],
        b"",
    );
    assert_eq!(mount.status, 201, "{mount:?}");
    assert_eq!(mount.header("docker-content-digest"), Some(digest.as_str()));
    let got = request(
        t.addr(),
        "GET",
        &format!("/v2/locked/blobs/{digest}"),
        &[],
        b"",
    );
    assert_eq!(got.body, blob);
    // Not in the source: an ordinary upload session instead.
    let other = sha256(b"not there");
    let fallback = request(
        t.addr(),
        "POST",
        &format!("/v2/locked/blobs/uploads/?mount={other}&from=app"),
        &[],
        b"",
    );
    assert_eq!(fallback.status, 202);
    assert!(fallback.header("docker-upload-uuid").is_some());
}

/// Pushes a config-only image's blobs and returns its manifest text.
fn tiny_manifest(t: &Twin) -> String {
    let tar = layer_tar("tiny");
    let layer_digest = sha256(&tar);
    request(
        t.addr(),
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={layer_digest}"),
        &[],
        &tar,
    );
    let p = haven_registry::host_platform();
    let config = serde_json::json!({
        "architecture": p.architecture, "os": p.os, "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let config_digest = sha256(config.as_bytes());
    request(
        t.addr(),
        "POST",
        &format!("/v2/app/blobs/uploads/?digest={config_digest}"),
        &[],
        config.as_bytes(),
    );
    serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": tar.len()}],
    })
    .to_string()
}

const OCI: (&str, &str) = ("Content-Type", "application/vnd.oci.image.manifest.v1+json");

#[test]
fn tags_list_pages_with_a_link_to_the_next() {
    let t = twin();
    let manifest = tiny_manifest(&t);
    for tag in ["e", "a", "d", "b", "c"] {
        let put = request(
            t.addr(),
            "PUT",
            &format!("/v2/app/manifests/{tag}"),
            &[OCI],
            manifest.as_bytes(),
        );
        assert_eq!(put.status, 201, "{put:?}");
    }
    let mut path = "/v2/app/tags/list?n=2".to_owned();
    let mut pages = Vec::new();
    loop {
        let reply = request(t.addr(), "GET", &path, &[], b"");
        assert_eq!(reply.json()["name"], "app");
        pages.push(reply.json()["tags"].clone());
        let Some(link) = reply.header("link") else {
            break;
        };
        path = link
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
    }
    assert_eq!(
        pages,
        [
            serde_json::json!(["a", "b"]),
            serde_json::json!(["c", "d"]),
            serde_json::json!(["e"])
        ]
    );
    let all = request(t.addr(), "GET", "/v2/app/tags/list", &[], b"");
    assert_eq!(
        all.json()["tags"],
        serde_json::json!(["a", "b", "c", "d", "e"])
    );
    // The hook fired once per push, each with its tag.
    let tags: Vec<Option<String>> = t.pushes.all().into_iter().map(|p| p.1).collect();
    assert_eq!(tags, ["e", "a", "d", "b", "c"].map(|t| Some(t.to_owned())));
}

#[test]
fn manifests_are_checked_served_and_deleted_by_digest() {
    let t = twin();
    let manifest = tiny_manifest(&t);
    let digest = sha256(manifest.as_bytes());
    // By digest: the digest must be the body's.
    let wrong = request(
        t.addr(),
        "PUT",
        &format!("/v2/app/manifests/{}", sha256(b"x")),
        &[OCI],
        manifest.as_bytes(),
    );
    assert_eq!(
        (wrong.status, wrong.code().as_str()),
        (400, "DIGEST_INVALID")
    );
    let put = request(
        t.addr(),
        "PUT",
        &format!("/v2/app/manifests/{digest}"),
        &[OCI],
        manifest.as_bytes(),
    );
    assert_eq!(put.status, 201);
    assert_eq!(
        put.header("location"),
        Some(&*format!("/v2/app/manifests/{digest}"))
    );
    assert_eq!(t.pushes.all(), [("app".to_owned(), None, digest.clone())]);
    let head = request(
        t.addr(),
        "HEAD",
        &format!("/v2/app/manifests/{digest}"),
        &[],
        b"",
    );
    assert_eq!(
        head.header("content-length"),
        Some(&*manifest.len().to_string())
    );
    assert_eq!(head.header("content-type"), Some(OCI.1));

    // A manifest naming a blob that is not there.
    let missing = manifest.replace(&sha256(&layer_tar("tiny")), &sha256(b"never pushed"));
    let reply = request(
        t.addr(),
        "PUT",
        "/v2/app/manifests/v1",
        &[OCI],
        missing.as_bytes(),
    );
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    // Not a manifest at all, an unknown media type, too large.
    let reply = request(t.addr(), "PUT", "/v2/app/manifests/v1", &[OCI], b"{]");
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (400, "MANIFEST_INVALID")
    );
    let reply = request(
        t.addr(),
        "PUT",
        "/v2/app/manifests/v1",
        &[("Content-Type", "application/vnd.example.thing+json")],
        manifest.as_bytes(),
    );
    assert_eq!(reply.code(), "MANIFEST_INVALID");
    assert!(
        reply.json()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("application/vnd.example.thing+json")
    );
    let huge = (haven_registry::MAX_JSON_BLOB + 1).to_string();
    let declared = ("Content-Length", huge.as_str());
    let reply = request(
        t.addr(),
        "PUT",
        "/v2/app/manifests/v1",
        &[OCI, declared],
        b"",
    );
    assert_eq!(
        (reply.status, reply.code().as_str()),
        (413, "MANIFEST_INVALID")
    );
    let reply = request(
        t.addr(),
        "PUT",
        "/v2/app/manifests/-bad",
        &[OCI],
        manifest.as_bytes(),
    );
    assert_eq!(reply.code(), "TAG_INVALID");

    let delete = request(
        t.addr(),
        "DELETE",
        &format!("/v2/app/manifests/{digest}"),
        &[],
        b"",
    );
    assert_eq!(delete.status, 202);
    let gone = request(
        t.addr(),
        "GET",
        &format!("/v2/app/manifests/{digest}"),
        &[],
        b"",
    );
    assert_eq!(gone.code(), "MANIFEST_UNKNOWN");
}
