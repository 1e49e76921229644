//! Delivery: CodeCommit, CodeConnections, CodeBuild and CodePipeline.

use std::collections::BTreeMap;

use crate::model::{Expr, Tag, cfn_struct};

cfn_struct! {
    pub struct CodeCommitRepository {
        repository_name: String,
        repository_description: String,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    /// A connection to a Git host (GitHub, GitLab, Bitbucket). CloudFormation creates it
    /// `PENDING`; someone authorises it once in the console. Its `Ref` is its ARN.
    pub struct CodeConnection {
        connection_name: String,
        provider_type: &'static str,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct CodeBuildProject {
        name: String,
        description: String,
        service_role: Expr,
        encryption_key: Expr,
        timeout_in_minutes: u64,
        queued_timeout_in_minutes: Option<u64>,
        concurrent_build_limit: Option<u32>,
        source: BuildSource,
        artifacts: BuildArtifacts,
        environment: BuildEnvironment,
        logs_config: LogsConfig,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct BuildSource {
        r#type: &'static str,
        build_spec: String,
    }
}

cfn_struct! {
    pub struct BuildArtifacts {
        r#type: &'static str,
    }
}

cfn_struct! {
    pub struct BuildEnvironment {
        r#type: &'static str,
        compute_type: String,
        image: String,
        image_pull_credentials_type: &'static str,
        privileged_mode: bool,
        environment_variables: Vec<BuildVariable>,
    }
}

cfn_struct! {
    pub struct BuildVariable {
        name: String,
        r#type: &'static str,
        value: Expr,
    }
}

cfn_struct! {
    pub struct LogsConfig {
        cloud_watch_logs: CloudWatchLogs,
    }
}

cfn_struct! {
    pub struct CloudWatchLogs {
        status: &'static str,
        group_name: String,
    }
}

cfn_struct! {
    pub struct Pipeline {
        name: String,
        pipeline_type: &'static str,
        execution_mode: &'static str,
        role_arn: Expr,
        restart_execution_on_update: bool,
        artifact_store: Option<ArtifactStore>,
        artifact_stores: Vec<ArtifactStoreMap>,
        stages: Vec<Stage>,
        /// What starts the pipeline (V2, `CodeStarSourceConnection` sources only); without it,
        /// the source action's own change detection does.
        triggers: Vec<PipelineTrigger>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct PipelineTrigger {
        provider_type: &'static str,
        git_configuration: GitConfiguration,
    }
}

cfn_struct! {
    pub struct GitConfiguration {
        source_action_name: String,
        push: Vec<GitPushFilter>,
    }
}

cfn_struct! {
    pub struct GitPushFilter {
        branches: GitBranchFilter,
    }
}

cfn_struct! {
    pub struct GitBranchFilter {
        includes: Vec<String>,
    }
}

cfn_struct! {
    pub struct ArtifactStoreMap {
        region: String,
        artifact_store: ArtifactStore,
    }
}

cfn_struct! {
    pub struct ArtifactStore {
        r#type: &'static str,
        location: Expr,
        encryption_key: ArtifactKey,
    }
}

cfn_struct! {
    pub struct ArtifactKey {
        id: Expr,
        r#type: &'static str,
    }
}

cfn_struct! {
    pub struct Stage {
        name: String,
        actions: Vec<Action>,
    }
}

cfn_struct! {
    pub struct Action {
        name: String,
        action_type_id: ActionTypeId,
        run_order: u32,
        region: Option<String>,
        configuration: BTreeMap<String, Expr>,
        input_artifacts: Vec<ArtifactName>,
        output_artifacts: Vec<ArtifactName>,
        timeout_in_minutes: Option<u64>,
    }
}

cfn_struct! {
    pub struct ActionTypeId {
        category: &'static str,
        owner: &'static str,
        provider: &'static str,
        version: &'static str,
    }
}

cfn_struct! {
    pub struct ArtifactName {
        name: String,
    }
}
