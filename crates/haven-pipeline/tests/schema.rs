//! `pipeline.db` carries its schema version: a fresh file is current, a file from before versions
//! is adopted with its data, a newer haven's file is refused by name.
#![allow(clippy::unwrap_used)]

use haven_pipeline::{Error, Store};
use haven_sqlite::{file_version, set_file_version};

#[test]
fn schema_versions_of_pipeline_db() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pipeline").join("pipeline.db");
    let id = Store::open(&path)
        .unwrap()
        .create_run("abc", "main", &["Source"])
        .unwrap();
    assert_eq!(file_version(&path).unwrap(), 1, "a fresh file is current");

    // A file written before versions existed: adopted, its data kept.
    set_file_version(&path, 0).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.run(id).unwrap().unwrap().commit, "abc");
    drop(store);
    assert_eq!(file_version(&path).unwrap(), 1);

    set_file_version(&path, 2).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, Error::Open(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("pipeline.db") && text.contains("version 2") && text.contains("up to 1"),
        "{text}"
    );
    assert_eq!(file_version(&path).unwrap(), 2, "left untouched");
}
