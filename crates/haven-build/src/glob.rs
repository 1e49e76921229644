//! Path patterns as the buildspec writes them (`*`, `?`, `**`) and the walk that expands them.
//!
//! Small on purpose: CodeBuild's artifact and report locations use only these three forms
//! (`my-file.jar`, `dir/*`, `dir/**/*`, `'**/*'`, `'my-build*'`), matched against paths
//! relative to a base directory. `*` and `?` never cross a `/`; `**` spans any number of
//! directories, none included. Hidden files match like any other, as on CodeBuild.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    segs: Vec<Seg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// `**`
    AnyDirs,
    /// A name with `*` or `?`.
    Wild(String),
    Literal(String),
}

/// What a walk found: a path relative to the walk's base, and whether it is a symlink.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Found {
    pub rel: PathBuf,
    pub symlink: bool,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let segs = pattern
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .map(|s| {
                if s == "**" {
                    Seg::AnyDirs
                } else if s.contains(['*', '?']) {
                    Seg::Wild(s.to_owned())
                } else {
                    Seg::Literal(s.to_owned())
                }
            })
            .collect();
        Pattern { segs }
    }

    /// Whether the pattern names one path (no wildcard at all).
    pub fn is_literal(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, Seg::Literal(_)))
    }

    /// The leading literal directories, where a walk can start.
    fn literal_prefix(&self) -> PathBuf {
        let mut out = PathBuf::new();
        // The last segment names the files themselves, never a directory to start from.
        let dirs = self.segs.len().saturating_sub(1);
        for seg in &self.segs[..dirs] {
            match seg {
                Seg::Literal(s) => out.push(s),
                _ => break,
            }
        }
        out
    }

    /// How deep below the base a match can be; `None` with `**`.
    fn max_depth(&self) -> Option<usize> {
        if self.segs.contains(&Seg::AnyDirs) {
            None
        } else {
            Some(self.segs.len())
        }
    }

    /// Whether `rel` (relative, `/`-separated components) matches.
    pub fn matches(&self, rel: &Path) -> bool {
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        match_from(&self.segs, &parts)
    }
}

fn match_from(segs: &[Seg], path: &[&str]) -> bool {
    match segs.split_first() {
        None => path.is_empty(),
        Some((Seg::AnyDirs, rest)) => (0..=path.len()).any(|k| match_from(rest, &path[k..])),
        Some((seg, rest)) => match path.split_first() {
            None => false,
            Some((first, tail)) => {
                let ok = match seg {
                    Seg::Literal(l) => l == first,
                    Seg::Wild(w) => wildcard(w, first),
                    Seg::AnyDirs => false,
                };
                ok && match_from(rest, tail)
            }
        },
    }
}

