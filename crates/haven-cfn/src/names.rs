//! Every AWS name haven gives, derived from the spec in one place, within AWS's length limits.
//!
//! The project name is at most 20 characters and region codes at most 14, so every name here
//! fits its limit (ALB names 32, IAM role names 64, S3 bucket names 63); `tests/wiring.rs`
//! checks the longest possible case. Target groups get no name: CloudFormation generates one, so
//! that a replacement never collides with the group it replaces.

use haven_spec::Spec;
use haven_spec::model::{Environment, Role};

use crate::StackKind;

#[derive(Debug, Clone, Copy)]
pub struct Names<'a> {
    spec: &'a Spec,
}

impl<'a> Names<'a> {
    pub fn new(spec: &'a Spec) -> Self {
        Self { spec }
    }

    pub fn project(&self) -> &'a str {
        &self.spec.project.name
    }

    pub fn service(&self) -> &'a str {
        &self.spec.service.name
    }

    /// `hello-us-east-1-network`; the global stack is `hello-global`.
    pub fn stack(&self, region: &str, kind: StackKind) -> String {
        match kind {
            StackKind::Global => format!("{}-global", self.project()),
            _ => format!("{}-{region}-{}", self.project(), kind.as_str()),
        }
    }

    pub fn key_alias(&self) -> String {
        format!("alias/{}", self.project())
    }

    /// Log groups live under one prefix, which the key policy lets CloudWatch Logs use. The twin
    /// gives its groups and task streams the same names (`haven_logs::names`);
    /// `haven-twin/tests/log_names.rs` fails when the two differ.
    pub fn log_prefix(&self) -> String {
        format!("/haven/{}", self.project())
    }

    pub fn flow_log_group(&self) -> String {
        format!("{}/vpc-flow-logs", self.log_prefix())
    }

    pub fn task_log_group(&self, env: &Environment) -> String {
        format!("{}/ecs/{}", self.log_prefix(), self.ecs_service(env))
    }

    pub fn build_log_group(&self, project: &str) -> String {
        format!("{}/codebuild/{project}", self.log_prefix())
    }

    /// An IAM role: IAM names are account-wide, so regional roles carry their region.
    pub fn role(&self, region: &str, purpose: &str) -> String {
        format!("{}-{region}-{purpose}", self.project())
    }

    pub fn log_bucket(&self, region: &str) -> String {
        format!("{}-{region}-logs-${{AWS::AccountId}}", self.project())
    }

    pub fn artifact_bucket(&self, region: &str) -> String {
        format!("{}-{region}-artifacts-${{AWS::AccountId}}", self.project())
    }

    /// One ALB per environment, as the local twin runs one ALB twin per environment.
    pub fn alb(&self, env: &Environment) -> String {
        format!("{}-{}", self.project(), env.name)
    }

    pub fn cluster(&self) -> &'a str {
        self.project()
    }

    /// `hello-production`: the same name as the twin's ECS service.
    pub fn ecs_service(&self, env: &Environment) -> String {
        format!("{}-{}", self.service(), env.name)
    }

    pub fn task_family(&self, env: &Environment) -> String {
        self.ecs_service(env)
    }

    pub fn container(&self) -> &'a str {
        self.service()
    }

    /// The ECR repository: the project's name, or `project/service` when they differ.
    pub fn repository(&self) -> String {
        self.spec.image_repository()
    }

    pub fn source_repository(&self) -> &'a str {
        &self.spec.source.repository
    }

    /// The connection to the Git host (`hello-github`): at most 20 + 10 characters, within
    /// CodeConnections' 32.
    pub fn connection(&self) -> String {
        format!(
            "{}-{}",
            self.project(),
            self.spec.source.provider.aws_name().to_ascii_lowercase()
        )
    }

    pub fn codebuild(&self, purpose: &str) -> String {
        format!("{}-{purpose}", self.project())
    }

    pub fn pipeline(&self) -> &'a str {
        self.project()
    }

    pub fn topic(&self, topic: &str) -> String {
        format!("{}-{topic}", self.project())
    }

    pub fn alarm(&self, env: &Environment, what: &str) -> String {
        format!("{}-{what}", self.ecs_service(env))
    }

    pub fn dashboard(&self, region: &str) -> String {
        format!("{}-{region}", self.project())
    }

    pub fn rule(&self, purpose: &str) -> String {
        format!("{}-{purpose}", self.project())
    }

    pub fn developers_group(&self) -> String {
        format!("{}-developers", self.project())
    }

    pub fn approval_template(&self) -> String {
        format!("{}-protect-branches", self.project())
    }

    /// The environments that run in a region: production everywhere, staging in the primary.
    pub fn environments(&self, role: Role) -> Vec<&'a Environment> {
        let mut envs = vec![&self.spec.environments.production];
        if role == Role::Primary {
            envs.extend(self.spec.environments.staging.as_ref());
        }
        envs
    }
}

/// `on-call_team` → `OnCallTeam`, `us-east-1` → `UsEast1`: a logical-id fragment.
pub fn pascal(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_fragments() {
        assert_eq!(pascal("on-call_team"), "OnCallTeam");
        assert_eq!(pascal("us-east-1"), "UsEast1");
        assert_eq!(pascal("production"), "Production");
    }
}
