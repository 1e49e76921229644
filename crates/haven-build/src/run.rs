//! Running a build: the phases in CodeBuild's order and transitions, each command in the
//! build's shell, the timeout, stopping, then artifacts, reports and exported variables.
//!
//! Phase transitions, as CodeBuild's "Build phase transitions" and buildspec reference give
//! them: a phase's first failing command skips the rest of its `commands`, its `finally`
//! commands still run, and the phase fails. Then, without `on-failure`, a failed INSTALL or
//! PRE_BUILD ends the build (no later phase, no artifacts); a failed BUILD still runs
//! POST_BUILD, and UPLOAD_ARTIFACTS is attempted after BUILD or POST_BUILD failures.
//! `on-failure: ABORT` ends the build at any phase; `CONTINUE` goes on with the next phase.
//! A failing `finally` command fails the phase too and skips the rest of `finally`.
//! `CODEBUILD_BUILD_SUCCEEDING` turns 0 right after the first failing command, so `finally`
//! and POST_BUILD can test it.
//!
//! A timeout or a stop kills the running command's process group (SIGKILL, as CodeBuild ends
//! its container) and ends the build: no `finally`, no later phase, no artifacts. Processes a
//! command leaves running in the background live on, as in CodeBuild's container, until the
//! build ends; then every command's group is killed and `run` returns only once they are gone.
//!
//! Commands are started with `haven_process::spawn` (process group, parent-death signal, and
//! protection from the region's orphan reaper), so `run` needs a Tokio runtime with I/O and
//! time enabled.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use haven_process::{Group, Output, OwnedChild, Signal, SpawnSpec};
use serde::{Serialize, Serializer};

use crate::artifacts;
use crate::env::{self, ShellState, StateFiles};
use crate::log::{self, Log};
use crate::mask::Masker;
use crate::reports::{self, Report};
use crate::spec::{Buildspec, OnFailure, PhaseName};

/// Resolves an `env.parameter-store` parameter name to its value; `None` if it does not exist.
pub type ParameterResolver = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// CodeBuild's default build timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The account in ARNs of local builds.
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// One build to run: what CodeBuild's StartBuild and the project say.
#[derive(Clone)]
pub struct BuildRequest {
    /// `<project>:<uuid>` ([`crate::new_build_id`]); `CODEBUILD_BUILD_ID`.
    pub build_id: String,
    /// `CODEBUILD_BUILD_NUMBER`.
    pub build_number: u64,
    pub project_name: String,
    /// `AWS_REGION`, `AWS_DEFAULT_REGION`, and the build ARN's region.
    pub region: String,
    /// The build ARN's account.
    pub account_id: String,
    /// `CODEBUILD_INITIATOR`: e.g. `codepipeline/<pipeline>`.
    pub initiator: String,
    /// A fresh checkout the build may write in; `CODEBUILD_SRC_DIR`.
    pub source_dir: PathBuf,
    /// The commit built: `CODEBUILD_SOURCE_VERSION` and `CODEBUILD_RESOLVED_SOURCE_VERSION`.
    pub source_version: String,
    /// Variables added last (StartBuild's overrides win over the buildspec). Names starting
    /// with `CODEBUILD_` are refused.
    pub env: Vec<(String, String)>,
    /// Resolves `env.parameter-store`. Values are masked in the log.
    pub parameters: ParameterResolver,
    /// The whole build's limit, from the start of DOWNLOAD_SOURCE.
    pub timeout: Duration,
    /// The build log (created or truncated).
    pub log: PathBuf,
    /// Where artifacts are copied (created if needed).
    pub artifacts_dir: PathBuf,
}

impl BuildRequest {
    /// A request with a new build ID, build number 1, initiator `haven`, the local account,
    /// CodeBuild's 60-minute default timeout, no extra variables and no parameters.
    pub fn new(
        project_name: impl Into<String>,
        region: impl Into<String>,
        source_dir: impl Into<PathBuf>,
        source_version: impl Into<String>,
        log: impl Into<PathBuf>,
        artifacts_dir: impl Into<PathBuf>,
    ) -> BuildRequest {
        let project_name = project_name.into();
        BuildRequest {
            build_id: env::new_build_id(&project_name),
            build_number: 1,
            project_name,
            region: region.into(),
            account_id: LOCAL_ACCOUNT.into(),
            initiator: "haven".into(),
            source_dir: source_dir.into(),
            source_version: source_version.into(),
            env: Vec::new(),
            parameters: Arc::new(|_| None),
            timeout: DEFAULT_TIMEOUT,
            log: log.into(),
            artifacts_dir: artifacts_dir.into(),
        }
    }

