//! What a deployment deploys: the manifest's stacks with their template bodies, read either from
//! a synthesis in memory or from a directory `haven synth` wrote, plus the few facts from the spec
//! that turn outputs into URLs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// The stacks to deploy, in the manifest's order (delete in reverse).
#[derive(Debug, Clone)]
pub struct Bundle {
    pub project: String,
    pub primary_region: String,
    pub regions: Vec<String>,
    /// CloudFormation takes bodies up to this size inline; larger ones go through S3.
    pub template_body_limit: usize,
    pub stacks: Vec<StackSpec>,
    pub secrets: Vec<SecretSpec>,
    /// The ALBs serve HTTPS (the spec names a certificate).
    pub https: bool,
    /// The global endpoint's name (`routing.domain`), when the spec has one.
    pub domain: Option<String>,
    /// The hosted source's connection (`source.provider` other than CodeCommit), which the user
    /// must authorise once in the console before the pipeline can read the repository.
    pub source_connection: Option<SourceConnection>,
}

/// A CodeConnections connection waiting for the console step AWS requires.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct SourceConnection {
    pub name: String,
    pub provider: String,
    pub repository: String,
    pub region: String,
    pub console_url: String,
    /// What to do there, in one sentence.
    pub step: String,
}

/// One stack of the manifest, with its body.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub name: String,
    /// `network`, `registry`, `monitoring`, `delivery`, `service` or `global`.
    pub kind: String,
    pub region: String,
    /// Relative to the manifest, as the manifest names it.
    pub template: String,
    pub body: String,
    pub capabilities: Vec<String>,
    pub parameters: Vec<ParameterSpec>,
    /// The outputs the template declares (and later stacks read).
    pub outputs: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// Where a stack parameter's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "from")]
pub enum ParameterSource {
    /// An output of an earlier stack (possibly in another region).
    Output { stack: String, output: String },
    /// A value the user passes at deploy time (`--parameter NAME=VALUE`), described.
    DeployTime { description: String },
}

#[derive(Debug, Clone)]
pub struct ParameterSpec {
    pub name: String,
    pub source: ParameterSource,
}

/// An SSM SecureString parameter the service reads, created by `haven aws secret set`.
#[derive(Debug, Clone, Serialize)]
pub struct SecretSpec {
    /// The environment variable the tasks see.
    pub env: String,
    /// The parameter's name (`/hello/db-password`).
    pub parameter: String,
    pub regions: Vec<String>,
    /// The key that encrypts it (`alias/hello`), created by the network stack.
    pub kms_key: String,
}

// The manifest as `haven-cfn` writes it: only the fields a deployer reads.
#[derive(Deserialize)]
struct ManifestFile {
    format: u32,
    project: String,
    primary_region: String,
    regions: Vec<String>,
    template_body_limit: usize,
    stacks: Vec<StackFile>,
    #[serde(default)]
    secrets: Vec<SecretFile>,
    #[serde(default)]
    source_connection: Option<SourceConnection>,
}

#[derive(Deserialize)]
struct StackFile {
    name: String,
    kind: String,
    region: String,
    template: String,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    parameters: Vec<ParameterFile>,
    #[serde(default)]
    outputs: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct ParameterFile {
    name: String,
    from_stack: Option<String>,
    output: Option<String>,
    deploy_time: Option<String>,
}

#[derive(Deserialize)]
struct SecretFile {
    env: String,
    parameter: String,
    regions: Vec<String>,
    kms_key: String,
}

/// The manifest format this deployer reads.
const FORMAT: u32 = 1;

impl Bundle {
    /// A synthesis made in memory (`haven_cfn::synth`) of `spec`.
    pub fn from_synthesis(
        spec: &haven_spec::Spec,
        synthesis: &haven_cfn::Synthesis,
    ) -> Result<Self, Error> {
        let text = synthesis
            .file(haven_cfn::manifest::MANIFEST_FILE)
            .ok_or_else(|| Error::Bundle("the synthesis has no manifest.json".into()))?;
        Self::parse(spec, text, |rel| {
            synthesis
                .file(rel)
                .map(str::to_owned)
                .ok_or_else(|| Error::Bundle(format!("the synthesis has no template `{rel}`")))
        })
    }

