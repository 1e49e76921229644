//! `pipeline.db` carries its schema version: a fresh file is current, a file from before versions
//! is adopted with its data, a newer haven's file is refused by name.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use haven_pipeline::{Error, Store};

fn user_version(path: &Path) -> u32 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn stamp(path: &Path, version: u32) {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_update(None, "user_version", version)
        .unwrap();
}

#[test]
fn schema_versions_of_pipeline_db() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline").join("pipeline.db");
    let id = Store::open(&path)
        .unwrap()
        .create_run("abc", "main", &["Source"])
        .unwrap();
    assert_eq!(user_version(&path), 1, "a fresh file is current");

    // A file written before versions existed: adopted, its data kept.
    stamp(&path, 0);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.run(id).unwrap().unwrap().commit, "abc");
    drop(store);
    assert_eq!(user_version(&path), 1);

    stamp(&path, 2);
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, Error::Open(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("pipeline.db") && text.contains("version 2") && text.contains("up to 1"),
        "{text}"
    );
    assert_eq!(user_version(&path), 2, "left untouched");
}
