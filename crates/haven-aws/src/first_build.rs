//! The image a deployment runs, and `haven aws deploy` from an empty account.
//!
//! A service stack's `ImageTag` is, in this order: `--image-tag` (every service stack); for a
//! stack that exists, the tag its production service runs (its live task definition: the
//! pipeline deploys new images outside CloudFormation), else its previous value; for a stack
//! that does not exist yet, the image of the project's git HEAD. That image is built in AWS
//! itself when the primary's repository lacks it: [`prepare`] decides the tag (HEAD's commit,
//! cut to 8 characters, as the example's buildspec tags pipeline builds), and [`deploy()`]
//! deploys the stacks before the first service stack, uploads `git archive HEAD` to the
//! primary's artifact bucket, starts the Build project on it (source overridden to S3, the tag
//! in `IMAGE_TAG`), follows its phases, waits until the image is in every region's repository
//! the new stacks pull from, then deploys the rest.
//!
//! Every step looks at what exists first, so a run interrupted anywhere resumes: stacks already
//! complete are no-ops, an image already pushed is not built again, a build still running is
//! followed rather than started twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use haven_cfn::names::Names;
use serde::Serialize;
use serde_json::json;

use crate::api::{self, ECR, ECS};
use crate::bundle::{ParameterSource, StackSpec};
use crate::codebuild::{self, Polling, Status};
use crate::deploy::{self, DeployReport};
use crate::plan::{self, Start};
use crate::{Aws, Bundle, Error, Event, Options, Plan, Progress, cfn, s3};

/// The service stacks' deploy-time parameter: the image tag their tasks run.
pub const IMAGE_TAG: &str = "ImageTag";

/// Why the first image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FirstBuildError {
    #[error(transparent)]
    Aws(#[from] Error),
    #[error(
        "`{}` is not in a git repository: the first image is built in AWS from the committed \
         source (`git archive HEAD`). Commit the project (`git init && git add -A && git commit \
         -m first`), or pass --image-tag TAG to run an image already in the repository",
        dir.display()
    )]
    NotARepository { dir: PathBuf },
    #[error(
        "the git repository of `{}` has no commit yet: the first image is built in AWS from the \
         committed source (`git archive HEAD`). Commit the project (`git add -A && git commit -m \
         first`), or pass --image-tag TAG to run an image already in the repository",
        dir.display()
    )]
    NoCommit { dir: PathBuf },
    #[error("`git {command}` in `{}` failed: {message}", dir.display())]
    Git {
        dir: PathBuf,
        command: String,
        message: String,
    },
    #[error(
        "the Build project `{project}` does not exist in {region}: the primary region's delivery \
         stack creates it, so deploy that region too"
    )]
    NoProject { project: String, region: String },
    #[error(
        "the build {id} of the image {tag} ended {} in {phase}{}{}",
        status.as_str(),
        detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default(),
        log.as_deref().map(|l| format!("; its log: {l}")).unwrap_or_default()
    )]
    BuildFailed {
        id: String,
        tag: String,
        status: Status,
        phase: String,
        detail: Option<String>,
        log: Option<String>,
    },
    #[error(
        "the build {id} still runs after {}s; it goes on in AWS, and `haven aws deploy` follows \
         it when run again",
        waited.as_secs()
    )]
    BuildTimedOut { id: String, waited: Duration },
    #[error(
        "the image {repository}:{tag} is not in {region}'s repository after {}s: {hint}",
        waited.as_secs()
    )]
    ImageMissing {
        repository: String,
        tag: String,
        region: String,
        waited: Duration,
        hint: String,
    },
}

/// The commit the first image is built from: HEAD of the repository the project is in.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub id: String,
    /// The working tree has changes HEAD lacks; they are not built.
    pub dirty: bool,
    /// The repository's top directory.
    #[serde(skip)]
    top: PathBuf,
    /// The project directory inside the repository (`""` at its root).
    #[serde(skip)]
    prefix: String,
}

impl Commit {
    /// The image tag of this commit: its first 8 characters, as the pipeline's builds tag.
    pub fn tag(&self) -> String {
        self.id.chars().take(8).collect()
    }

