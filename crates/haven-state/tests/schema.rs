//! `state.db` carries its schema version: a fresh file is current, a file from before versions
//! is adopted with its data, a newer haven's file is refused by name.
#![allow(clippy::unwrap_used)]

use haven_sqlite::{file_version, set_file_version};
use haven_state::{Error, Store};

#[test]
fn schema_versions_of_state_db() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    Store::open(&path).unwrap().set_desired("web", 3).unwrap();
    assert_eq!(file_version(&path).unwrap(), 1, "a fresh file is current");

    // A file written before versions existed: adopted, its data kept.
    set_file_version(&path, 0).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.desired_or_init("web", 1).unwrap(), 3);
    drop(store);
    assert_eq!(file_version(&path).unwrap(), 1);

    set_file_version(&path, 4).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, Error::Open(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("state.db") && text.contains("version 4") && text.contains("up to 1"),
        "{text}"
    );
    assert_eq!(file_version(&path).unwrap(), 4, "left untouched");
}
