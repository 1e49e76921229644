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
