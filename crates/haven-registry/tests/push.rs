//! Images pushed blob by blob, as the distribution API pushes them: Docker v2 schema 2 and
//! OCI manifests with gzip layers and whiteouts, image indexes, upload sessions whose bytes
//! must match their digest, and the tag policy on manifests put by tag.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;

use common::{IMMUTABLE, MUTABLE, blob_count, finish_tar, open, raw_entry};
use haven_registry::oci::{
    DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER, MEDIA_TYPE_MANIFEST,
};
use haven_registry::{
    Digest, Error, ManifestKind, Reference, Registry, ScanOptions, host_platform,
};
use serde_json::json;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Pushes a blob through an upload session in two chunks.
fn push_blob(reg: &Registry, bytes: &[u8]) -> Digest {
    let digest = Digest::of(bytes);
    let mut up = reg.start_upload().unwrap();
    let half = bytes.len() / 2;
    up.append_at(0, &bytes[..half]).unwrap();
    up.append_at(half as u64, &bytes[half..]).unwrap();
    assert_eq!(up.finish(&digest).unwrap(), bytes.len() as u64);
    digest
}

fn file(name: &str, data: &[u8]) -> Vec<u8> {
    raw_entry(name.as_bytes(), tar::EntryType::Regular, b"", data)
}

fn dir(name: &str) -> Vec<u8> {
    raw_entry(name.as_bytes(), tar::EntryType::Directory, b"", b"")
}

/// An image of tar layers (gzip or not), with `user`, pushed under `reference`; returns the
/// manifest's digest.
fn push_image(
    reg: &Registry,
    docker: bool,
    layers: &[(Vec<u8>, bool)],
    user: Option<&str>,
    platform: (&str, &str),
    reference: &str,
) -> Result<haven_registry::PutManifest, Error> {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for (tar, gz) in layers {
        let blob = if *gz { gzip(tar) } else { tar.clone() };
        let digest = push_blob(reg, &blob);
        diff_ids.push(Digest::of(tar).to_string());
        let media_type = match (docker, gz) {
            (true, true) => DOCKER_LAYER_GZIP,
            (true, false) => DOCKER_LAYER,
            (false, true) => "application/vnd.oci.image.layer.v1.tar+gzip",
            (false, false) => MEDIA_TYPE_LAYER,
        };
        descs.push(
            json!({"mediaType": media_type, "digest": digest.to_string(), "size": blob.len()}),
        );
    }
    let config = json!({
        "architecture": platform.1, "os": platform.0,
        "config": {"Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "User": user.unwrap_or("")},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_digest = push_blob(reg, config.as_bytes());
    let (mt, config_mt) = if docker {
        (DOCKER_MANIFEST, DOCKER_CONFIG)
    } else {
        (MEDIA_TYPE_MANIFEST, MEDIA_TYPE_CONFIG)
    };
    let manifest = json!({
        "schemaVersion": 2, "mediaType": mt,
        "config": {"mediaType": config_mt, "digest": config_digest.to_string(), "size": config.len()},
        "layers": descs,
    })
    .to_string();
    let reference = if reference.is_empty() {
        Reference::Digest(Digest::of(manifest.as_bytes()))
    } else {
        Reference::parse(reference).unwrap()
    };
    reg.put_manifest(&reference, Some(mt), manifest.as_bytes())
}

fn host() -> (String, String) {
    let p = host_platform();
    (p.os, p.architecture)
}

#[test]
fn a_docker_gzip_image_with_whiteouts_unpacks_scans_and_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), MUTABLE);
    let lower = finish_tar(
        [
            dir("etc/"),
            file("etc/keep", b"kept"),
            file("etc/gone", b"deleted by a whiteout"),
            dir("var/"),
            file("var/old", b"hidden by an opaque whiteout"),
            // An access key id, split so that this file does not hold one.
            file(
                "app.env",
                ["AWS_ACCESS_KEY_ID=AKIA", "Q7ZT4M2XK9LB3VWN\n"]
                    .concat()
                    .as_bytes(),
            ),
        ]
        .concat(),
    );
    let upper = finish_tar(
        [
            file("var/new", b"same layer as the opaque marker"),
            file("var/.wh..wh..opq", b""),
            file("etc/.wh.gone", b""),
        ]
        .concat(),
    );
    let (os, arch) = host();
    let put = push_image(
        &reg,
        true,
        &[(lower, true), (upper, false)],
        Some("1000:1000"),
        (&os, &arch),
        "v1",
    )
    .unwrap();
    assert_eq!(put.kind, ManifestKind::DockerImage);
    assert_eq!(put.tagged.unwrap().digest, put.digest);

    let got = reg.get_manifest(&Reference::parse("v1").unwrap()).unwrap();
    assert_eq!(
        (got.digest.clone(), got.media_type.as_str()),
        (put.digest.clone(), DOCKER_MANIFEST)
    );
    assert_eq!(Digest::of(&got.bytes), put.digest);
    assert_eq!(reg.tags().unwrap(), ["v1"]);

    let config = reg.config("v1").unwrap();
    assert_eq!(config.user.as_deref(), Some("1000:1000"));
    assert_eq!(config.entrypoint, ["/bin/app", "--serve"]);

    let rootfs = reg.unpack("v1", &tmp.path().join("cache")).unwrap();
    assert_eq!(std::fs::read(rootfs.join("etc/keep")).unwrap(), b"kept");
    assert!(!rootfs.join("etc/gone").exists());
    assert!(!rootfs.join("var/old").exists());
    assert!(rootfs.join("var/new").exists());
    assert!(!rootfs.join("var/.wh..wh..opq").exists());

    let detail = reg.inspect("v1").unwrap();
    assert_eq!(detail.media_type, DOCKER_MANIFEST);
    assert_eq!(reg.list().unwrap()[0].problem, None);

    let report = reg.scan("v1", &ScanOptions::default()).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.location.starts_with("/app.env")),
        "{report:?}"
    );

    let other = open(&tmp.path().join("other"), MUTABLE);
    reg.copy("v1", &other).unwrap();
    other.verify(&put.digest).unwrap();
    assert_eq!(
        other
            .get_manifest(&Reference::Digest(put.digest.clone()))
            .unwrap()
            .bytes,
        got.bytes
    );
}

