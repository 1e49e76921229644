//! Replication: copying an image to another region's registry and running it from there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use haven_registry::Error;

#[test]
fn a_copied_image_unpacks_and_runs_in_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let primary = open(&tmp.path().join("us-east-1"), IMMUTABLE);
    let secondary = open(&tmp.path().join("us-west-2"), IMMUTABLE);
    let built = primary
        .build(&artifacts(&tmp.path().join("a"), "hello"), &spec(), "v1")
        .unwrap();

    assert_eq!(primary.copy("v1", &secondary).unwrap(), built.digest);
    assert_eq!(secondary.resolve("v1").unwrap(), built.digest);
    assert_eq!(blob_count(&secondary), 3);
    // Same image, same creation time, same config; pushed to the destination by the copy
    // (ECR's imagePushedAt is per registry), so not before it was pushed to the source.
    let (mut src, mut dst) = (primary.list().unwrap(), secondary.list().unwrap());
    assert!(dst[0].pushed_at >= src[0].pushed_at, "{src:?} {dst:?}");
    src[0].pushed_at.clear();
    dst[0].pushed_at.clear();
    assert_eq!(src, dst);
    secondary.verify(&built.digest).unwrap();
    assert_eq!(secondary.config("v1").unwrap(), spec());

    // The destination's own copy runs, with the source gone.
    std::fs::remove_dir_all(primary.root()).unwrap();
    let rootfs = secondary
        .unpack("v1", &tmp.path().join("cache-west"))
        .unwrap();
    let out = std::process::Command::new(rootfs.join("target/release/hello"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
}

#[test]
fn copy_by_digest_brings_every_tag_and_is_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let primary = open(&tmp.path().join("p"), IMMUTABLE);
    let secondary = open(&tmp.path().join("s"), IMMUTABLE);
    let built = primary
        .build(&artifacts(&tmp.path().join("a"), "hello"), &spec(), "v1")
        .unwrap();
    primary.tag("v1", "stable").unwrap();
    let digest = built.digest.to_string();
    primary.copy(&digest, &secondary).unwrap();
    primary.copy(&digest, &secondary).unwrap();
    assert_eq!(
        secondary.inspect("v1").unwrap().tags,
        ["stable".to_owned(), "v1".to_owned()]
    );
    assert_eq!(secondary.list().unwrap().len(), 1);
    assert_eq!(blob_count(&secondary), 3);
}

#[test]
fn the_destination_policy_refuses_moving_its_immutable_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let primary = open(&tmp.path().join("p"), MUTABLE);
    let secondary = open(&tmp.path().join("s"), IMMUTABLE);
    primary
        .build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "latest")
        .unwrap();
    primary.copy("latest", &secondary).unwrap();
    let first = secondary.resolve("latest").unwrap();
    let b = primary
        .build(&artifacts(&tmp.path().join("b"), "b"), &spec(), "latest")
        .unwrap();
    let err = primary.copy("latest", &secondary).unwrap_err();
    assert!(matches!(err, Error::TagExists { .. }), "{err}");
    assert_eq!(secondary.resolve("latest").unwrap(), first);
    // Refused before any blob was copied.
    assert_eq!(blob_count(&secondary), 3);
    assert!(secondary.resolve(&b.digest.to_string()).is_err());
}
