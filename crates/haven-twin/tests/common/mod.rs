//! The example project's spec for tests that compare the twin with what `haven synth` writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use haven_spec::Spec;

/// The example project's spec, as is and with `edit` applied, in a temp dir beside its
/// buildspec.
pub fn example(edit: impl Fn(&str) -> String) -> (tempfile::TempDir, Spec) {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example.join("haven.toml")).unwrap();
    std::fs::write(dir.path().join("haven.toml"), edit(&text)).unwrap();
    std::fs::copy(
        example.join("buildspec.yml"),
        dir.path().join("buildspec.yml"),
    )
    .unwrap();
    let spec = match haven_spec::load(&dir.path().join("haven.toml")) {
        Ok(l) => l.spec,
        Err(e) => panic!("the example does not load: {e}"),
    };
    (dir, spec)
}
