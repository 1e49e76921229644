//! `artifacts`: selecting the build's output files and copying them to the artifacts directory.
//!
//! Semantics follow CodeBuild: `files` are relative to the source directory or, if set, to
//! each directory `base-directory` matches (whose own name is not part of the output);
//! `exclude-paths` are relative to the base directory; `discard-paths: yes` flattens. A
//! pattern that matches nothing is logged ("Skipping invalid file path") and skipped; the
//! phase fails only when nothing at all matched ("no matching artifact paths found"), as on
//! CodeBuild. Copies keep file modes, so executables stay executable.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::glob::{self, Pattern};
use crate::spec::Artifacts;

/// Why UPLOAD_ARTIFACTS failed; the message is CodeBuild's phase context message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ArtifactError {
    #[error("no matching base directory path found for {0}")]
    NoBaseDirectory(String),
    #[error("no matching artifact paths found")]
    NoMatch,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ArtifactError {
    let what = what.into();
    move |source| ArtifactError::Io { what, source }
}

/// One selected file: where it is and where it goes.
struct Selected {
    source: PathBuf,
    symlink: bool,
}

/// Copies the files `spec` selects from `src` into `out`. Returns the copied paths, relative
/// to `out`, sorted. `log` receives CodeBuild-style progress lines.
pub(crate) fn collect(
    spec: &Artifacts,
    src: &Path,
    out: &Path,
    log: &mut dyn FnMut(String),
) -> Result<Vec<PathBuf>, ArtifactError> {
    let base_label = spec.base_directory.as_deref().unwrap_or(".");
    log(format!("Expanding base directory path: {base_label}"));
    log("Assembling file list".into());
    let bases = match &spec.base_directory {
        None => vec![PathBuf::new()],
        Some(pattern) => {
            let found = glob::expand_dirs(src, pattern)
                .map_err(io_err(format!("expanding base directory {pattern}")))?;
            if found.is_empty() {
                return Err(ArtifactError::NoBaseDirectory(pattern.clone()));
            }
            found
        }
    };
    let excludes: Vec<Pattern> = spec.exclude_paths.iter().map(|p| Pattern::new(p)).collect();
    let mut selected: BTreeMap<PathBuf, Selected> = BTreeMap::new();
    for base in &bases {
        let label = if base.as_os_str().is_empty() {
            ".".to_owned()
        } else {
            base.display().to_string()
        };
        log(format!("Expanding {label}"));
        log(format!("Expanding file paths for base directory {label}"));
        log("Assembling file list".into());
        let root = src.join(base);
        for pattern in &spec.files {
            log(format!("Expanding {pattern}"));
            let found = glob::expand_files(&root, pattern)
                .map_err(io_err(format!("expanding {pattern}")))?;
            let found: Vec<_> = found
                .into_iter()
                .filter(|f| !excluded(&excludes, &f.rel))
                .collect();
            if found.is_empty() {
                log(format!("Skipping invalid file path {pattern}"));
                continue;
            }
            for f in found {
                let dest = if spec.discard_paths {
                    match f.rel.file_name() {
                        Some(name) => PathBuf::from(name),
                        None => continue,
                    }
                } else {
                    f.rel.clone()
                };
                let source = root.join(&f.rel);
                if let Some(previous) = selected.get(&dest) {
                    if previous.source != source {
                        log(format!(
                            "Warning: {} and {} both go to {}; keeping the latter",
                            previous.source.display(),
                            source.display(),
                            dest.display()
                        ));
                    }
                }
                selected.insert(
                    dest,
                    Selected {
                        source,
                        symlink: f.symlink,
                    },
                );
            }
        }
    }
    if selected.is_empty() {
        return Err(ArtifactError::NoMatch);
    }
    log(format!("Found {} file(s)", selected.len()));
    fs::create_dir_all(out).map_err(io_err(format!("creating {}", out.display())))?;
    let mut copied = Vec::new();
    for (dest, sel) in selected {
        let target = out.join(&dest);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }
        if sel.symlink && spec.enable_symlinks {
            let link = fs::read_link(&sel.source)
                .map_err(io_err(format!("reading link {}", sel.source.display())))?;
            remove_existing(&target)?;
            std::os::unix::fs::symlink(&link, &target)
                .map_err(io_err(format!("linking {}", target.display())))?;
        } else {
            // Follows symlinks: the artifact holds the file a link points to.
            match fs::metadata(&sel.source) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => {
                    log(format!("Skipping {}: not a regular file", dest.display()));
                    continue;
                }
                Err(e) => {
                    log(format!("Skipping {}: {e}", dest.display()));
                    continue;
                }
            }
            remove_existing(&target)?;
            // fs::copy copies the permission bits too, so executables stay executable.
            fs::copy(&sel.source, &target).map_err(io_err(format!(
                "copying {} to {}",
                sel.source.display(),
                target.display()
            )))?;
        }
        copied.push(dest);
    }
    Ok(copied)
}

/// Whether `rel` or one of its parent directories matches an exclude pattern.
fn excluded(excludes: &[Pattern], rel: &Path) -> bool {
    rel.ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| excludes.iter().any(|p| p.matches(a)))
}

/// Makes room for a fresh copy (a read-only file or a link from an earlier build).
fn remove_existing(target: &Path) -> Result<(), ArtifactError> {
    match fs::symlink_metadata(target) {
        Ok(meta) if !meta.is_dir() => {
            fs::remove_file(target).map_err(io_err(format!("replacing {}", target.display())))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_match_files_and_their_directories() {
        let ex = vec![Pattern::new("docs"), Pattern::new("*.tmp")];
        assert!(excluded(&ex, Path::new("docs/a/b.md")));
        assert!(excluded(&ex, Path::new("x.tmp")));
        assert!(!excluded(&ex, Path::new("src/x.rs")));
        assert!(!excluded(&ex, Path::new("sub/x.tmp")));
    }
}
