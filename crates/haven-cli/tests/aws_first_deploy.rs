//! `haven aws deploy --yes` into an empty account, as a new user runs it, against a moto server:
//! one command and no parameter, in a project that is a git repository with one commit. The
//! stacks that need no image, the first image built in AWS from `git archive HEAD`, its phases
//! shown, the services with its tag, the endpoints; a rerun that changes nothing; a first
//! deploy killed once its output shows the network stacks complete, which the next run resumes.
//!
//! moto's CloudFormation skips CodeBuild projects and its builds run nothing, so the Build
//! project is created with boto3 as the delivery stack declares it, and when haven says it waits
//! for the image in a region's repository, the test puts it there (the build's push and ECR
//! replication on AWS). The harness is haven-aws's, shared by path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_common;
#[path = "../../haven-aws/tests/common/mod.rs"]
mod moto;

use std::process::Command;

use aws_common::{deploy, haven_command, synthesized};
use moto::Moto;

/// A project with its templates written by `haven synth` to `out/`, made deployable on moto,
/// committed once to git, and the Build project moto cannot create from the template.
fn project(moto: &Moto) -> (moto::Project, String) {
    let (project, _, synthesis) = synthesized(|t| t);
    let commit = moto::git_commit_all(project.dir.path());
    moto::create_build_project(
        moto,
        "us-east-1",
        "hello-build",
        synthesis.file("buildspec.yml").unwrap(),
    );
    (project, commit)
}

#[test]
fn one_deploy_builds_the_first_image_and_a_rerun_changes_nothing() {
    let moto = Moto::start_with_env(&[moto::MOTO_RUNNING]);
    let (project, commit) = project(&moto);
    let dir = project.dir.path();
    let tag = &commit[..8];

    let run = deploy(dir, &moto, &["--yes", "--timeout", "2m"], None);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    // The whole output, for a reader of the test's log (`--no-capture`).
    eprintln!("{}{}", run.stderr, run.stdout);
    // The image is decided before anything is made, then built between the delivery stacks and
    // the services, its phases shown as they end.
    let order = [
        format!(
            "Image {tag} (commit {commit}) for hello-us-east-1-service, hello-us-west-2-service"
        ),
        "Done hello-us-east-1-delivery".to_owned(),
        format!("hello-build: uploading commit {tag} (git archive HEAD"),
        "hello-build: started build hello-build:".to_owned(),
        "hello-build: PRE_BUILD SUCCEEDED".to_owned(),
        "hello-build: BUILD SUCCEEDED".to_owned(),
        "hello-build: POST_BUILD SUCCEEDED".to_owned(),
        format!("waiting for the image hello:{tag} in us-east-1's repository"),
        format!("waiting for the image hello:{tag} in us-west-2's repository"),
        "Done hello-us-east-1-service".to_owned(),
        "Done hello-global".to_owned(),
        "Verified".to_owned(),
    ];
    let mut rest = run.stderr.as_str();
    for want in &order {
        let at = rest
            .find(want.as_str())
            .unwrap_or_else(|| panic!("`{want}` missing (or out of order) in:\n{}", run.stderr));
        rest = &rest[at + want.len()..];
    }
    for want in [
        "hello-us-east-1-network (us-east-1): created",
        "hello-us-west-2-service (us-west-2): created",
        "hello-global (us-east-1): created",
        &format!("image: hello:{tag} (built by hello-build:"),
        "production (us-east-1): http://",
        "production (us-west-2): http://",
    ] {
        assert!(
            run.stdout.contains(want),
            "`{want}` missing in:\n{}",
            run.stdout
        );
    }
    let all = moto::stack_statuses(&moto);
    assert_eq!(all.len(), 11, "{all:?}");
    assert!(
        all.iter().all(|s| s.ends_with(" CREATE_COMPLETE")),
        "{all:?}"
    );
    // The build ran on the uploaded source.
    assert_eq!(moto::builds(&moto, "us-east-1", "hello-build").len(), 1);
    let size = moto.python(&format!(
        "print(client('s3').head_object(Bucket='hello-us-east-1-artifacts-123456789012', \
         Key='haven/source/{commit}.zip')['ContentLength'])"
    ));
    assert!(size.trim().parse::<u64>().unwrap() > 0, "{size}");

    // Again, without --yes: nothing changes, so nothing is asked, built or deployed.
    let run = deploy(dir, &moto, &["--timeout", "2m"], None);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    // Each stack twice: in the plan, then in the result.
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("hello-"))
        .collect();
    assert_eq!(lines.len(), 22, "{}", run.stdout);
    assert!(
        lines.iter().all(|l| l.ends_with(": no changes")),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("hello-build"), "{}", run.stderr);
    assert!(!run.stdout.contains("image:"), "{}", run.stdout);
    assert_eq!(moto::builds(&moto, "us-east-1", "hello-build").len(), 1);
}

#[test]
fn a_first_deploy_killed_after_the_network_stacks_resumes() {
    let moto = Moto::start_with_env(&[moto::MOTO_RUNNING]);
    let (project, commit) = project(&moto);
    let dir = project.dir.path();

    let killed = deploy(
        dir,
        &moto,
        &["--yes", "--timeout", "2m"],
        Some("Done hello-us-west-2-network"),
    );
    assert!(!killed.status.success(), "{}", killed.stderr);
    let before = moto::stack_statuses(&moto);
    assert!(
        before.contains(&"hello-us-west-2-network CREATE_COMPLETE".to_owned()),
        "{before:?}"
    );
    assert!(
        !before.iter().any(|s| s.contains("-service ")),
        "{before:?}"
    );

    let run = deploy(dir, &moto, &["--yes", "--timeout", "2m"], None);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
    for want in [
        "hello-us-east-1-network (us-east-1): no changes",
        "hello-us-west-2-network (us-west-2): no changes",
        "hello-us-east-1-service (us-east-1): created",
        "hello-global (us-east-1): created",
        &format!("image: hello:{} (built by", &commit[..8]),
    ] {
        assert!(
            run.stdout.contains(want),
            "`{want}` missing in:\n{}",
            run.stdout
        );
    }
    let all = moto::stack_statuses(&moto);
    assert_eq!(all.len(), 11, "{all:?}");
    assert!(
        all.iter().all(|s| s.ends_with(" CREATE_COMPLETE")),
        "{all:?}"
    );
    assert_eq!(moto::builds(&moto, "us-east-1", "hello-build").len(), 1);
}

#[test]
fn a_project_without_a_commit_is_refused_with_what_to_do() {
    let moto = Moto::start();
    let project = moto::Project::new(|t| t);
    let dir = project.dir.path();
    let out = haven_command(
        dir,
        &moto,
        &["aws", "deploy", "--yes", "--method", "direct"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not in a git repository"), "{stderr}");
    assert!(stderr.contains("--image-tag TAG"), "{stderr}");

    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(git.success());
    let out = haven_command(
        dir,
        &moto,
        &["aws", "deploy", "--yes", "--method", "direct"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no commit yet"), "{stderr}");
    // Nothing was made.
    assert!(moto::stack_statuses(&moto).is_empty());
}
