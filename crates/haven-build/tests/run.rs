//! Running buildspecs for real: shells, phases, failures, secrets, artifacts, reports, timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use haven_build::{
    BuildOutcome, BuildRequest, BuildStatus, Buildspec, CaseStatus, PhaseName, PhaseStatus,
    ReportStatus,
};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    src: PathBuf,
    log: PathBuf,
    out: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let src = root.join("src");
    std::fs::create_dir(&src).unwrap();
    Fixture {
        src,
        log: root.join("logs/build.log"),
        out: root.join("artifacts"),
        root,
        _dir: dir,
    }
}

fn request(f: &Fixture) -> BuildRequest {
    BuildRequest::new(
        "demo",
        "eu-west-1",
        &f.src,
        "0123456789abcdef0123456789abcdef01234567",
        &f.log,
        &f.out,
    )
    .with_timeout(Duration::from_secs(60))
}

async fn build(yaml: &str, req: &BuildRequest) -> (BuildOutcome, String) {
    let spec = Buildspec::parse(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let outcome = haven_build::run(&spec, req).await.unwrap();
    let log = std::fs::read_to_string(&req.log).unwrap();
    (outcome, log)
}

/// Every one of `expected` is in the build's log.
fn assert_logged(log: &str, expected: &[&str]) {
    for line in expected {
        assert!(log.contains(line), "no {line:?} in\n{log}");
    }
}

/// The build ended as `status`, through these phases.
fn assert_phases(outcome: &BuildOutcome, status: BuildStatus, phases: &[(PhaseName, PhaseStatus)]) {
    assert_eq!(outcome.status, status);
    assert_eq!(statuses(outcome), phases);
}

fn statuses(outcome: &BuildOutcome) -> Vec<(PhaseName, PhaseStatus)> {
    outcome.phases.iter().map(|p| (p.name, p.status)).collect()
}

use PhaseName::{Build, DownloadSource, Install, PostBuild, PreBuild, UploadArtifacts};
use PhaseStatus::{Failed, Succeeded};

#[tokio::test]
async fn state_carries_across_commands_and_phases_and_secrets_are_masked() {
    let f = fixture();
    let secret = "pa55-w0rd-XYZ";
    let req = request(&f)
        .with_parameters(move |name| (name == "/demo/token").then(|| secret.to_owned()))
        .with_env("FROM_REQUEST", "request-wins")
        .with_env("OVERRIDDEN", "by-request");
    let yaml = r#"
version: 0.2
env:
  variables:
    GREETING: "hello $NOT_EXPANDED"
    OVERRIDDEN: by-buildspec
  parameter-store:
    TOKEN: /demo/token
  exported-variables:
    - BUILT
    - FROM_INSTALL
    - NEVER_SET
phases:
  install:
    commands:
      - export FROM_INSTALL=installed
      - PLAIN=plain-value
      - mkdir -p sub && cd sub
  pre_build:
    commands:
      - test "$(pwd)" = "$CODEBUILD_SRC_DIR/sub"
      - echo "pre $FROM_INSTALL $PLAIN $OVERRIDDEN $FROM_REQUEST"
      - echo "greeting=$GREETING"
  build:
    commands:
      - echo "token is $TOKEN"
      - for c in $(printf '%s' "$TOKEN" | fold -w1); do printf '%s' "$c"; done; echo " (char by char)"
      - env > "$CODEBUILD_SRC_DIR/env.txt"
      - BUILT="built-$CODEBUILD_BUILD_NUMBER-$(printf '%s' "$CODEBUILD_RESOLVED_SOURCE_VERSION" | cut -c1-8)"
  post_build:
    commands:
      - echo "post succeeding=$CODEBUILD_BUILD_SUCCEEDING built=$BUILT"
"#;
    let (outcome, log) = build(yaml, &req).await;
    assert_eq!(outcome.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(
        statuses(&outcome),
        [
            (DownloadSource, Succeeded),
            (Install, Succeeded),
            (PreBuild, Succeeded),
            (Build, Succeeded),
            (PostBuild, Succeeded),
            (UploadArtifacts, Succeeded),
        ]
    );
    // cd, export and plain assignments carry over, across phases too.
    assert_logged(
        &log,
        &["pre installed plain-value by-request request-wins\n"],
    );
    // env.variables are literal.
    assert_logged(&log, &["greeting=hello $NOT_EXPANDED\n"]);
    // The parameter reaches the command and never the log.
    assert_logged(&log, &["token is ***\n", "*** (char by char)\n"]);
    assert!(!log.contains(secret), "{log}");
    let env = std::fs::read_to_string(f.src.join("env.txt")).unwrap();
    assert!(env.contains(&format!("TOKEN={secret}\n")));
    for want in [
        "CODEBUILD_BUILD_ID=demo:".to_owned(),
        format!(
            "CODEBUILD_BUILD_ARN=arn:aws:codebuild:eu-west-1:000000000000:build/{}",
            req.build_id
        ),
        "CODEBUILD_BUILD_NUMBER=1".into(),
        "CODEBUILD_SOURCE_VERSION=0123456789abcdef0123456789abcdef01234567".into(),
        "CODEBUILD_RESOLVED_SOURCE_VERSION=0123456789abcdef0123456789abcdef01234567".into(),
        format!(
            "CODEBUILD_SRC_DIR={}",
            f.src.canonicalize().unwrap().display()
        ),
        "CODEBUILD_BUILD_SUCCEEDING=1".into(),
        "CODEBUILD_INITIATOR=haven".into(),
        "CODEBUILD_BUILD_IMAGE=haven/local".into(),
        "CODEBUILD_CI=true".into(),
        "CODEBUILD_START_TIME=".into(),
        "CODEBUILD_LOG_PATH=".into(),
        "AWS_REGION=eu-west-1".into(),
        "AWS_DEFAULT_REGION=eu-west-1".into(),
        "PATH=".into(),
    ] {
        assert!(
            env.lines().any(|l| l.starts_with(&want)),
            "{want} missing in\n{env}"
        );
    }
    // A clean environment: nothing of the test process leaks in beyond the pass-through list.
    assert!(!env.contains("CARGO_PKG_NAME="), "{env}");
    assert_logged(&log, &["post succeeding=1 built=built-1-01234567\n"]);
    // Exported variables: values at the end of the build; unset ones are absent.
    assert_eq!(
        outcome.exported.get("BUILT").map(String::as_str),
        Some("built-1-01234567")
    );
    assert_eq!(
        outcome.exported.get("FROM_INSTALL").map(String::as_str),
        Some("installed")
    );
    assert!(!outcome.exported.contains_key("NEVER_SET"));
    assert_logged(&log, &["Exported variable NEVER_SET is not set"]);
    // CodeBuild's log lines.
    for want in [
        "Phase is DOWNLOAD_SOURCE",
        "Entering phase INSTALL",
        "Running command export FROM_INSTALL=installed",
        "Phase complete: BUILD State: SUCCEEDED",
        "Phase context status code:  Message: ",
    ] {
        assert!(
            log.lines()
                .any(|l| l.starts_with("[Container] 2") && l.ends_with(want)),
            "{want}\n{log}"
        );
    }
    // The outcome serializes as CodeBuild names things.
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["status"], "SUCCEEDED");
    assert_eq!(json["phases"][1]["name"], "INSTALL");
    assert!(
        json["phases"][1]["started"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(json["duration_ms"].is_u64());
}

#[tokio::test]
async fn failing_pre_build_runs_finally_and_ends_the_build() {
    let f = fixture();
    let yaml = r#"
version: 0.2
phases:
  install:
    commands:
      - "true"
  pre_build:
    commands:
      - echo before
      - exit 7
      - echo never-runs
    finally:
      - echo "finally ran succeeding=$CODEBUILD_BUILD_SUCCEEDING"
      - echo second-finally
  build:
    commands:
      - echo build-ran
  post_build:
    commands:
      - echo post-ran
artifacts:
  files:
    - '**/*'
"#;
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_phases(
        &outcome,
        BuildStatus::Failed,
        &[
            (DownloadSource, Succeeded),
            (Install, Succeeded),
            (PreBuild, Failed),
        ],
    );
    let pre = outcome.phase(PreBuild).unwrap();
    assert_eq!(pre.exit_code, Some(7));
    assert_eq!(pre.context.as_deref(), Some("COMMAND_EXECUTION_ERROR"));
    assert_eq!(
        pre.message.as_deref(),
        Some("Error while executing command: exit 7. Reason: exit status 7")
    );
    assert_logged(
        &log,
        &[
            "finally ran succeeding=0\n",
            "second-finally\n",
            "Command did not exit successfully exit 7 exit status 7",
            "Phase complete: PRE_BUILD State: FAILED",
        ],
    );
    for absent in ["never-runs", "build-ran", "post-ran", "UPLOAD_ARTIFACTS"] {
        assert!(!log.contains(absent), "{absent} in\n{log}");
    }
    assert!(outcome.artifacts.is_empty());
}

#[tokio::test]
async fn failing_build_still_runs_post_build_and_uploads() {
    let f = fixture();
    let yaml = r#"
version: 0.2
phases:
  build:
    commands:
      - "false"
      - echo never-runs
    finally:
      - echo finally-after-failure
  post_build:
    commands:
      - echo "post succeeding=$CODEBUILD_BUILD_SUCCEEDING"
      - echo out > out.txt
artifacts:
  files:
    - out.txt
"#;
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_phases(
        &outcome,
        BuildStatus::Failed,
        &[
            (DownloadSource, Succeeded),
            (Install, Succeeded),
            (PreBuild, Succeeded),
            (Build, Failed),
            (PostBuild, Succeeded),
            (UploadArtifacts, Succeeded),
        ],
    );
    assert_eq!(outcome.phase(Build).unwrap().exit_code, Some(1));
    assert_logged(&log, &["finally-after-failure\n", "post succeeding=0\n"]);
    assert!(!log.contains("never-runs"));
    assert_eq!(outcome.artifacts, [PathBuf::from("out.txt")]);
}

#[tokio::test]
async fn on_failure_continue_and_abort() {
    let f = fixture();
    let yaml = r#"
version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands:
      - exit 2
  pre_build:
    commands:
      - echo pre-build-ran
  build:
    on-failure: ABORT
    commands:
      - kill -9 $$
  post_build:
    commands:
      - echo post-ran
"#;
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_phases(
        &outcome,
        BuildStatus::Failed,
        &[
            (DownloadSource, Succeeded),
            (Install, Failed),
            (PreBuild, Succeeded),
            (Build, Failed),
        ],
    );
    assert_logged(&log, &["pre-build-ran\n"]);
    assert!(!log.contains("post-ran"), "{log}");
    // A command killed by a signal has no exit code; the reason is worded as CodeBuild's.
    let b = outcome.phase(Build).unwrap();
    assert_eq!(b.exit_code, None);
    assert!(
        b.message
            .as_deref()
            .unwrap()
            .ends_with("Reason: signal: killed"),
        "{b:?}"
    );
}

#[tokio::test]
async fn missing_parameter_fails_download_source() {
    let f = fixture();
    let yaml = "version: 0.2\nenv:\n  parameter-store:\n    X: /nope\nphases:\n  build:\n    commands: [echo ran]\n";
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_eq!(outcome.status, BuildStatus::Failed);
    assert_eq!(statuses(&outcome), [(DownloadSource, Failed)]);
    assert!(
        outcome.phases[0]
            .message
            .as_deref()
            .unwrap()
            .contains("/nope (for X)"),
        "{:?}",
        outcome.phases[0]
    );
    assert!(!log.contains("\nran\n"));
}

#[tokio::test]
async fn artifacts_base_directory_discard_and_exclude_keep_modes() {
    let f = fixture();
    let yaml = r#"
version: 0.2
phases:
  build:
    commands:
      - mkdir -p out/bin out/docs out/tmp
      - printf '#!/bin/sh\necho hi\n' > out/bin/tool && chmod 755 out/bin/tool
      - echo doc > out/docs/readme.md
      - echo junk > out/tmp/x.tmp
      - echo top > out/top.txt
      - ln -s top.txt out/link.txt
artifacts:
  base-directory: out
  files:
    - '**/*'
    - missing/file
  exclude-paths:
    - tmp
    - link.txt
  discard-paths: yes
"#;
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_eq!(outcome.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(
        outcome.artifacts,
        ["readme.md", "tool", "top.txt"].map(PathBuf::from)
    );
    let mode = std::fs::metadata(f.out.join("tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");
    let mode = std::fs::metadata(f.out.join("top.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0, "mode {mode:o}");
    assert_logged(
        &log,
        &[
            "Expanding base directory path: out",
            "Skipping invalid file path missing/file",
        ],
    );

    // Paths kept, a literal directory selects its files, symlinks followed.
    let g = fixture();
    std::fs::create_dir_all(g.src.join("target/release/deps")).unwrap();
    std::fs::write(g.src.join("target/release/app"), "bin").unwrap();
    std::fs::write(g.src.join("target/release/deps/x.d"), "d").unwrap();
    std::fs::write(g.src.join("README"), "r").unwrap();
    std::os::unix::fs::symlink("README", g.src.join("README.link")).unwrap();
    let yaml = "version: 0.2\nphases: {}\nartifacts:\n  files:\n    - target/release/*\n    - README*\n    - target/release/deps\n";
    let (outcome, log) = build(yaml, &request(&g)).await;
    assert_eq!(outcome.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(
        outcome.artifacts,
        [
            "README",
            "README.link",
            "target/release/app",
            "target/release/deps/x.d"
        ]
        .map(PathBuf::from)
    );
    assert!(
        !std::fs::symlink_metadata(g.out.join("README.link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[tokio::test]
async fn no_matching_artifacts_fails_upload() {
    let f = fixture();
    let yaml = "version: 0.2\nphases:\n  build:\n    commands: [\"true\"]\nartifacts:\n  files:\n    - imagedefinitions.json\n";
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_eq!(outcome.status, BuildStatus::Failed);
    let up = outcome.phase(UploadArtifacts).unwrap();
    assert_eq!(up.status, Failed);
    assert_eq!(up.context.as_deref(), Some("CLIENT_ERROR"));
    assert_eq!(
        up.message.as_deref(),
        Some("no matching artifact paths found")
    );
    assert_logged(&log, &["Skipping invalid file path imagedefinitions.json"]);
    assert!(log.contains(
        "Phase context status code: CLIENT_ERROR Message: no matching artifact paths found"
    ));
}

#[tokio::test]
async fn junit_reports_are_counted() {
    let f = fixture();
    let yaml = r#"
version: 0.2
phases:
  build:
    commands:
      - mkdir -p reports/nested
      - |
        cat > reports/unit.xml <<'EOF'
        <?xml version="1.0" encoding="UTF-8"?>
        <testsuites>
          <testsuite name="unit" tests="4">
            <testcase classname="m" name="adds"/>
            <testcase classname="m" name="subtracts"><system-out>ok</system-out></testcase>
            <testcase classname="m" name="divides"><failure message="division by zero">trace</failure></testcase>
            <testcase classname="m" name="later"><skipped/></testcase>
          </testsuite>
        </testsuites>
        EOF
      - echo '<testsuite name="it"><testcase name="boots"/><testcase name="crashes"><error message="boom"/></testcase></testsuite>' > reports/nested/it.xml
      - echo 'not xml <' > reports/notes.txt
reports:
  unit-tests:
    files:
      - '**/*.xml'
    base-directory: reports
  broken:
    files:
      - reports/notes.txt
  none:
    files:
      - nothing/*.xml
"#;
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_eq!(outcome.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(outcome.reports.len(), 2, "{:?}", outcome.reports);
    let unit = &outcome.reports[0];
    assert_eq!(unit.name, "demo-unit-tests");
    // Report files are named relative to the source directory.
    assert_eq!(
        unit.files,
        ["reports/nested/it.xml", "reports/unit.xml"].map(PathBuf::from)
    );
    assert_eq!(
        (
            unit.total,
            unit.passed,
            unit.failed,
            unit.errored,
            unit.skipped
        ),
        (6, 3, 1, 1, 1)
    );
    assert_eq!(unit.status, ReportStatus::Failed);
    let divides = unit.cases.iter().find(|c| c.name == "divides").unwrap();
    assert_eq!(divides.status, CaseStatus::Failed);
    assert_eq!(divides.message.as_deref(), Some("division by zero"));
    assert_eq!(outcome.reports[1].status, ReportStatus::Incomplete);
    assert_logged(
        &log,
        &[
            "Report group none: no matching report paths found",
            "Report group demo-unit-tests: 2 file(s), 6 test case(s): 3 passed, 1 failed, 1 error(s), 1 skipped",
        ],
    );
}

/// True once `pid` has exited (gone, or a zombie nobody reaped yet).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn read_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn timeout_kills_the_command_and_its_children() {
    let f = fixture();
    let req = request(&f).with_timeout(Duration::from_secs(2));
    let yaml = r#"
version: 0.2
phases:
  build:
    commands:
      - echo started
      - sh -c 'sleep 60 & echo $! > bg.pid; sleep 60'
  post_build:
    commands:
      - echo post-ran
"#;
    let t0 = Instant::now();
    let (outcome, log) = build(yaml, &req).await;
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert_eq!(outcome.status, BuildStatus::TimedOut);
    let b = outcome.phase(Build).unwrap();
    assert_eq!(b.status, PhaseStatus::TimedOut);
    assert_eq!(b.context.as_deref(), Some("BUILD_TIMED_OUT"));
    assert!(outcome.phase(PostBuild).is_none());
    assert!(outcome.phase(UploadArtifacts).is_none());
    assert!(!log.contains("post-ran"));
    assert_logged(&log, &["Phase complete: BUILD State: TIMED_OUT"]);
    let bg = read_pid(&f.src.join("bg.pid"));
    assert!(dead(bg), "background sleep {bg} survived the timeout");
}

#[tokio::test]
async fn background_processes_live_across_phases_but_not_beyond_the_build() {
    let f = fixture();
    let yaml = r#"
version: 0.2
phases:
  install:
    commands:
      - sleep 60 > /dev/null 2>&1 & echo $! > daemon.pid
      - (sleep 60; echo late) &
  build:
    commands:
      - kill -0 "$(cat daemon.pid)" && echo daemon-alive
      - echo after-daemons
"#;
    let t0 = Instant::now();
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_eq!(outcome.status, BuildStatus::Succeeded, "{log}");
    // A background process holding the log pipe must not make the build wait for it.
    assert!(t0.elapsed() < Duration::from_secs(30));
    // Background processes live on across commands and phases, as in CodeBuild's container…
    assert_logged(&log, &["daemon-alive\n"]);
    assert!(log.contains("after-daemons\n"));
    // …and die with the build.
    let daemon = read_pid(&f.src.join("daemon.pid"));
    assert!(dead(daemon), "daemon {daemon} outlived the build");
}

#[tokio::test]
async fn stop_kills_the_running_command() {
    let f = fixture();
    let req = request(&f);
    let spec = Buildspec::parse(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - touch started; sleep 60\n",
    )
    .unwrap();
    let started = f.src.join("started");
    let stop = async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !started.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let t0 = Instant::now();
    let outcome = haven_build::run_until(&spec, &req, stop).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(outcome.status, BuildStatus::Stopped);
    assert_eq!(outcome.phase(Build).unwrap().status, PhaseStatus::Stopped);
}

#[tokio::test]
async fn bash_when_asked_and_the_build_future_is_send() {
    let f = fixture();
    let yaml = "version: 0.2\nenv:\n  shell: bash\nphases:\n  build:\n    commands:\n      - '[[ -n \"$BASH_VERSION\" ]] && echo in-bash'\n";
    let (outcome, log) = build(yaml, &request(&f)).await;
    assert_eq!(outcome.status, BuildStatus::Succeeded, "{log}");
    assert!(log.contains("in-bash\n"));

    fn assert_send<T: Send>(_: &T) {}
    let spec = Buildspec::parse(yaml).unwrap();
    let req = request(&f);
    let fut = haven_build::run(&spec, &req);
    assert_send(&fut);
}

#[tokio::test]
async fn reserved_request_variables_are_refused() {
    let f = fixture();
    let spec = Buildspec::parse("version: 0.2\nphases: {}\n").unwrap();
    let req = request(&f).with_env("CODEBUILD_BUILD_ID", "x");
    let err = haven_build::run(&spec, &req).await.unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
}

/// Copies `from` into `to`, leaving out `target` (the example's own build output).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_example_builds_with_its_real_buildspec() {
    let f = fixture();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    copy_tree(&example, &f.src);
    let yaml = std::fs::read_to_string(f.src.join("buildspec.yml")).unwrap();
    let req = request(&f)
        .with_timeout(Duration::from_secs(600))
        .with_env(
            "CARGO_TARGET_DIR",
            f.src.join("target").display().to_string(),
        )
        .with_env("CARGO_NET_OFFLINE", "true");
    let (outcome, log) = build(&yaml, &req).await;
    assert_eq!(outcome.status, BuildStatus::Succeeded, "{log}");
    assert_eq!(outcome.artifacts, [PathBuf::from("target/release/hello")]);
    let bin = f.out.join("target/release/hello");
    let mode = std::fs::metadata(&bin).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "mode {mode:o}");
    // imagedefinitions.json is written on AWS only; a missing optional file is skipped.
    assert_logged(&log, &["Skipping invalid file path imagedefinitions.json"]);
    assert!(log.contains("Running command cargo test --release --locked"));
    assert!(f.root.join("logs/build.log").exists());
}
