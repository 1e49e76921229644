//! Loading a spec: TOML syntax, then the schema (collecting every unknown key and wrong type),
//! then the model's checks. All problems are reported together.

use std::path::{Path, PathBuf};

use toml_edit::{Document, DocumentMut};

use crate::diag::{Diagnostics, Reporter, Severity};
use crate::model::Spec;
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
    let parsed = deserialize_collecting(doc, &map, &mut r);
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

/// Deserializes the schema; on each error, records it, removes the offending key and tries
/// again, so that one run reports every unknown key and wrong type. `None` when an error could
/// not be pinned to a removable key.
fn deserialize_collecting(
    doc: Document<&str>,
    map: &SourceMap,
    r: &mut Reporter<'_>,
) -> Option<schema::Document> {
    // Spans survive the conversion: toml_edit keeps them on each item.
    let mut table = doc.into_table();
    // Each round removes one key, so this bounds the work by the document's size.
    for _ in 0..10_000 {
        let err = match toml_edit::de::from_document(DocumentMut::from(table.clone())) {
            Ok(parsed) => return Some(parsed),
            Err(e) => e,
        };
        let path = err.span().and_then(|s| map.path_at(&s)).map(str::to_owned);
        let Some(path) = path else {
            r.push(
                Severity::Error,
                "schema",
                "",
                err.span().map(|s| s.start),
                err.message().to_owned(),
                None,
            );
            return None;
        };
        report_schema_error(r, map, &path, err.message());
        if !source_map::remove(&mut table, &path) {
            return None;
        }
    }
    None
}

fn report_schema_error(r: &mut Reporter<'_>, map: &SourceMap, path: &str, message: &str) {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates = backticked(expected);
        let parent = source_map::parent(path).unwrap_or("");
        let hint = match did_you_mean(key, candidates.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None if candidates.is_empty() => "remove it".to_owned(),
            None => format!(
                "{} accepts {}",
                if parent.is_empty() {
                    "the top level"
                } else {
                    parent
                },
                candidates
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
    } else {
        r.push(
            Severity::Error,
            "wrong-type",
            path,
            map.value_offset(path),
            message
                .trim()
                .replace("invalid type: ", "wrong type: found "),
            Some("see `haven show` for every key with its default".into()),
        );
    }
}

/// The words between backticks, in order: serde lists expected fields that way.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
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
