//! What the CLI's tests against moto share: `haven` run against the moto server with nothing
//! from the machine's AWS configuration, a project's templates written for moto, and a deploy
//! read line by line that does for the emulator what AWS would do while it waits (the image
//! pushed, the services serving).
//!
//! Included by each `aws*` test binary, beside the moto harness (`mod moto`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};

use crate::moto::{self, Moto};

/// `haven` in `dir` against moto, with no credentials or config from the machine.
pub fn haven_command(dir: &Path, moto: &Moto, args: &[&str]) -> Command {
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
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// What moto leaves undone for a service to serve, done when the deploy waits for the services:
/// each service's running count brought to its desired count (UpdateService does it in moto,
/// with [`moto::MOTO_RUNNING`]), and two healthy targets in the blue target group of each
/// environment, the one its traffic rule forwards to (ECS registers tasks on AWS).
pub fn serve(moto: &Moto) {
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
pub fn deploy(dir: &Path, moto: &Moto, args: &[&str], kill_on: Option<&str>) -> Run {
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
        if !moto::push_awaited_image(moto, &line) && line.contains("waiting for hello-") && !served
        {
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

/// `haven ARGS` in `dir` against moto, with `stdin` fed to it (none: no stdin); its output.
pub fn haven(dir: &Path, moto: &Moto, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = haven_command(dir, moto, args);
    match stdin {
        Some(input) => {
            cmd.stdin(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            {
                use std::io::Write;
                let mut pipe = child.stdin.take().unwrap();
                pipe.write_all(input.as_bytes()).unwrap();
            }
            child.wait_with_output().unwrap()
        }
        None => cmd.output().unwrap(),
    }
}

/// An output's stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A project with its templates written by `haven synth` to `out/`, made deployable on moto
/// (see `for_moto`), the bundle deployed from them, and the synthesis.
pub fn synthesized(
    edit: impl FnOnce(String) -> String,
) -> (moto::Project, haven_aws::Bundle, haven_cfn::Synthesis) {
    let project = moto::Project::new(edit);
    let spec = project.spec();
    let synthesis = haven_cfn::synth(&spec).unwrap();
    let bundle = moto::for_moto(haven_aws::Bundle::from_synthesis(&spec, &synthesis).unwrap());
    let out = project.dir.path().join("out");
    haven_cfn::write(&synthesis, &out).unwrap();
    for stack in &bundle.stacks {
        std::fs::write(out.join(&stack.template), &stack.body).unwrap();
    }
    (project, bundle, synthesis)
}
