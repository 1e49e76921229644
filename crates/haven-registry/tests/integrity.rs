//! Integrity: a corrupt blob is never unpacked, shown or copied; a layer whose entries would
//! land outside the rootfs is refused even when its digest is right.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use haven_registry::{Error, Registry};

/// A registry with one image, `v1`, whose layer has one byte flipped at `at(layer size)`.
fn corrupted(tmp: &std::path::Path, at: fn(u64) -> u64) -> (Registry, haven_registry::Digest) {
    let reg = open(&tmp.join("reg"), IMMUTABLE);
    reg.build(&artifacts(&tmp.join("a"), "hello"), &spec(), "v1")
        .unwrap();
    let layer = layer_of(&reg, "v1");
    flip_byte(&reg, &layer.digest, at(layer.size));
    (reg, layer.digest)
}

fn assert_corrupt(err: &Error, digest: &haven_registry::Digest) {
    match err {
        Error::Corrupt { digest: d, path } => {
            assert_eq!(d, digest);
            assert!(path.ends_with(digest.hex()), "{}", path.display());
        }
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[test]
fn a_flipped_byte_in_a_layer_is_corrupt_for_unpack_inspect_and_copy() {
    // In a file's content (tar stays well-formed) and in the first header (it does not): both
    // must be reported as the corruption they are, not as a tar error.
    let places: [fn(u64) -> u64; 2] = [|len| len / 2, |_| 0];
    for at in places {
        let tmp = tempfile::tempdir().unwrap();
        let (reg, layer) = corrupted(tmp.path(), at);
        let cache = tmp.path().join("cache");

        assert_corrupt(&reg.unpack("v1", &cache).unwrap_err(), &layer);
        let image_dir = cache.join(reg.resolve("v1").unwrap().hex());
        assert_eq!(tree(&image_dir), [".lock"], "nothing unpacked is left");

        assert_corrupt(&reg.inspect("v1").unwrap_err(), &layer);

        let dest = open(&tmp.path().join("dest"), IMMUTABLE);
        assert_corrupt(&reg.copy("v1", &dest).unwrap_err(), &layer);
        assert!(dest.list().unwrap().is_empty());
        assert_eq!(blob_count(&dest), 0, "the destination got no blob");
        assert_eq!(
            std::fs::read_dir(dest.root().join(".tmp")).unwrap().count(),
            0
        );
    }
}

#[test]
fn a_truncated_or_missing_blob_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    reg.build(&artifacts(&tmp.path().join("a"), "hello"), &spec(), "v1")
        .unwrap();
    let layer = layer_of(&reg, "v1");
    let path = reg.blob_path(&layer.digest);
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        reg.unpack("v1", &tmp.path().join("c")),
        Err(Error::MissingBlob { .. })
    ));
    std::fs::write(&path, b"short").unwrap();
    assert_corrupt(&reg.inspect("v1").unwrap_err(), &layer.digest);
}

fn refused(layer: Vec<u8>, expect: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let layer = finish_tar(layer);
    let digest = inject_image(&reg, &layer, "evil");
    // The digests are all correct: only the content is hostile.
    assert!(reg.inspect("evil").is_ok());
    let cache = tmp.path().join("cache");
    let err = reg.unpack("evil", &cache).unwrap_err();
    match &err {
        Error::UnsafeEntry { reason, .. } => assert!(reason.contains(expect), "{err}"),
        other => panic!("expected UnsafeEntry, got {other}"),
    }
    assert!(!cache.join(digest.hex()).join("rootfs").exists());
    assert_eq!(tree(&outside), Vec::<String>::new(), "nothing escaped");
    assert!(!tmp.path().join("escaped").exists());
}

#[test]
fn path_traversal_is_refused() {
    refused(
        raw_entry(b"../../escaped", tar::EntryType::Regular, b"", b"pwned"),
        "`..`",
    );
    refused(
        raw_entry(
            b"ok/../../../escaped",
            tar::EntryType::Regular,
            b"",
            b"pwned",
        ),
        "`..`",
    );
    refused(
        raw_entry(b"/tmp/escaped", tar::EntryType::Regular, b"", b"pwned"),
        "absolute",
    );
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    let mut layer = raw_entry(
        b"link",
        tar::EntryType::Symlink,
        outside.to_str().unwrap().as_bytes(),
        b"",
    );
    layer.extend(raw_entry(
        b"link/pwned",
        tar::EntryType::Regular,
        b"",
        b"pwned",
    ));
    refused(layer.clone(), "symlink");
    // The same with a relative symlink climbing out.
    let mut layer = raw_entry(b"up", tar::EntryType::Symlink, b"../../..", b"");
    layer.extend(raw_entry(
        b"up/escaped",
        tar::EntryType::Regular,
        b"",
        b"pwned",
    ));
    refused(layer, "symlink");
}

#[test]
fn hard_links_out_and_special_files_are_refused() {
    refused(
        raw_entry(b"passwd", tar::EntryType::Link, b"../../etc/passwd", b""),
        "hard link",
    );
    refused(
        raw_entry(b"dev", tar::EntryType::Char, b"", b""),
        "special files",
    );
}

#[test]
fn a_hand_made_layer_with_safe_entries_unpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let mut layer = raw_entry(b"./", tar::EntryType::Directory, b"", b"");
    layer.extend(raw_entry(
        b"./a/b.txt",
        tar::EntryType::Regular,
        b"",
        b"bee",
    ));
    layer.extend(raw_entry(b"a/hard", tar::EntryType::Link, b"a/b.txt", b""));
    inject_image(&reg, &finish_tar(layer), "ok");
    let rootfs = reg.unpack("ok", &tmp.path().join("cache")).unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.join("a/hard")).unwrap(),
        "bee"
    );
}