/// `*` (any run of characters) and `?` (one character) within one path component.
fn wildcard(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was and which name position it is currently absorbing up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Files (and symlinks) under `base` that `pattern` selects, sorted. A literal pattern naming
/// a directory selects every file below it. Directory symlinks are not followed.
pub(crate) fn expand_files(base: &Path, pattern: &str) -> io::Result<Vec<Found>> {
    let pat = Pattern::new(pattern);
    let mut out = Vec::new();
    if pat.is_literal() {
        let rel = pat.literal_prefix().join(match pat.segs.last() {
            Some(Seg::Literal(s)) => s.as_str(),
            _ => "",
        });
        if rel.as_os_str().is_empty() {
            // `.` or an empty pattern: the whole base.
            walk(base, Path::new(""), None, &mut |f| out.push(f))?;
        } else {
            match fs::symlink_metadata(base.join(&rel)) {
                Ok(meta) if meta.is_dir() => walk(base, &rel, None, &mut |f| out.push(f))?,
                Ok(meta) => out.push(Found {
                    rel,
                    symlink: meta.file_type().is_symlink(),
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    } else {
        let start = pat.literal_prefix();
        let depth = pat.max_depth();
        let mut all = Vec::new();
        walk(base, &start, depth, &mut |f| all.push(f))?;
        out.extend(all.into_iter().filter(|f| pat.matches(&f.rel)));
    }
    out.sort();
    Ok(out)
}

/// Directories under `root` that `pattern` selects (for `base-directory`), sorted.
pub(crate) fn expand_dirs(root: &Path, pattern: &str) -> io::Result<Vec<PathBuf>> {
    let pat = Pattern::new(pattern);
    if pat.is_literal() {
        let rel: PathBuf = pattern
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        return Ok(if root.join(&rel).is_dir() {
            vec![rel]
        } else {
            Vec::new()
        });
    }
    let mut out = Vec::new();
    walk_dirs(root, Path::new(""), pat.max_depth(), &mut |d| {
        if pat.matches(d) {
            out.push(d.to_owned());
        }
    })?;
    out.sort();
    Ok(out)
}

/// Calls `found` for every non-directory entry below `base/rel`, down to `depth` components
/// below `base` (counting those of `rel`).
fn walk(
    base: &Path,
    rel: &Path,
    depth: Option<usize>,
    found: &mut dyn FnMut(Found),
) -> io::Result<()> {
    let dir = base.join(rel);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        // A pattern whose directory does not exist matches nothing.
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let level = rel.components().count() + 1;
    for entry in entries {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if depth.is_none_or(|d| level < d) {
                walk(base, &child, depth, found)?;
            }
        } else if depth.is_none_or(|d| level <= d) {
            found(Found {
                rel: child,
                symlink: kind.is_symlink(),
            });
        }
    }
    Ok(())
}

fn walk_dirs(
    base: &Path,
    rel: &Path,
    depth: Option<usize>,
    found: &mut dyn FnMut(&Path),
) -> io::Result<()> {
    let level = rel.components().count() + 1;
    for entry in fs::read_dir(base.join(rel))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            let child = rel.join(entry.file_name());
            found(&child);
            if depth.is_none_or(|d| level < d) {
                walk_dirs(base, &child, depth, found)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Pattern::new(p).matches(Path::new(path))
    }

    #[test]
    fn patterns() {
        assert!(m("**/*", "a"));
        assert!(m("**/*", "a/b/c.txt"));
        assert!(m("dir/*", "dir/x"));
        assert!(!m("dir/*", "dir/x/y"));
        assert!(m("dir/**/*", "dir/x/y"));
        assert!(m("dir/**/*", "dir/x"));
        assert!(!m("dir/**/*", "other/x"));
        assert!(m("*/my-file-3.txt", "my-subdirectory/my-file-3.txt"));
        assert!(m("my-build*", "my-build-2"));
        assert!(m("./target/release/hello", "target/release/hello"));
        assert!(m("*.x?l", "report.xml"));
        assert!(m("*", ".hidden"));
        assert!(!m("a*b", "ab/c"));
        assert!(wildcard("*a*b*", "xxaxxbxx"));
        assert!(!wildcard("*a*b", "xxaxxbxc"));
        assert!(wildcard("", ""));
        assert!(!wildcard("", "a"));
    }

    #[test]
    fn expands_against_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "a/b/c.txt",
            "a/d.txt",
            "e.txt",
            "my-build-1/x",
            "my-build-2/sub/y",
        ] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, f).unwrap();
        }
        let rels = |v: Vec<Found>| -> Vec<String> {
            v.into_iter()
                .map(|f| f.rel.to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(rels(expand_files(root, "a/*").unwrap()), ["a/d.txt"]);
        assert_eq!(
            rels(expand_files(root, "a").unwrap()),
            ["a/b/c.txt", "a/d.txt"]
        );
        assert_eq!(rels(expand_files(root, "*.txt").unwrap()), ["e.txt"]);
        assert_eq!(
            rels(expand_files(root, "missing/*").unwrap()),
            Vec::<String>::new()
        );
        assert_eq!(expand_files(root, "**/*").unwrap().len(), 5);
        assert_eq!(
            expand_dirs(root, "my-build*").unwrap(),
            [PathBuf::from("my-build-1"), PathBuf::from("my-build-2")]
        );
        assert_eq!(expand_dirs(root, "a/b").unwrap(), [PathBuf::from("a/b")]);
        assert!(expand_dirs(root, "nope").unwrap().is_empty());
    }
}
