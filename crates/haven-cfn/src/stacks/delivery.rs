//! The delivery stack. In the primary: the source (the CodeCommit repository and the protection
//! of its branches, or the CodeConnections connection to GitHub, GitLab or Bitbucket), the Build
//! and Release CodeBuild projects, the CodePipeline (V2) that runs Source, Build, Staging,
//! Approval and Production, what starts it on a push to its branch (an EventBridge rule for
//! CodeCommit, the pipeline's own trigger for a connection), and the mirror job that replicates
//! a CodeCommit repository. In each secondary: the replica repository (CodeCommit) and the
//! artifact bucket the pipeline's cross-region deploy actions read from.

use std::collections::BTreeMap;

use haven_spec::model::{ExecutionMode, Region, Role as SpecRole};
use serde_json::json;

use crate::StackKind;
use crate::buildspec::{self, UserBuildspec};
use crate::iam::{self, PolicyDocument, Statement};
use crate::model::resources::delivery::{
    Action, ActionTypeId, ArtifactKey, ArtifactName, ArtifactStore, ArtifactStoreMap,
    BuildArtifacts, BuildEnvironment, BuildSource, BuildVariable, CloudWatchLogs, CodeBuildProject,
    CodeCommitRepository, CodeConnection, GitBranchFilter, GitConfiguration, GitPushFilter,
    LogsConfig, Pipeline, PipelineTrigger, Stage,
};
use crate::model::resources::iam::{Group, InlinePolicy, Policy, Role};
use crate::model::resources::observe::{EventRule, EventTarget, LogGroup};
use crate::model::resources::storage::{
    Bucket, BucketEncryption, BucketPolicy, LifecycleConfiguration, LifecycleRule,
    LoggingConfiguration, NoncurrentVersionExpiration, OwnershipControls, OwnershipRule,
    PublicAccessBlock, ServerSideEncryptionByDefault, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use crate::model::{Expr, Resource};
use crate::names::pascal;
use crate::stacks::{Builder, Cx, Stack, network, out, topic_id};

/// The logical id of the connection to a hosted repository.
const SOURCE_CONNECTION: &str = "SourceConnection";

/// The pipeline's source action, which a trigger names.
const SOURCE_ACTION: &str = "Source";

/// The image the haven-written projects (Release, mirror) run on: AWS's curated image, which has
/// bash, git and the AWS CLI whatever `build.image` the user picked.
const TOOLS_IMAGE: &str = "aws/codebuild/amazonlinux-x86_64-standard:5.0";

pub fn build(cx: Cx<'_>, region: &Region, user: &UserBuildspec) -> Stack {
    let primary = region.role == SpecRole::Primary;
    let provider = cx.spec.source.provider;
    // Only a CodeCommit repository is haven's to create, protect and replicate: a hosted one
    // lives at its host, outside any region.
    let codecommit = !provider.is_hosted();
    let replicate =
        codecommit && cx.spec.source.replicate && cx.spec.secondaries().next().is_some();
    let what = match (primary, codecommit) {
        (true, true) => "repository, builds, pipeline".to_owned(),
        (true, false) => format!("connection to {}, builds, pipeline", provider.aws_name()),
        (false, _) if replicate => "replica repository, pipeline artifact bucket".to_owned(),
        (false, _) => "pipeline artifact bucket".to_owned(),
    };
    let mut b = Builder::new(
        StackKind::Delivery,
        &region.name,
        cx.stack_name(&region.name, StackKind::Delivery),
        format!(
            "haven {}: {} delivery: {what}",
            cx.names.project(),
            region.name
        ),
    );
    let key = b.network_key(cx, &region.name);
    if codecommit && (primary || replicate) {
        b.add(
            "SourceRepository",
            CodeCommitRepository {
                repository_name: cx.names.source_repository().to_owned(),
                repository_description: if primary {
                    format!("{}: the source the pipeline builds", cx.names.project())
                } else {
                    format!(
                        "{}: a replica of the repository in {}, written only by its mirror job",
                        cx.names.project(),
                        cx.primary().name
                    )
                },
                tags: Vec::new(),
            },
        );
    }
    artifact_bucket(&mut b, cx, region, &key);
    if primary {
        Primary {
            cx,
            region,
            key,
            replicate,
        }
        .build(&mut b, user);
    }
    b.finish()
}

/// The pipeline's artifact store in this region: encrypted with the region's key, versioned,
/// private, TLS only, its access logged to the log bucket.
fn artifact_bucket(b: &mut Builder, cx: Cx<'_>, region: &Region, key: &Expr) {
    b.add(
        "ArtifactBucket",
        Bucket {
            bucket_name: Expr::sub(cx.names.artifact_bucket(&region.name)),
            bucket_encryption: BucketEncryption {
                server_side_encryption_configuration: vec![ServerSideEncryptionRule {
                    bucket_key_enabled: Some(true),
                    server_side_encryption_by_default: ServerSideEncryptionByDefault {
                        sse_algorithm: "aws:kms",
                        kms_master_key_id: Some(key.clone()),
                    },
                }],
            },
            versioning_configuration: VersioningConfiguration { status: "Enabled" },
            public_access_block_configuration: PublicAccessBlock::all(),
            ownership_controls: OwnershipControls {
                rules: vec![OwnershipRule {
                    object_ownership: "BucketOwnerEnforced",
                }],
            },
            logging_configuration: Some(LoggingConfiguration {
                destination_bucket_name: Expr::sub(cx.names.log_bucket(&region.name)),
                log_file_prefix: "s3/artifacts/".into(),
            }),
            lifecycle_configuration: Some(LifecycleConfiguration {
                rules: vec![LifecycleRule {
                    id: "expire-old-versions".into(),
                    status: "Enabled",
                    noncurrent_version_expiration: Some(NoncurrentVersionExpiration {
                        noncurrent_days: 30,
                    }),
                    ..LifecycleRule::default()
                }],
            }),
            tags: Vec::new(),
        },
    );
    b.add(
        "ArtifactBucketPolicy",
        BucketPolicy {
            bucket: Expr::r#ref("ArtifactBucket"),
            policy_document: PolicyDocument::new(vec![network::deny_insecure_transport(
                "ArtifactBucket",
            )]),
        },
    );
}

/// A CodeBuild project's particulars; the rest is common to haven's projects.
struct ProjectDef {
    /// `build`: names the project, its role and its log group (`BuildRole`, ...).
    kind: &'static str,
    /// What the role is for, as its description says.
    purpose: &'static str,
    /// What the role may do beyond writing the project's logs.
    statements: Vec<Statement>,
    description: String,
    buildspec: String,
    environment: BuildEnvironment,
    timeout_minutes: u64,
    /// Source and artifacts come from CodePipeline, or the buildspec fetches its own.
    in_pipeline: bool,
}

/// What the pipeline is made of: the secondary regions' artifact keys, by region, and the
/// projects its Build stage runs.
struct PipelineParts {
    keys: BTreeMap<String, Expr>,
    build_project: String,
    release_project: String,
}

struct Primary<'a> {
    cx: Cx<'a>,
    region: &'a Region,
    key: Expr,
    replicate: bool,
}

