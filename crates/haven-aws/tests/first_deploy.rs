//! A first deployment into an empty account, against a moto server: the stacks that need no
//! image, the first image built in AWS from `git archive HEAD` (uploaded to the artifact bucket,
//! the Build project started on it with the source overridden), the services with its tag; a
//! rerun that changes nothing; a run interrupted after the network stacks that resumes; an image
//! already pushed for HEAD that is not built again; the running image kept on later deploys.
//!
//! What moto cannot do, and how these tests stand in for it: its CloudFormation skips CodeBuild
//! projects, so the Build project is created with boto3 as the delivery stack declares it; its
//! builds run nothing (they succeed at the first look, with every phase SUCCEEDED and no
//! exported variable), so nothing is pushed: when haven says it waits for the image in a region's
//! repository, the test puts it there, as the build's push and ECR replication would. Real
//! builds, failures and running builds are covered by `codebuild.rs`'s tests on recorded answers.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{
    Moto, Project, block_on, builds, create_build_project, git_commit_all, push_awaited_image,
    put_image, stack_statuses,
};
use haven_aws::deploy::Outcome;
use haven_aws::first_build::{self, FirstBuildError, ImageOrigin};
use haven_aws::{Bundle, Event, Method, Options, deploy, plan};

const PRIMARY: &str = "us-east-1";
const SECONDARY: &str = "us-west-2";
const SERVICES: [&str; 2] = ["hello-us-east-1-service", "hello-us-west-2-service"];

/// A project in a git repository with one commit, its bundle for moto, and the Build project
/// moto cannot create from the template.
struct Fixture {
    project: Project,
    commit: String,
    bundle: Bundle,
}

fn fixture(moto: &Moto) -> Fixture {
    let project = Project::new(|t| t);
    let commit = git_commit_all(project.dir.path());
    let spec = project.spec();
    let synthesis = haven_cfn::synth(&spec).unwrap();
    create_build_project(
        moto,
        PRIMARY,
        "hello-build",
        synthesis.file("buildspec.yml").unwrap(),
    );
    Fixture {
        bundle: project.bundle(),
        project,
        commit,
    }
}

/// moto's options without any `ImageTag`: the first build decides it.
fn options() -> Options {
    Options {
        method: Method::Direct,
        parameters: Default::default(),
        stack_timeout: Duration::from_secs(60),
        first_poll: Duration::from_millis(20),
        max_poll: Duration::from_millis(200),
    }
}

/// Every note haven printed, and, when it says it waits for the image in a region's
/// repository, the image put there (what the build and replication do on AWS).
struct Pusher<'a> {
    moto: &'a Moto,
    notes: Mutex<Vec<String>>,
}

impl<'a> Pusher<'a> {
    fn new(moto: &'a Moto) -> Self {
        Self {
            moto,
            notes: Mutex::new(Vec::new()),
        }
    }

    fn event(&self, e: Event) {
        let Event::Note { stack, message, .. } = e else {
            return;
        };
        push_awaited_image(self.moto, &message);
        let line = match stack {
            Some(s) => format!("{s}: {message}"),
            None => message,
        };
        self.notes.lock().unwrap().push(line);
    }

    fn notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap())
    }
}

/// Deploys the fixture's stacks of the kinds `keep` selects, as an earlier run that stopped
/// part way would have left them.
async fn deploy_kinds(
    aws: &haven_aws::Aws,
    f: &Fixture,
    keep: impl Fn(&str) -> bool,
    progress: &(dyn Fn(Event) + Sync),
) {
    let mut part = f.bundle.clone();
    part.stacks.retain(|s| keep(&s.kind));
    let opts = options();
    let p = plan::plan(aws, &part, &[], &opts, true, progress)
        .await
        .unwrap();
    deploy::execute(aws, &part, p, &opts, progress)
        .await
        .unwrap();
}

/// One `haven aws deploy --yes` with no image tag: prepare, plan, deploy.
async fn deploy_once(
    aws: &haven_aws::Aws,
    f: &Fixture,
    options: &mut Options,
    progress: &(dyn Fn(Event) + Sync),
) -> Result<first_build::FirstDeploy, FirstBuildError> {
    let spec = f.project.spec();
    let first =
        first_build::prepare(aws, &f.bundle, &[], options, f.project.dir.path(), progress).await?;
    let p = plan::plan(aws, &f.bundle, &[], options, true, progress).await?;
    first_build::deploy(aws, &f.bundle, &spec, p, first.as_ref(), options, progress).await
}

