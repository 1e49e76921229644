//! The CodeCommit twin: a bare git repository per region, branch protection enforced by a
//! pre-receive hook, a push log written by a post-receive hook, fresh checkouts for builds, and
//! replication of every ref from the primary's repository to a secondary's.
//!
//! Everything goes through the real `git` binary: users push with their own git, and the twin
//! must behave exactly as git does for them.

use haven_fs::WithPath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The push log's file name inside a repository (one line per updated ref).
const PUSH_LOG: &str = "haven-pushes.log";
/// The replication log's file name inside a secondary's repository.
const REPLICATION_LOG: &str = "haven-replication.log";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run git ({context}): {source}; is git installed?")]
    Spawn {
        context: String,
        source: std::io::Error,
    },
    #[error("git {context} failed: {stderr}")]
    Git { context: String, stderr: String },
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    #[error("invalid branch name `{0}`")]
    BranchName(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One region's repository: a bare git repository on disk.
#[derive(Debug, Clone)]
pub struct Repo {
    path: PathBuf,
}

/// An identity for commits haven makes itself (the initial import), so that a machine without a
/// configured git identity still works.
const HAVEN_IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "haven"),
    ("GIT_AUTHOR_EMAIL", "haven@localhost"),
    ("GIT_COMMITTER_NAME", "haven"),
    ("GIT_COMMITTER_EMAIL", "haven@localhost"),
];

impl Repo {
    /// The repository at `path`, which may not exist yet.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The URL to clone from and push to (a local path, which git treats as a remote).
    pub fn url(&self) -> String {
        self.path.display().to_string()
    }

    pub fn exists(&self) -> bool {
        self.path.join("HEAD").is_file()
    }

