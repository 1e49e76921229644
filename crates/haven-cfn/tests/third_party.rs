//! The third-party judges: cfn-lint (both regions' schemas) and checkov accept every template
//! of the default spec and of the every-knob spec (CodeCommit), and of the default spec with each
//! hosted source provider (GitHub, GitLab, Bitbucket), with no error, no warning, no failed
//! check. Each tool runs once over all templates. They are installed by `scripts/test`; a
//! missing tool fails these tests rather than skipping them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tool on PATH, or in the workspace's `.venv`.
fn tool(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.venv/bin")
        .join(name);
    on_path
        .or_else(|| venv.is_file().then_some(venv))
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: run `scripts/test`, which installs it into .venv")
        })
}

/// The source providers judged besides CodeCommit (the fixtures' provider).
const HOSTED: [&str; 3] = ["github", "gitlab", "bitbucket"];

/// Every spec judged, synthesized under one temp dir; returns it and every template in it.
fn synthesize_all() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut syntheses: Vec<(String, haven_cfn::Synthesis)> = ["default", "every-knob"]
        .into_iter()
        .map(|f| (f.to_owned(), common::synth(&common::fixture(f))))
        .collect();
    let default = std::fs::read_to_string(common::fixture_dir("default").join("haven.toml"))
        .expect("the default fixture");
    for provider in HOSTED {
        let text = format!(
            "{default}\n[source]\nprovider = \"{provider}\"\nrepository = \"octo-org/hello\"\n"
        );
        let (_spec_dir, spec) = common::spec_from(&text);
        let s = common::synth(&spec);
        // What is judged is the hosted provider's pipeline.
        let delivery = common::json(&s, "us-east-1/delivery.json");
        assert_eq!(
            delivery["Resources"]["SourceConnection"]["Type"], "AWS::CodeConnections::Connection",
            "{provider}"
        );
        syntheses.push((provider.to_owned(), s));
    }
    let mut templates = Vec::new();
    for (name, s) in &syntheses {
        let out = dir.path().join(name);
        haven_cfn::write(s, &out).expect("write the synthesis");
        templates.extend(s.manifest.stacks.iter().map(|st| out.join(&st.template)));
    }
    (dir, templates)
}

#[test]
fn cfn_lint_finds_no_error_and_no_warning() {
    let (_dir, templates) = synthesize_all();
    let output = Command::new(tool("cfn-lint"))
        .args(["-r", "us-east-1", "us-west-2", "-f", "json", "--"])
        .args(&templates)
        .output()
        .expect("cfn-lint runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let code = output.status.code().unwrap_or(-1);
    let matches: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "cfn-lint gave no JSON ({e}), exit {code}:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let problems: Vec<String> = matches
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| matches!(m["Level"].as_str(), Some("Error" | "Warning")))
        .map(|m| {
            format!(
                "{} {} {}: {}",
                m["Level"], m["Rule"]["Id"], m["Filename"], m["Message"]
            )
        })
        .collect();
    // The exit code is a bit mask: 2 errors, 4 warnings (8, informational, is allowed).
    assert!(
        problems.is_empty() && code & 6 == 0 && code >= 0,
        "cfn-lint (exit {code}) over {} templates:\n{}",
        templates.len(),
        problems.join("\n")
    );
}

#[test]
fn checkov_fails_no_check() {
    let (dir, templates) = synthesize_all();
    let output = Command::new(tool("checkov"))
        .args([
            "--framework",
            "cloudformation",
            "-o",
            "json",
            "--skip-download",
            "-d",
        ])
        .arg(dir.path())
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .expect("checkov runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "checkov gave no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // One framework gives one report object (several would give a list).
    let report = report.as_array().and_then(|a| a.first()).unwrap_or(&report);
    let summary = &report["summary"];
    let failed: Vec<String> = report["results"]["failed_checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            format!(
                "{} {} {}: {}",
                c["check_id"], c["file_path"], c["resource"], c["check_name"]
            )
        })
        .collect();
    assert!(
        failed.is_empty(),
        "checkov failed {} checks:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert_eq!(
        summary["parsing_errors"], 0,
        "checkov could not parse: {summary}"
    );
    // It did look: every template is a file it scanned.
    assert!(
        summary["resource_count"].as_u64().unwrap_or(0) > templates.len() as u64,
        "checkov scanned too little: {summary}"
    );
    // Every skip is one haven writes on purpose, with its written reason.
    for skipped in report["results"]["skipped_checks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = skipped["check_id"].as_str().unwrap_or_default();
        let comment = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            haven_cfn::skips::ALL
                .iter()
                .any(|l| l.skip.id == id && l.skip.comment == comment),
            "unlisted skip {id} on {}: {comment:?}",
            skipped["resource"]
        );
    }
}
