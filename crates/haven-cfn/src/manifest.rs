//! The manifest: what a deployer needs besides the templates. Stacks in deploy order, where each
//! parameter's value comes from, each stack's outputs, which template bodies are too large to
//! send inline, and the steps CloudFormation cannot take (secret values, the approval rule
//! template, authorising the connection to a Git host).

use std::collections::BTreeMap;
use std::path::PathBuf;

use haven_spec::Spec;
use serde::Serialize;
use serde_json::json;

use crate::buildspec::{self, UserBuildspec};
use crate::names::Names;
use crate::stacks::{Source, Stack};
use crate::{StackKind, SynthError, Synthesis};

/// CloudFormation accepts a template body up to this size inline; larger ones go through S3.
pub const TEMPLATE_BODY_LIMIT: usize = 51_200;

pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    /// Bumped when the manifest's shape changes.
    pub format: u32,
    pub project: String,
    pub primary_region: String,
    pub regions: Vec<String>,
    pub template_body_limit: usize,
    /// In deploy order; delete in reverse.
    pub stacks: Vec<StackEntry>,
    /// SSM SecureString parameters the deployer must create in each region before the service
    /// stack: CloudFormation cannot write SecureString values, and no secret belongs in a
    /// template.
    pub secrets: Vec<SecretEntry>,
    /// The CodeCommit approval rule template (CloudFormation has no resource for it).
    pub approval_rule_template: Option<ApprovalRuleTemplate>,
    /// With a hosted source (GitHub, GitLab, Bitbucket): the connection someone must authorise
    /// once in the console before the pipeline can read the repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_connection: Option<SourceConnection>,
    pub files: Files,
}

/// The one console step a hosted source needs. AWS creates a connection `PENDING`, and only a
/// person signed in to the Git host can grant it access (an OAuth handshake or an app
/// installation there), so no API, template or CLI can complete it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceConnection {
    /// The connection's name (`hello-github`).
    pub name: String,
    /// `GitHub`, `GitLab` or `Bitbucket`.
    pub provider: &'static str,
    /// `owner/name` at the host.
    pub repository: String,
    pub region: String,
    /// The stack that creates it, and its output holding the connection's ARN.
    pub stack: String,
    pub output: &'static str,
    /// The console's page of connections in that region.
    pub console_url: String,
    /// What to do there, in one sentence.
    pub step: String,
}

impl SourceConnection {
    fn new(spec: &Spec, names: &Names<'_>) -> Option<Self> {
        let repository = spec.source.hosted_repository.clone()?;
        let provider = spec.source.provider.aws_name();
        let region = spec.primary().name.clone();
        let name = names.connection();
        let console_url = connections_console(&region);
        let step = format!(
            "CloudFormation creates the connection `{name}` to {provider} PENDING: authorise it \
             once in the AWS console (Developer Tools > Settings > Connections, in {region}: \
             select `{name}`, choose Update pending connection and grant {provider} access to \
             {repository}), at {console_url}; until then the pipeline's Source action fails"
        );
        Some(Self {
            name,
            provider,
            repository,
            stack: names.stack(&region, StackKind::Delivery),
            output: crate::stacks::out::SOURCE_CONNECTION_ARN,
            region,
            console_url,
            step,
        })
    }
}

