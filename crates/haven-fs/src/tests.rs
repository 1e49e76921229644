//! Atomic writes (contents, modes, no temporary left behind), path-carrying errors, randomness.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).map_or(0, |m| m.permissions().mode() & 0o777)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn writes_replace_whole_files_with_their_mode() -> Result<(), IoError> {
    let dir = tempfile::tempdir().map_err(|e| IoError::new("tempdir", e))?;
    // (writer, expected mode or None for the umask's default)
    type Writer = fn(&Path, &[u8]) -> Result<(), IoError>;
    let cases: [(&str, Writer, Option<u32>); 3] = [
        ("plain", write_atomic, None),
        ("private", write_private, Some(0o600)),
        ("script", |p, c| write_atomic_mode(p, c, 0o755), Some(0o755)),
    ];
    for (name, write, want_mode) in cases {
        let path = dir.path().join(name);
        write(&path, b"first, longer contents")?;
        write(&path, b"second")?;
        assert_eq!(std::fs::read(&path).with_path(&path)?, b"second", "{name}");
        if let Some(want) = want_mode {
            assert_eq!(mode(&path), want, "{name}");
        }
    }
    // Only the files themselves: no temporary file is left beside them.
    assert_eq!(entries(dir.path()), ["plain", "private", "script"]);
    Ok(())
}

#[test]
fn a_failed_write_names_its_path_and_leaves_nothing() -> Result<(), IoError> {
    let dir = tempfile::tempdir().map_err(|e| IoError::new("tempdir", e))?;
    let missing = dir.path().join("no-such-dir").join("file");
    let err = write_atomic(&missing, b"x").err();
    let err = err.as_ref().map(|e| (e.kind(), e.to_string()));
    let (kind, text) = err.unwrap_or((io::ErrorKind::Other, String::new()));
    assert_eq!(kind, io::ErrorKind::NotFound);
    assert!(text.contains("no-such-dir"), "{text}");
    assert!(entries(dir.path()).is_empty());
    Ok(())
}

#[test]
fn with_path_keeps_the_os_error() {
    let err = std::fs::read("/nonexistent/haven-fs-test")
        .with_path("/nonexistent/haven-fs-test")
        .err();
    let Some(err) = err else {
        panic!("reading a missing file succeeded");
    };
    assert_eq!(err.path(), Path::new("/nonexistent/haven-fs-test"));
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    assert!(err.to_string().starts_with("/nonexistent/haven-fs-test: "));
}

#[test]
fn random_values_differ_and_have_their_length() -> Result<(), random::RandomError> {
    let (a, b) = (random::token_hex(32)?, random::token_hex(32)?);
    assert_eq!(a.len(), 64);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_ne!(a, b);
    assert_eq!(random::id_hex(6).len(), 12);
    assert_ne!(random::id_bytes::<16>(), random::id_bytes::<16>());
    assert_ne!(random::seed(), random::seed());
    assert_eq!(random::hex(&[0, 0xab, 0x0f]), "00ab0f");
    Ok(())
}