fn stack_parameter(moto: &Moto, region: &str, stack: &str, name: &str) -> String {
    moto.python(&format!(
        "s = client('cloudformation', {region:?}).describe_stacks(StackName={stack:?})['Stacks'][0]\n\
         print({{p['ParameterKey']: p['ParameterValue'] for p in s['Parameters']}}[{name:?}])"
    ))
    .trim()
    .to_owned()
}

#[test]
fn an_empty_account_gets_its_first_image_built_in_aws_and_a_rerun_changes_nothing() {
    let moto = Moto::start();
    let f = fixture(&moto);
    let tag = &f.commit[..8];
    let pusher = Pusher::new(&moto);
    let progress = |e: Event| pusher.event(e);

    block_on(async {
        let aws = moto.aws().await;
        let mut opts = options();
        let done = deploy_once(&aws, &f, &mut opts, &progress).await.unwrap();

        // Every stack was created, the service stacks with HEAD's tag.
        assert_eq!(done.report.stacks.len(), f.bundle.stacks.len());
        assert!(
            done.report
                .stacks
                .iter()
                .all(|s| s.result == Outcome::Created)
        );
        let statuses = stack_statuses(&moto);
        assert_eq!(statuses.len(), 11, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| s.ends_with(" CREATE_COMPLETE")),
            "{statuses:?}"
        );
        for (region, stack) in [PRIMARY, SECONDARY].into_iter().zip(SERVICES) {
            assert_eq!(stack_parameter(&moto, region, stack, "ImageTag"), tag);
        }
        let image = done.image.unwrap();
        assert_eq!(image.tag, tag);
        assert_eq!(image.commit, f.commit);
        assert_eq!(image.regions, [PRIMARY, SECONDARY]);
        let ImageOrigin::Built { build } = &image.origin else {
            panic!("{:?}", image.origin)
        };
        assert!(
            done.report
                .endpoints
                .iter()
                .any(|e| e.name == "production" && e.region.as_deref() == Some(SECONDARY))
        );

        // The build: one, on the uploaded source. moto keeps none of StartBuild's overrides
        // (codebuild.rs's tests check the request), so the source is checked in S3.
        let runs = builds(&moto, PRIMARY, "hello-build");
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!(runs[0]["id"], build.as_str());
        let key = format!("haven/source/{}.zip", f.commit);
        let listing = moto.python(&format!(
            "import io, zipfile\n\
             body = client('s3').get_object(Bucket='hello-us-east-1-artifacts-123456789012', \
             Key={key:?})['Body'].read()\n\
             print(json.dumps(sorted(zipfile.ZipFile(io.BytesIO(body)).namelist())))"
        ));
        let files: Vec<String> = serde_json::from_str(&listing).unwrap();
        assert_eq!(files, ["buildspec.yml", "haven.toml"]);

        // Its phases were shown as they ended, and the waits for the image in each region.
        let notes = pusher.notes();
        let expected = [
            format!("hello-build: uploading commit {tag} (git archive HEAD"),
            format!("hello-build: started build {build} ({PRIMARY}) of the image hello:{tag}"),
            "hello-build: PROVISIONING SUCCEEDED".to_owned(),
            "hello-build: PRE_BUILD SUCCEEDED".to_owned(),
            "hello-build: POST_BUILD SUCCEEDED".to_owned(),
            format!("waiting for the image hello:{tag} in {PRIMARY}'s repository"),
            format!("waiting for the image hello:{tag} in {SECONDARY}'s repository"),
        ];
        let mut at = 0;
        for want in &expected {
            let found = notes[at..]
                .iter()
                .position(|n| n.starts_with(want.as_str()))
                .unwrap_or_else(|| panic!("no note `{want}` after #{at} in {notes:#?}"));
            at += found + 1;
        }
        // moto repeats the phases on every look; each is shown once.
        let pre_build = notes.iter().filter(|n| n.contains("PRE_BUILD")).count();
        assert_eq!(pre_build, 1, "{notes:#?}");

        // The same again: nothing to change, no build, the running image kept.
        let mut opts = options();
        let first = first_build::prepare(
            &aws,
            &f.bundle,
            &[],
            &mut opts,
            f.project.dir.path(),
            &progress,
        )
        .await
        .unwrap();
        assert!(first.is_none(), "{first:?}");
        let p = plan::plan(&aws, &f.bundle, &[], &opts, true, &progress)
            .await
            .unwrap();
        assert!(p.is_empty(), "{:?}", p.stacks);
        let again = first_build::deploy(
            &aws,
            &f.bundle,
            &f.project.spec(),
            p,
            None,
            &opts,
            &progress,
        )
        .await
        .unwrap();
        assert!(
            again
                .report
                .stacks
                .iter()
                .all(|s| s.result == Outcome::Unchanged)
        );
        assert_eq!(builds(&moto, PRIMARY, "hello-build").len(), 1);
    });
}

