//! Snapshots of every file `haven synth` writes, for the default spec and for a spec that changes
//! every knob (tests/fixtures). A change to a template shows up here as a diff to review.

mod common;

fn snapshot_all(fixture: &str) {
    let spec = common::fixture(fixture);
    let started = std::time::Instant::now();
    let s = common::synth(&spec);
    // Reported, not asserted: synthesis is pure data building and should take milliseconds.
    eprintln!("synth {fixture}: {:?}", started.elapsed());
    for (path, contents) in &s.files {
        let name = format!("{fixture}__{}", path.display()).replace(['/', '.'], "_");
        if path.extension().is_some_and(|e| e == "json") {
            let value: serde_json::Value = serde_json::from_str(contents).expect("JSON");
            insta::assert_json_snapshot!(name, value);
        } else {
            insta::assert_snapshot!(name, contents);
        }
    }
}

#[test]
fn default_spec() {
    snapshot_all("default");
}

#[test]
fn every_knob_spec() {
    snapshot_all("every-knob");
}

#[test]
fn output_is_deterministic() {
    let spec = common::fixture("every-knob");
    let a = common::synth(&spec);
    let b = common::synth(&spec);
    assert_eq!(a.files, b.files);
}

/// The default fixture is the example project's: its buildspec is the example's, so that what
/// the templates and the moto tests run is what a new project gets.
#[test]
fn the_default_fixture_has_the_examples_buildspec() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: std::path::PathBuf| std::fs::read_to_string(&p).unwrap();
    assert!(
        read(root.join("tests/fixtures/default/buildspec.yml"))
            == read(root.join("../../examples/hello/buildspec.yml")),
        "copy examples/hello/buildspec.yml over tests/fixtures/default/buildspec.yml"
    );
}