#[test]
fn an_upload_that_does_not_match_its_digest_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(tmp.path(), MUTABLE);
    let before = blob_count(&reg);
    let mut up = reg.start_upload().unwrap();
    up.append(b"hello").unwrap();
    let err = up.append_at(3, b"x").unwrap_err();
    assert!(
        matches!(
            err,
            Error::UploadOffset {
                expected: 5,
                got: 3
            }
        ),
        "{err}"
    );
    let path = up.path().to_path_buf();
    let err = up.finish(&Digest::of(b"something else")).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(!path.exists());
    assert_eq!(blob_count(&reg), before);
    assert_eq!(reg.blob_size(&Digest::of(b"hello")).unwrap(), None);

    let cancelled = reg.start_upload().unwrap();
    let path = cancelled.path().to_path_buf();
    cancelled.cancel();
    assert!(!path.exists());
}

#[test]
fn pushed_blobs_survive_gc_until_a_manifest_takes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(tmp.path(), MUTABLE);
    let digest = push_blob(&reg, b"a layer pushed before its manifest");
    assert!(reg.gc().unwrap().freed.is_empty());
    let mut stream = reg.read_blob_stream(&digest).unwrap().unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut stream, &mut bytes).unwrap();
    stream.finish().unwrap();
    assert_eq!(bytes, b"a layer pushed before its manifest");

    let other = open(&tmp.path().join("other"), MUTABLE);
    assert_eq!(
        other.mount_blob(&reg, &digest).unwrap(),
        Some(bytes.len() as u64)
    );
    assert_eq!(other.mount_blob(&reg, &Digest::of(b"nope")).unwrap(), None);
}

#[test]
fn manifests_naming_missing_blobs_or_unknown_types_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(tmp.path(), MUTABLE);
    let missing = Digest::of(b"never pushed");
    let manifest = json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_CONFIG, "digest": missing.to_string(), "size": 12},
        "layers": [],
    })
    .to_string();
    let tag = Reference::parse("v1").unwrap();
    let err = reg
        .put_manifest(&tag, None, manifest.as_bytes())
        .unwrap_err();
    assert!(
        matches!(&err, Error::ManifestBlobUnknown { digest } if *digest == missing),
        "{err}"
    );

    let zstd = manifest.replace(MEDIA_TYPE_CONFIG, "application/vnd.example.config+json");
    let err = reg.put_manifest(&tag, None, zstd.as_bytes()).unwrap_err();
    assert!(
        err.to_string()
            .contains("application/vnd.example.config+json"),
        "{err}"
    );

    let err = reg
        .put_manifest(
            &tag,
            Some("application/vnd.example+json"),
            manifest.as_bytes(),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("application/vnd.example+json"),
        "{err}"
    );

    let by_digest = Reference::Digest(Digest::of(b"other bytes"));
    let err = reg
        .put_manifest(&by_digest, None, manifest.as_bytes())
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    let err = reg.put_manifest(&tag, None, b"{not json").unwrap_err();
    assert!(matches!(err, Error::ManifestInvalid { .. }), "{err}");
    assert!(reg.list().unwrap().is_empty());
}

#[test]
fn an_immutable_tag_refuses_another_manifest_but_not_the_same_one() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(tmp.path(), IMMUTABLE);
    let (os, arch) = host();
    let layer = |s: &str| (finish_tar(file("f", s.as_bytes())), true);
    let first = push_image(&reg, false, &[layer("one")], None, (&os, &arch), "v1").unwrap();
    push_image(&reg, false, &[layer("one")], None, (&os, &arch), "v1").unwrap();
    let err = push_image(&reg, false, &[layer("two")], None, (&os, &arch), "v1").unwrap_err();
    assert!(
        matches!(&err, Error::TagExists { tag, .. } if tag == "v1"),
        "{err}"
    );
    assert_eq!(reg.resolve("v1").unwrap(), first.digest);
    assert_eq!(reg.config("v1").unwrap().user, None);
}

