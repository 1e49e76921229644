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

#[path = "../../haven-aws/tests/common/mod.rs"]
mod moto;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use moto::Moto;

/// `haven` in `dir` against moto, with no credentials or config from the machine.
fn haven_command(dir: &Path, moto: &Moto, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_haven"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// What one run printed and how it ended.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// What moto leaves undone for a service to serve, done when the deploy waits for the services:
/// each service's running count brought to its desired count (UpdateService does it in moto,
/// with [`moto::MOTO_RUNNING`]), and two healthy targets in the blue target group of each
/// environment, the one its traffic rule forwards to (ECS registers tasks on AWS).
fn serve(moto: &Moto) {
    for (region, second) in [("us-east-1", 0), ("us-west-2", 1)] {
        moto.python(&format!(
            "cf = client('cloudformation', {region:?})\n\
             outs = {{o['OutputKey']: o['OutputValue'] for o in \
             cf.describe_stacks(StackName='hello-{region}-network')['Stacks'][0]['Outputs']}}\n\
             elb = client('elbv2', {region:?})\n\
             ecs = client('ecs', {region:?})\n\
             for env in ['Production', 'Staging']:\n\
             \x20   arn = outs.get(env + 'BlueTargetGroupArn')\n\
             \x20   if arn is None: continue\n\
             \x20   elb.register_targets(TargetGroupArn=arn, Targets=[\
             {{'Id': '10.{second}.11.5', 'Port': 8080}}, {{'Id': '10.{second}.12.5', 'Port': 8080}}])\n\
             \x20   name = 'hello-' + env.lower()\n\
             \x20   s = ecs.describe_services(cluster='hello', services=[name])['services'][0]\n\
             \x20   ecs.update_service(cluster='hello', service=name, desiredCount=s['desiredCount'])"
        ));
    }
}

/// Runs `haven aws deploy ARGS`, reading its progress line by line: when it waits for the image
/// in a region's repository, the image is put there; when it waits for the services, they are
/// made to serve ([`serve`]); when a line contains `kill_on`, the process is killed (an
/// interrupted deploy).
fn deploy(dir: &Path, moto: &Moto, args: &[&str], kill_on: Option<&str>) -> Run {
    let mut all = vec!["aws", "deploy", "--out", "out", "--method", "direct"];
    all.extend_from_slice(args);
    let mut child = haven_command(dir, moto, &all).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });
    let mut stderr = String::new();
    let mut served = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("waiting for the image hello:").nth(1) {
            let tag = rest.split_whitespace().next().unwrap();
            let region = rest
                .split(" in ")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap();
            moto::put_image(moto, region, "hello", tag);
        } else if line.contains("waiting for hello-") && !served {
            served = true;
            serve(moto);
        }
        stderr.push_str(&line);
        stderr.push('\n');
        if kill_on.is_some_and(|k| line.contains(k)) {
            // Ours: the child spawned above.
            child.kill().unwrap();
            break;
        }
    }
    let status = child.wait().unwrap();
    Run {
        status,
        stdout: reader.join().unwrap(),
        stderr,
    }
}

/// A project with its templates written by `haven synth` to `out/`, made deployable on moto,
/// committed once to git, and the Build project moto cannot create from the template.
fn project(moto: &Moto) -> (moto::Project, String) {
    let project = moto::Project::new(|t| t);
    let spec = project.spec();
    let synthesis = haven_cfn::synth(&spec).unwrap();
    let bundle = moto::for_moto(haven_aws::Bundle::from_synthesis(&spec, &synthesis).unwrap());
    let out = project.dir.path().join("out");
    haven_cfn::write(&synthesis, &out).unwrap();
    for stack in &bundle.stacks {
        std::fs::write(out.join(&stack.template), &stack.body).unwrap();
    }
    let commit = moto::git_commit_all(project.dir.path());
    moto::create_build_project(
        moto,
        "us-east-1",
        "hello-build",
        synthesis.file("buildspec.yml").unwrap(),
    );
    (project, commit)
}

fn stacks(moto: &Moto) -> Vec<String> {
    let out = moto.python(
        "out = []\n\
         for r in ('us-east-1', 'us-west-2'):\n    \
             out += [s['StackName'] + ' ' + s['StackStatus'] for s in \
             client('cloudformation', r).describe_stacks()['Stacks']]\n\
         print(json.dumps(sorted(out)))",
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn one_deploy_builds_the_first_image_and_a_rerun_changes_nothing() {
    let moto = Moto::start_with_env(&[moto::MOTO_RUNNING]);
    let (project, commit) = project(&moto);
    let dir = project.dir.path();
    let tag = &commit[..8];

    let run = deploy(dir, &moto, &["--yes", "--timeout", "2m"], None);
    assert!(run.status.success(), "{}\n{}", run.stdout, run.stderr);
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
    let all = stacks(&moto);
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
    let before = stacks(&moto);
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
    let all = stacks(&moto);
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
    assert!(stacks(&moto).is_empty());
}
