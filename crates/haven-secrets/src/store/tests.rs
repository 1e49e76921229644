//! The store's behaviour on real files in temp directories.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use super::*;

const VALUE: &str = "correct horse battery staple";

fn store() -> (tempfile::TempDir, SecretStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SecretStore::open(dir.path().join("secrets")).unwrap();
    (dir, store)
}

/// Every byte of every file in the store's directory.
fn all_bytes(store: &SecretStore) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(store.dir())
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn edit_file(store: &SecretStore, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = store.file_path();
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut doc);
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
}

#[test]
fn round_trip() {
    let (_d, store) = store();
    assert_eq!(store.get("/hello/db-password").unwrap(), None);
    assert_eq!(store.set("/hello/db-password", VALUE).unwrap(), 1);
    assert_eq!(store.set("plain_name", "x").unwrap(), 1);
    assert_eq!(
        store.get("/hello/db-password").unwrap().as_deref(),
        Some(VALUE)
    );
    assert_eq!(store.get("plain_name").unwrap().as_deref(), Some("x"));
    // Unicode and newlines survive as they are.
    store.set("/hello/multi", "line one\nline two é").unwrap();
    assert_eq!(
        store.get("/hello/multi").unwrap().as_deref(),
        Some("line one\nline two é")
    );
    // A second handle (another process, in effect) reads the same values.
    let again = SecretStore::open(store.dir()).unwrap();
    assert_eq!(
        again.get("/hello/db-password").unwrap().as_deref(),
        Some(VALUE)
    );
}

#[test]
fn versions_count_as_in_ssm() {
    let (_d, store) = store();
    assert_eq!(store.set("/hello/token", "a").unwrap(), 1);
    assert_eq!(store.set("/hello/token", "b").unwrap(), 2);
    assert_eq!(store.set("/hello/token", "b").unwrap(), 3);
    assert_eq!(store.set("/hello/other", "c").unwrap(), 1);
    let list = store.list().unwrap();
    let names: Vec<_> = list.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["/hello/other", "/hello/token"]);
    assert_eq!(list[1].version, 3);
    assert_eq!(list[1].kind, "SecureString");
    assert!(list[1].last_modified_ms > 1_700_000_000_000);
    assert!(
        list[1].last_modified.ends_with('Z'),
        "{}",
        list[1].last_modified
    );
    assert_eq!(store.get("/hello/token").unwrap().as_deref(), Some("b"));

    assert!(store.remove("/hello/token").unwrap());
    assert!(!store.remove("/hello/token").unwrap());
    assert_eq!(store.get("/hello/token").unwrap(), None);
    // Deleting a parameter deletes its history: it starts again at 1.
    assert_eq!(store.set("/hello/token", "d").unwrap(), 1);
}

#[test]
fn plaintext_never_reaches_the_disk() {
    let (_d, store) = store();
    store.set("/hello/db-password", VALUE).unwrap();
    store.set("/hello/copy", VALUE).unwrap();
    let files = all_bytes(&store);
    assert!(files.iter().any(|(p, _)| p.ends_with("parameters.json")));
    for (path, bytes) in &files {
        assert!(
            !contains(bytes, VALUE.as_bytes()),
            "{} holds the plaintext",
            path.display()
        );
        let hex_value = hex(VALUE.as_bytes());
        assert!(!contains(bytes, hex_value.as_bytes()), "{}", path.display());
    }
    // A fresh nonce per value: the same value under two names seals differently.
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.file_path()).unwrap()).unwrap();
    let a = &doc["parameters"]["/hello/db-password"];
    let b = &doc["parameters"]["/hello/copy"];
    assert_ne!(a["nonce"], b["nonce"]);
    assert_ne!(a["ciphertext"], b["ciphertext"]);
}

#[test]
fn files_are_private() {
    let (_d, store) = store();
    store.set("/hello/db-password", VALUE).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store.key_path()), 0o600);
    assert_eq!(mode(&store.file_path()), 0o600);
    assert_eq!(mode(store.dir()), 0o700);
    assert_eq!(std::fs::read(store.key_path()).unwrap().len(), 32);
}