    /// `git archive --format=zip` of the project directory at this commit, the directory as the
    /// archive's root (where the buildspec runs).
    pub fn archive(&self) -> Result<Vec<u8>, FirstBuildError> {
        let tree = match self.prefix.trim_end_matches('/') {
            "" => self.id.clone(),
            sub => format!("{}:{sub}", self.id),
        };
        // From the top: run in a subdirectory, git archive would look for the tree's paths
        // inside that subdirectory.
        git(&self.top, &["archive", "--format=zip", &tree])
    }
}

/// Runs git in `dir`; its stdout, or why it failed.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>, FirstBuildError> {
    let failed = |message: String| FirstBuildError::Git {
        dir: dir.to_path_buf(),
        command: args.join(" "),
        message,
    };
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => failed("git is not installed (not on PATH)".into()),
            _ => failed(e.to_string()),
        })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(failed(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

fn git_text(dir: &Path, args: &[&str]) -> Result<String, FirstBuildError> {
    git(dir, args).map(|b| String::from_utf8_lossy(&b).trim().to_owned())
}

/// HEAD of the repository `dir` is in; a clear error when there is no repository or no commit.
pub fn head(dir: &Path) -> Result<Commit, FirstBuildError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = match git_text(dir, &["rev-parse", "--show-prefix"]) {
        Ok(prefix) => prefix,
        Err(FirstBuildError::Git { message, .. }) if message.contains("not a git repository") => {
            return Err(FirstBuildError::NotARepository {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(e),
    };
    let id = match git_text(dir, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]) {
        Ok(id) if !id.is_empty() => id,
        // `--quiet` fails silently exactly when HEAD names no commit.
        Ok(_) | Err(FirstBuildError::Git { .. }) => {
            return Err(FirstBuildError::NoCommit {
                dir: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(e),
    };
    let top = PathBuf::from(git_text(dir, &["rev-parse", "--show-toplevel"])?);
    let dirty = !git_text(dir, &["status", "--porcelain", "--", "."])?.is_empty();
    Ok(Commit {
        id,
        dirty,
        top,
        prefix,
    })
}

/// The first image a deployment needs: the service stacks that do not exist yet get `tag`.
#[derive(Debug, Clone, Serialize)]
pub struct FirstImage {
    pub tag: String,
    pub commit: Commit,
    /// The new service stacks, in deploy order.
    pub stacks: Vec<String>,
}

/// Decides the image of the service stacks that do not exist yet, unless `--image-tag` (the
/// plain `ImageTag` parameter) names it: HEAD's tag, set for each of them in
/// `options.parameters`. `None` when no new stack needs one.
pub async fn prepare(
    aws: &Aws,
    bundle: &Bundle,
    regions: &[String],
    options: &mut Options,
    project_dir: &Path,
    progress: Progress<'_>,
) -> Result<Option<FirstImage>, FirstBuildError> {
    if options.parameters.contains_key(IMAGE_TAG) {
        return Ok(None);
    }
    let mut stacks = Vec::new();
    for stack in bundle.select(regions)? {
        let takes_tag = stack
            .parameters
            .iter()
            .any(|p| p.name == IMAGE_TAG && matches!(p.source, ParameterSource::DeployTime { .. }));
        if !takes_tag
            || options
                .parameters
                .contains_key(&plan::stack_parameter(&stack.name, IMAGE_TAG))
        {
            continue;
        }
        let cf = aws.cloudformation(&stack.region);
        let state = cfn::describe(&cf, &stack.region, &stack.name).await?;
        if !matches!(plan::start(stack, state.as_ref())?, Start::Update) {
            stacks.push(stack.name.clone());
        }
    }
    if stacks.is_empty() {
        return Ok(None);
    }
    let commit = head(project_dir)?;
    let tag = commit.tag();
    if commit.dirty {
        progress(Event::Note {
            stack: None,
            message: format!(
                "the working tree has uncommitted changes: the first image is built from HEAD \
                 ({tag}) without them"
            ),
            warning: true,
        });
    }
    for stack in &stacks {
        options
            .parameters
            .insert(plan::stack_parameter(stack, IMAGE_TAG), tag.clone());
    }
    Ok(Some(FirstImage {
        tag,
        commit,
        stacks,
    }))
}

/// How the first image came to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "how")]
pub enum ImageOrigin {
    /// The primary's repository already had it.
    Existing,
    /// Built by this CodeBuild build.
    Built { build: String },
}

/// The image the new service stacks run.
#[derive(Debug, Clone, Serialize)]
pub struct ImageOutcome {
    pub repository: String,
    pub tag: String,
    pub commit: String,
    pub origin: ImageOrigin,
    /// The regions whose repositories were checked to hold it.
    pub regions: Vec<String>,
}

/// A deployment's report, and its first image when it made one.
#[derive(Debug, Serialize)]
pub struct FirstDeploy {
    #[serde(flatten)]
    pub report: DeployReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageOutcome>,
}

/// Applies the plan; with a first image, in two parts around it: the stacks before the first
/// new service stack, the image (built when missing), the rest.
pub async fn deploy(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    plan: Plan,
    first: Option<&FirstImage>,
    options: &Options,
    progress: Progress<'_>,
) -> Result<FirstDeploy, FirstBuildError> {
    let Some(first) = first else {
        let report = deploy::execute(aws, bundle, plan, options, progress).await?;
        return Ok(FirstDeploy {
            report,
            image: None,
        });
    };
    let Plan { method, mut stacks } = plan;
    let split = stacks
        .iter()
        .position(|s| first.stacks.contains(&s.stack))
        .unwrap_or(stacks.len());
    let after = stacks.split_off(split);
    let before = Plan { method, stacks };
    let done = async {
        let head = deploy::execute(aws, bundle, before, options, progress).await?;
        let image = ensure_image(aws, bundle, spec, first, options, progress).await?;
        Ok::<_, FirstBuildError>((head, image))
    };
    let (head, image) = match done.await {
        Ok(both) => both,
        Err(e) => {
            // Notes report any failure of this clean-up; the error that stopped the run matters.
            plan::discard_from(aws, &after, options, progress).await;
            return Err(e);
        }
    };
    let mut options = options.clone();
    if image.tag != first.tag {
        for stack in &first.stacks {
            options
                .parameters
                .insert(plan::stack_parameter(stack, IMAGE_TAG), image.tag.clone());
        }
    }
    let tail = deploy::execute(
        aws,
        bundle,
        Plan {
            method,
            stacks: after,
        },
        &options,
        progress,
    )
    .await?;
    let mut stacks = head.stacks;
    stacks.extend(tail.stacks);
    let outputs: BTreeMap<String, BTreeMap<String, String>> = stacks
        .iter()
        .map(|r| (r.stack.clone(), r.outputs.clone()))
        .collect();
    Ok(FirstDeploy {
        report: DeployReport {
            endpoints: bundle.endpoints(&outputs),
            stacks,
        },
        image: Some(image),
    })
}

/// The regions whose repositories the new stacks pull from (each its own with replication, else
/// the primary's), primary first.
fn image_regions(bundle: &Bundle, spec: &haven_spec::Spec, stacks: &[String]) -> Vec<String> {
    let mut out = vec![bundle.primary_region.clone()];
    for name in stacks {
        if let Some(stack) = bundle.stack(name) {
            let region = if spec.registry.replicate {
                &stack.region
            } else {
                &bundle.primary_region
            };
            if !out.contains(region) {
                out.push(region.clone());
            }
        }
    }
    out
}

/// The first image in every repository the new stacks pull from: built unless the primary's
/// repository has it, then waited for (ECR replicates to the secondaries).
async fn ensure_image(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    first: &FirstImage,
    options: &Options,
    progress: Progress<'_>,
) -> Result<ImageOutcome, FirstBuildError> {
    let names = Names::new(spec);
    let repository = names.repository();
    let primary = bundle.primary_region.as_str();
    let (origin, tag) = if image_exists(aws, primary, &repository, &first.tag).await? {
        progress(Event::Note {
            stack: None,
            message: format!(
                "the image {repository}:{} (commit {}) is already in {primary}'s repository: no \
                 build",
                first.tag, first.tag
            ),
            warning: false,
        });
        (ImageOrigin::Existing, first.tag.clone())
    } else {
        let (build, tag) = build(aws, bundle, spec, first, options, progress).await?;
        (ImageOrigin::Built { build }, tag)
    };
    let regions = image_regions(bundle, spec, &first.stacks);
    let built = matches!(origin, ImageOrigin::Built { .. });
    for region in &regions {
        let why = if region == primary {
            if built {
                "the build pushes it there"
            } else {
                "it was there a moment ago"
            }
        } else {
            "ECR replicates it from the primary"
        };
        wait_for_image(aws, region, &repository, &tag, why, options, progress).await?;
    }
    Ok(ImageOutcome {
        repository,
        tag,
        commit: first.commit.id.clone(),
        origin,
        regions,
    })
}

/// Uploads HEAD's source and runs the Build project on it (or follows the build an earlier run
/// started on the same source); the build's id and the tag it pushed.
async fn build(
    aws: &Aws,
    bundle: &Bundle,
    spec: &haven_spec::Spec,
    first: &FirstImage,
    options: &Options,
    progress: Progress<'_>,
) -> Result<(String, String), FirstBuildError> {
    let names = Names::new(spec);
    let region = bundle.primary_region.as_str();
    let project = names.codebuild("build");
    let repository = names.repository();
    let Some(definition) = codebuild::project(aws, region, &project).await? else {
        return Err(FirstBuildError::NoProject {
            project,
            region: region.to_owned(),
        });
    };
    let account = s3::account_id(aws, region).await?;
    let bucket = names
        .artifact_bucket(region)
        .replace("${AWS::AccountId}", &account);
    let key = format!("haven/source/{}.zip", first.commit.id);
    let location = format!("{bucket}/{key}");
    let note = |message: String| {
        progress(Event::Note {
            stack: Some(project.clone()),
            message,
            warning: false,
        })
    };
    let started = match codebuild::find_running(aws, region, &project, &location).await? {
        Some(running) => {
            note(format!(
                "following build {}, which an earlier deploy started on the same commit",
                running.id
            ));
            running
        }
        None => {
            let zip = first.commit.archive()?;
            note(format!(
                "uploading commit {} (git archive HEAD, {} KiB) to s3://{location}",
                first.tag,
                zip.len().div_ceil(1024)
            ));
            s3::put_object(aws, region, &bucket, &key, "application/zip", zip).await?;
            let token = format!("haven-{}-{}", first.tag, haven_time::now_millis());
            let build = codebuild::start(
                aws,
                region,
                &codebuild::StartSpec {
                    project: &project,
                    bucket: &bucket,
                    key: &key,
                    tag: &first.tag,
                    buildspec: definition.buildspec.as_deref(),
                    idempotency_token: &token,
                },
            )
            .await?;
            note(format!(
                "started build {} ({region}) of the image {repository}:{}",
                build.id, first.tag
            ));
            build
        }
    };
    // The build's own timeout, plus time in CodeBuild's queue.
    let waited = options
        .stack_timeout
        .max(spec.build.timeout.0 + Duration::from_secs(15 * 60));
    let polling = Polling {
        first: options.first_poll,
        max: options.max_poll,
        deadline: Instant::now() + waited,
    };
    let done = codebuild::follow(aws, region, &started.id, polling, |p| {
        note(phase_text(p));
    })
    .await?;
    match done.status {
        Status::Succeeded => {}
        Status::InProgress => {
            return Err(FirstBuildError::BuildTimedOut {
                id: done.id,
                waited,
            });
        }
        status => {
            let failed = done.failed_phase();
            return Err(FirstBuildError::BuildFailed {
                tag: first.tag.clone(),
                status,
                phase: failed.map_or("the build".into(), |p| p.phase.as_str().to_owned()),
                detail: failed.and_then(|p| p.context.clone()),
                log: done.log_link.clone(),
                id: done.id,
            });
        }
    }
    progress(Event::Done {
        stack: project.clone(),
        status: format!("build {} {}", done.id, done.status.as_str()),
    });
    // A buildspec that exports the tag it pushed is believed; the example's exports IMAGE_TAG.
    let tag = match done.exported.get(codebuild::TAG_VARIABLE) {
        Some(t) if !t.is_empty() && *t != first.tag => {
            note(format!(
                "the build exported {}={t}, not {}: deploying {repository}:{t}",
                codebuild::TAG_VARIABLE,
                first.tag
            ));
            t.clone()
        }
        _ => first.tag.clone(),
    };
    Ok((done.id, tag))
}

/// `PRE_BUILD SUCCEEDED (3m 20s)`, and what went wrong when the phase says.
fn phase_text(p: &codebuild::Phase) -> String {
    let status = p.status.map_or("", Status::as_str);
    let time = p
        .seconds
        .map(|s| match s {
            0..60 => format!(" ({s}s)"),
            _ => format!(" ({}m {}s)", s / 60, s % 60),
        })
        .unwrap_or_default();
    let context = match (&p.context, p.status) {
        (Some(c), Some(s)) if s != Status::Succeeded => format!(": {c}"),
        _ => String::new(),
    };
    format!("{} {status}{time}{context}", p.phase.as_str())
}

/// Whether the repository holds the tag (ECR DescribeImages); a repository that does not exist
/// holds nothing.
pub async fn image_exists(
    aws: &Aws,
    region: &str,
    repository: &str,
    tag: &str,
) -> Result<bool, Error> {
    let body = json!({"repositoryName": repository, "imageIds": [{"imageTag": tag}]});
    match api::json(aws, region, ECR, "DescribeImages", &body).await {
        Ok(answer) => Ok(answer["imageDetails"]
            .as_array()
            .is_some_and(|d| !d.is_empty())),
        Err(Error::Call {
            code: Some(code), ..
        }) if code == "ImageNotFoundException" || code == "RepositoryNotFoundException" => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Polls until the repository in `region` holds the tag, saying once that it waits.
async fn wait_for_image(
    aws: &Aws,
    region: &str,
    repository: &str,
    tag: &str,
    why: &str,
    options: &Options,
    progress: Progress<'_>,
) -> Result<(), FirstBuildError> {
    let start = Instant::now();
    let mut wait = options.first_poll;
    let mut said = false;
    loop {
        if image_exists(aws, region, repository, tag).await? {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= options.stack_timeout {
            return Err(FirstBuildError::ImageMissing {
                repository: repository.to_owned(),
                tag: tag.to_owned(),
                region: region.to_owned(),
                waited,
                hint: format!(
                    "{why}; check that the buildspec pushes $IMAGE_REPO_URI:${} (the tag haven \
                     asks for) and, for a secondary, the primary's replication rule",
                    codebuild::TAG_VARIABLE
                ),
            });
        }
        if !said {
            said = true;
            progress(Event::Note {
                stack: None,
                message: format!(
                    "waiting for the image {repository}:{tag} in {region}'s repository ({why})"
                ),
                warning: false,
            });
        }
        tokio::time::sleep(wait.min(options.stack_timeout.saturating_sub(waited))).await;
        wait = (wait * 2).min(options.max_poll);
    }
}

/// The tag the stack's production service runs now: its live task definition's image (the
/// pipeline registers new ones outside CloudFormation). `None` when the stack has no running
/// service or the image is not named by a tag.
pub(crate) async fn live_image_tag(aws: &Aws, stack: &StackSpec) -> Result<Option<String>, Error> {
    let cf = aws.cloudformation(&stack.region);
    let resources = cf
        .describe_stack_resources()
        .stack_name(&stack.name)
        .send()
        .await
        .map_err(|e| {
            cfn::call_error(
                Some(&stack.name),
                &stack.region,
                "DescribeStackResources",
                e,
            )
        })?;
    let mut cluster = None;
    let mut services = Vec::new();
    for r in resources.stack_resources() {
        let (Some(kind), Some(id)) = (r.resource_type(), r.physical_resource_id()) else {
            continue;
        };
        match kind {
            "AWS::ECS::Cluster" => cluster = Some(id.to_owned()),
            "AWS::ECS::Service" => services.push((r.logical_resource_id().unwrap_or_default(), id)),
            _ => {}
        }
    }
    // Production's is the image users get; staging may run a newer one awaiting approval.
    services.sort_by_key(|(logical, _)| !logical.starts_with("Production"));
    let (Some(cluster), Some((_, service))) = (cluster, services.first()) else {
        return Ok(None);
    };
    let answer = api::json(
        aws,
        &stack.region,
        ECS,
        "DescribeServices",
        &json!({"cluster": cluster, "services": [service]}),
    )
    .await?;
    let Some(task_definition) = answer["services"]
        .as_array()
        .and_then(|s| s.first())
        .filter(|s| s["status"] != "INACTIVE")
        .and_then(|s| s["taskDefinition"].as_str())
    else {
        return Ok(None);
    };
    let answer = api::json(
        aws,
        &stack.region,
        ECS,
        "DescribeTaskDefinition",
        &json!({"taskDefinition": task_definition}),
    )
    .await?;
    Ok(answer["taskDefinition"]["containerDefinitions"]
        .as_array()
        .and_then(|c| c.first())
        .and_then(|c| c["image"].as_str())
        .and_then(image_tag))
}

/// The tag of an image reference (`123456789012.dkr.ecr.us-east-1.amazonaws.com/hello:0123abcd`),
/// when it has one that `ImageTag`'s pattern allows; `None` for a digest or no tag.
pub(crate) fn image_tag(image: &str) -> Option<String> {
    let name = image.rsplit('/').next()?;
    if name.contains('@') {
        return None;
    }
    let (_, tag) = name.rsplit_once(':')?;
    let mut chars = tag.chars();
    let valid = tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    valid.then(|| tag.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn git_ok(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn refuses_a_directory_without_repository_or_commit() {
        let dir = tempfile::tempdir().unwrap();
        let err = head(dir.path()).unwrap_err();
        assert!(
            matches!(err, FirstBuildError::NotARepository { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("--image-tag"), "{err}");

        git_ok(dir.path(), &["init", "-q"]);
        let err = head(dir.path()).unwrap_err();
        assert!(matches!(err, FirstBuildError::NoCommit { .. }), "{err:?}");
        assert!(err.to_string().contains("has no commit yet"), "{err}");
    }

    #[test]
    fn archives_the_project_directory_at_head() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("examples/app");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("buildspec.yml"), "version: 0.2\n").unwrap();
        std::fs::write(dir.path().join("README"), "outside the project\n").unwrap();
        git_ok(dir.path(), &["init", "-q"]);
        git_ok(dir.path(), &["add", "-A"]);
        git_ok(dir.path(), &["commit", "-q", "-m", "first"]);
        let commit = head(&project).unwrap();
        assert_eq!(commit.id.len(), 40);
        assert_eq!(commit.tag(), commit.id[..8]);
        assert!(!commit.dirty);

        // Uncommitted changes are seen, and not archived.
        std::fs::write(project.join("buildspec.yml"), "version: 0.2\n# edited\n").unwrap();
        let commit = head(&project).unwrap();
        assert!(commit.dirty);
        let zip = commit.archive().unwrap();
        let listing = dir.path().join("listing.zip");
        std::fs::write(&listing, &zip).unwrap();
        let out = Command::new("python3")
            .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(sorted(z.namelist())); print(z.read('buildspec.yml').decode())"])
            .arg(&listing)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // The project directory is the archive's root; files outside it are left out.
        assert!(text.starts_with("['buildspec.yml']"), "{text}");
        assert!(!text.contains("edited"), "{text}");
    }

    #[test]
    fn image_tags_are_read_from_references() {
        let uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hello:0123abcd";
        assert_eq!(image_tag(uri).as_deref(), Some("0123abcd"));
        assert_eq!(
            image_tag("localhost:5000/team/hello:v1.2-rc_3").as_deref(),
            Some("v1.2-rc_3")
        );
        assert_eq!(image_tag("localhost:5000/hello"), None);
        assert_eq!(image_tag("hello@sha256:abc"), None);
        // moto leaves a pseudo parameter unresolved in a Fn::Sub; the tag is still read.
        assert_eq!(
            image_tag("123456789012.dkr.ecr.us-east-1.${AWS::URLSuffix}/hello:v1").as_deref(),
            Some("v1")
        );
        assert_eq!(image_tag("hello:-bad"), None);
    }

    #[test]
    fn phases_read_as_lines() {
        let p = |phase, status, seconds, context: Option<&str>| codebuild::Phase {
            phase,
            status,
            seconds,
            context: context.map(str::to_owned),
        };
        use codebuild::PhaseType;
        assert_eq!(
            phase_text(&p(
                PhaseType::PreBuild,
                Some(Status::Succeeded),
                Some(200),
                None
            )),
            "PRE_BUILD SUCCEEDED (3m 20s)"
        );
        assert_eq!(
            phase_text(&p(
                PhaseType::Build,
                Some(Status::Failed),
                Some(7),
                Some("COMMAND_EXECUTION_ERROR: exit status 101")
            )),
            "BUILD FAILED (7s): COMMAND_EXECUTION_ERROR: exit status 101"
        );
    }
}
