//! The CodePipeline twin. A process of its own (`haven internal pipeline`), supervised like the
//! regions: it watches the primary's CodeCommit twin, replicates pushes to the secondaries, and
//! takes each push on the spec's branch through Source, Build, Staging, Approval and Production,
//! recording every step in `pipeline.db` first so that a killed process resumes its runs.

pub mod api;
mod engine;
pub mod image;
pub mod prepare;
mod server;
mod stages;
mod store;

use std::path::PathBuf;

pub use engine::{PipelineArgs, run};
pub use store::Store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
    /// Opening the file, or its schema version (see [`haven_sqlite`]).
    #[error("the pipeline database: {0}")]
    Open(#[from] haven_sqlite::Error),
    #[error("the pipeline database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error(transparent)]
    Source(#[from] haven_source::Error),
    #[error(transparent)]
    Registry(#[from] haven_registry::Error),
    #[error(transparent)]
    Control(#[from] haven_control::Error),
    /// A drill cut the regions from each other ([`image::partitioned`]): ECR's replication
    /// waits for the network, so the pipeline's stages wait and retry.
    #[error(
        "the regions are partitioned (`haven chaos heal` ends it); cannot replicate {image} to {region}"
    )]
    Partitioned { image: String, region: String },
    #[error("{0}")]
    Other(String),
}

/// Locks a mutex, carrying on past a poisoned one: the data stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The repository name of a spec's service: `source.repository`.
pub fn repo_name(spec: &haven_spec::Spec) -> &str {
    &spec.source.repository
}

/// The primary region's repository: the remote users clone and push to.
pub fn source_url(spec: &haven_spec::Spec, paths: &haven_control::paths::Paths) -> PathBuf {
    paths.source_repo(&spec.primary().name, repo_name(spec))
}

/// The CodeBuild project the Build stage (and `haven build`) stands for, named as `haven synth`
/// names it (`<project>-build`, see haven-cfn's `Names::codebuild`).
pub fn build_project(spec: &haven_spec::Spec) -> String {
    format!("{}-build", spec.project.name)
}