#[test]
fn a_key_others_can_read_is_refused() {
    let (_d, store) = store();
    store.set("/hello/db-password", VALUE).unwrap();
    let before = std::fs::read(store.file_path()).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o620] {
        std::fs::set_permissions(store.key_path(), std::fs::Permissions::from_mode(mode)).unwrap();
        let open = SecretStore::open(store.dir()).unwrap_err();
        assert!(
            matches!(open, Error::KeyPermissions { mode: m, .. } if m == mode),
            "{open}"
        );
        let message = open.to_string();
        assert!(message.contains("chmod 600"), "{message}");
        assert!(message.contains(&store.key_path().display().to_string()));
        assert!(matches!(
            store.get("/hello/db-password"),
            Err(Error::KeyPermissions { .. })
        ));
        assert!(matches!(
            store.set("/hello/db-password", "new"),
            Err(Error::KeyPermissions { .. })
        ));
        assert_eq!(std::fs::read(store.file_path()).unwrap(), before);
    }
    std::fs::set_permissions(store.key_path(), std::fs::Permissions::from_mode(0o400)).unwrap();
    assert_eq!(
        store.get("/hello/db-password").unwrap().as_deref(),
        Some(VALUE)
    );
}

#[test]
fn tampering_is_an_error_naming_the_parameter() {
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, &str, Edit); 5] = [
        ("a flipped ciphertext byte", "/hello/db-password", |doc| {
            let p = &mut doc["parameters"]["/hello/db-password"]["ciphertext"];
            let mut text = p.as_str().unwrap().to_owned();
            let first = if text.starts_with('0') { "1" } else { "0" };
            text.replace_range(0..1, first);
            *p = text.into();
        }),
        ("another nonce", "/hello/db-password", |doc| {
            doc["parameters"]["/hello/db-password"]["nonce"] = "00".repeat(24).into();
        }),
        ("a short nonce", "/hello/db-password", |doc| {
            doc["parameters"]["/hello/db-password"]["nonce"] = "0011".into();
        }),
        ("not hex", "/hello/db-password", |doc| {
            doc["parameters"]["/hello/db-password"]["ciphertext"] = "zz".into();
        }),
        ("a value moved under another name", "/hello/other", |doc| {
            let sealed = doc["parameters"]["/hello/db-password"].clone();
            doc["parameters"]["/hello/other"] = sealed;
        }),
    ];
    for (what, name, edit) in cases {
        let (_d, store) = store();
        store.set("/hello/db-password", VALUE).unwrap();
        store.set("/hello/other", "other").unwrap();
        edit_file(&store, edit);
        let err = store.get(name).unwrap_err();
        assert!(
            matches!(&err, Error::Decrypt { name: n, .. } if n == name),
            "{what}: {err}"
        );
        let message = err.to_string();
        assert!(message.contains(name), "{what}: {message}");
        assert!(!message.contains(VALUE), "{what}: {message}");
        assert!(store.resolver(&[name]).is_err(), "{what}");
    }
}

