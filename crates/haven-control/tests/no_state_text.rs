//! States and reasons are enums: no source outside their definitions spells or compares their
//! text, so that comparisons of text cannot creep back in.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// Texts that only the enums' definitions spell.
const FORBIDDEN: &[&str] = &[
    "\"IN_PROGRESS\"",
    "\"SUCCESSFUL\"",
    "\"ROLLED_BACK\"",
    "\"PROVISIONING\"",
    "\"DEPROVISIONING\"",
    "starts_with(\"Task failed",
    "\"Essential container",
    "== \"running\"",
    "== \"primary\"",
    "== \"healthy\"",
    "== \"ACTIVE\"",
];

/// Where the spellings are defined.
const DEFINITIONS: &[&str] = &[
    "crates/haven-state/src/states.rs",
    "crates/haven-control/src/api.rs",
    "crates/haven-control/src/wire.rs",
    "crates/haven-aws/src/states.rs",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

#[test]
fn states_are_never_compared_as_text_outside_their_definitions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            sources(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} sources", files.len());
    let mut found = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if DEFINITIONS.contains(&relative.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        // Unit tests sit at the end of a file; they may spell what they check.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            for pattern in FORBIDDEN.iter().filter(|p| line.contains(**p)) {
                found.push(format!("{relative}:{}: {pattern}", n + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "states compared as text (use the enums in haven-state's states.rs and \
         haven-control's api.rs):\n{}",
        found.join("\n")
    );
}