    /// Sets the parameter-store resolver.
    pub fn with_parameters(
        mut self,
        resolve: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> BuildRequest {
        self.parameters = Arc::new(resolve);
        self
    }

    /// Adds a variable (highest precedence).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> BuildRequest {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> BuildRequest {
        self.timeout = timeout;
        self
    }

    /// `arn:aws:codebuild:<region>:<account>:build/<build id>`.
    pub fn build_arn(&self) -> String {
        format!(
            "arn:aws:codebuild:{}:{}:build/{}",
            self.region, self.account_id, self.build_id
        )
    }
}

impl fmt::Debug for BuildRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuildRequest")
            .field("build_id", &self.build_id)
            .field("build_number", &self.build_number)
            .field("project_name", &self.project_name)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("initiator", &self.initiator)
            .field("source_dir", &self.source_dir)
            .field("source_version", &self.source_version)
            .field("env", &self.env)
            .field("timeout", &self.timeout)
            .field("log", &self.log)
            .field("artifacts_dir", &self.artifacts_dir)
            .finish_non_exhaustive()
    }
}

/// How the build ended (CodeBuild's build status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildStatus {
    Succeeded,
    Failed,
    TimedOut,
    Stopped,
}

/// How a phase ended (CodeBuild's phase status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseStatus {
    Succeeded,
    Failed,
    TimedOut,
    Stopped,
}

impl PhaseStatus {
    fn as_str(self) -> &'static str {
        match self {
            PhaseStatus::Succeeded => "SUCCEEDED",
            PhaseStatus::Failed => "FAILED",
            PhaseStatus::TimedOut => "TIMED_OUT",
            PhaseStatus::Stopped => "STOPPED",
        }
    }
}

/// One phase of the build, as CodeBuild's BatchGetBuilds reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseResult {
    pub name: PhaseName,
    pub status: PhaseStatus,
    #[serde(serialize_with = "ser_time")]
    pub started: SystemTime,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration: Duration,
    /// The failing command's exit code (absent when it was killed by a signal).
    pub exit_code: Option<i32>,
    /// The phase context status code: `COMMAND_EXECUTION_ERROR`, `CLIENT_ERROR`, ….
    pub context: Option<String>,
    /// The phase context message.
    pub message: Option<String>,
}

/// Everything a finished build produced.
#[derive(Debug, Clone, Serialize)]
pub struct BuildOutcome {
    pub build_id: String,
    pub build_arn: String,
    pub status: BuildStatus,
    #[serde(serialize_with = "ser_time")]
    pub started: SystemTime,
    #[serde(rename = "duration_ms", serialize_with = "ser_ms")]
    pub duration: Duration,
    /// The phases entered, in order; phases skipped after a failure are absent.
    pub phases: Vec<PhaseResult>,
    /// `env.exported-variables` that were set at the end of the last phase (secrets masked).
    pub exported: BTreeMap<String, String>,
    /// Copied artifact files, relative to the request's `artifacts_dir`.
    pub artifacts: Vec<PathBuf>,
    /// `artifacts.name`, evaluated by the shell at the end of the build.
    pub artifact_name: Option<String>,
    pub reports: Vec<Report>,
    pub log: PathBuf,
}

impl BuildOutcome {
    pub fn succeeded(&self) -> bool {
        self.status == BuildStatus::Succeeded
    }

    pub fn phase(&self, name: PhaseName) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// What stops a build from running at all or from being recorded. A build whose commands
/// fail is not an error: it is a [`BuildOutcome`] with status FAILED.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("invalid build request: {0}")]
    Request(String),
    #[error("build log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("build shell state: {0}")]
    State(#[source] io::Error),
}

fn ser_time<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&log::rfc3339(*t))
}