#[test]
fn another_key_cannot_decrypt() {
    let (_d, store) = store();
    store.set("/hello/db-password", VALUE).unwrap();
    std::fs::remove_file(store.key_path()).unwrap();
    let err = store.get("/hello/db-password").unwrap_err();
    assert!(matches!(err, Error::Key { .. }), "{err}");
    assert!(err.to_string().contains("is missing"), "{err}");
    // A new key, made by the next write, opens new values but not the old one.
    store.set("/hello/new", "fresh").unwrap();
    assert_eq!(store.get("/hello/new").unwrap().as_deref(), Some("fresh"));
    let err = store.get("/hello/db-password").unwrap_err();
    assert!(
        matches!(&err, Error::Decrypt { name, .. } if name == "/hello/db-password"),
        "{err}"
    );
    // Listing needs no key and still works.
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn bad_names_and_values_change_nothing() {
    let (_d, store) = store();
    for name in ["hello/db", "/aws/secret", "/hello/db password", "", "/a//b"] {
        let err = store.set(name, VALUE).unwrap_err();
        assert!(
            matches!(&err, Error::Name { name: n, .. } if n == name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(&format!("`{name}`")), "{err}");
        assert!(store.get(name).is_err(), "{name}");
        assert!(store.remove(name).is_err(), "{name}");
    }
    let err = store.set("/hello/empty", "").unwrap_err();
    assert!(matches!(err, Error::Value { .. }), "{err}");
    let big = "x".repeat(MAX_VALUE_BYTES + 1);
    let err = store.set("/hello/big", &big).unwrap_err();
    assert!(err.to_string().contains("4096"), "{err}");
    assert!(!store.dir().exists(), "a refused write created the store");
    assert_eq!(store.set("/hello/max", &big[1..]).unwrap(), 1);
}

#[test]
fn debug_never_shows_values() {
    let (_d, store) = store();
    store.set("/hello/db-password", VALUE).unwrap();
    let shown = format!("{store:?} {:?}", store.list().unwrap());
    assert!(shown.contains("/hello/db-password"), "{shown}");
    assert!(!shown.contains(VALUE), "{shown}");
}

#[test]
fn broken_files_name_the_file() {
    let (_d, store) = store();
    store.set("/hello/db-password", VALUE).unwrap();
    std::fs::write(store.file_path(), "{ not json").unwrap();
    let err = store.list().unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("parameters.json"), "{err}");
    std::fs::write(store.file_path(), r#"{"format": 2, "parameters": {}}"#).unwrap();
    assert!(
        store
            .get("/hello/db-password")
            .unwrap_err()
            .to_string()
            .contains("format 2")
    );
    // A write does not paper over a file it cannot read.
    assert!(store.set("/hello/db-password", "new").is_err());

    std::fs::write(store.key_path(), [0u8; 16]).unwrap();
    assert!(
        SecretStore::open(store.dir())
            .unwrap_err()
            .to_string()
            .contains("16 bytes")
    );
}

#[test]
fn the_resolver_serves_builds() {
    let (_d, store) = store();
    store.set("/hello/token", VALUE).unwrap();
    let resolve = store.resolver(&["/hello/token", "/hello/absent"]).unwrap();
    assert_eq!(resolve("/hello/token").as_deref(), Some(VALUE));
    assert_eq!(resolve("/hello/absent"), None);
    // Only what was asked for is held.
    store.set("/hello/later", "x").unwrap();
    assert_eq!(resolve("/hello/later"), None);
    assert!(matches!(
        store.resolver(&["no/leading/slash"]),
        Err(Error::Name { .. })
    ));
    // An empty store needs no key to resolve nothing.
    let (_d2, empty) = self::store();
    assert_eq!(
        empty.resolver(&["/hello/token"]).unwrap()("/hello/token"),
        None
    );
}

#[test]
fn concurrent_writers_lose_nothing() {
    let (_d, store) = store();
    let dir = store.dir().to_owned();
    std::thread::scope(|scope| {
        for t in 0..6 {
            let dir = dir.clone();
            scope.spawn(move || {
                // Each thread its own handle, as separate processes would have.
                let store = SecretStore::open(&dir).unwrap();
                for i in 0..8 {
                    store
                        .set(&format!("/load/t{t}/p{i}"), &format!("value {t} {i}"))
                        .unwrap();
                    store.set("/load/shared", "s").unwrap();
                }
            });
        }
    });
    let list = store.list().unwrap();
    assert_eq!(list.len(), 6 * 8 + 1);
    let shared = list.iter().find(|p| p.name == "/load/shared").unwrap();
    assert_eq!(shared.version, 6 * 8, "an overwrite was lost");
    assert_eq!(
        store.get("/load/t3/p5").unwrap().as_deref(),
        Some("value 3 5")
    );
}

#[test]
fn rfc3339_matches_known_instants() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_764_000_000), "2025-11-24T16:00:00Z");
}
