//! CloudFormation for a `haven.toml` spec: the seed architecture in every region, as stacks split
//! by lifecycle, plus a manifest telling a deployer their order and how values flow between them.
//!
//! [`synth`] is pure data building (it reads only the user's buildspec): typed resources
//! ([`model`]) are assembled per stack ([`stacks`]), serialized deterministically and listed in a
//! [`Manifest`]. [`write`] puts the files in a directory. `docs/aws.md` explains the choices.

pub mod buildspec;
mod facts;
pub mod iam;
pub mod manifest;
pub mod model;
pub mod names;
pub mod skips;
pub mod stacks;
mod taskdef;

use std::path::{Path, PathBuf};

use haven_spec::Spec;
use serde::Serialize;

pub use manifest::Manifest;

/// What a stack holds; stacks of one region deploy in this order (see [`Manifest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StackKind {
    /// The region's key, VPC, security groups, log bucket and ALBs: long-lived.
    Network,
    /// The ECR repository (and, in the primary, replication to the others).
    Registry,
    /// SNS topics, alarms, the dashboard and the pipeline-failure rule.
    Monitoring,
    /// CodeCommit, CodeBuild and CodePipeline in the primary; the replica repository and the
    /// pipeline's artifact bucket in the others.
    Delivery,
    /// The ECS cluster, task definitions, services and their scaling.
    Service,
    /// Route 53 health checks and records, deployed in the primary region.
    Global,
}

impl StackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Registry => "registry",
            Self::Monitoring => "monitoring",
            Self::Delivery => "delivery",
            Self::Service => "service",
            Self::Global => "global",
        }
    }
}

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot read the buildspec `{}`: {source}", path.display())]
    ReadBuildspec {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("buildspec `{}`: {problem}", path.display())]
    Buildspec { path: PathBuf, problem: String },
    #[error("`{key}`: {problem}")]
    Unsupported { key: &'static str, problem: String },
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Every file `haven synth` writes (paths relative to the output directory), the manifest that is
/// also among them, and what the user should know about the result.
#[derive(Debug, Clone)]
pub struct Synthesis {
    pub files: Vec<(PathBuf, String)>,
    pub manifest: Manifest,
    pub warnings: Vec<String>,
}

impl Synthesis {
    /// A file's contents by its relative path.
    pub fn file(&self, path: impl AsRef<Path>) -> Option<&str> {
        self.files
            .iter()
            .find(|(p, _)| p == path.as_ref())
            .map(|(_, c)| c.as_str())
    }
}

/// Synthesizes the spec, reading its buildspec from disk.
pub fn synth(spec: &Spec) -> Result<Synthesis, SynthError> {
    let path = spec.path(&spec.build.buildspec);
    let text = std::fs::read_to_string(&path)
        .map_err(|source| SynthError::ReadBuildspec { path, source })?;
    synth_with_buildspec(spec, &text)
}

/// Synthesizes the spec with the given buildspec text: no I/O, deterministic.
pub fn synth_with_buildspec(spec: &Spec, buildspec: &str) -> Result<Synthesis, SynthError> {
    let user_buildspec = buildspec::UserBuildspec::new(&spec.build.buildspec, buildspec)?;
    let stacks = stacks::all(spec, &user_buildspec)?;
    let mut synthesis = manifest::assemble(spec, &user_buildspec, stacks)?;
    synthesis.warnings = warnings(spec, &user_buildspec);
    // The one step left to the user (haven synth prints warnings): without it the pipeline's
    // Source action fails.
    if let Some(connection) = &synthesis.manifest.source_connection {
        synthesis.warnings.push(connection.step.clone());
    }
    Ok(synthesis)
}

/// Mistakes that produce valid templates but a pipeline that cannot work.
fn warnings(spec: &Spec, user: &buildspec::UserBuildspec) -> Vec<String> {
    let mut out = Vec::new();
    let arm_build = stacks::is_arm_image(&spec.build.image);
    let arm_service = spec.service.architecture == haven_spec::model::Architecture::Arm64;
    if arm_build != arm_service {
        out.push(format!(
            "`build.image` ({}) builds {} images, but `service.architecture` runs {} tasks: \
             the tasks will not start",
            spec.build.image,
            if arm_build { "arm64" } else { "x86_64" },
            if arm_service { "arm64" } else { "x86_64" },
        ));
    }
    if !user.mentions("imagedefinitions.json") {
        out.push(format!(
            "`{}` never mentions imagedefinitions.json: the pipeline's Release action needs the \
             build to write it (see docs/aws.md)",
            user.path.display()
        ));
    }
    out
}

/// Writes every file under `out`, creating directories as needed. Files from an earlier run
/// that this one does not produce are left alone; the manifest lists the current ones.
pub fn write(synthesis: &Synthesis, out: &Path) -> Result<(), SynthError> {
    for (rel, contents) in &synthesis.files {
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| SynthError::Write {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, contents).map_err(|source| SynthError::Write { path, source })?;
    }
    Ok(())
}
