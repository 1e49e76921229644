//! Schema versions on real files: fresh, older, pre-versioning and newer stores.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use haven_sqlite::{Error, Migrations, current_version, open, open_read_only, version};
use rusqlite::Connection;

/// Version 1 as the stores write it (idempotent), then one added column.
const V1: &str = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL);";
const V2: &str = "ALTER TABLE notes ADD COLUMN tag TEXT NOT NULL DEFAULT 'old';";
const ONE: &Migrations = &[V1];
const TWO: &Migrations = &[V1, V2];

/// A file written as `migrations` leave it, with one note, and `user_version` then set to
/// `stamp` (0: a store from before versions existed).
fn written(path: &Path, migrations: &Migrations, stamp: u32) {
    let conn = open(path, migrations).unwrap();
    conn.execute("INSERT INTO notes (text) VALUES ('kept')", [])
        .unwrap();
    conn.pragma_update(None, "user_version", stamp).unwrap();
}

fn notes(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT text FROM notes ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[test]
fn a_fresh_store_is_created_at_the_current_version() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("fresh.db");
    let conn = open(&path, TWO).unwrap();
    assert_eq!(version(&conn).unwrap(), current_version(TWO));
    assert_eq!(current_version(TWO), 2);
    conn.execute("INSERT INTO notes (text, tag) VALUES ('a', 'new')", [])
        .unwrap();
    drop(conn);
    // Opening it again changes nothing.
    let conn = open(&path, TWO).unwrap();
    assert_eq!(version(&conn).unwrap(), 2);
    assert_eq!(notes(&conn), ["a"]);
}

#[test]
fn older_stores_are_migrated_keeping_their_data() {
    // (what wrote the file, the version it carries): an older haven's store, and one written
    // before versions existed, which is adopted as version 1.
    for (written_as, stamp) in [(ONE, 1), (ONE, 0)] {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("old.db");
        written(&path, written_as, stamp);
        let conn = open(&path, TWO).unwrap();
        assert_eq!(version(&conn).unwrap(), 2, "stamped {stamp}");
        assert_eq!(notes(&conn), ["kept"], "stamped {stamp}");
        let tag: String = conn
            .query_row("SELECT tag FROM notes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tag, "old");
        // A read-only opener now finds it current.
        drop(conn);
        open_read_only(&path, TWO).unwrap();
    }
}

#[test]
fn a_store_from_before_versions_is_adopted_as_version_one() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("unversioned.db");
    written(&path, ONE, 0);
    // Read-only, without writing anything, it counts as version 1.
    let conn = open_read_only(&path, ONE).unwrap();
    assert_eq!(version(&conn).unwrap(), 0);
    drop(conn);
    let conn = open(&path, ONE).unwrap();
    assert_eq!(version(&conn).unwrap(), 1);
    assert_eq!(notes(&conn), ["kept"]);
}

#[test]
fn a_store_of_a_newer_haven_is_refused_naming_the_file_and_both_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("newer.db");
    written(&path, TWO, 7);
    for result in [open(&path, TWO), open_read_only(&path, TWO)] {
        let err = result.err().unwrap();
        assert!(
            matches!(
                err,
                Error::TooNew {
                    found: 7,
                    known: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("newer.db"), "{text}");
        assert!(text.contains("schema version 7"), "{text}");
        assert!(text.contains("up to 2"), "{text}");
    }
    // Untouched: still version 7 with its data.
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn).unwrap(), 7);
    assert_eq!(notes(&conn), ["kept"]);
}

#[test]
fn a_read_only_opener_does_not_migrate_an_older_store() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("old.db");
    written(&path, ONE, 1);
    let err = open_read_only(&path, TWO).err().unwrap();
    assert!(
        matches!(
            err,
            Error::NotMigrated {
                found: 1,
                known: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(version(&Connection::open(&path).unwrap()).unwrap(), 1);
}

#[test]
fn a_failing_migration_leaves_the_old_version_and_data() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("old.db");
    written(&path, ONE, 1);
    let broken: &Migrations = &[V1, V2, "THIS IS NOT SQL;"];
    let err = open(&path, broken).err().unwrap();
    assert!(
        matches!(err, Error::Migrate { from: 1, to: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("old.db"), "{err}");
    // The whole migration rolled back, the added column too.
    let conn = Connection::open(&path).unwrap();
    assert_eq!(version(&conn).unwrap(), 1);
    assert_eq!(notes(&conn), ["kept"]);
    assert!(
        conn.query_row("SELECT tag FROM notes", [], |r| r.get::<_, String>(0))
            .is_err()
    );
}