fn ser_ms<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Runs the build to its end (or its timeout).
///
/// Dropping the returned future stops the build: the running command's process group and any
/// process a command left behind are killed.
pub async fn run(spec: &Buildspec, req: &BuildRequest) -> Result<BuildOutcome, BuildError> {
    run_until(spec, req, std::future::pending()).await
}

/// Like [`run`], but when `stop` completes the build is stopped as CodeBuild's StopBuild
/// does: the running command is killed and the build ends with status STOPPED.
pub async fn run_until<F>(
    spec: &Buildspec,
    req: &BuildRequest,
    stop: F,
) -> Result<BuildOutcome, BuildError>
where
    F: Future<Output = ()>,
{
    if let Some((k, _)) = req.env.iter().find(|(k, _)| k.starts_with("CODEBUILD_")) {
        return Err(BuildError::Request(format!(
            "variable {k}: names starting with CODEBUILD_ are reserved for CodeBuild"
        )));
    }
    let started = haven_time::now();
    let clock = Instant::now();
    let now = tokio::time::Instant::now();
    // A timeout too large to represent means no limit in practice.
    let deadline = now
        .checked_add(req.timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));

    // Parameters first, so that their values are masked from the first line of the log on.
    let mut parameters = Vec::new();
    let mut missing = Vec::new();
    for (var, name) in &spec.env.parameter_store {
        match (req.parameters)(name) {
            Some(value) => parameters.push((var.clone(), value)),
            None => missing.push(format!("{name} (for {var})")),
        }
    }
    let masker = Masker::new(parameters.iter().map(|(_, v)| v.as_str()));
    let files = StateFiles::create(&req.build_id).map_err(BuildError::State)?;
    let log =
        Log::start(&req.log, &files.fifo, masker.clone()).map_err(|source| BuildError::Log {
            path: req.log.clone(),
            source,
        })?;
    let mut stop = std::pin::pin!(stop);
    let mut build = Build {
        spec,
        req,
        log,
        masker,
        files,
        state: ShellState {
            env: BTreeMap::new(),
            cwd: req.source_dir.clone(),
        },
        commands: Commands(Vec::new()),
        deadline,
        succeeding: true,
        stop_fired: false,
        phases: Vec::new(),
    };
    let result = build
        .all_phases(started, &parameters, &missing, stop.as_mut())
        .await;
    // Whatever happened, nothing the build started outlives it (as its container would not).
    build.commands.end().await;
    let (status, artifacts, artifact_name, reports, exported) = match result {
        Ok(r) => r,
        Err(e) => {
            // The log may be what failed; closing it is best effort next to the real error.
            build.log.close().await.ok();
            return Err(e);
        }
    };
    let Build { log, phases, .. } = build;
    log.close().await.map_err(|source| BuildError::Log {
        path: req.log.clone(),
        source,
    })?;
    Ok(BuildOutcome {
        build_id: req.build_id.clone(),
        build_arn: req.build_arn(),
        status,
        started,
        duration: clock.elapsed(),
        phases,
        exported,
        artifacts,
        artifact_name,
        reports,
        log: req.log.clone(),
    })
}

/// How one command ended.
#[derive(Debug)]
enum CommandEnd {
    Succeeded,
    Failed {
        exit_code: Option<i32>,
        reason: String,
    },
    TimedOut,
    Stopped,
}

/// The build's commands, kept until the build ends: a command's background processes (a
/// daemon started with `&`) live on in its process group, as in CodeBuild's container, and
/// dropping an `OwnedChild` would kill them. Dropped with the build, each kills its group.
struct Commands(Vec<OwnedChild>);

impl Commands {
    /// Kills every command's group and waits until nothing is left.
    async fn end(&mut self) {
        for mut child in self.0.drain(..) {
            // Empty or stale groups need nothing; another failure is retried by terminate.
            haven_process::kill_group(child.identity(), Signal::KILL).ok();
            // Waits for the group to be gone. It can only fail for a process stuck in the
            // kernel, which no signal reaches; dropping the child then tries once more.
            child.terminate(Duration::ZERO).await.ok();
        }
    }
}

type Finished = (
    BuildStatus,
    Vec<PathBuf>,
    Option<String>,
    Vec<Report>,
    BTreeMap<String, String>,
);

