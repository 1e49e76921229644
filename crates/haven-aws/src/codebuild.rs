//! CodeBuild through signed JSON 1.1 calls (`api::json`): starting the Build project on a source
//! uploaded to S3, finding a build of that source still running, and following a build phase by
//! phase. CodeBuild's status and phase names are read into enums at the boundary (`states.rs`).
//!
//! Request bodies are built by pure functions and answers read by pure functions, so that what
//! moto cannot do (run a build: its builds succeed at the first look, with no exported
//! variables) is covered by unit tests on recorded answers as the API reference documents them.

pub use crate::states::{PhaseType, Status};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{self, CODEBUILD};
use crate::{Aws, Error};

/// The environment variable a build started here gets: the tag to push. CodeBuild leaves
/// `CODEBUILD_RESOLVED_SOURCE_VERSION` unset for an S3 source, so the buildspec cannot derive
/// the commit itself.
pub const TAG_VARIABLE: &str = "IMAGE_TAG";

/// One phase as BatchGetBuilds shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phase {
    pub phase: PhaseType,
    /// `None` while the phase runs.
    pub status: Option<Status>,
    pub seconds: Option<u64>,
    /// What went wrong (`statusCode: message` of its contexts), when the phase says.
    pub context: Option<String>,
}

impl Phase {
    /// Finished: it has a status other than in progress.
    pub fn is_done(&self) -> bool {
        self.status.is_some_and(|s| s != Status::InProgress)
    }
}

/// A build as BatchGetBuilds shows it: only what haven reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Build {
    pub id: String,
    pub status: Status,
    pub phases: Vec<Phase>,
    /// `(type, location)` of its source: `S3` and `bucket/key` for a build started here.
    pub source: Option<(String, String)>,
    /// The buildspec's `env.exported-variables`, once the build ended.
    pub exported: BTreeMap<String, String>,
    /// The plain-text environment variables of the build (the project's and the overrides).
    pub environment: BTreeMap<String, String>,
    /// The CloudWatch Logs console link.
    pub log_link: Option<String>,
}

impl Build {
    /// The first phase that ended otherwise than SUCCEEDED.
    pub fn failed_phase(&self) -> Option<&Phase> {
        self.phases.iter().find(|p| {
            p.status
                .is_some_and(|s| s != Status::Succeeded && s != Status::InProgress)
        })
    }
}