impl Primary<'_> {
    fn build(&self, b: &mut Builder, user: &UserBuildspec) {
        let hosted = self.cx.spec.source.provider.is_hosted();
        if hosted {
            self.connection(b);
        } else {
            self.branch_protection(b);
        }
        let parts = PipelineParts {
            keys: self.secondary_keys(b),
            build_project: self.build_project(b, user),
            release_project: self.release_project(b),
        };
        self.pipeline(b, &parts);
        if !hosted {
            self.triggers(b);
        }
    }

    /// The connection the pipeline reads a hosted repository through. CloudFormation creates it
    /// `PENDING`: it works once someone authorises it in the console (see
    /// `manifest::SourceConnection`), which is why its ARN is an output.
    fn connection(&self, b: &mut Builder) {
        let provider = self.cx.spec.source.provider;
        b.add(
            SOURCE_CONNECTION,
            CodeConnection {
                connection_name: self.names().connection(),
                provider_type: provider.aws_name(),
                tags: Vec::new(),
            },
        );
        b.output(
            out::SOURCE_CONNECTION_ARN,
            &format!(
                "The connection to {} (PENDING until authorised in the console)",
                provider.aws_name()
            ),
            Expr::r#ref(SOURCE_CONNECTION),
        );
    }

    fn names(&self) -> crate::names::Names<'_> {
        self.cx.names
    }

    fn regions(&self) -> impl Iterator<Item = &Region> {
        std::iter::once(self.cx.primary()).chain(self.cx.spec.secondaries())
    }

    fn repo_arn(&self, region: &str) -> Expr {
        Expr::arn_in(region, "codecommit", self.names().source_repository())
    }

    fn project_arn(&self, name: &str) -> Expr {
        Expr::arn("codebuild", &format!("project/{name}"))
    }

    fn pipeline_arn(&self) -> Expr {
        Expr::arn("codepipeline", self.names().pipeline())
    }

    /// Each secondary's key, for its artifact bucket (from its network stack).
    fn secondary_keys(&self, b: &mut Builder) -> BTreeMap<String, Expr> {
        self.cx
            .spec
            .secondaries()
            .map(|r| {
                let name = format!("{}KeyArn", pascal(&r.name));
                let e = b.from_output(
                    &name,
                    "String",
                    &format!("The KMS key of {} (its network stack)", r.name),
                    &self.cx.stack_name(&r.name, StackKind::Network),
                    out::KEY_ARN,
                );
                (r.name.clone(), e)
            })
            .collect()
    }

    /// Developers may not push to, delete or merge into the protected branches (merges happen
    /// through approved pull requests, by someone outside the group), nor write the replicas.
    fn branch_protection(&self, b: &mut Builder) {
        let n = self.names();
        b.add(
            "DevelopersGroup",
            Group {
                group_name: n.developers_group(),
            },
        );
        let writes = [
            "codecommit:DeleteBranch",
            "codecommit:GitPush",
            "codecommit:MergeBranchesByFastForward",
            "codecommit:MergeBranchesBySquash",
            "codecommit:MergeBranchesByThreeWay",
            "codecommit:MergePullRequestByFastForward",
            "codecommit:MergePullRequestBySquash",
            "codecommit:MergePullRequestByThreeWay",
            "codecommit:PutFile",
        ];
        let refs = self
            .cx
            .spec
            .source
            .protected_branches
            .iter()
            .map(|br| Expr::str(format!("refs/heads/{br}")))
            .collect();
        let mut statements = vec![
            Statement::deny(&writes, vec![self.repo_arn(&self.region.name)])
                .sid("ProtectBranches")
                .condition("StringEqualsIfExists", "codecommit:References", refs)
                .condition("Null", "codecommit:References", vec!["false".into()]),
        ];
        if self.replicate {
            statements.push(
                Statement::deny(
                    &writes,
                    self.cx
                        .spec
                        .secondaries()
                        .map(|r| self.repo_arn(&r.name))
                        .collect(),
                )
                .sid("ReplicasAreWrittenByTheMirrorJobOnly"),
            );
        }
        b.add(
            "ProtectBranchesPolicy",
            Policy {
                policy_name: format!("{}-protect-branches", n.project()),
                policy_document: PolicyDocument::new(statements),
                groups: vec![Expr::r#ref("DevelopersGroup")],
            },
        );
    }

    fn log_group(&self, b: &mut Builder, id: &str, project: &str) -> String {
        let name = self.names().build_log_group(project);
        b.add(
            id,
            LogGroup {
                log_group_name: name.clone(),
                retention_in_days: self.cx.spec.monitoring.log_retention_days,
                kms_key_id: self.key.clone(),
                tags: Vec::new(),
            },
        );
        name
    }

    fn artifacts_access(&self) -> Vec<Statement> {
        vec![
            Statement::allow(
                &["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                vec![Expr::sub("${ArtifactBucket.Arn}/*")],
            )
            .sid("ReadWriteArtifacts"),
            Statement::allow(
                &["s3:GetBucketAcl", "s3:GetBucketLocation"],
                vec![Expr::get_att("ArtifactBucket", "Arn")],
            )
            .sid("LocateArtifactBucket"),
            iam::use_key(vec![self.key.clone()]),
        ]
    }

    /// A role for `purpose`, added as `<Purpose>Role`; returns that id.
    fn add_role(
        &self,
        b: &mut Builder,
        purpose: &str,
        description: &str,
        service: &str,
        statements: Vec<Statement>,
    ) -> String {
        let id = format!("{}Role", capitalized(purpose));
        b.add(&id, self.role(purpose, description, service, statements));
        id
    }

    fn role(
        &self,
        purpose: &str,
        description: &str,
        service: &str,
        statements: Vec<Statement>,
    ) -> Resource {
        Resource::new(Role {
            role_name: self.names().role(&self.region.name, purpose),
            description: description.to_owned(),
            assume_role_policy_document: PolicyDocument::assume_by(service),
            policies: vec![InlinePolicy {
                policy_name: purpose.to_owned(),
                policy_document: PolicyDocument::new(statements),
            }],
            tags: Vec::new(),
        })
    }

    /// A project with its log group and its role, added as `<Kind>LogGroup`, `<Kind>Role` and
    /// `<Kind>Project`; returns the project's name.
    fn add_project(&self, b: &mut Builder, p: ProjectDef) -> String {
        let id = capitalized(p.kind);
        let name = self.names().codebuild(p.kind);
        let log_group = self.log_group(b, &format!("{id}LogGroup"), p.kind);
        let mut statements = vec![iam::write_logs(&log_group)];
        statements.extend(p.statements);
        let role_id = self.add_role(b, p.kind, p.purpose, "codebuild.amazonaws.com", statements);
        let (source, artifacts) = if p.in_pipeline {
            ("CODEPIPELINE", "CODEPIPELINE")
        } else {
            ("NO_SOURCE", "NO_ARTIFACTS")
        };
        let project = CodeBuildProject {
            name: name.clone(),
            description: p.description,
            service_role: Expr::get_att(&role_id, "Arn"),
            encryption_key: self.key.clone(),
            timeout_in_minutes: p.timeout_minutes,
            source: BuildSource {
                r#type: source,
                build_spec: p.buildspec,
            },
            artifacts: BuildArtifacts { r#type: artifacts },
            environment: p.environment,
            logs_config: LogsConfig {
                cloud_watch_logs: CloudWatchLogs {
                    status: "ENABLED",
                    group_name: log_group,
                },
            },
            ..CodeBuildProject::default()
        };
        b.add(&format!("{id}Project"), project);
        name
    }

    fn tools_environment(&self) -> BuildEnvironment {
        BuildEnvironment {
            r#type: "LINUX_CONTAINER",
            compute_type: "BUILD_GENERAL1_SMALL".into(),
            image: TOOLS_IMAGE.into(),
            image_pull_credentials_type: "CODEBUILD",
            privileged_mode: false,
            environment_variables: Vec::new(),
        }
    }

    /// The user's build: tests, image build, push. Docker needs privileged mode.
    fn build_project(&self, b: &mut Builder, user: &UserBuildspec) -> String {
        let n = self.names();
        let repo = n.repository();
        let mut statements = self.artifacts_access();
        statements.push(
            Statement::allow(&["ecr:GetAuthorizationToken"], vec![Expr::str("*")]).sid("EcrLogin"),
        );
        statements.push(
            Statement::allow(
                &[
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:PutImage",
                    "ecr:UploadLayerPart",
                ],
                vec![Expr::arn("ecr", &format!("repository/{repo}"))],
            )
            .sid("PushImage"),
        );
        let build = &self.cx.spec.build;
        let arm = is_arm_image(&build.image);
        self.add_project(
            b,
            ProjectDef {
                kind: "build",
                purpose: "CodeBuild runs the user's buildspec: tests, image build, push",
                statements,
                description: format!(
                "{}: runs {} (unit tests, image build, push to ECR)",
                n.project(),
                user.path.display()
            ),
            buildspec: user.generated(),
            environment: BuildEnvironment {
                r#type: if arm { "ARM_CONTAINER" } else { "LINUX_CONTAINER" },
                compute_type: build.compute_type.clone(),
                image: build.image.clone(),
                image_pull_credentials_type: "CODEBUILD",
                privileged_mode: true,
                environment_variables: vec![
                    BuildVariable {
                        name: "IMAGE_REPO_URI".into(),
                        r#type: "PLAINTEXT",
                        value: Expr::Sub(format!(
                            "${{AWS::AccountId}}.dkr.ecr.${{AWS::Region}}.${{AWS::URLSuffix}}/{repo}"
                        )),
                    },
                    BuildVariable {
                        name: "CONTAINER_NAME".into(),
                        r#type: "PLAINTEXT",
                        value: n.container().into(),
                    },
                    // `service.dockerfile`: the buildspec's `docker build -f "$DOCKERFILE"`
                    // builds what the twin's buildah builds.
                    BuildVariable {
                        name: "DOCKERFILE".into(),
                        r#type: "PLAINTEXT",
                        value: self.cx.spec.service.dockerfile.display().to_string().into(),
                    },
                ],
            },
            timeout_minutes: build.timeout.as_secs().div_ceil(60),
            in_pipeline: true,
        },
        )
    }

    /// Haven's release checks between Build and the deploys (see `buildspec::release`).
    fn release_project(&self, b: &mut Builder) -> String {
        let n = self.names();
        let mut statements = self.artifacts_access();
        statements.push(
            Statement::allow(
                &["ecr:DescribeImageScanFindings", "ecr:DescribeImages"],
                self.regions()
                    .map(|r| {
                        Expr::arn_in(&r.name, "ecr", &format!("repository/{}", n.repository()))
                    })
                    .collect(),
            )
            .sid("InspectImages"),
        );
        self.add_project(
            b,
            ProjectDef {
                kind: "release",
                purpose: "CodeBuild checks the image's scan findings and replicas",
                statements,
                description: format!(
                "{}: fails on scan findings, waits for replicas, writes each region's image definitions",
                n.project()
            ),
            buildspec: buildspec::release(self.cx.spec),
            environment: self.tools_environment(),
            timeout_minutes: 30,
            in_pipeline: true,
        },
        )
    }

    fn pipeline(&self, b: &mut Builder, parts: &PipelineParts) {
        let (build_project, release_project) =
            (parts.build_project.as_str(), parts.release_project.as_str());
        let n = self.names();
        let spec = self.cx.spec;
        let primary = &self.region.name;
        let approval_topic = spec.pipeline.approval.enabled.then(|| {
            let topic = &spec.pipeline.approval.notify;
            let id = topic_id(spec, topic);
            let name = out::topic_arn(&id);
            b.from_output(
                &name,
                "String",
                &format!("The `{topic}` topic (monitoring stack)"),
                &self.cx.stack_name(primary, StackKind::Monitoring),
                &name,
            )
        });

        let kind = |category, provider| ActionTypeId {
            category,
            owner: "AWS",
            provider,
            version: "1",
        };
        let artifact = |name: &str| vec![ArtifactName { name: name.into() }];
        let config = |pairs: &[(&str, Expr)]| -> BTreeMap<String, Expr> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect()
        };
        let deploy = |region: &Region, env: &haven_spec::model::Environment, name: String| Action {
            name,
            action_type_id: kind("Deploy", "ECS"),
            run_order: 1,
            region: Some(region.name.clone()),
            configuration: config(&[
                ("ClusterName", n.cluster().into()),
                ("ServiceName", n.ecs_service(env).into()),
                (
                    "FileName",
                    format!("imagedefinitions-{}.json", region.name).into(),
                ),
            ]),
            input_artifacts: artifact("Release"),
            ..Action::default()
        };

        let source = match &spec.source.hosted_repository {
            None => Action {
                name: SOURCE_ACTION.into(),
                action_type_id: kind("Source", "CodeCommit"),
                run_order: 1,
                configuration: config(&[
                    ("RepositoryName", n.source_repository().into()),
                    ("BranchName", spec.source.branch.clone().into()),
                    // An EventBridge rule starts the pipeline; polling is the legacy way.
                    ("PollForSourceChanges", "false".into()),
                    ("OutputArtifactFormat", "CODE_ZIP".into()),
                ]),
                output_artifacts: artifact("Source"),
                ..Action::default()
            },
            // The pipeline's trigger (below) starts it on a push; with a trigger, the action's
            // own change detection is off.
            Some(full_id) => Action {
                name: SOURCE_ACTION.into(),
                action_type_id: kind("Source", "CodeStarSourceConnection"),
                run_order: 1,
                configuration: config(&[
                    ("ConnectionArn", Expr::r#ref(SOURCE_CONNECTION)),
                    ("FullRepositoryId", full_id.clone().into()),
                    ("BranchName", spec.source.branch.clone().into()),
                    ("OutputArtifactFormat", "CODE_ZIP".into()),
                ]),
                output_artifacts: artifact("Source"),
                ..Action::default()
            },
        };
        let triggers = if spec.source.provider.is_hosted() {
            vec![PipelineTrigger {
                provider_type: "CodeStarSourceConnection",
                git_configuration: GitConfiguration {
                    source_action_name: SOURCE_ACTION.into(),
                    push: vec![GitPushFilter {
                        branches: GitBranchFilter {
                            includes: vec![spec.source.branch.clone()],
                        },
                    }],
                },
            }]
        } else {
            Vec::new()
        };
        let mut stages = vec![
            Stage {
                name: "Source".into(),
                actions: vec![source],
            },
            Stage {
                name: "Build".into(),
                actions: vec![
                    Action {
                        name: "Build".into(),
                        action_type_id: kind("Build", "CodeBuild"),
                        run_order: 1,
                        configuration: config(&[("ProjectName", build_project.into())]),
                        input_artifacts: artifact("Source"),
                        output_artifacts: artifact("Build"),
                        ..Action::default()
                    },
                    Action {
                        name: "Release".into(),
                        action_type_id: kind("Build", "CodeBuild"),
                        run_order: 2,
                        configuration: config(&[("ProjectName", release_project.into())]),
                        input_artifacts: artifact("Build"),
                        output_artifacts: artifact("Release"),
                        ..Action::default()
                    },
                ],
            },
        ];
        if spec.pipeline.stages.contains(&"Staging") {
            if let Some(staging) = &spec.environments.staging {
                stages.push(Stage {
                    name: "Staging".into(),
                    actions: vec![deploy(self.region, staging, "Deploy".into())],
                });
            }
        }
        if let Some(topic) = approval_topic {
            let regions: Vec<&str> = self.regions().map(|r| r.name.as_str()).collect();
            let timeout = spec.pipeline.approval.timeout.as_secs().div_ceil(60).max(5);
            stages.push(Stage {
                name: "Approval".into(),
                actions: vec![Action {
                    name: "Approve".into(),
                    action_type_id: kind("Approval", "Manual"),
                    run_order: 1,
                    configuration: config(&[
                        ("NotificationArn", topic),
                        (
                            "CustomData",
                            format!(
                                "Approve to deploy {} to production in {}.",
                                n.project(),
                                regions.join(", ")
                            )
                            .into(),
                        ),
                    ]),
                    timeout_in_minutes: Some(timeout),
                    ..Action::default()
                }],
            });
        }
        stages.push(Stage {
            name: "Production".into(),
            actions: self
                .regions()
                .map(|r| {
                    deploy(
                        r,
                        &spec.environments.production,
                        format!("Deploy-{}", r.name),
                    )
                })
                .collect(),
        });

        let store = |region: &str, key: Expr| ArtifactStore {
            r#type: "S3",
            location: Expr::sub(n.artifact_bucket(region)),
            encryption_key: ArtifactKey {
                id: key,
                r#type: "KMS",
            },
        };
        let (artifact_store, artifact_stores) = if parts.keys.is_empty() {
            (Some(store(primary, self.key.clone())), Vec::new())
        } else {
            let mut stores = vec![ArtifactStoreMap {
                region: primary.clone(),
                artifact_store: store(primary, self.key.clone()),
            }];
            stores.extend(parts.keys.iter().map(|(r, k)| ArtifactStoreMap {
                region: r.clone(),
                artifact_store: store(r, k.clone()),
            }));
            (None, stores)
        };

        self.pipeline_role(b, parts);
        b.add(
            "Pipeline",
            Resource::new(Pipeline {
                name: n.pipeline().to_owned(),
                pipeline_type: "V2",
                execution_mode: match spec.pipeline.execution_mode {
                    ExecutionMode::Superseded => "SUPERSEDED",
                    ExecutionMode::Queued => "QUEUED",
                    ExecutionMode::Parallel => "PARALLEL",
                },
                role_arn: Expr::get_att("PipelineRole", "Arn"),
                restart_execution_on_update: false,
                artifact_store,
                artifact_stores,
                stages,
                triggers,
                tags: Vec::new(),
            })
            // The projects are named, not referenced, in the stages.
            .depends_on(&["BuildProject", "ReleaseProject", "ArtifactBucketPolicy"]),
        );
    }

    fn pipeline_role(&self, b: &mut Builder, parts: &PipelineParts) {
        let n = self.names();
        let spec = self.cx.spec;
        let mut buckets = Vec::new();
        let mut objects = Vec::new();
        for r in self.regions() {
            let bucket = n.artifact_bucket(&r.name);
            buckets.push(Expr::sub(format!("arn:${{AWS::Partition}}:s3:::{bucket}")));
            objects.push(Expr::sub(format!(
                "arn:${{AWS::Partition}}:s3:::{bucket}/*"
            )));
        }
        let mut all_keys = vec![self.key.clone()];
        all_keys.extend(parts.keys.values().cloned());
        let mut services = Vec::new();
        let mut roles = Vec::new();
        let mut families = Vec::new();
        for r in self.regions() {
            for env in n.environments(r.role) {
                services.push(Expr::arn_in(
                    &r.name,
                    "ecs",
                    &format!("service/{}/{}", n.cluster(), n.ecs_service(env)),
                ));
                families.push(Expr::arn_in(
                    &r.name,
                    "ecs",
                    &format!("task-definition/{}:*", n.task_family(env)),
                ));
            }
            for purpose in ["task-execution", "task"] {
                roles.push(Expr::global_arn(
                    "iam",
                    &format!("role/{}", n.role(&r.name, purpose)),
                    true,
                ));
            }
        }
        let mut statements = vec![
            Statement::allow(
                &["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                objects,
            )
            .sid("ReadWriteArtifacts"),
            Statement::allow(&["s3:GetBucketLocation", "s3:GetBucketVersioning"], buckets)
                .sid("LocateArtifactBuckets"),
            iam::use_key(all_keys),
            if spec.source.provider.is_hosted() {
                // Connections made since 2024 are `codeconnections` resources; IAM still
                // accepts the older `codestar-connections` prefix for them, and AWS's managed
                // policies grant both.
                Statement::allow(
                    &[
                        "codeconnections:UseConnection",
                        "codestar-connections:UseConnection",
                    ],
                    vec![Expr::r#ref(SOURCE_CONNECTION)],
                )
                .sid("ReadSource")
            } else {
                Statement::allow(
                    &[
                        "codecommit:CancelUploadArchive",
                        "codecommit:GetBranch",
                        "codecommit:GetCommit",
                        "codecommit:GetRepository",
                        "codecommit:GetUploadArchiveStatus",
                        "codecommit:UploadArchive",
                    ],
                    vec![self.repo_arn(&self.region.name)],
                )
                .sid("ReadSource")
            },
            Statement::allow(
                &["codebuild:BatchGetBuilds", "codebuild:StartBuild"],
                vec![
                    self.project_arn(&parts.build_project),
                    self.project_arn(&parts.release_project),
                ],
            )
            .sid("RunBuilds"),
            Statement::allow(&["ecs:DescribeServices", "ecs:UpdateService"], services)
                .sid("DeployServices"),
            // These ECS actions accept no resource ARN: the deploy action registers a new
            // revision of the task definition and watches its tasks.
            Statement::allow(
                &[
                    "ecs:DescribeTaskDefinition",
                    "ecs:DescribeTasks",
                    "ecs:ListTasks",
                    "ecs:RegisterTaskDefinition",
                ],
                vec![Expr::str("*")],
            )
            .sid("RegisterTaskDefinitions"),
            Statement::allow(&["ecs:TagResource"], families).sid("TagTaskDefinitions"),
            Statement::allow(&["iam:PassRole"], roles)
                .sid("PassTaskRoles")
                .condition(
                    "StringEquals",
                    "iam:PassedToService",
                    vec!["ecs-tasks.amazonaws.com".into()],
                ),
        ];
        if spec.pipeline.approval.enabled {
            let topic = &spec.pipeline.approval.notify;
            let id = topic_id(spec, topic);
            statements.push(
                Statement::allow(&["sns:Publish"], vec![Expr::r#ref(out::topic_arn(&id))])
                    .sid("NotifyApprovers"),
            );
        }
        self.add_role(
            b,
            "pipeline",
            "CodePipeline reads the source, runs the builds and deploys the services",
            "codepipeline.amazonaws.com",
            statements,
        );
    }

    /// EventBridge starts the pipeline on a push to its branch, and the mirror job on any
    /// change to the repository's references.
    fn triggers(&self, b: &mut Builder) {
        let n = self.names();
        let repo = n.source_repository();
        let mut events_statements = vec![
            Statement::allow(
                &["codepipeline:StartPipelineExecution"],
                vec![self.pipeline_arn()],
            )
            .sid("StartPipeline"),
        ];
        if self.replicate {
            events_statements.push(
                Statement::allow(
                    &["codebuild:StartBuild"],
                    vec![self.project_arn(&n.codebuild("mirror"))],
                )
                .sid("StartMirror"),
            );
        }
        self.add_role(
            b,
            "events",
            "EventBridge starts the pipeline and the mirror job",
            "events.amazonaws.com",
            events_statements,
        );
        b.add(
            "SourceChangedRule",
            Resource::new(EventRule {
                name: n.rule("source-changed"),
                description: format!(
                    "Starts the {} pipeline on a push to {}",
                    n.pipeline(),
                    self.cx.spec.source.branch
                ),
                state: "ENABLED",
                event_pattern: json!({
                    "source": ["aws.codecommit"],
                    "detail-type": ["CodeCommit Repository State Change"],
                    "detail": {
                        "repositoryName": [repo],
                        "event": ["referenceCreated", "referenceUpdated"],
                        "referenceType": ["branch"],
                        "referenceName": [self.cx.spec.source.branch]
                    }
                }),
                targets: vec![EventTarget {
                    id: "pipeline".into(),
                    arn: self.pipeline_arn(),
                    role_arn: Some(Expr::get_att("EventsRole", "Arn")),
                    input_transformer: None,
                }],
            })
            .depends_on(&["Pipeline"]),
        );
        if self.replicate {
            self.mirror(b);
        }
    }

    fn mirror(&self, b: &mut Builder) {
        let n = self.names();
        let mut statements = vec![
            iam::use_key(vec![self.key.clone()]),
            Statement::allow(
                &["codecommit:GitPull"],
                vec![self.repo_arn(&self.region.name)],
            )
            .sid("PullPrimary"),
        ];
        statements.push(
            Statement::allow(
                &["codecommit:GitPush"],
                self.cx
                    .spec
                    .secondaries()
                    .map(|r| self.repo_arn(&r.name))
                    .collect(),
            )
            .sid("PushReplicas"),
        );
        let name = self.add_project(
            b,
            ProjectDef {
                kind: "mirror",
                purpose: "CodeBuild mirrors the repository to the secondary regions",
                statements,
                description: format!(
                    "{}: mirrors the repository to the secondary regions",
                    n.project()
                ),
                buildspec: buildspec::mirror(self.cx.spec),
                environment: self.tools_environment(),
                timeout_minutes: 15,
                in_pipeline: false,
            },
        );
        b.add(
            "MirrorRule",
            Resource::new(EventRule {
                name: n.rule("mirror"),
                description: format!(
                    "Mirrors {} to the secondary regions on every change",
                    n.source_repository()
                ),
                state: "ENABLED",
                event_pattern: json!({
                    "source": ["aws.codecommit"],
                    "detail-type": ["CodeCommit Repository State Change"],
                    "detail": {
                        "repositoryName": [n.source_repository()],
                        "event": ["referenceCreated", "referenceUpdated", "referenceDeleted"]
                    }
                }),
                targets: vec![EventTarget {
                    id: "mirror".into(),
                    arn: self.project_arn(&name),
                    role_arn: Some(Expr::get_att("EventsRole", "Arn")),
                    input_transformer: None,
                }],
            })
            .depends_on(&["MirrorProject"]),
        );
    }
}

/// Whether a CodeBuild image is an ARM one (AWS names them `...-aarch64-...`).
pub fn is_arm_image(image: &str) -> bool {
    image.contains("aarch64") || image.contains("arm64")
}

/// `build` → `Build`, as logical ids spell a resource's purpose.
fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}