/// Fields drop in order: if the build is cancelled, its processes die first, then the log
/// ends, then the state directory goes.
struct Build<'a> {
    commands: Commands,
    spec: &'a Buildspec,
    req: &'a BuildRequest,
    log: Log,
    masker: Masker,
    files: StateFiles,
    state: ShellState,
    deadline: tokio::time::Instant,
    /// `CODEBUILD_BUILD_SUCCEEDING`.
    succeeding: bool,
    stop_fired: bool,
    phases: Vec<PhaseResult>,
}

impl Build<'_> {
    fn line(&mut self, message: &str) -> Result<(), BuildError> {
        self.log
            .container(message)
            .map_err(|source| BuildError::Log {
                path: self.req.log.clone(),
                source,
            })
    }

    fn blank(&mut self) -> Result<(), BuildError> {
        self.log.blank().map_err(|source| BuildError::Log {
            path: self.req.log.clone(),
            source,
        })
    }

    async fn all_phases<F: Future<Output = ()>>(
        &mut self,
        started: SystemTime,
        parameters: &[(String, String)],
        missing: &[String],
        mut stop: Pin<&mut F>,
    ) -> Result<Finished, BuildError> {
        let spec = self.spec;
        let req = self.req;
        if !self.download_source(started, parameters, missing)? {
            return Ok((
                BuildStatus::Failed,
                Vec::new(),
                None,
                Vec::new(),
                BTreeMap::new(),
            ));
        }

        let mut upload = true;
        let mut ended: Option<BuildStatus> = None;
        for name in PhaseName::BUILDSPEC {
            let result = self.phase(name, stop.as_mut()).await?;
            let status = result.status;
            self.phases.push(result);
            match status {
                PhaseStatus::Succeeded => {}
                PhaseStatus::TimedOut | PhaseStatus::Stopped => {
                    ended = Some(if status == PhaseStatus::TimedOut {
                        BuildStatus::TimedOut
                    } else {
                        BuildStatus::Stopped
                    });
                    upload = false;
                    break;
                }
                PhaseStatus::Failed => {
                    let on_failure = spec.phases.get(name).and_then(|p| p.on_failure);
                    let go_on = match on_failure {
                        Some(OnFailure::Abort) => false,
                        Some(OnFailure::Continue) => true,
                        // CodeBuild's transitions: INSTALL and PRE_BUILD failures go straight
                        // to FINALIZING; BUILD goes on to POST_BUILD; POST_BUILD to upload.
                        None => matches!(name, PhaseName::Build | PhaseName::PostBuild),
                    };
                    if !go_on {
                        upload = false;
                        break;
                    }
                }
            }
        }

        // After POST_BUILD the exported values can no longer change.
        let exported = self.exported()?;

        let mut artifacts = Vec::new();
        let mut artifact_name = None;
        if upload {
            let started = haven_time::now();
            let clock = Instant::now();
            let mut lines = Vec::new();
            let copied = match &spec.artifacts {
                None => Ok(Vec::new()),
                Some(a) => artifacts::collect(a, &req.source_dir, &req.artifacts_dir, &mut |l| {
                    lines.push(l)
                }),
            };
            for l in lines {
                self.line(&l)?;
            }
            let (status, context, message) = match copied {
                Ok(files) => {
                    artifacts = files;
                    (PhaseStatus::Succeeded, None, None)
                }
                Err(e) => (
                    PhaseStatus::Failed,
                    Some("CLIENT_ERROR".to_owned()),
                    Some(e.to_string()),
                ),
            };
            if let Some(name) = spec.artifacts.as_ref().and_then(|a| a.name.as_deref()) {
                artifact_name = Some(self.artifact_name(name).await);
            }
            self.complete(
                PhaseName::UploadArtifacts,
                status,
                context.as_deref(),
                message.as_deref(),
            )?;
            self.phases.push(PhaseResult {
                name: PhaseName::UploadArtifacts,
                status,
                started,
                duration: clock.elapsed(),
                exit_code: None,
                context,
                message,
            });
        }

        let mut reports = Vec::new();
        for group in &spec.reports {
            let mut lines = Vec::new();
            let report = reports::collect(group, &req.project_name, &req.source_dir, &mut |l| {
                lines.push(l)
            });
            for l in lines {
                self.line(&l)?;
            }
            reports.extend(report);
        }

        let status = ended.unwrap_or(
            if self
                .phases
                .iter()
                .all(|p| p.status == PhaseStatus::Succeeded)
            {
                BuildStatus::Succeeded
            } else {
                BuildStatus::Failed
            },
        );
        Ok((status, artifacts, artifact_name, reports, exported))
    }

    /// DOWNLOAD_SOURCE: the checkout exists, the environment is resolved. False if it failed.
    fn download_source(
        &mut self,
        started: SystemTime,
        parameters: &[(String, String)],
        missing: &[String],
    ) -> Result<bool, BuildError> {
        let spec = self.spec;
        let req = self.req;
        let clock = Instant::now();
        self.line("Running on haven's local CodeBuild twin")?;
        self.line("Phase is DOWNLOAD_SOURCE")?;
        let failure = match env::check_source(&req.source_dir) {
            Err(e) => Some(format!(
                "source directory {}: {e}",
                req.source_dir.display()
            )),
            Ok(src) => {
                self.state.cwd = src.clone();
                self.line(&format!("CODEBUILD_SRC_DIR={}", src.display()))?;
                self.line("Processing environment variables")?;
                if missing.is_empty() {
                    self.state.env = self.environment(&src, started, parameters);
                    None
                } else {
                    Some(format!(
                        "parameter-store: parameter does not exist: {}",
                        missing.join(", ")
                    ))
                }
            }
        };
        let status = if failure.is_some() {
            PhaseStatus::Failed
        } else {
            if spec
                .phases
                .install
                .as_ref()
                .is_none_or(|p| p.runtime_versions.is_empty())
            {
                self.line("No runtime version selected in buildspec.")?;
            }
            let cwd = self.state.cwd.display().to_string();
            self.line(&format!("Moving to directory {cwd}"))?;
            PhaseStatus::Succeeded
        };
        let context = failure.as_ref().map(|_| "CLIENT_ERROR".to_owned());
        self.complete(
            PhaseName::DownloadSource,
            status,
            context.as_deref(),
            failure.as_deref(),
        )?;
        self.phases.push(PhaseResult {
            name: PhaseName::DownloadSource,
            status,
            started,
            duration: clock.elapsed(),
            exit_code: None,
            context,
            message: failure,
        });
        Ok(status == PhaseStatus::Succeeded)
    }

    /// The environment the first command starts with (see [`crate::env`]).
    fn environment(
        &self,
        src: &Path,
        started: SystemTime,
        parameters: &[(String, String)],
    ) -> BTreeMap<String, String> {
        let req = self.req;
        // Host values that are not UTF-8 cannot be passed on; such a variable is left out.
        let mut env = env::host_environment(|k| std::env::var(k).ok());
        let start_ms = haven_time::unix_millis(started);
        let log_stream = req
            .build_id
            .split_once(':')
            .map_or(req.build_id.as_str(), |(_, id)| id);
        let builtins: [(&str, String); 14] = [
            ("AWS_REGION", req.region.clone()),
            ("AWS_DEFAULT_REGION", req.region.clone()),
            ("CODEBUILD_BUILD_ARN", req.build_arn()),
            ("CODEBUILD_BUILD_ID", req.build_id.clone()),
            ("CODEBUILD_BUILD_IMAGE", env::BUILD_IMAGE.to_owned()),
            ("CODEBUILD_BUILD_NUMBER", req.build_number.to_string()),
            ("CODEBUILD_BUILD_SUCCEEDING", "1".to_owned()),
            ("CODEBUILD_CI", "true".to_owned()),
            ("CODEBUILD_INITIATOR", req.initiator.clone()),
            ("CODEBUILD_LOG_PATH", log_stream.to_owned()),
            (
                "CODEBUILD_RESOLVED_SOURCE_VERSION",
                req.source_version.clone(),
            ),
            ("CODEBUILD_SOURCE_VERSION", req.source_version.clone()),
            ("CODEBUILD_SRC_DIR", src.display().to_string()),
            ("CODEBUILD_START_TIME", start_ms.to_string()),
        ];
        for (k, v) in builtins {
            env.insert(k.to_owned(), v);
        }
        for (k, v) in self
            .spec
            .env
            .variables
            .iter()
            .chain(parameters)
            .chain(&req.env)
        {
            env.insert(k.clone(), v.clone());
        }
        env
    }

    /// Runs one buildspec phase (an absent one succeeds at once, as on CodeBuild).
    async fn phase<F: Future<Output = ()>>(
        &mut self,
        name: PhaseName,
        mut stop: Pin<&mut F>,
    ) -> Result<PhaseResult, BuildError> {
        let started = haven_time::now();
        let clock = Instant::now();
        self.line(&format!("Entering phase {name}"))?;
        let mut failure: Option<(Option<i32>, String)> = None;
        let mut ended: Option<PhaseStatus> = None;
        if let Some(phase) = self.spec.phases.get(name) {
            if name == PhaseName::Install && !phase.runtime_versions.is_empty() {
                self.line(
                    "Skipping install of runtimes. Runtime version selection is not supported by this build image.",
                )?;
            }
            let blocks = [&phase.commands, &phase.finally];
            for (i, block) in blocks.into_iter().enumerate() {
                // `finally` runs after a failed command, never after a timeout or a stop.
                if i == 1 && ended.is_some() {
                    break;
                }
                for command in block {
                    let shown = command.trim_end();
                    match self.command(command, stop.as_mut()).await? {
                        CommandEnd::Succeeded => {}
                        CommandEnd::Failed { exit_code, reason } => {
                            self.line(&format!(
                                "Command did not exit successfully {shown} {reason}"
                            ))?;
                            self.succeeding = false;
                            failure.get_or_insert((
                                exit_code,
                                format!("Error while executing command: {shown}. Reason: {reason}"),
                            ));
                            break;
                        }
                        CommandEnd::TimedOut => {
                            self.succeeding = false;
                            ended = Some(PhaseStatus::TimedOut);
                            break;
                        }
                        CommandEnd::Stopped => {
                            self.succeeding = false;
                            ended = Some(PhaseStatus::Stopped);
                            break;
                        }
                    }
                }
                if ended.is_some() {
                    break;
                }
            }
        }
        let (status, exit_code, context, message) = match (ended, failure) {
            (Some(PhaseStatus::TimedOut), _) => (
                PhaseStatus::TimedOut,
                None,
                Some("BUILD_TIMED_OUT"),
                Some("Build has timed out.".to_owned()),
            ),
            (Some(s), _) => (
                s,
                None,
                Some("BUILD_STOPPED"),
                Some("Build was stopped.".to_owned()),
            ),
            (None, Some((code, msg))) => (
                PhaseStatus::Failed,
                code,
                Some("COMMAND_EXECUTION_ERROR"),
                Some(msg),
            ),
            (None, None) => (PhaseStatus::Succeeded, None, None, None),
        };
        // The command text may contain a secret written literally; the log masks it, and so
        // does the outcome.
        let message = message.map(|m| self.masker.mask_str(&m));
        self.complete(name, status, context, message.as_deref())?;
        Ok(PhaseResult {
            name,
            status,
            started,
            duration: clock.elapsed(),
            exit_code,
            context: context.map(str::to_owned),
            message,
        })
    }

    fn complete(
        &mut self,
        name: PhaseName,
        status: PhaseStatus,
        context: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), BuildError> {
        self.line(&format!(
            "Phase complete: {name} State: {}",
            status.as_str()
        ))?;
        self.line(&format!(
            "Phase context status code: {} Message: {}",
            context.unwrap_or(""),
            message.unwrap_or("")
        ))
    }

    /// Runs one command in the build's shell, in its own process group.
    async fn command<F: Future<Output = ()>>(
        &mut self,
        command: &str,
        mut stop: Pin<&mut F>,
    ) -> Result<CommandEnd, BuildError> {
        // A block scalar (`|`) ends with a newline that is not part of what the log shows.
        self.line(&format!("Running command {}", command.trim_end()))?;
        self.files.clear().map_err(BuildError::State)?;
        self.state.set(
            "CODEBUILD_BUILD_SUCCEEDING",
            if self.succeeding { "1" } else { "0" },
        );
        let output = Output::AppendFile(self.log.fifo().to_owned());
        let spec = self
            .shell()
            .arg(self.files.script(command))
            .stdout(output.clone())
            .stderr(output);
        let mut child = match haven_process::spawn(&spec) {
            Ok(child) => child,
            Err(e) => {
                self.blank()?;
                return Ok(CommandEnd::Failed {
                    exit_code: None,
                    reason: e.to_string(),
                });
            }
        };
        let end = tokio::select! {
            status = child.wait() => match status {
                Ok(status) => classify(status),
                Err(e) => CommandEnd::Failed { exit_code: None, reason: e.to_string() },
            },
            () = tokio::time::sleep_until(self.deadline) => {
                kill(&mut child).await;
                CommandEnd::TimedOut
            }
            () = stop.as_mut(), if !self.stop_fired => {
                self.stop_fired = true;
                kill(&mut child).await;
                CommandEnd::Stopped
            }
        };
        self.commands.0.push(child);
        if matches!(end, CommandEnd::Succeeded | CommandEnd::Failed { .. }) {
            self.files
                .read_back(&mut self.state)
                .map_err(BuildError::State)?;
        }
        self.blank()?;
        Ok(end)
    }

    /// `<shell> -c`, with the build's environment and working directory, in a new process
    /// group, killed if haven dies (the script argument comes next).
    fn shell(&self) -> SpawnSpec {
        let mut spec = SpawnSpec::new(self.spec.env.shell.program())
            .arg("-c")
            .env_clear(true)
            .cwd(&self.state.cwd)
            .group(Group::NewGroup)
            .parent_death_signal(Some(Signal::KILL));
        for (k, v) in &self.state.env {
            spec = spec.env(k, v);
        }
        spec.env("PWD", self.state.cwd.display().to_string())
    }

    /// `env.exported-variables` from the final shell state.
    fn exported(&mut self) -> Result<BTreeMap<String, String>, BuildError> {
        let mut out = BTreeMap::new();
        for name in &self.spec.env.exported_variables {
            match self.state.get(name) {
                Some(value) => {
                    out.insert(name.clone(), self.masker.mask_str(value));
                }
                None => self.line(&format!("Exported variable {name} is not set"))?,
            }
        }
        Ok(out)
    }

    /// Evaluates `artifacts.name` with the build's shell and final state, as CodeBuild does
    /// (`myname-$(date +%Y-%m-%d)`). Falls back to the text as written.
    async fn artifact_name(&mut self, name: &str) -> String {
        let scratch = self.files.scratch.clone();
        let spec = self
            .shell()
            .arg(format!("printf '%s' \"{name}\""))
            .stdout(Output::AppendFile(scratch.clone()))
            .stderr(Output::Null);
        let Ok(mut child) = haven_process::spawn(&spec) else {
            return name.to_owned();
        };
        // Dropping the child on timeout kills its group.
        let limit = Duration::from_secs(30);
        let evaluated = match tokio::time::timeout(limit, child.wait()).await {
            Ok(Ok(status)) if status.success() => std::fs::read(&scratch)
                .ok()
                .map(|out| self.masker.mask_str(&String::from_utf8_lossy(&out))),
            _ => None,
        };
        evaluated.unwrap_or_else(|| name.to_owned())
    }
}

fn classify(status: ExitStatus) -> CommandEnd {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => CommandEnd::Succeeded,
        (Some(code), _) => CommandEnd::Failed {
            exit_code: Some(code),
            reason: format!("exit status {code}"),
        },
        (None, sig) => CommandEnd::Failed {
            exit_code: None,
            // Worded as CodeBuild's agent (Go's os/exec) words it.
            reason: format!("signal: {}", signal_name(sig.unwrap_or(0))),
        },
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        3 => "quit".into(),
        6 => "aborted".into(),
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        13 => "broken pipe".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

/// Kills the command's whole process group, then reaps the shell.
async fn kill(child: &mut OwnedChild) {
    // SIGKILL at once, as CodeBuild ends a timed-out or stopped build's container. Stale or
    // empty groups need nothing more; any other failure is retried when the build ends.
    haven_process::kill_group(child.identity(), Signal::KILL).ok();
    // Reaping fails only if the child is already reaped; either way it is gone.
    child.wait().await.ok();
}
