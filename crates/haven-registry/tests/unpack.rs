//! Unpacking: once per digest, cached, and safe under concurrent callers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Barrier};

use common::*;

#[test]
fn a_second_unpack_returns_the_cached_rootfs() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let built = reg
        .build(&artifacts(&tmp.path().join("a"), "hello"), &spec(), "v1")
        .unwrap();
    let cache = tmp.path().join("cache");
    let first = reg.unpack("v1", &cache).unwrap();
    assert_eq!(first, cache.join(built.digest.hex()).join("rootfs"));
    let marker = first.join("target/release/hello");
    let inode = std::fs::metadata(&marker).unwrap().ino();
    // A second call, by digest this time, does not extract again: same file, same inode.
    let second = reg.unpack(built.digest.short(), &cache).unwrap();
    assert_eq!(second, first);
    assert_eq!(std::fs::metadata(&marker).unwrap().ino(), inode);
}

#[test]
fn concurrent_unpacks_of_one_digest_make_one_rootfs() {
    let tmp = tempfile::tempdir().unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    let built = reg
        .build(&artifacts(&tmp.path().join("a"), "hello"), &spec(), "v1")
        .unwrap();
    let cache = tmp.path().join("cache");
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            // Each thread opens the registry itself, as separate region processes would.
            let (root, cache, barrier) = (reg.root().to_path_buf(), cache.clone(), barrier.clone());
            std::thread::spawn(move || {
                let reg = open(&root, IMMUTABLE);
                barrier.wait();
                reg.unpack("v1", &cache).unwrap()
            })
        })
        .collect();
    let paths: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(paths.iter().all(|p| *p == paths[0]));
    let image_dir = cache.join(built.digest.hex());
    let entries: Vec<String> = std::fs::read_dir(&image_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        entries,
        [".lock", "rootfs"],
        "one rootfs and no temp directories"
    );
    assert_eq!(tree(&paths[0]), tree(&tmp.path().join("a")));
}

#[test]
fn a_read_only_directory_in_the_image_unpacks() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let a = artifacts(&tmp.path().join("a"), "hello");
    std::fs::set_permissions(a.join("static/css"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let reg = open(&tmp.path().join("reg"), IMMUTABLE);
    reg.build(&a, &spec(), "v1").unwrap();
    let rootfs = reg.unpack("v1", &tmp.path().join("cache")).unwrap();
    let css = rootfs.join("static/css");
    assert_eq!(
        std::fs::metadata(&css).unwrap().permissions().mode() & 0o777,
        0o555
    );
    assert!(css.join("site.css").is_file());
    // Let the temp dir be removed.
    std::fs::set_permissions(&css, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(a.join("static/css"), std::fs::Permissions::from_mode(0o755)).unwrap();
}