/// Reads one element of BatchGetBuilds' `builds` (or StartBuild's `build`).
pub(crate) fn parse_build(v: &Value) -> Result<Build, String> {
    let id = v["id"].as_str().ok_or("a build without an id")?.to_owned();
    // A build that reports no status yet is still running.
    let status = match v["buildStatus"].as_str() {
        None => Status::InProgress,
        Some(text) => Status::parse(text)
            .ok_or_else(|| format!("build {id}: unknown buildStatus `{text}`"))?,
    };
    let phases = v["phases"]
        .as_array()
        .map(|phases| {
            phases
                .iter()
                .map(|p| Phase {
                    phase: PhaseType::parse(p["phaseType"].as_str().unwrap_or_default()),
                    status: p["phaseStatus"].as_str().and_then(Status::parse),
                    seconds: p["durationInSeconds"].as_u64(),
                    context: p["contexts"].as_array().and_then(|c| {
                        let text: Vec<String> = c
                            .iter()
                            .filter_map(|c| {
                                let code = c["statusCode"].as_str().unwrap_or_default();
                                let message = c["message"].as_str().unwrap_or_default();
                                match (code.is_empty(), message.is_empty()) {
                                    (true, true) => None,
                                    (false, true) => Some(code.to_owned()),
                                    (true, false) => Some(message.to_owned()),
                                    (false, false) => Some(format!("{code}: {message}")),
                                }
                            })
                            .collect();
                        (!text.is_empty()).then(|| text.join("; "))
                    }),
                })
                .collect()
        })
        .unwrap_or_default();
    let source = match (
        v["source"]["type"].as_str(),
        v["source"]["location"].as_str(),
    ) {
        (Some(t), Some(l)) => Some((t.to_owned(), l.to_owned())),
        _ => None,
    };
    let pairs = |list: &Value, plain_only: bool| -> BTreeMap<String, String> {
        list.as_array()
            .map(|vars| {
                vars.iter()
                    .filter(|e| !plain_only || e["type"].as_str().is_none_or(|t| t == "PLAINTEXT"))
                    .filter_map(|e| {
                        Some((
                            e["name"].as_str()?.to_owned(),
                            e["value"].as_str().unwrap_or_default().to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Build {
        status,
        phases,
        source,
        exported: pairs(&v["exportedEnvironmentVariables"], false),
        environment: pairs(&v["environment"]["environmentVariables"], true),
        log_link: v["logs"]["deepLink"]
            .as_str()
            .filter(|l| !l.is_empty())
            .map(str::to_owned),
        id,
    })
}

/// What a build of an uploaded source is started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSpec<'a> {
    pub project: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub tag: &'a str,
    /// The project's own buildspec, passed again: the override replaces the project's source
    /// (a pipeline's), and the buildspec belongs to the source.
    pub buildspec: Option<&'a str>,
    /// Makes a retried StartBuild start one build, not two (CodeBuild keeps it 5 minutes).
    pub idempotency_token: &'a str,
}

/// StartBuild's body: the source from S3, no artifacts (a pipeline's artifacts only exist in a
/// pipeline), and the tag to push.
pub(crate) fn start_request(s: &StartSpec<'_>) -> Value {
    let mut body = json!({
        "projectName": s.project,
        "sourceTypeOverride": "S3",
        "sourceLocationOverride": format!("{}/{}", s.bucket, s.key),
        "artifactsOverride": {"type": "NO_ARTIFACTS"},
        "environmentVariablesOverride": [
            {"name": TAG_VARIABLE, "value": s.tag, "type": "PLAINTEXT"}
        ],
        "idempotencyToken": s.idempotency_token,
    });
    if let Some(buildspec) = s.buildspec {
        body["buildspecOverride"] = Value::String(buildspec.to_owned());
    }
    body
}

fn malformed(region: &str, action: &'static str, problem: String) -> Error {
    Error::Call {
        stack: None,
        region: region.to_owned(),
        action,
        code: None,
        message: format!("unexpected answer: {problem}"),
    }
}

/// A build project, as far as a build started here needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its inline buildspec (`None` when it reads `buildspec.yml` from the source).
    pub buildspec: Option<String>,
}

/// The project, or `None` when it does not exist (BatchGetProjects lists it under
/// `projectsNotFound` rather than failing).
pub async fn project(aws: &Aws, region: &str, project: &str) -> Result<Option<Project>, Error> {
    let answer = api::json(
        aws,
        region,
        CODEBUILD,
        "BatchGetProjects",
        &json!({"names": [project]}),
    )
    .await?;
    Ok(answer["projects"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == project))
        .map(|p| Project {
            buildspec: p["source"]["buildspec"]
                .as_str()
                .filter(|b| !b.is_empty())
                .map(str::to_owned),
        }))
}

pub async fn start(aws: &Aws, region: &str, spec: &StartSpec<'_>) -> Result<Build, Error> {
    let answer = api::json(aws, region, CODEBUILD, "StartBuild", &start_request(spec)).await?;
    parse_build(&answer["build"]).map_err(|e| malformed(region, "StartBuild", e))
}

pub async fn get(aws: &Aws, region: &str, id: &str) -> Result<Build, Error> {
    let answer = api::json(
        aws,
        region,
        CODEBUILD,
        "BatchGetBuilds",
        &json!({"ids": [id]}),
    )
    .await?;
    let builds = parse_builds(&answer).map_err(|e| malformed(region, "BatchGetBuilds", e))?;
    builds
        .into_iter()
        .find(|b| b.id == id)
        .ok_or_else(|| Error::Call {
            stack: None,
            region: region.to_owned(),
            action: "BatchGetBuilds",
            code: Some("ResourceNotFoundException".into()),
            message: format!("build {id} is not found"),
        })
}

fn parse_builds(answer: &Value) -> Result<Vec<Build>, String> {
    answer["builds"]
        .as_array()
        .map(|b| b.iter().map(parse_build).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// The newest build of `project` still running on the source at `location` (`bucket/key`):
/// an earlier `deploy` started it and was interrupted, so this one follows it.
pub async fn find_running(
    aws: &Aws,
    region: &str,
    project: &str,
    location: &str,
) -> Result<Option<Build>, Error> {
    let listed = api::json(
        aws,
        region,
        CODEBUILD,
        "ListBuildsForProject",
        &json!({"projectName": project, "sortOrder": "DESCENDING"}),
    )
    .await?;
    // A build older than the newest few is not one a deploy just left behind.
    let ids: Vec<&str> = listed["ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).take(10).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Ok(None);
    }
    let answer = api::json(
        aws,
        region,
        CODEBUILD,
        "BatchGetBuilds",
        &json!({"ids": ids}),
    )
    .await?;
    let builds = parse_builds(&answer).map_err(|e| malformed(region, "BatchGetBuilds", e))?;
    Ok(running_on(builds, location))
}

/// The first running build whose source is the S3 object at `location`.
pub(crate) fn running_on(builds: Vec<Build>, location: &str) -> Option<Build> {
    builds.into_iter().find(|b| {
        b.status == Status::InProgress
            && b.source
                .as_ref()
                .is_some_and(|(t, l)| t == "S3" && l == location)
    })
}

/// Which phases of `build` ended and were not reported yet; records them in `seen`. Phases are
/// keyed by type: a build runs each once (moto repeats them on every look).
pub(crate) fn newly_done(build: &Build, seen: &mut BTreeSet<PhaseType>) -> Vec<Phase> {
    build
        .phases
        .iter()
        .filter(|p| p.is_done() && p.phase != PhaseType::Completed)
        .filter(|p| seen.insert(p.phase.clone()))
        .cloned()
        .collect()
}

/// How to poll a build.
#[derive(Debug, Clone, Copy)]
pub struct Polling {
    pub first: Duration,
    pub max: Duration,
    pub deadline: Instant,
}

/// Follows a build until it ends (or the deadline passes: `Ok` with the build still in
/// progress), calling `phase` for each phase as it ends.
pub async fn follow(
    aws: &Aws,
    region: &str,
    id: &str,
    polling: Polling,
    mut phase: impl FnMut(&Phase),
) -> Result<Build, Error> {
    let mut seen = BTreeSet::new();
    let mut wait = polling.first;
    loop {
        let build = get(aws, region, id).await?;
        for p in newly_done(&build, &mut seen) {
            phase(&p);
        }
        if build.status != Status::InProgress || Instant::now() >= polling.deadline {
            return Ok(build);
        }
        tokio::time::sleep(wait.min(polling.deadline.saturating_duration_since(Instant::now())))
            .await;
        wait = (wait * 2).min(polling.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BatchGetBuilds answer as the API reference documents it: a build that failed in
    /// PRE_BUILD (the test command exited 101), with its log link.
    const FAILED: &str = r#"{
      "builds": [{
        "id": "hello-build:8f1c2d3e-0000-4000-8000-000000000001",
        "arn": "arn:aws:codebuild:us-east-1:123456789012:build/hello-build:8f1c2d3e-0000-4000-8000-000000000001",
        "buildNumber": 3,
        "startTime": 1764000000.0,
        "endTime": 1764000300.5,
        "currentPhase": "COMPLETED",
        "buildStatus": "FAILED",
        "projectName": "hello-build",
        "phases": [
          {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": 1764000000.0, "endTime": 1764000000.2, "durationInSeconds": 0},
          {"phaseType": "QUEUED", "phaseStatus": "SUCCEEDED", "durationInSeconds": 1},
          {"phaseType": "PROVISIONING", "phaseStatus": "SUCCEEDED", "durationInSeconds": 14,
           "contexts": [{"statusCode": "", "message": ""}]},
          {"phaseType": "DOWNLOAD_SOURCE", "phaseStatus": "SUCCEEDED", "durationInSeconds": 2},
          {"phaseType": "INSTALL", "phaseStatus": "SUCCEEDED", "durationInSeconds": 48},
          {"phaseType": "PRE_BUILD", "phaseStatus": "FAILED", "durationInSeconds": 201,
           "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR",
             "message": "Error while executing command: cargo test --release --locked. Reason: exit status 101"}]},
          {"phaseType": "FINALIZING", "phaseStatus": "SUCCEEDED", "durationInSeconds": 2},
          {"phaseType": "COMPLETED"}
        ],
        "source": {"type": "S3", "location": "hello-us-east-1-artifacts-123456789012/haven/source/0123abcd.zip"},
        "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
          "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": true,
          "environmentVariables": [
            {"name": "IMAGE_REPO_URI", "value": "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello", "type": "PLAINTEXT"},
            {"name": "TOKEN", "value": "/hello/token", "type": "PARAMETER_STORE"},
            {"name": "IMAGE_TAG", "value": "0123abcd", "type": "PLAINTEXT"}
          ]},
        "logs": {"groupName": "/haven/hello/codebuild/build", "streamName": "8f1c2d3e",
          "deepLink": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups"},
        "buildComplete": true
      }],
      "buildsNotFound": []
    }"#;

    /// A build that succeeded and exported the tag it pushed.
    const SUCCEEDED: &str = r#"{
      "builds": [{
        "id": "hello-build:8f1c2d3e-0000-4000-8000-000000000002",
        "buildStatus": "SUCCEEDED",
        "currentPhase": "COMPLETED",
        "phases": [
          {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "durationInSeconds": 0},
          {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED", "durationInSeconds": 180},
          {"phaseType": "BUILD", "phaseStatus": "SUCCEEDED", "durationInSeconds": 95},
          {"phaseType": "POST_BUILD", "phaseStatus": "SUCCEEDED", "durationInSeconds": 140},
          {"phaseType": "COMPLETED"}
        ],
        "source": {"type": "S3", "location": "b/haven/source/0123abcd.zip"},
        "exportedEnvironmentVariables": [{"name": "IMAGE_TAG", "value": "0123abcd"}]
      }]
    }"#;

    /// A build in progress: BUILD runs (no status yet).
    const RUNNING: &str = r#"{
      "builds": [{
        "id": "hello-build:8f1c2d3e-0000-4000-8000-000000000003",
        "buildStatus": "IN_PROGRESS",
        "currentPhase": "BUILD",
        "phases": [
          {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "durationInSeconds": 0},
          {"phaseType": "PRE_BUILD", "phaseStatus": "SUCCEEDED", "durationInSeconds": 180},
          {"phaseType": "BUILD", "startTime": 1764000200.0}
        ],
        "source": {"type": "S3", "location": "b/haven/source/0123abcd.zip"}
      }, {
        "id": "hello-build:8f1c2d3e-0000-4000-8000-000000000004",
        "buildStatus": "IN_PROGRESS",
        "phases": [],
        "source": {"type": "CODEPIPELINE", "location": "hello/Source/abc"}
      }]
    }"#;

    fn builds(text: &str) -> Vec<Build> {
        let v: Value = serde_json::from_str(text).expect("valid JSON");
        parse_builds(&v).expect("parses")
    }

    #[test]
    fn a_failed_build_names_its_phase_and_reason() {
        let b = builds(FAILED).remove(0);
        assert_eq!(b.status, Status::Failed);
        let failed = b.failed_phase().expect("a failed phase");
        assert_eq!(failed.phase, PhaseType::PreBuild);
        assert_eq!(failed.seconds, Some(201));
        assert_eq!(
            failed.context.as_deref(),
            Some(
                "COMMAND_EXECUTION_ERROR: Error while executing command: cargo test --release \
                 --locked. Reason: exit status 101"
            )
        );
        // Empty contexts say nothing; secrets' names are not plain values.
        assert_eq!(b.phases[2].context, None);
        assert_eq!(
            b.environment.get("IMAGE_TAG").map(String::as_str),
            Some("0123abcd")
        );
        assert!(!b.environment.contains_key("TOKEN"));
        assert!(b.log_link.is_some());
        assert_eq!(
            b.source,
            Some((
                "S3".into(),
                "hello-us-east-1-artifacts-123456789012/haven/source/0123abcd.zip".into()
            ))
        );
    }

    #[test]
    fn phases_are_reported_once_as_they_end() {
        let mut seen = BTreeSet::new();
        let running = builds(RUNNING).remove(0);
        let first: Vec<PhaseType> = newly_done(&running, &mut seen)
            .into_iter()
            .map(|p| p.phase)
            .collect();
        // BUILD has no status yet: not reported.
        assert_eq!(first, [PhaseType::Submitted, PhaseType::PreBuild]);
        let done = builds(SUCCEEDED).remove(0);
        let then: Vec<PhaseType> = newly_done(&done, &mut seen)
            .into_iter()
            .map(|p| p.phase)
            .collect();
        // COMPLETED is the end marker, not a phase.
        assert_eq!(then, [PhaseType::Build, PhaseType::PostBuild]);
        assert!(newly_done(&done, &mut seen).is_empty());
        assert_eq!(
            done.exported.get("IMAGE_TAG").map(String::as_str),
            Some("0123abcd")
        );
        assert_eq!(done.failed_phase(), None);
    }

    #[test]
    fn a_running_build_of_the_same_source_is_found() {
        let found = running_on(builds(RUNNING), "b/haven/source/0123abcd.zip");
        assert_eq!(
            found.map(|b| b.id),
            Some("hello-build:8f1c2d3e-0000-4000-8000-000000000003".to_owned())
        );
        assert_eq!(
            running_on(builds(RUNNING), "b/haven/source/other.zip"),
            None
        );
        // A finished build of the same source is not followed again.
        assert_eq!(
            running_on(builds(SUCCEEDED), "b/haven/source/0123abcd.zip"),
            None
        );
    }

    #[test]
    fn unknown_names_are_kept_or_refused() {
        assert_eq!(
            PhaseType::parse("WARMING_UP"),
            PhaseType::Other("WARMING_UP".into())
        );
        assert_eq!(PhaseType::parse("WARMING_UP").as_str(), "WARMING_UP");
        let v = serde_json::json!({"id": "p:1", "buildStatus": "EXPLODED"});
        assert!(parse_build(&v).unwrap_err().contains("EXPLODED"));
        for s in [
            "SUCCEEDED",
            "FAILED",
            "FAULT",
            "TIMED_OUT",
            "IN_PROGRESS",
            "STOPPED",
        ] {
            assert_eq!(Status::parse(s).map(Status::as_str), Some(s));
        }
    }

    #[test]
    fn start_requests_override_source_artifacts_and_tag() {
        let body = start_request(&StartSpec {
            project: "hello-build",
            bucket: "hello-us-east-1-artifacts-123456789012",
            key: "haven/source/0123abcd.zip",
            tag: "0123abcd",
            buildspec: Some("version: 0.2\n"),
            idempotency_token: "haven-0123abcd-1",
        });
        assert_eq!(
            body,
            json!({
                "projectName": "hello-build",
                "sourceTypeOverride": "S3",
                "sourceLocationOverride":
                    "hello-us-east-1-artifacts-123456789012/haven/source/0123abcd.zip",
                "artifactsOverride": {"type": "NO_ARTIFACTS"},
                "environmentVariablesOverride": [
                    {"name": "IMAGE_TAG", "value": "0123abcd", "type": "PLAINTEXT"}
                ],
                "buildspecOverride": "version: 0.2\n",
                "idempotencyToken": "haven-0123abcd-1",
            })
        );
    }
}
