//! Loading a spec: TOML syntax, then the schema (every unknown key and wrong type, found by one
//! walk of the document against the schema's shape), then the model's checks. All problems are
//! reported together.

use std::path::{Path, PathBuf};

use toml_edit::{Document, DocumentMut};

use crate::diag::{Diagnostics, Reporter, Severity};
use crate::model::Spec;
use crate::shape::{self, Mismatch, Shape};
use crate::source_map::{self, SourceMap};
use crate::suggest::did_you_mean;
use crate::{resolve, schema};

/// Why a spec could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read spec `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// A valid spec and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub spec: Spec,
    pub warnings: Diagnostics,
}

/// Reads and checks a spec file. Relative paths in it are resolved against its directory.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_str(&text, path, &root_of(path))
}

/// The directory a spec's relative paths are relative to: the file's own.
fn root_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The state directory a spec file names (`local.state_dir`, else `.haven`, next to the
/// file), read without validating the rest: commands that look at or stop a running twin
/// must work while its file is being edited and does not validate. `None` when the file
/// cannot be read or is not TOML, or `local.state_dir` is not a string.
pub fn state_dir_despite_errors(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc = Document::parse(text).ok()?;
    let dir = match doc.get("local").and_then(|l| l.get("state_dir")) {
        None => crate::resolve::DEFAULT_STATE_DIR,
        Some(v) => v.as_str()?,
    };
    Some(root_of(path).join(dir))
}

/// Checks spec text as if it were `file`, resolving relative paths against `root`.
pub fn load_str(text: &str, file: &Path, root: &Path) -> Result<Loaded, LoadError> {
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let map = SourceMap::default();
            let mut r = Reporter::new(file, text, &map);
            let offset = e.span().map(|s| s.start);
            r.push(
                Severity::Error,
                "syntax",
                "",
                offset,
                format!("invalid TOML: {}", e.message().trim()),
                Some("see https://toml.io for the syntax".into()),
            );
            return Err(LoadError::Invalid(Diagnostics(r.out)));
        }
    };
    let map = SourceMap::build(doc.as_table());
    let mut r = Reporter::new(file, text, &map);
    let parsed = deserialize_checked(doc, &map, &mut r);
    let spec = parsed.map(|d| resolve::resolve(d, &mut r, file, root));
    let mut diags = Diagnostics(r.out);
    diags.sort();
    match spec {
        Some(spec) if !diags.has_errors() => Ok(Loaded {
            spec,
            warnings: diags,
        }),
        _ => Err(LoadError::Invalid(diags)),
    }
}

/// Checks the document against the schema's shape, reporting every unknown key and wrong type,
/// then deserializes what is left once. `None` when even that fails, which the check is there
/// to prevent.
fn deserialize_checked(
    doc: Document<&str>,
    map: &SourceMap,
    r: &mut Reporter<'_>,
) -> Option<schema::Document> {
    // Spans survive the conversion: toml_edit keeps them on each item.
    let mut table = doc.into_table();
    let mismatches = shape::check(&table, Shape::document());
    for m in &mismatches {
        report_mismatch(r, map, m);
    }
    // Without the keys at fault the rest deserializes. Later keys go first, so that removing
    // an array's element leaves the indices of its earlier ones as reported.
    for m in mismatches.iter().rev() {
        // Every path the walk reports is in the table; one that were not would leave its
        // problem to the deserializer below, which reports it.
        source_map::remove(&mut table, m.path());
    }
    match toml_edit::de::from_document(DocumentMut::from(table)) {
        Ok(parsed) => Some(parsed),
        Err(err) => {
            // A backstop: the shape is traced from the same types, so this means the walk and
            // serde disagree. Reported as serde words it, at the key its span points at.
            let path = err.span().and_then(|s| map.path_at(&s)).unwrap_or("");
            r.push(
                Severity::Error,
                "schema",
                path,
                err.span().map(|s| s.start),
                err.message().trim().to_owned(),
                None,
            );
            None
        }
    }
}

fn report_mismatch(r: &mut Reporter<'_>, map: &SourceMap, m: &Mismatch) {
    match m {
        Mismatch::Unknown {
            path,
            key,
            parent,
            accepted,
        } => {
            let hint = match did_you_mean(key, accepted.iter().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None if accepted.is_empty() => "remove it".to_owned(),
                None => format!(
                    "{} accepts {}",
                    if parent.is_empty() {
                        "the top level"
                    } else {
                        parent
                    },
                    accepted
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let place = if parent.is_empty() {
                String::new()
            } else {
                format!(" in `{parent}`")
            };
            r.push(
                Severity::Error,
                "unknown-key",
                path,
                map.key_offset(path),
                format!("unknown key `{key}`{place}"),
                Some(hint),
            );
        }
        Mismatch::WrongType {
            path,
            found,
            expected,
        } => r.push(
            Severity::Error,
            "wrong-type",
            path,
            map.value_offset(path),
            format!("wrong type: found {found}, expected {expected}"),
            Some("see `haven show` for every key with its default".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state directory read from spec text that need not validate.
    fn check(text: &str, expect: Option<&str>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = dir.path().join("haven.toml");
        std::fs::write(&spec, text).expect("write spec");
        let got = state_dir_despite_errors(&spec);
        assert_eq!(got, expect.map(|e| dir.path().join(e)), "{text}");
    }

    #[test]
    fn state_dir_is_read_from_specs_that_do_not_validate() {
        check("[project]\nnmae = \"typo\"\n", Some(".haven"));
        check("[local]\nstate_dir = \"state\"\nbind = 5\n", Some("state"));
        check("[local]\nstate_dir = 5\n", None);
        check("[local\n", None);
    }
}
