//! Shared by the integration tests: load a fixture or a spec text, synthesize it, read a file.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use haven_cfn::Synthesis;
use haven_spec::Spec;

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fixture's spec, loaded as `haven` loads it.
pub fn fixture(name: &str) -> Spec {
    let path = fixture_dir(name).join("haven.toml");
    match haven_spec::load(&path) {
        Ok(loaded) => loaded.spec,
        Err(e) => panic!("fixture {name} does not load: {e}"),
    }
}

pub fn synth(spec: &Spec) -> Synthesis {
    haven_cfn::synth(spec).unwrap_or_else(|e| panic!("synth failed: {e}"))
}

/// A spec from text, with a minimal buildspec beside it, in a fresh temp dir.
pub fn spec_from(text: &str) -> (tempfile::TempDir, Spec) {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        dir.path().join("buildspec.yml"),
        "version: 0.2\nphases:\n  build:\n    commands:\n      - make\n",
    )
    .expect("write buildspec.yml");
    std::fs::write(dir.path().join("haven.toml"), text).expect("write haven.toml");
    let spec = match haven_spec::load(&dir.path().join("haven.toml")) {
        Ok(l) => l.spec,
        Err(e) => panic!("spec does not load:\n{text}\n{e}"),
    };
    (dir, spec)
}

/// A synthesized JSON file, parsed.
pub fn json(s: &Synthesis, file: &str) -> serde_json::Value {
    let text = s
        .file(file)
        .unwrap_or_else(|| panic!("no file {file}; files: {:?}", names(s)));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"))
}

pub fn names(s: &Synthesis) -> Vec<String> {
    s.files
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect()
}