#[test]
fn a_first_deploy_interrupted_after_the_network_stacks_resumes() {
    let moto = Moto::start();
    let f = fixture(&moto);
    let tag = &f.commit[..8];
    let pusher = Pusher::new(&moto);
    let progress = |e: Event| pusher.event(e);

    block_on(async {
        let aws = moto.aws().await;
        // The interrupted run got as far as both network stacks.
        deploy_kinds(&aws, &f, |kind| kind == "network", &progress).await;

        let mut opts = options();
        let done = deploy_once(&aws, &f, &mut opts, &progress).await.unwrap();
        let outcome = |kind: &str| -> Vec<Outcome> {
            done.report
                .stacks
                .iter()
                .filter(|s| f.bundle.stack(&s.stack).unwrap().kind == kind)
                .map(|s| s.result)
                .collect()
        };
        assert_eq!(outcome("network"), [Outcome::Unchanged, Outcome::Unchanged]);
        assert_eq!(outcome("service"), [Outcome::Created, Outcome::Created]);
        assert_eq!(outcome("global"), [Outcome::Created]);
        assert_eq!(done.image.unwrap().tag, tag);
        assert_eq!(builds(&moto, PRIMARY, "hello-build").len(), 1);
    });
}

#[test]
fn an_image_already_pushed_for_head_is_not_built_again() {
    let moto = Moto::start();
    let f = fixture(&moto);
    let tag = &f.commit[..8];
    let pusher = Pusher::new(&moto);
    let progress = |e: Event| pusher.event(e);

    block_on(async {
        let aws = moto.aws().await;
        // An earlier run deployed every stack before the services, built and pushed the image
        // (and ECR replicated it), then stopped.
        deploy_kinds(
            &aws,
            &f,
            |kind| kind != "service" && kind != "global",
            &progress,
        )
        .await;
        for region in [PRIMARY, SECONDARY] {
            put_image(&moto, region, "hello", tag);
        }

        let mut opts = options();
        let done = deploy_once(&aws, &f, &mut opts, &progress).await.unwrap();
        let image = done.image.unwrap();
        assert_eq!(image.origin, ImageOrigin::Existing);
        assert!(builds(&moto, PRIMARY, "hello-build").is_empty());
        let notes = pusher.notes();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("already in us-east-1's repository: no build")),
            "{notes:#?}"
        );
        assert!(
            !notes.iter().any(|n| n.starts_with("waiting")),
            "{notes:#?}"
        );
        for (region, stack) in [PRIMARY, SECONDARY].into_iter().zip(SERVICES) {
            assert_eq!(stack_parameter(&moto, region, stack, "ImageTag"), tag);
        }
    });
}

