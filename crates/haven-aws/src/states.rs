//! AWS's own spellings of the service states haven reads (CodeBuild's build and phase
//! statuses, ECS's deployment status and rollout), each read once into an enum here; the rest of
//! the crate matches the enums, never the text.

use serde::Serialize;

/// A build's or a phase's status (`buildStatus`, `phaseStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    InProgress,
    Stopped,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "FAULT" => Self::Fault,
            "TIMED_OUT" => Self::TimedOut,
            "IN_PROGRESS" => Self::InProgress,
            "STOPPED" => Self::Stopped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Fault => "FAULT",
            Self::TimedOut => "TIMED_OUT",
            Self::InProgress => "IN_PROGRESS",
            Self::Stopped => "STOPPED",
        }
    }
}

/// A build phase, in the order CodeBuild runs them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseType {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
    /// A phase this version does not know, by its name (shown, never matched).
    Other(String),
}

impl PhaseType {
    pub fn parse(s: &str) -> Self {
        match s {
            "SUBMITTED" => Self::Submitted,
            "QUEUED" => Self::Queued,
            "PROVISIONING" => Self::Provisioning,
            "DOWNLOAD_SOURCE" => Self::DownloadSource,
            "INSTALL" => Self::Install,
            "PRE_BUILD" => Self::PreBuild,
            "BUILD" => Self::Build,
            "POST_BUILD" => Self::PostBuild,
            "UPLOAD_ARTIFACTS" => Self::UploadArtifacts,
            "FINALIZING" => Self::Finalizing,
            "COMPLETED" => Self::Completed,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Submitted => "SUBMITTED",
            Self::Queued => "QUEUED",
            Self::Provisioning => "PROVISIONING",
            Self::DownloadSource => "DOWNLOAD_SOURCE",
            Self::Install => "INSTALL",
            Self::PreBuild => "PRE_BUILD",
            Self::Build => "BUILD",
            Self::PostBuild => "POST_BUILD",
            Self::UploadArtifacts => "UPLOAD_ARTIFACTS",
            Self::Finalizing => "FINALIZING",
            Self::Completed => "COMPLETED",
            Self::Other(name) => name,
        }
    }
}

/// A deployment's place in the service (`PRIMARY` is the newest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeploymentStatus {
    Primary,
    Active,
    Inactive,
    Other(String),
}

/// A deployment's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rollout {
    InProgress,
    Completed,
    Failed,
    Other(String),
}

impl DeploymentStatus {
    /// ECS's `status` of a deployment; an unknown one is kept by its name, never matched.
    pub fn parse(text: String) -> Self {
        match text.as_str() {
            "PRIMARY" => Self::Primary,
            "ACTIVE" => Self::Active,
            "INACTIVE" => Self::Inactive,
            _ => Self::Other(text),
        }
    }
}

impl Rollout {
    /// ECS's `rolloutState`; an unknown one is kept by its name, never matched.
    pub fn parse(text: String) -> Self {
        match text.as_str() {
            "IN_PROGRESS" => Self::InProgress,
            "COMPLETED" => Self::Completed,
            "FAILED" => Self::Failed,
            _ => Self::Other(text),
        }
    }
}
