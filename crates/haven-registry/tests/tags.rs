//! Tags with ECR's semantics: immutable tags refuse to move, mutable ones move and leave the
//! old image untagged, removal by tag or digest, garbage collection, references.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use haven_registry::Error;

#[test]
fn an_immutable_tag_refuses_to_move_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let a = reg
        .build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "v1")
        .unwrap();
    let b_dir = artifacts(&tmp.path().join("b"), "b");
    let blobs_before = blob_count(&reg);

    let err = reg.build(&b_dir, &spec(), "v1").unwrap_err();
    let Error::TagExists {
        tag,
        current,
        requested,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((tag.as_str(), current), ("v1", &a.digest));
    let msg = err.to_string();
    assert!(msg.contains("`v1`"), "{msg}");
    assert!(msg.contains(&a.digest.to_string()), "{msg}");
    assert!(msg.contains(&requested.to_string()), "{msg}");
    assert!(msg.contains("ImageTagAlreadyExistsException"), "{msg}");
    // A refused push leaves nothing behind.
    assert_eq!(blob_count(&reg), blobs_before);
    assert_eq!(reg.resolve("v1").unwrap(), a.digest);
    assert_eq!(
        std::fs::read_dir(reg.root().join(".tmp")).unwrap().count(),
        0
    );

    // Re-tagging the same image is a no-op, not a conflict: so is rebuilding it.
    let again = reg.tag(&a.digest.to_string(), "v1").unwrap();
    assert!(!again.changed);
    let rebuilt = reg.build(&tmp.path().join("a"), &spec(), "v1").unwrap();
    assert_eq!(rebuilt.digest, a.digest);
    assert!(!rebuilt.changed);

    // Moving it with `tag` is refused the same way.
    let b = reg.build(&b_dir, &spec(), "v2").unwrap();
    let err = reg.tag("v2", "v1").unwrap_err();
    assert!(matches!(err, Error::TagExists { .. }), "{err}");
    assert_eq!(reg.resolve("v1").unwrap(), a.digest);
    assert_eq!(reg.resolve("v2").unwrap(), b.digest);
}

#[test]
fn a_mutable_tag_moves_and_leaves_the_old_image_untagged() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), MUTABLE);
    let a = reg
        .build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "latest")
        .unwrap();
    let b = reg
        .build(&artifacts(&tmp.path().join("b"), "b"), &spec(), "latest")
        .unwrap();
    assert_eq!(b.moved_from.as_ref(), Some(&a.digest));
    assert_eq!(reg.resolve("latest").unwrap(), b.digest);

    let list = reg.list().unwrap();
    assert_eq!(list.len(), 2);
    let old = list.iter().find(|i| i.digest == a.digest).unwrap();
    assert!(old.tags.is_empty(), "{old:?}");
    assert_eq!(old.entrypoint[0], "target/release/hello");

    // And back with `tag`: the tag moves, b is untagged now.
    let t = reg.tag(&a.digest.to_string(), "latest").unwrap();
    assert_eq!(t.moved_from.as_ref(), Some(&b.digest));
    assert!(reg.inspect(&b.digest.to_string()).unwrap().tags.is_empty());
}

#[test]
fn rm_by_tag_and_digest_collects_garbage() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let a = reg
        .build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "a1")
        .unwrap();
    reg.tag("a1", "a2").unwrap();
    let b = reg
        .build(&artifacts(&tmp.path().join("b"), "b"), &spec(), "b1")
        .unwrap();
    assert_eq!(blob_count(&reg), 6);

    // One of two tags: the image stays.
    let r = reg.rm("a1").unwrap();
    assert_eq!(r.tags, ["a1"]);
    assert!(!r.image_deleted);
    assert!(r.freed.is_empty());
    assert_eq!(reg.resolve("a2").unwrap(), a.digest);
    assert!(matches!(reg.resolve("a1"), Err(Error::NotFound { .. })));

    // Its last tag: the image goes, and its three blobs with it; b's stay.
    let r = reg.rm("a2").unwrap();
    assert!(r.image_deleted);
    assert_eq!(r.freed.len(), 3);
    assert!(r.freed.contains(&a.digest));
    assert!(r.bytes_freed >= a.size);
    assert_eq!(blob_count(&reg), 3);
    assert_eq!(reg.list().unwrap().len(), 1);
    assert!(reg.inspect("b1").is_ok());

    // By a digest prefix: all its tags go.
    reg.tag("b1", "b2").unwrap();
    let r = reg.rm(&b.digest.hex()[..10]).unwrap();
    assert_eq!(r.tags, ["b1", "b2"]);
    assert!(r.image_deleted);
    assert_eq!(blob_count(&reg), 0);
    assert!(reg.list().unwrap().is_empty());
}

#[test]
fn untag_keeps_the_image_and_gc_keeps_untagged_images() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let a = reg
        .build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "v1")
        .unwrap();
    assert_eq!(reg.untag("v1").unwrap(), a.digest);
    assert!(matches!(reg.untag("v1"), Err(Error::NotATag { .. })));
    assert!(reg.gc().unwrap().freed.is_empty());
    let list = reg.list().unwrap();
    assert_eq!(list.len(), 1);
    assert!(list[0].tags.is_empty());
    assert!(list[0].created.is_some());
    // A stray blob nothing refers to is garbage.
    std::fs::write(reg.blob_path(&haven_registry::Digest::of(b"junk")), b"junk").unwrap();
    assert_eq!(reg.gc().unwrap().freed.len(), 1);
    assert_eq!(blob_count(&reg), 3);
}

#[test]
fn references_resolve_as_tag_digest_or_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let a = reg
        .build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "v1")
        .unwrap();
    let d = a.digest.to_string();
    for r in [
        "v1",
        d.as_str(),
        &d[..20],
        a.digest.hex(),
        &a.digest.hex()[..4],
        a.digest.short(),
    ] {
        assert_eq!(reg.resolve(r).unwrap(), a.digest, "{r}");
    }
    assert!(matches!(
        reg.resolve(&a.digest.hex()[..3]),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(reg.resolve("v2"), Err(Error::NotFound { .. })));
    assert!(matches!(
        reg.resolve("sha256:xyz"),
        Err(Error::InvalidDigest { .. })
    ));
    let err = reg.resolve("nope").unwrap_err().to_string();
    assert!(err.contains("`nope`"), "{err}");
    assert!(matches!(
        reg.tag("v1", "bad/tag"),
        Err(Error::InvalidTag { .. })
    ));
}

#[test]
fn a_corrupt_config_still_lists_with_its_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    reg.build(&artifacts(&tmp.path().join("a"), "a"), &spec(), "v1")
        .unwrap();
    let config = reg.inspect("v1").unwrap().manifest.config.digest;
    flip_byte(&reg, &config, 3);
    let list = reg.list().unwrap();
    assert_eq!(list[0].tags, ["v1"]);
    let problem = list[0].problem.as_deref().unwrap();
    assert!(
        problem.contains("corrupt") && problem.contains(&config.to_string()),
        "{problem}"
    );
    assert!(matches!(reg.config("v1"), Err(Error::Corrupt { .. })));
    // Removing it works, and garbage collection refuses nothing it can account for.
    let r = reg.rm("v1").unwrap();
    assert!(r.image_deleted);
    assert_eq!(blob_count(&reg), 0);
}