#[test]
fn later_deploys_keep_the_running_image_unless_told_otherwise() {
    let moto = Moto::start();
    let f = fixture(&moto);
    let tag = &f.commit[..8];
    let pusher = Pusher::new(&moto);
    let progress = |e: Event| pusher.event(e);

    block_on(async {
        let aws = moto.aws().await;
        deploy_once(&aws, &f, &mut options(), &progress)
            .await
            .unwrap();

        // The pipeline deploys `pipeline1` to the primary's production service, outside
        // CloudFormation: a new task definition revision, the service moved to it.
        moto.python(
            "ecs = client('ecs')\n\
             svc = ecs.describe_services(cluster='hello', services=['hello-production'])['services'][0]\n\
             td = ecs.describe_task_definition(taskDefinition=svc['taskDefinition'])['taskDefinition']\n\
             c = td['containerDefinitions']\n\
             c[0]['image'] = c[0]['image'].rsplit(':', 1)[0] + ':pipeline1'\n\
             c[0].setdefault('memory', 1024)\n\
             new = ecs.register_task_definition(family=td['family'], containerDefinitions=c)\n\
             ecs.update_service(cluster='hello', service='hello-production', \
             taskDefinition=new['taskDefinition']['taskDefinitionArn'])",
        );
        let mut opts = options();
        let first = first_build::prepare(
            &aws,
            &f.bundle,
            &[],
            &mut opts,
            f.project.dir.path(),
            &progress,
        )
        .await
        .unwrap();
        assert!(first.is_none());
        let p = plan::plan(&aws, &f.bundle, &[], &opts, true, &progress)
            .await
            .unwrap();
        // Only the primary's service stack changes: to the image it runs.
        let changed: Vec<&str> = p
            .stacks
            .iter()
            .filter(|s| s.action != haven_aws::StackAction::NoChanges)
            .map(|s| s.stack.as_str())
            .collect();
        assert_eq!(changed, [SERVICES[0]]);
        first_build::deploy(
            &aws,
            &f.bundle,
            &f.project.spec(),
            p,
            None,
            &opts,
            &progress,
        )
        .await
        .unwrap();
        assert_eq!(
            stack_parameter(&moto, PRIMARY, SERVICES[0], "ImageTag"),
            "pipeline1"
        );
        assert_eq!(
            stack_parameter(&moto, SECONDARY, SERVICES[1], "ImageTag"),
            tag
        );

        // --image-tag: every service stack runs the tag given, and nothing is built.
        let mut opts = options();
        opts.parameters
            .insert(first_build::IMAGE_TAG.to_owned(), "given2".to_owned());
        let first = first_build::prepare(
            &aws,
            &f.bundle,
            &[],
            &mut opts,
            f.project.dir.path(),
            &progress,
        )
        .await
        .unwrap();
        assert!(first.is_none());
        let p = plan::plan(&aws, &f.bundle, &[], &opts, true, &progress)
            .await
            .unwrap();
        first_build::deploy(
            &aws,
            &f.bundle,
            &f.project.spec(),
            p,
            None,
            &opts,
            &progress,
        )
        .await
        .unwrap();
        for (region, stack) in [PRIMARY, SECONDARY].into_iter().zip(SERVICES) {
            assert_eq!(stack_parameter(&moto, region, stack, "ImageTag"), "given2");
        }
        assert_eq!(builds(&moto, PRIMARY, "hello-build").len(), 1);
    });
}

#[test]
fn without_a_build_project_the_run_stops_before_the_services() {
    let moto = Moto::start();
    // No Build project: the fixture's is not created.
    let project = Project::new(|t| t);
    git_commit_all(project.dir.path());
    let f = Fixture {
        bundle: project.bundle(),
        commit: String::new(),
        project,
    };
    let pusher = Pusher::new(&moto);
    let progress = |e: Event| pusher.event(e);

    block_on(async {
        let aws = moto.aws().await;
        let err = deploy_once(&aws, &f, &mut options(), &progress)
            .await
            .unwrap_err();
        assert!(matches!(err, FirstBuildError::NoProject { .. }), "{err:?}");
        assert!(
            err.to_string()
                .contains("`hello-build` does not exist in us-east-1")
        );
        let statuses = stack_statuses(&moto);
        // Everything before the services exists; no service stack, nothing left in review.
        assert_eq!(statuses.len(), 8, "{statuses:?}");
        assert!(
            statuses.iter().all(|s| s.ends_with(" CREATE_COMPLETE")
                && !s.contains("-service ")
                && !s.contains("global")),
            "{statuses:?}"
        );
    });
}

#[test]
fn a_project_that_is_not_a_git_repository_is_refused_before_anything_is_made() {
    let moto = Moto::start();
    let project = Project::new(|t| t);
    let bundle = project.bundle();
    block_on(async {
        let aws = moto.aws().await;
        let mut opts = options();
        let err = first_build::prepare(&aws, &bundle, &[], &mut opts, project.dir.path(), &|_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(err, FirstBuildError::NotARepository { .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("git archive HEAD") && text.contains("--image-tag"),
            "{text}"
        );
        assert!(stack_statuses(&moto).is_empty());
    });
}
