//! Where drill runs are kept: one directory per run under the state directory's `drills/`,
//! holding `report.json` (the record), `report.html` and `summary.md` (made from it).

use std::path::PathBuf;

use haven_control::paths::{Paths, write_atomic};
use haven_fs::WithPath;

use crate::Error;
use crate::report::{Report, VERSION};

pub const REPORT_JSON: &str = "report.json";
pub const REPORT_HTML: &str = "report.html";
pub const SUMMARY_MD: &str = "summary.md";

/// A fresh run id: the start time (UTC, to the second) and what runs, e.g.
/// `20261206-223015-region-loss`, `20261206-223015-all`. An id taken already gets `-2`, `-3`.
pub fn new_id(paths: &Paths, started_ms: u64, what: &str) -> String {
    let utc = haven_time::Utc::from_unix_millis(i64::try_from(started_ms).unwrap_or(i64::MAX));
    let stamp: String = utc
        .rfc3339(haven_time::Precision::Secs)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (date, time) = stamp.split_at(stamp.len().min(8));
    let base = format!("{date}-{time}-{what}");
    let mut id = base.clone();
    let mut n = 2;
    while paths.drill_run(&id).exists() {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

/// Whether `id` can name a run: letters, digits, `-` and `_` only, so it is never a path.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Writes the run's record and its two renderings; returns the run's directory.
pub fn save(paths: &Paths, report: &Report) -> Result<PathBuf, Error> {
    let dir = paths.drill_run(&report.id);
    let json = serde_json::to_vec_pretty(report).map_err(|e| Error::Run {
        id: report.id.clone(),
        reason: format!("cannot write the report: {e}"),
    })?;
    write_atomic(&dir.join(REPORT_JSON), &json)?;
    write_atomic(
        &dir.join(REPORT_HTML),
        crate::html::render(report).as_bytes(),
    )?;
    write_atomic(
        &dir.join(SUMMARY_MD),
        crate::markdown::render(report).as_bytes(),
    )?;
    Ok(dir)
}

/// Reads one run's record.
pub fn read(paths: &Paths, id: &str) -> Result<Report, Error> {
    if !valid_id(id) {
        return Err(Error::Run {
            id: id.to_owned(),
            reason: "not a run id (letters, digits, `-` and `_`)".into(),
        });
    }
    let path = paths.drill_run(id).join(REPORT_JSON);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Run {
                id: id.to_owned(),
                reason: "no such run; `haven drill ls` lists them".into(),
            });
        }
        Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
    };
    let report: Report = serde_json::from_slice(&text).map_err(|e| Error::Run {
        id: id.to_owned(),
        reason: format!("{} is damaged: {e}", path.display()),
    })?;
    if report.version > VERSION {
        return Err(Error::Run {
            id: id.to_owned(),
            reason: format!(
                "written by a newer haven (report version {}, this one reads {VERSION})",
                report.version
            ),
        });
    }
    Ok(report)
}

/// Every run's id, newest first (ids start with their time).
pub fn ids(paths: &Paths) -> Result<Vec<String>, Error> {
    let dir = paths.drills();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(haven_fs::IoError::new(&dir, e).into()),
    };
    let mut ids = Vec::new();
    for entry in entries {
        let entry = entry.with_path(&dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if valid_id(&name) && entry.path().join(REPORT_JSON).is_file() {
            ids.push(name);
        }
    }
    ids.sort_by(|a, b| b.cmp(a));
    Ok(ids)
}

/// The run `reference` names: an id, a unique prefix of one, or `latest`.
pub fn resolve(paths: &Paths, reference: &str) -> Result<String, Error> {
    let ids = ids(paths)?;
    if reference == "latest" {
        return ids.into_iter().next().ok_or_else(|| Error::Run {
            id: reference.to_owned(),
            reason: "no drill has run yet; `haven drill run SCENARIO` runs one".into(),
        });
    }
    if ids.iter().any(|i| i == reference) {
        return Ok(reference.to_owned());
    }
    let matching: Vec<&String> = ids.iter().filter(|i| i.starts_with(reference)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::Run {
            id: reference.to_owned(),
            reason: "no such run; `haven drill ls` lists them".into(),
        }),
        many => Err(Error::Run {
            id: reference.to_owned(),
            reason: format!(
                "names {} runs ({}); give more of the id",
                many.len(),
                many.iter()
                    .take(3)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_times_and_never_paths() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        // 2026-12-06T22:30:15Z
        let id = new_id(&paths, 1_796_596_215_000, "region-loss");
        assert_eq!(id, "20261206-223015-region-loss");
        assert!(valid_id(&id));
        for bad in ["", "../x", "a/b", "a b", "."] {
            assert!(!valid_id(bad), "{bad:?}");
        }
        std::fs::create_dir_all(paths.drill_run(&id)).unwrap();
        assert_eq!(
            new_id(&paths, 1_796_596_215_000, "region-loss"),
            "20261206-223015-region-loss-2"
        );
    }

    #[test]
    fn references_resolve_to_one_run() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert!(resolve(&paths, "latest").is_err());
        for id in ["20261206-100000-task-loss", "20261206-110000-all"] {
            let d = paths.drill_run(id);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(REPORT_JSON), "{}").unwrap();
        }
        assert_eq!(resolve(&paths, "latest").unwrap(), "20261206-110000-all");
        assert_eq!(
            resolve(&paths, "20261206-10").unwrap(),
            "20261206-100000-task-loss"
        );
        let many = resolve(&paths, "2026").unwrap_err().to_string();
        assert!(many.contains("names 2 runs"), "{many}");
        assert!(resolve(&paths, "1999").is_err());
        let damaged = read(&paths, "20261206-110000-all").unwrap_err().to_string();
        assert!(damaged.contains("is damaged"), "{damaged}");
    }
}