#[test]
fn a_layer_whose_content_is_not_its_diff_id_is_not_unpacked() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(tmp.path(), MUTABLE);
    let tar = finish_tar(file("f", b"content"));
    let blob = gzip(&tar);
    let layer = push_blob(&reg, &blob);
    let config = json!({
        "architecture": host().1, "os": host().0, "config": {},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(b"another tar").to_string()]},
    })
    .to_string();
    let config_digest = push_blob(&reg, config.as_bytes());
    let manifest = json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
        "config": {"mediaType": MEDIA_TYPE_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer.to_string(), "size": blob.len()}],
    })
    .to_string();
    reg.put_manifest(&Reference::parse("bad").unwrap(), None, manifest.as_bytes())
        .unwrap();
    let err = reg.unpack("bad", &tmp.path().join("cache")).unwrap_err();
    assert!(matches!(err, Error::DiffIdMismatch { .. }), "{err}");
    assert!(
        !tmp.path()
            .join("cache")
            .join(reg.resolve("bad").unwrap().hex())
            .join("rootfs")
            .exists()
    );
}

#[test]
fn an_index_stands_for_the_host_image_and_keeps_all_its_images() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), MUTABLE);
    let (os, arch) = host();
    let foreign = if arch == "amd64" { "arm64" } else { "amd64" };
    let layer = |s: &str| (finish_tar(file("which", s.as_bytes())), true);
    let here = push_image(&reg, false, &[layer("host")], None, (&os, &arch), "").unwrap();
    let there = push_image(&reg, false, &[layer("foreign")], None, (&os, foreign), "").unwrap();
    // Pushed by digest, before their index: untagged images for now.
    assert_eq!(reg.list().unwrap().len(), 2);
    let size = |d: &Digest| reg.blob_size(d).unwrap().unwrap();
    let index = json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX,
        "manifests": [
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": there.digest.to_string(), "size": size(&there.digest),
             "platform": {"os": os, "architecture": foreign}},
            {"mediaType": MEDIA_TYPE_MANIFEST, "digest": here.digest.to_string(), "size": size(&here.digest),
             "platform": {"os": os, "architecture": arch}},
        ],
    })
    .to_string();
    let put = reg
        .put_manifest(&Reference::parse("multi").unwrap(), None, index.as_bytes())
        .unwrap();
    assert_eq!(put.kind, ManifestKind::OciIndex);
    // One image now: the index, standing for the host's.
    let list = reg.list().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].digest, put.digest);
    let rootfs = reg.unpack("multi", &tmp.path().join("cache")).unwrap();
    assert_eq!(std::fs::read(rootfs.join("which")).unwrap(), b"host");
    let detail = reg.inspect("multi").unwrap();
    assert_eq!(
        (detail.media_type.as_str(), detail.platforms.len()),
        (MEDIA_TYPE_INDEX, 2)
    );
    // Its images are still served by digest.
    let child = reg
        .get_manifest(&Reference::Digest(there.digest.clone()))
        .unwrap();
    assert_eq!(child.media_type, MEDIA_TYPE_MANIFEST);
    assert!(reg.gc().unwrap().freed.is_empty());

    let other = open(&tmp.path().join("other"), MUTABLE);
    reg.copy("multi", &other).unwrap();
    other.verify(&put.digest).unwrap();
    other
        .get_manifest(&Reference::Digest(there.digest.clone()))
        .unwrap();

    let removed = reg.delete_manifest(&put.digest).unwrap();
    assert!(removed.image_deleted);
    assert!(reg.list().unwrap().is_empty());
    assert!(reg.get_manifest(&Reference::Digest(here.digest)).is_err());
}

#[test]
fn an_index_without_the_host_platform_says_which_it_has() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(tmp.path(), MUTABLE);
    let (os, arch) = host();
    let foreign = if arch == "amd64" { "arm64" } else { "amd64" };
    let layer = (finish_tar(file("f", b"x")), false);
    let there = push_image(&reg, false, &[layer], None, (&os, foreign), "").unwrap();
    let index = json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX,
        "manifests": [{"mediaType": MEDIA_TYPE_MANIFEST, "digest": there.digest.to_string(),
            "size": reg.blob_size(&there.digest).unwrap().unwrap(),
            "platform": {"os": os, "architecture": foreign}}],
    })
    .to_string();
    reg.put_manifest(
        &Reference::parse("foreign").unwrap(),
        None,
        index.as_bytes(),
    )
    .unwrap();
    let err = reg.config("foreign").unwrap_err();
    assert!(matches!(err, Error::NoPlatform { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("{os}/{foreign}")),
        "{err}"
    );
    assert!(reg.list().unwrap()[0].problem.is_some());
}