/// The console's list of connections in a region (Developer Tools > Settings > Connections).
pub fn connections_console(region: &str) -> String {
    format!("https://console.aws.amazon.com/codesuite/settings/connections?region={region}")
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackEntry {
    pub name: String,
    pub kind: StackKind,
    pub region: String,
    /// Relative to the manifest.
    pub template: String,
    pub bytes: usize,
    /// The body exceeds [`TEMPLATE_BODY_LIMIT`]: upload it to S3 and pass its URL.
    pub requires_s3: bool,
    pub capabilities: Vec<&'static str>,
    pub parameters: Vec<ParameterEntry>,
    pub outputs: Vec<String>,
    /// Stack tags: CloudFormation copies them onto every resource that takes tags.
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParameterEntry {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_stack: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Set when the deployer supplies the value itself: what the value is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_time: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecretEntry {
    /// The environment variable the tasks see.
    pub env: String,
    pub parameter: String,
    pub regions: Vec<String>,
    /// Encrypt the SecureString with this key (the task execution role may decrypt only it).
    pub kms_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRuleTemplate {
    pub name: String,
    pub description: String,
    pub region: String,
    pub repository: String,
    /// The template content, as CodeCommit's `CreateApprovalRuleTemplate` takes it.
    pub content: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Files {
    pub buildspec: String,
    pub release_buildspec: String,
    pub taskdef: String,
    pub imagedefinitions: String,
}

/// Pretty JSON, for the files people read (manifest, task definition, image definitions).
fn to_json<T: Serialize>(what: &str, value: &T) -> Result<String, SynthError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|source| SynthError::Serialize {
        what: what.to_owned(),
        source,
    })?;
    text.push('\n');
    Ok(text)
}

/// Compact JSON, for templates: the file is the body CloudFormation receives, byte for byte, and
/// compact bodies stay under the inline limit about twice as long (`jq .` reads them).
fn to_compact_json<T: Serialize>(what: &str, value: &T) -> Result<String, SynthError> {
    let mut text = serde_json::to_string(value).map_err(|source| SynthError::Serialize {
        what: what.to_owned(),
        source,
    })?;
    text.push('\n');
    Ok(text)
}

/// Serializes the stacks and the other files, and lists them in the manifest.
pub fn assemble(
    spec: &Spec,
    user: &UserBuildspec,
    stacks: Vec<Stack>,
) -> Result<Synthesis, SynthError> {
    let names = Names::new(spec);
    let primary = &spec.primary().name;
    let taskdef = stacks
        .iter()
        .find(|s| s.kind == StackKind::Service && &s.region == primary)
        .map(|s| crate::taskdef::register_input(&s.template, "ProductionTaskDefinition", primary))
        .transpose()?;
    let mut files = Vec::new();
    let mut entries = Vec::new();
    let mut tags = spec.project.tags.clone();
    tags.insert("haven:project".into(), spec.project.name.clone());
    for stack in stacks {
        let rel = match stack.kind {
            StackKind::Global => "global.json".to_owned(),
            kind => format!("{}/{}.json", stack.region, kind.as_str()),
        };
        let body = to_compact_json(&rel, &stack.template)?;
        let needs_iam = stack
            .template
            .resources
            .values()
            .any(|r| r.properties.is_iam());
        let mut stack_tags = tags.clone();
        stack_tags.insert("haven:stack".into(), stack.kind.as_str().into());
        entries.push(StackEntry {
            name: stack.name,
            kind: stack.kind,
            region: stack.region,
            template: rel.clone(),
            bytes: body.len(),
            requires_s3: body.len() > TEMPLATE_BODY_LIMIT,
            capabilities: if needs_iam {
                vec!["CAPABILITY_NAMED_IAM"]
            } else {
                Vec::new()
            },
            parameters: stack
                .inputs
                .into_iter()
                .map(|i| match i.source {
                    Source::Output { stack, output } => ParameterEntry {
                        name: i.parameter,
                        from_stack: Some(stack),
                        output: Some(output),
                        deploy_time: None,
                    },
                    Source::DeployTime { description } => ParameterEntry {
                        name: i.parameter,
                        from_stack: None,
                        output: None,
                        deploy_time: Some(description),
                    },
                })
                .collect(),
            outputs: stack.template.outputs.keys().cloned().collect(),
            tags: stack_tags,
        });
        files.push((PathBuf::from(rel), body));
    }

    let regions: Vec<String> = std::iter::once(spec.primary())
        .chain(spec.secondaries())
        .map(|r| r.name.clone())
        .collect();
    // A BTreeMap: already in the environment variables' order.
    let secrets = spec
        .service
        .secrets
        .iter()
        .map(|(env, param)| SecretEntry {
            env: env.clone(),
            parameter: param.clone(),
            regions: regions.clone(),
            kms_key: names.key_alias(),
        })
        .collect();

    // Approval rules are CodeCommit's; a hosted repository's branches are protected at its host.
    let codecommit = !spec.source.provider.is_hosted();
    let approval_rule_template =
        (codecommit && !spec.source.protected_branches.is_empty()).then(|| ApprovalRuleTemplate {
            name: names.approval_template(),
            description: format!(
                "Pull requests into {} need one approval",
                spec.source.protected_branches.join(", ")
            ),
            region: spec.primary().name.clone(),
            repository: names.source_repository().to_owned(),
            content: json!({
                "Version": "2018-11-08",
                "DestinationReferences": spec
                    .source
                    .protected_branches
                    .iter()
                    .map(|b| format!("refs/heads/{b}"))
                    .collect::<Vec<_>>(),
                "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1}]
            }),
        });

    let file_names = Files {
        buildspec: "buildspec.yml".into(),
        release_buildspec: "release-buildspec.yml".into(),
        taskdef: "taskdef.json".into(),
        imagedefinitions: "imagedefinitions.json".into(),
    };
    files.push((PathBuf::from(&file_names.buildspec), user.generated()));
    files.push((
        PathBuf::from(&file_names.release_buildspec),
        buildspec::release(spec),
    ));
    files.push((
        PathBuf::from(&file_names.taskdef),
        to_json("taskdef.json", &taskdef)?,
    ));
    files.push((
        PathBuf::from(&file_names.imagedefinitions),
        to_json(
            "imagedefinitions.json",
            &json!([{
                "name": names.container(),
                "imageUri": format!(
                    "<account>.dkr.ecr.<region>.amazonaws.com/{}:<tag>",
                    names.repository()
                )
            }]),
        )?,
    ));

    let manifest = Manifest {
        format: 1,
        project: spec.project.name.clone(),
        primary_region: spec.primary().name.clone(),
        regions,
        template_body_limit: TEMPLATE_BODY_LIMIT,
        stacks: entries,
        secrets,
        approval_rule_template,
        source_connection: SourceConnection::new(spec, &names),
        files: file_names,
    };
    files.push((
        PathBuf::from(MANIFEST_FILE),
        to_json(MANIFEST_FILE, &manifest)?,
    ));
    Ok(Synthesis {
        files,
        manifest,
        warnings: Vec::new(),
    })
}
