//! `haven aws` end to end, as a user runs it, against a moto server on a free loopback port:
//! diff, a deploy refused without `--yes` when stdin is not a terminal, deploy, status, a second
//! deploy that changes nothing, a refused template, secrets, destroy.
//!
//! The moto harness (start, boto3 checks, the moto-only template edit) is haven-aws's, shared by
//! path; most acceptance checks live in `crates/haven-aws/tests/` and call the library. These
//! tests need moto and boto3 from `.venv` (scripts/test makes it) and fail without them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws_common;
#[path = "../../haven-aws/tests/common/mod.rs"]
mod moto;

use aws_common::{haven, synthesized, text};
use moto::Moto;

/// A project with its templates written by `haven synth` to `out/`, made deployable on moto
/// (the developers' IAM group removed: see `for_moto`).
fn project(edit: impl FnOnce(String) -> String) -> moto::Project {
    synthesized(edit).0
}

#[test]
fn diff_deploy_status_redeploy_destroy() {
    let moto = Moto::start_with_env(&[moto::MOTO_RUNNING]);
    // A project as a new user has it: committed to git, nothing deployed, no image anywhere;
    // the Build project is the one moto cannot create from the delivery template.
    let (project, _, synthesis) = synthesized(|t| t);
    let dir = project.dir.path();
    moto::git_commit_all(dir);
    moto::create_build_project(
        &moto,
        "us-east-1",
        "hello-build",
        synthesis.file("buildspec.yml").unwrap(),
    );
    // `--out` is every aws command's; the deploy flags are deploy's own.
    let common = ["--out", "out"];
    let deploy = ["--method", "direct"];
    let run = |sub: &[&str], stdin: Option<&str>| {
        let mut args = vec!["aws"];
        args.extend_from_slice(sub);
        args.extend_from_slice(&common);
        haven(dir, &moto, &args, stdin)
    };

    // diff: every stack, with resources to add; nothing is created.
    let out = run(&["diff"], None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("hello-us-east-1-network (us-east-1): create"),
        "{stdout}"
    );
    assert!(stdout.contains("+ Add"), "{stdout}");
    assert!(stdout.contains("AWS::EC2::VPC"), "{stdout}");

    // deploy without --yes, stdin not a terminal: refused, nothing deployed.
    let out = run(&[&["deploy"][..], &deploy].concat(), None);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("--yes"), "{stderr}");

    // deploy: progress on stderr (plain lines, not a terminal), outputs and URLs on stdout.
    // The deploy waits for its image and for the services to serve: the test does for moto
    // what the build's push and ECS do on AWS when it says it waits.
    let out = aws_common::deploy(dir, &moto, &["--yes"], None);
    let (stdout, stderr) = (out.stdout, out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("hello-us-east-1-network"), "{stderr}");
    assert!(stderr.contains("CREATE_COMPLETE"), "{stderr}");
    assert!(
        stdout.contains("hello-global (us-east-1): created"),
        "{stdout}"
    );
    assert!(
        stdout.contains("production (us-east-1): http://"),
        "{stdout}"
    );
    assert!(
        stdout.contains("production (us-west-2): http://"),
        "{stdout}"
    );

    // status --json: every stack complete, with its outputs.
    let out = run(&["status", "--json"], None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let stacks = status["stacks"].as_array().unwrap();
    assert_eq!(stacks.len(), 11);
    assert!(
        stacks.iter().all(|s| s["status"] == "CREATE_COMPLETE"),
        "{stacks:?}"
    );
    assert!(stacks[0]["outputs"]["VpcId"].is_string());

    // The same again: no changes, stack by stack, no prompt needed.
    let out = run(&[&["deploy"][..], &deploy].concat(), None);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.matches(": no changes").count(), 2 * 11, "{stdout}");

    // destroy --force: one run removes every stack.
    let out = run(&["destroy", "--yes", "--force"], None);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = run(&["status", "--json"], None);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        status["stacks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "NOT_DEPLOYED")
    );
}

#[test]
fn a_refused_template_is_a_clear_error_and_a_failure() {
    let moto = Moto::start();
    let project = project(|t| t);
    let dir = project.dir.path();
    let path = dir.join("out/us-west-2/network.json");
    let body = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, body.replace("\"10.1.0.0/16\"", "\"10.1.0.0/99\"")).unwrap();
    let out = haven(
        dir,
        &moto,
        &[
            "aws",
            "deploy",
            "--yes",
            "--out",
            "out",
            "--method",
            "direct",
            "--parameter",
            "ImageTag=v1",
        ],
        None,
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(stderr.contains("hello-us-west-2-network"), "{stderr}");
    assert!(stderr.contains("10.1.0.0/99"), "{stderr}");
}

#[test]
fn secret_set_reads_stdin_and_never_prints_the_value() {
    let moto = Moto::start();
    let project = project(|t| {
        t.replace(
            "port = 8080",
            "port = 8080\nsecrets = { DB_PASSWORD = \"/hello/db-password\" }",
        )
    });
    let dir = project.dir.path();
    let out = haven(
        dir,
        &moto,
        &["aws", "secret", "set", "DB_PASSWORD"],
        Some("hunter2-value\n"),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    assert!(stderr.contains("/hello/db-password"), "{stderr}");
    let got = moto.python(
        "print(client('ssm', 'us-west-2').get_parameter(Name='/hello/db-password', \
         WithDecryption=True)['Parameter']['Value'])",
    );
    assert_eq!(got.trim(), "hunter2-value");

    let out = haven(dir, &moto, &["aws", "secret", "set", "NOPE"], Some("x"));
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("DB_PASSWORD"), "{stderr}");
}