    /// A directory written by `haven synth` (its `manifest.json` and templates, as they are on
    /// disk now: edits made after synthesis are deployed).
    pub fn from_dir(spec: &haven_spec::Spec, dir: &Path) -> Result<Self, Error> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|source| Error::Read { path, source })
        };
        let text = read(dir.join(haven_cfn::manifest::MANIFEST_FILE))?;
        Self::parse(spec, &text, |rel| read(dir.join(rel)))
    }

    fn parse(
        spec: &haven_spec::Spec,
        manifest: &str,
        mut body: impl FnMut(&str) -> Result<String, Error>,
    ) -> Result<Self, Error> {
        let m: ManifestFile = serde_json::from_str(manifest)
            .map_err(|e| Error::Bundle(format!("manifest.json: {e}")))?;
        if m.format != FORMAT {
            return Err(Error::Bundle(format!(
                "manifest.json has format {}, this haven reads format {FORMAT}: run `haven synth` again",
                m.format
            )));
        }
        if m.project != spec.project.name {
            return Err(Error::Bundle(format!(
                "manifest.json is for the project `{}`, the spec names `{}`: run `haven synth` again",
                m.project, spec.project.name
            )));
        }
        let mut stacks = Vec::with_capacity(m.stacks.len());
        for s in m.stacks {
            let parameters = s
                .parameters
                .into_iter()
                .map(|p| {
                    let source = match (p.from_stack, p.output, p.deploy_time) {
                        (Some(stack), Some(output), _) => ParameterSource::Output { stack, output },
                        (_, _, Some(description)) => ParameterSource::DeployTime { description },
                        _ => {
                            return Err(Error::Bundle(format!(
                                "manifest.json: parameter `{}` of `{}` has no source",
                                p.name, s.name
                            )));
                        }
                    };
                    Ok(ParameterSpec {
                        name: p.name,
                        source,
                    })
                })
                .collect::<Result<_, _>>()?;
            stacks.push(StackSpec {
                body: body(&s.template)?,
                name: s.name,
                kind: s.kind,
                region: s.region,
                template: s.template,
                capabilities: s.capabilities,
                parameters,
                outputs: s.outputs,
                tags: s.tags,
            });
        }
        Ok(Self {
            source_connection: m.source_connection,
            project: m.project,
            primary_region: m.primary_region,
            regions: m.regions,
            template_body_limit: m.template_body_limit,
            stacks,
            secrets: m
                .secrets
                .into_iter()
                .map(|s| SecretSpec {
                    env: s.env,
                    parameter: s.parameter,
                    regions: s.regions,
                    kms_key: s.kms_key,
                })
                .collect(),
            https: spec.service.load_balancer.certificate_arn.is_some(),
            domain: spec.routing.domain.clone(),
        })
    }

    /// The stacks in the given regions (all when `regions` is empty), in deploy order. Unknown
    /// regions are an error.
    pub fn select(&self, regions: &[String]) -> Result<Vec<&StackSpec>, Error> {
        if let Some(unknown) = regions.iter().find(|r| !self.regions.contains(r)) {
            return Err(Error::UnknownRegion {
                region: unknown.clone(),
                known: self.regions.clone(),
            });
        }
        Ok(self
            .stacks
            .iter()
            .filter(|s| regions.is_empty() || regions.contains(&s.region))
            .collect())
    }

    pub fn stack(&self, name: &str) -> Option<&StackSpec> {
        self.stacks.iter().find(|s| s.name == name)
    }

    /// The URLs the outputs of deployed stacks point at: each environment's ALB per region, and
    /// the global endpoint.
    pub fn endpoints(&self, outputs: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Endpoint> {
        let scheme = if self.https { "https" } else { "http" };
        let mut out = Vec::new();
        if let Some(domain) = &self.domain {
            out.push(Endpoint {
                name: "global".into(),
                region: None,
                url: format!("{scheme}://{domain}"),
            });
        }
        for stack in self.stacks.iter().filter(|s| s.kind == "network") {
            let Some(values) = outputs.get(&stack.name) else {
                continue;
            };
            for (key, value) in values {
                if let Some(env) = key.strip_suffix("LoadBalancerDnsName") {
                    out.push(Endpoint {
                        name: env.to_ascii_lowercase(),
                        region: Some(stack.region.clone()),
                        url: format!("{scheme}://{value}"),
                    });
                }
            }
        }
        out
    }
}

/// A URL the deployment serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// `global`, or the environment (`production`, `staging`).
    pub name: String,
    pub region: Option<String>,
    pub url: String,
}