    /// Creates the bare repository if it does not exist, with `branch` as its default branch,
    /// and (re)writes its hooks so that they match the spec's protected branches.
    pub fn ensure(&self, branch: &str, protected: &[String]) -> Result<()> {
        check_branch(branch)?;
        for p in protected {
            check_branch(p)?;
        }
        if !self.exists() {
            std::fs::create_dir_all(&self.path).with_path(&self.path)?;
            git(
                &self.path,
                &["init", "--quiet", "--bare"],
                "init --bare",
                &[],
            )?;
            git(
                &self.path,
                &["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")],
                "symbolic-ref HEAD",
                &[],
            )?;
        }
        self.write_hook("pre-receive", &pre_receive(protected))?;
        self.write_hook("post-receive", POST_RECEIVE)?;
        Ok(())
    }

    fn write_hook(&self, name: &str, body: &str) -> Result<()> {
        let dir = self.path.join("hooks");
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        // Replaced whole, so git never runs half a hook.
        haven_fs::write_atomic_mode(&dir.join(name), body.as_bytes(), 0o755)?;
        Ok(())
    }

    /// Imports the files of `dir` (honouring its `.gitignore`) as the first commit of `branch`,
    /// unless the branch already has commits. Returns the branch's head.
    pub fn seed(&self, dir: &Path, branch: &str, message: &str) -> Result<String> {
        if let Some(head) = self.head(branch)? {
            return Ok(head);
        }
        let index = self.path.join("haven-seed.index");
        let dir_s = dir.display().to_string();
        let index_s = index.display().to_string();
        let env: Vec<(&str, &str)> = HAVEN_IDENTITY
            .iter()
            .copied()
            .chain([("GIT_INDEX_FILE", index_s.as_str())])
            .collect();
        let work = ["--work-tree", dir_s.as_str()];
        let add = [&work[..], &["add", "--all", "."]].concat();
        let result = (|| {
            git(&self.path, &add, "add (import)", &env)?;
            let tree = git(&self.path, &["write-tree"], "write-tree", &env)?;
            let commit = git(
                &self.path,
                &["commit-tree", tree.trim(), "-m", message],
                "commit-tree",
                &env,
            )?;
            let commit = commit.trim().to_owned();
            git(
                &self.path,
                &["update-ref", &format!("refs/heads/{branch}"), &commit, ""],
                "update-ref",
                &env,
            )?;
            Ok(commit)
        })();
        if let Err(e) = std::fs::remove_file(&index) {
            tracing::debug!("seed index {}: {e}", index.display());
        }
        result
    }

    /// The commit `branch` points at, if the branch exists.
    pub fn head(&self, branch: &str) -> Result<Option<String>> {
        Ok(self.heads()?.remove(branch))
    }

    /// Every branch and the commit it points at.
    pub fn heads(&self) -> Result<BTreeMap<String, String>> {
        let out = git(
            &self.path,
            &[
                "for-each-ref",
                "--format=%(refname:strip=2) %(objectname)",
                "refs/heads",
            ],
            "for-each-ref",
            &[],
        )?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(b, c)| (b.to_owned(), c.to_owned()))
            .collect())
    }

    /// Whether the repository holds `commit`.
    pub fn has_commit(&self, commit: &str) -> bool {
        git(
            &self.path,
            &["cat-file", "-e", &format!("{commit}^{{commit}}")],
            "cat-file",
            &[],
        )
        .is_ok()
    }

    /// The commits reachable from `to` but not from `from` (every commit of `to` without a
    /// `from`), newest first: what a repository whose head is `from` lacks.
    pub fn commits_between(&self, from: Option<&str>, to: &str) -> Result<Vec<String>> {
        let range = match from {
            Some(f) => format!("{f}..{to}"),
            None => to.to_owned(),
        };
        let out = git(&self.path, &["rev-list", &range, "--"], "rev-list", &[])?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// A fresh checkout of `commit` in `dest` (removed first if it exists): what CodeBuild's
    /// source download gives a build.
    pub fn checkout(&self, commit: &str, dest: &Path) -> Result<()> {
        if dest.exists() {
            std::fs::remove_dir_all(dest).with_path(dest)?;
        }
        std::fs::create_dir_all(dest).with_path(dest)?;
        let dest_s = dest.display().to_string();
        // A throwaway index so that concurrent checkouts never share one.
        let index = dest.join(".git-haven-index");
        let index_s = index.display().to_string();
        let env = [("GIT_INDEX_FILE", index_s.as_str())];
        git(
            &self.path,
            &["--work-tree", &dest_s, "read-tree", commit],
            "read-tree",
            &env,
        )?;
        git(
            &self.path,
            &["--work-tree", &dest_s, "checkout-index", "--all", "--force"],
            "checkout-index",
            &env,
        )?;
        std::fs::remove_file(&index).with_path(&index)?;
        Ok(())
    }

    /// Every accepted push, oldest first, from the post-receive hook's log.
    pub fn pushes(&self) -> Result<Vec<Push>> {
        read_log(&self.path.join(PUSH_LOG), |f| {
            Some(Push {
                at_ms: f.first()?.parse().ok()?,
                old: (*f.get(1)?).to_owned(),
                new: (*f.get(2)?).to_owned(),
                reference: (*f.get(3)?).to_owned(),
            })
        })
    }

    /// The push log's size: cheap to poll for "has anything been pushed since".
    pub fn push_log_len(&self) -> u64 {
        std::fs::metadata(self.path.join(PUSH_LOG)).map_or(0, |m| m.len())
    }

    /// Copies every branch and tag of `self` to `to` (deletions too), recording when, so that
    /// status can show the replication lag. Returns the branches whose head changed.
    pub fn replicate_to(&self, to: &Repo) -> Result<Vec<String>> {
        let before = to.heads()?;
        let from = self.path.display().to_string();
        // `fetch` into the bare target rather than `push` from the source: it runs no hooks
        // on the target, so replication is never refused by the protection it mirrors.
        git(
            &to.path,
            &[
                "fetch",
                "--quiet",
                "--prune",
                "--force",
                &from,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
            "fetch (replication)",
            &[],
        )?;
        let after = to.heads()?;
        let changed: Vec<String> = after
            .iter()
            .filter(|(b, c)| before.get(*b) != Some(*c))
            .map(|(b, _)| b.clone())
            .chain(before.keys().filter(|b| !after.contains_key(*b)).cloned())
            .collect();
        if !changed.is_empty() {
            let now = haven_time::now_millis();
            let pushes = self.pushes()?;
            let mut lines = String::new();
            for b in &changed {
                let commit = after.get(b).map_or("-", String::as_str);
                let pushed_at = pushes
                    .iter()
                    .rev()
                    .find(|p| p.reference == format!("refs/heads/{b}") && p.new == commit)
                    .map_or(now, |p| p.at_ms);
                lines.push_str(&format!("{now} {pushed_at} {commit} refs/heads/{b}\n"));
            }
            append(&to.path.join(REPLICATION_LOG), &lines)?;
        }
        Ok(changed)
    }

    /// Every replication into this repository, oldest first.
    pub fn replications(&self) -> Result<Vec<Replication>> {
        read_log(&self.path.join(REPLICATION_LOG), |f| {
            Some(Replication {
                at_ms: f.first()?.parse().ok()?,
                pushed_at_ms: f.get(1)?.parse().ok()?,
                commit: (*f.get(2)?).to_owned(),
                reference: (*f.get(3)?).to_owned(),
            })
        })
    }
}

/// One ref update accepted by a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub at_ms: u64,
    pub old: String,
    pub new: String,
    pub reference: String,
}

/// One ref copied into a secondary's repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub at_ms: u64,
    pub pushed_at_ms: u64,
    pub commit: String,
    pub reference: String,
}

