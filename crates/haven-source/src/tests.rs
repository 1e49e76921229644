//! Tests of the CodeCommit twin against real git: pushes, protection, replication, checkouts.

use std::path::Path;
use std::process::Command;

use super::*;

/// Runs git in `dir` with a fixed identity; returns (success, stdout + stderr).
fn run(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .envs(HAVEN_IDENTITY)
        .env_remove("GIT_DIR")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, text) = run(dir, args);
    assert!(success, "git {args:?} failed: {text}");
    text
}

struct Fixture {
    _tmp: tempfile::TempDir,
    primary: Repo,
    secondary: Repo,
    clone: PathBuf,
    seeded: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::write(project.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(project.join(".gitignore"), "/.haven\n/target\n").unwrap();
    std::fs::create_dir_all(project.join(".haven")).unwrap();
    std::fs::write(project.join(".haven/token"), "secret").unwrap();
    std::fs::create_dir_all(project.join("target")).unwrap();
    std::fs::write(project.join("target/big"), "binary").unwrap();

    let primary = Repo::at(tmp.path().join("primary/app.git"));
    let secondary = Repo::at(tmp.path().join("secondary/app.git"));
    let protected = vec!["main".to_owned()];
    primary.ensure("main", &protected).unwrap();
    secondary.ensure("main", &protected).unwrap();
    let seeded = primary.seed(&project, "main", "initial import").unwrap();
    let clone = tmp.path().join("clone");
    ok(
        tmp.path(),
        &["clone", "--quiet", &primary.url(), clone.to_str().unwrap()],
    );
    Fixture {
        _tmp: tmp,
        primary,
        secondary,
        clone,
        seeded,
    }
}

fn commit(dir: &Path, file: &str, text: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    ok(dir, &["add", "."]);
    ok(dir, &["commit", "--quiet", "-m", &format!("change {file}")]);
    ok(dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

#[test]
fn the_import_honours_gitignore_and_is_idempotent() {
    let f = fixture();
    assert!(f.clone.join("src/main.rs").is_file());
    assert!(f.clone.join(".gitignore").is_file());
    assert!(
        !f.clone.join(".haven").exists(),
        "ignored state was imported"
    );
    assert!(
        !f.clone.join("target").exists(),
        "ignored build output was imported"
    );
    // Seeding again never replaces history.
    let again = f
        .primary
        .seed(Path::new("/nonexistent"), "main", "x")
        .unwrap();
    assert_eq!(again, f.seeded);
    assert_eq!(
        f.primary.head("main").unwrap().as_deref(),
        Some(f.seeded.as_str())
    );
}

#[test]
fn a_fast_forward_push_is_accepted_and_logged() {
    let f = fixture();
    let new = commit(&f.clone, "README", "hello\n");
    ok(&f.clone, &["push", "--quiet", "origin", "main"]);
    assert_eq!(f.primary.head("main").unwrap(), Some(new.clone()));
    let pushes = f.primary.pushes().unwrap();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].old, f.seeded);
    assert_eq!(pushes[0].new, new);
    assert_eq!(pushes[0].reference, "refs/heads/main");
    assert!(f.primary.push_log_len() > 0);
}

#[test]
fn protected_branches_refuse_force_pushes_and_deletion() {
    let f = fixture();
    commit(&f.clone, "a", "1\n");
    ok(&f.clone, &["push", "--quiet", "origin", "main"]);
    let pushed = f.primary.head("main").unwrap();
    // Rewrite history and force-push.
    ok(&f.clone, &["reset", "--quiet", "--hard", "HEAD~1"]);
    commit(&f.clone, "b", "2\n");
    let (success, text) = run(&f.clone, &["push", "--force", "origin", "main"]);
    assert!(!success, "force-push was accepted: {text}");
    assert!(
        text.contains("refusing a non-fast-forward push (force-push) to protected branch 'main'"),
        "{text}"
    );
    let (success, text) = run(&f.clone, &["push", "origin", "--delete", "main"]);
    assert!(!success, "deletion was accepted: {text}");
    assert!(
        text.contains("refusing to delete protected branch 'main'"),
        "{text}"
    );
    assert_eq!(
        f.primary.head("main").unwrap(),
        pushed,
        "a refused push changed the branch"
    );

    // Unprotected branches are the user's to rewrite and delete.
    ok(&f.clone, &["push", "--quiet", "origin", "HEAD:feature"]);
    ok(&f.clone, &["reset", "--quiet", "--hard", "HEAD~1"]);
    ok(
        &f.clone,
        &["push", "--quiet", "--force", "origin", "HEAD:feature"],
    );
    ok(
        &f.clone,
        &["push", "--quiet", "origin", "--delete", "feature"],
    );
    assert_eq!(f.primary.head("feature").unwrap(), None);
}

#[test]
fn replication_copies_every_branch_and_reports_lag() {
    let f = fixture();
    let branches = vec!["main".to_owned()];
    let before = branch_heads(&f.primary, &f.secondary, &branches, false).unwrap();
    assert!(!before[0].in_sync);
    assert_eq!(before[0].commit, None);

    let changed = f.primary.replicate_to(&f.secondary).unwrap();
    assert_eq!(changed, vec!["main".to_owned()]);
    assert_eq!(f.secondary.head("main").unwrap(), Some(f.seeded.clone()));
    assert!(f.secondary.has_commit(&f.seeded));

    let new = commit(&f.clone, "c", "3\n");
    ok(
        &f.clone,
        &["push", "--quiet", "origin", "main", "main:feature"],
    );
    let lagging = branch_heads(&f.primary, &f.secondary, &branches, false).unwrap();
    assert!(!lagging[0].in_sync);
    // What the secondary lacks: the new commit only; everything without a base.
    let behind = f.primary.commits_between(Some(&f.seeded), &new).unwrap();
    assert_eq!(behind, vec![new.clone()]);
    let all = f.primary.commits_between(None, &new).unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(
        f.primary
            .commits_between(Some(&new), &new)
            .unwrap()
            .is_empty()
    );
    assert_eq!(lagging[0].commit, Some(f.seeded.clone()));

    let changed = f.primary.replicate_to(&f.secondary).unwrap();
    assert_eq!(changed, vec!["feature".to_owned(), "main".to_owned()]);
    let synced = branch_heads(&f.primary, &f.secondary, &branches, false).unwrap();
    assert!(synced[0].in_sync);
    assert_eq!(synced[0].commit, Some(new.clone()));
    assert!(synced[0].lag_ms.is_some());
    let primary = branch_heads(&f.primary, &f.primary, &branches, true).unwrap();
    assert_eq!(primary[0].lag_ms, None);

    // Deletions replicate too; nothing changes when nothing moved.
    ok(
        &f.clone,
        &["push", "--quiet", "origin", "--delete", "feature"],
    );
    assert_eq!(
        f.primary.replicate_to(&f.secondary).unwrap(),
        vec!["feature".to_owned()]
    );
    assert!(f.primary.replicate_to(&f.secondary).unwrap().is_empty());
    assert_eq!(f.secondary.head("feature").unwrap(), None);
    assert_eq!(f.secondary.replications().unwrap().len(), 4);
}

#[test]
fn a_checkout_holds_exactly_the_commit() {
    let f = fixture();
    let new = commit(&f.clone, "VERSION", "2\n");
    ok(&f.clone, &["push", "--quiet", "origin", "main"]);
    let dest = f.clone.parent().unwrap().join("build-src");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("stale"), "from an earlier build").unwrap();
    f.primary.checkout(&new, &dest).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("VERSION")).unwrap(),
        "2\n"
    );
    assert!(dest.join("src/main.rs").is_file());
    assert!(!dest.join("stale").exists());
    assert!(!dest.join(".git-haven-index").exists());
    f.primary.checkout(&f.seeded, &dest).unwrap();
    assert!(!dest.join("VERSION").exists());
}

#[test]
fn bad_branch_names_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::at(tmp.path().join("r.git"));
    for bad in ["", "-x", "a..b", "main.lock", "a b", "$(rm -rf)", "x\"y"] {
        let err = repo.ensure("main", &[bad.to_owned()]).unwrap_err();
        assert!(matches!(err, Error::BranchName(_)), "{bad}: {err}");
    }
    assert!(!repo.exists());
}
