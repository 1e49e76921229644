//! A RustSec advisory database, read from a directory in the `rustsec/advisory-db` layout:
//! `crates/<package>/RUSTSEC-YYYY-NNNN.md`, each a ```` ```toml ```` front matter block
//! (`[advisory]`, `[versions]`) followed by a Markdown `# Title` and description.
//!
//! Severity comes from the advisory's CVSS v3 vector (its base score's rating). An advisory
//! without one is rated **medium**: RustSec leaves many real vulnerabilities unscored, and
//! medium neither hides them nor fails a build set to fail at `high` on a guess. Informational
//! advisories (`unmaintained`, `unsound`, `notice`) are rated **low**; withdrawn ones are
//! loaded but never match.

use haven_fs::WithPath;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};
use serde::Serialize;
use toml_edit::{DocumentMut, Item, Value};

use crate::error::{Error, Result};
use haven_ecr::Severity;

/// One advisory.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advisory {
    /// `RUSTSEC-YYYY-NNNN`.
    pub id: String,
    /// The crate it is about.
    pub package: String,
    pub date: String,
    /// From the Markdown heading.
    pub title: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub aliases: Vec<String>,
    /// The CVSS v3 vector, when the advisory has one, and its base score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cvss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub severity: Severity,
    /// `unmaintained`, `unsound`, `notice`: not a vulnerability as such.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub informational: Option<String>,
    /// The date it was withdrawn: it no longer applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Versions with the fix, as written (`>= 1.2.3`).
    pub patched: Vec<String>,
    /// Versions never affected, as written.
    pub unaffected: Vec<String>,
    #[serde(skip)]
    patched_reqs: Vec<VersionReq>,
    #[serde(skip)]
    unaffected_reqs: Vec<VersionReq>,
    /// The file it was read from.
    pub path: PathBuf,
}

impl Advisory {
    /// Whether `version` of the package is affected: it matches neither a patched nor an
    /// unaffected requirement (RustSec's rule), and the advisory is not withdrawn.
    pub fn affects(&self, version: &Version) -> bool {
        self.withdrawn.is_none()
            && !self
                .patched_reqs
                .iter()
                .chain(&self.unaffected_reqs)
                .any(|r| r.matches(version))
    }
}

/// Every advisory of a database directory.
#[derive(Debug, Clone, Default)]
pub struct AdvisoryDb {
    root: PathBuf,
    advisories: Vec<Advisory>,
}