/// A branch's head in one region and how far it trails the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchHead {
    pub branch: String,
    pub commit: Option<String>,
    /// Whether the head equals the primary's.
    pub in_sync: bool,
    /// For a secondary: milliseconds from the push to the primary until this region held it
    /// (the last replication when in sync; the time waited so far when not). None in the
    /// primary.
    pub lag_ms: Option<u64>,
}

/// The heads of `branches` in `repo`, compared with the primary's.
pub fn branch_heads(
    primary: &Repo,
    repo: &Repo,
    branches: &[String],
    is_primary: bool,
) -> Result<Vec<BranchHead>> {
    PrimaryHeads::read(primary)?.compare((!is_primary).then_some(repo), branches)
}

/// The primary's heads and push log, read once and compared with any number of regions'
/// repositories (status shows every region, and each read runs git).
pub struct PrimaryHeads {
    heads: BTreeMap<String, String>,
    pushes: Vec<Push>,
}

impl PrimaryHeads {
    pub fn read(primary: &Repo) -> Result<Self> {
        Ok(Self {
            heads: primary.heads()?,
            pushes: primary.pushes()?,
        })
    }

    /// The heads of `branches` in `secondary` (or in the primary itself, for `None`).
    pub fn compare(
        &self,
        secondary: Option<&Repo>,
        branches: &[String],
    ) -> Result<Vec<BranchHead>> {
        let (heads, replications) = match secondary {
            None => (self.heads.clone(), Vec::new()),
            Some(repo) if repo.exists() => (repo.heads()?, repo.replications()?),
            Some(_) => (BTreeMap::new(), Vec::new()),
        };
        let now = haven_time::now_millis();
        Ok(branches
            .iter()
            .map(|b| {
                let commit = heads.get(b).cloned();
                let in_sync = commit.as_ref() == self.heads.get(b);
                let reference = format!("refs/heads/{b}");
                let lag_ms = secondary.is_some().then(|| {
                    if in_sync {
                        replications
                            .iter()
                            .rev()
                            .find(|r| r.reference == reference)
                            .map_or(0, |r| r.at_ms.saturating_sub(r.pushed_at_ms))
                    } else {
                        let target = self.heads.get(b);
                        self.pushes
                            .iter()
                            .rev()
                            .find(|p| p.reference == reference && Some(&p.new) == target)
                            .map_or(0, |p| now.saturating_sub(p.at_ms))
                    }
                });
                BranchHead {
                    branch: b.clone(),
                    commit,
                    in_sync,
                    lag_ms,
                }
            })
            .collect())
    }
}

/// Branch names as git accepts them, and nothing a hook script could misread.
fn check_branch(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.contains("..")
        && !name.ends_with(".lock")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::BranchName(name.to_owned()))
    }
}

/// The pre-receive hook: refuses deleting a protected branch and any update of one that is not
/// a fast-forward, with a message that says which rule and how to proceed.
fn pre_receive(protected: &[String]) -> String {
    format!(
        r#"#!/bin/sh
# Written by haven from source.protected_branches in haven.toml; rewritten on every start.
protected="{}"
status=0
while read -r old new ref; do
  branch=${{ref#refs/heads/}}
  [ "$branch" = "$ref" ] && continue
  for p in $protected; do
    [ "$p" = "$branch" ] || continue
    case "$new" in
      *[!0]*) ;;
      *)
        echo "haven: refusing to delete protected branch '$branch' (source.protected_branches in haven.toml)" >&2
        status=1
        continue ;;
    esac
    case "$old" in
      *[!0]*)
        if ! git merge-base --is-ancestor "$old" "$new"; then
          echo "haven: refusing a non-fast-forward push (force-push) to protected branch '$branch'; fetch, merge or rebase onto ${{old}}, and push again" >&2
          status=1
        fi ;;
    esac
  done
done
exit $status
"#,
        protected.join(" ")
    )
}

/// The post-receive hook: appends each accepted ref update to the push log, which the pipeline
/// watches and replication reads for push times.
const POST_RECEIVE: &str = r#"#!/bin/sh
# Written by haven: records accepted pushes for the pipeline and for replication lag.
now=$(date +%s%3N)
while read -r old new ref; do
  echo "$now $old $new $ref" >> haven-pushes.log
done
"#;

fn git(dir: &Path, args: &[&str], context: &str, env: &[(&str, &str)]) -> Result<String> {
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir").arg(dir).args(args);
    // Never let the caller's environment point git somewhere else.
    cmd.env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd.env("GIT_TERMINAL_PROMPT", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().map_err(|source| Error::Spawn {
        context: context.to_owned(),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Git {
            context: context.to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_log<T>(path: &Path, parse: impl Fn(&[&str]) -> Option<T>) -> Result<Vec<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| parse(&l.split_whitespace().collect::<Vec<_>>()))
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(haven_fs::IoError::new(path, e).into()),
    }
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_path(path)?;
    f.write_all(text.as_bytes()).with_path(path)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
