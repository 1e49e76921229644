//! The pipeline's data as the control API and `haven pipeline ... --json` show it, with
//! CodePipeline's status names.

use serde::{Deserialize, Serialize};

haven_state::spelled! {
    /// A pipeline execution's status, as CodePipeline names it.
    pub enum RunStatus ("pipeline run status") {
        InProgress = "InProgress",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Superseded = "Superseded",
        Stopped = "Stopped",
    }
}

haven_state::spelled! {
    /// A stage's status in one run; `Pending` until the run enters it.
    pub enum StageStatus ("stage status") {
        Pending = "Pending",
        InProgress = "InProgress",
        Succeeded = "Succeeded",
        Failed = "Failed",
        Stopped = "Stopped",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub id: u64,
    pub commit: String,
    pub branch: String,
    pub status: RunStatus,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    /// Why the run ended as it did (the failed stage's reason, who superseded it).
    pub message: String,
    /// The image the Build stage pushed (a manifest digest).
    pub image: Option<String>,
    pub build_id: Option<String>,
    pub stages: Vec<Stage>,
}

impl Run {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The stage waiting for a person, if the run is waiting at its approval.
    pub fn awaiting_approval(&self) -> bool {
        self.status == RunStatus::InProgress
            && self
                .stage("Approval")
                .is_some_and(|s| s.status == StageStatus::InProgress)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub status: StageStatus,
    pub started_at_ms: Option<u64>,
    pub ended_at_ms: Option<u64>,
    pub message: String,
    pub attempts: u32,
    /// Progress notes: release ids per region, the approval's decision and expiry.
    pub detail: serde_json::Value,
}

/// `POST /runs/<id>/approve` and `/reject`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Decision {
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /runs/<id>/retry`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Retry {
    pub stage: String,
}