impl AdvisoryDb {
    /// Loads `dir/crates/*/*.md`. A file that is not a valid advisory is an error naming it:
    /// a database that silently lost an advisory would pass what it should fail.
    pub fn load(dir: &Path) -> Result<Self> {
        let crates = dir.join("crates");
        let invalid = |path: &Path, reason: String| Error::Advisory {
            path: path.to_path_buf(),
            reason,
        };
        if !crates.is_dir() {
            return Err(invalid(
                dir,
                "not a RustSec advisory database: it has no `crates/` directory".to_owned(),
            ));
        }
        let mut advisories = Vec::new();
        for package_dir in sorted_entries(&crates)? {
            if !package_dir.is_dir() {
                continue;
            }
            for path in sorted_entries(&package_dir)? {
                if path.extension().is_none_or(|e| e != "md") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).with_path(&path)?;
                let advisory = parse(&text, &path).map_err(|reason| invalid(&path, reason))?;
                let dir_name = package_dir.file_name().map(|n| n.to_string_lossy());
                if dir_name.as_deref() != Some(advisory.package.as_str()) {
                    return Err(invalid(
                        &path,
                        format!(
                            "its package is `{}` but it is in the directory of `{}`",
                            advisory.package,
                            dir_name.unwrap_or_default()
                        ),
                    ));
                }
                advisories.push(advisory);
            }
        }
        Ok(Self {
            root: dir.to_path_buf(),
            advisories,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// The advisories affecting `version` of `package`.
    pub fn affecting<'a>(
        &'a self,
        package: &'a str,
        version: &'a Version,
    ) -> impl Iterator<Item = &'a Advisory> + 'a {
        self.advisories
            .iter()
            .filter(move |a| a.package == package && a.affects(version))
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_path(dir)? {
        out.push(entry.with_path(dir)?.path());
    }
    out.sort();
    Ok(out)
}

/// Parses one advisory file's text; the error says what is wrong (the caller names the file).
pub(crate) fn parse(text: &str, path: &Path) -> Result<Advisory, String> {
    let body = text
        .trim_start()
        .strip_prefix("```toml")
        .ok_or("it does not start with a ```toml front matter block")?;
    let end = body
        .find("\n```")
        .ok_or("its ```toml front matter block is not closed")?;
    let (front, markdown) = (&body[..end], &body[end + 4..]);
    let doc: DocumentMut = front
        .parse()
        .map_err(|e| format!("its front matter is not valid TOML: {e}"))?;
    let advisory = doc
        .get("advisory")
        .and_then(Item::as_table_like)
        .ok_or("the front matter has no [advisory] table")?;
    let string = |key: &str| -> Result<Option<String>, String> {
        match advisory.get(key) {
            None => Ok(None),
            Some(item) => match item.as_value() {
                Some(Value::String(s)) => Ok(Some(s.value().clone())),
                // `date = 2019-04-27` (a TOML date) is as good as the string.
                Some(Value::Datetime(d)) => Ok(Some(d.value().to_string())),
                _ => Err(format!("`advisory.{key}` is not a string")),
            },
        }
    };
    let required = |key: &str| -> Result<String, String> {
        string(key)?.ok_or_else(|| format!("`advisory.{key}` is missing"))
    };
    let id = required("id")?;
    if !is_rustsec_id(&id) {
        return Err(format!("`advisory.id` `{id}` is not RUSTSEC-YYYY-NNNN"));
    }
    let package = required("package")?;
    let date = required("date")?;
    let cvss = string("cvss")?;
    let score = cvss
        .as_deref()
        .map(crate::cvss::base_score)
        .transpose()
        .map_err(|e| format!("`advisory.cvss`: {e}"))?;
    let informational = string("informational")?;
    let severity = match (score, &informational) {
        (_, Some(_)) => Severity::Low,
        (Some(score), None) => Severity::from_score(score),
        (None, None) => Severity::Medium,
    };
    let aliases = string_list(advisory.get("aliases"), "advisory.aliases")?;
    let versions = doc.get("versions").and_then(Item::as_table_like);
    let list = |key: &str| -> Result<(Vec<String>, Vec<VersionReq>), String> {
        let raw = string_list(
            versions.and_then(|v| v.get(key)),
            &format!("versions.{key}"),
        )?;
        let reqs = raw
            .iter()
            .map(|r| {
                VersionReq::parse(r).map_err(|e| {
                    format!("`versions.{key}`: `{r}` is not a version requirement: {e}")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok((raw, reqs))
    };
    let (patched, patched_reqs) = list("patched")?;
    let (unaffected, unaffected_reqs) = list("unaffected")?;
    let (title, description) = title_and_description(markdown);
    let title = match title {
        Some(t) => t,
        None => string("title")?.ok_or("it has no `# Title` heading")?,
    };
    Ok(Advisory {
        id,
        package,
        date,
        title,
        description,
        url: string("url")?,
        aliases,
        cvss,
        score,
        severity,
        informational,
        withdrawn: string("withdrawn")?,
        patched,
        unaffected,
        patched_reqs,
        unaffected_reqs,
        path: path.to_path_buf(),
    })
}

fn string_list(item: Option<&Item>, key: &str) -> Result<Vec<String>, String> {
    let Some(item) = item else {
        return Ok(Vec::new());
    };
    let array = item
        .as_array()
        .ok_or_else(|| format!("`{key}` is not a list of strings"))?;
    array
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{key}` is not a list of strings"))
        })
        .collect()
}

fn is_rustsec_id(id: &str) -> bool {
    let b = id.as_bytes();
    id.len() == 17
        && id.starts_with("RUSTSEC-")
        && b[12] == b'-'
        && b[8..12].iter().chain(&b[13..]).all(u8::is_ascii_digit)
}

/// The first `# ` heading, and the text after it.
fn title_and_description(markdown: &str) -> (Option<String>, String) {
    let mut lines = markdown.lines();
    for line in lines.by_ref() {
        if let Some(title) = line.strip_prefix("# ") {
            let rest: Vec<&str> = lines.collect();
            return (
                Some(title.trim().to_owned()),
                rest.join("\n").trim().to_owned(),
            );
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    (None, markdown.trim().to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn advisory(front: &str) -> Result<Advisory, String> {
        let text = format!("```toml\n{front}\n```\n\n# Something bad\n\nDetails.\n");
        parse(&text, Path::new("RUSTSEC-2099-0001.md"))
    }

    const HEAD: &str =
        "[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"badcrate\"\ndate = \"2099-01-01\"\n";

    /// `versions` section → for each version, whether it is affected.
    fn check(versions: &str, expect: &[(&str, bool)]) {
        let a = advisory(&format!("{HEAD}\n[versions]\n{versions}")).unwrap();
        for (v, affected) in expect {
            assert_eq!(
                a.affects(&Version::parse(v).unwrap()),
                *affected,
                "{versions}: {v}"
            );
        }
    }

    #[test]
    fn versions_are_affected_unless_patched_or_unaffected() {
        check(
            "patched = [\">= 1.2.3\"]",
            &[
                ("1.2.2", true),
                ("0.1.0", true),
                ("1.2.3", false),
                ("2.0.0", false),
            ],
        );
        check(
            "patched = [\">= 1.2.3\", \"~1.1.9\"]\nunaffected = [\"< 1.0.0\"]",
            &[
                ("0.9.9", false),
                ("1.0.0", true),
                ("1.1.8", true),
                ("1.1.9", false),
                ("1.1.10", false),
                ("1.2.0", true),
                ("1.2.3", false),
            ],
        );
        check(
            "patched = [\">= 0.4.2, < 0.5.0\", \">= 0.5.1\"]",
            &[
                ("0.4.1", true),
                ("0.4.2", false),
                ("0.5.0", true),
                ("0.5.1", false),
            ],
        );
        // No fix: every version.
        check("patched = []", &[("0.0.1", true), ("9.9.9", true)]);
    }

    #[test]
    fn severity_comes_from_cvss_else_medium_and_informational_is_low() {
        let scored = advisory(&format!(
            "{HEAD}cvss = \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H\"\n[versions]\npatched = []"
        ))
        .unwrap();
        assert_eq!((scored.score, scored.severity), (Some(7.5), Severity::High));
        let unscored = advisory(&format!("{HEAD}[versions]\npatched = []")).unwrap();
        assert_eq!(unscored.severity, Severity::Medium);
        assert_eq!(unscored.title, "Something bad");
        assert_eq!(unscored.description, "Details.");
        let info = advisory(&format!(
            "{HEAD}informational = \"unmaintained\"\n[versions]\npatched = []"
        ))
        .unwrap();
        assert_eq!(info.severity, Severity::Low);
        let withdrawn = advisory(&format!(
            "{HEAD}withdrawn = \"2099-02-01\"\n[versions]\npatched = []"
        ))
        .unwrap();
        assert!(!withdrawn.affects(&Version::new(0, 1, 0)));
    }

    #[test]
    fn malformed_advisories_say_what_is_wrong() {
        for (front, says) in [
            (
                "[advisory]\npackage = \"x\"\ndate = \"2099-01-01\"",
                "`advisory.id` is missing",
            ),
            (
                "[advisory]\nid = \"CVE-2099-1\"\npackage = \"x\"\ndate = \"d\"",
                "RUSTSEC-YYYY-NNNN",
            ),
            (
                &format!("{HEAD}cvss = \"CVSS:3.1/AV:N\""),
                "`advisory.cvss`",
            ),
            (
                &format!("{HEAD}[versions]\npatched = [\"!!\"]"),
                "`versions.patched`",
            ),
            (
                &format!("{HEAD}[versions]\npatched = \">= 1\""),
                "not a list",
            ),
            ("[advisory\nid = 1", "not valid TOML"),
            ("[other]\nx = 1", "no [advisory] table"),
        ] {
            let err = advisory(front).unwrap_err();
            assert!(err.contains(says), "{front}: {err}");
        }
        let err = parse("# Title only\n", Path::new("x.md")).unwrap_err();
        assert!(err.contains("front matter"), "{err}");
    }
}
