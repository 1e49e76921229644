//! Names of log groups and streams as `haven synth` gives them on AWS (haven-cfn's `Names`), so
//! that the same names work on the twin and in CloudWatch, and how a name becomes one file or
//! directory name. `haven-twin/tests/log_names.rs` checks them against synthesized templates.

use serde::{Deserialize, Serialize};

/// The prefix of every group of a project, `/haven/<project>` (haven-cfn's `log_prefix`): on
/// AWS the project's KMS key lets CloudWatch Logs use groups under it.
pub fn prefix(project: &str) -> String {
    format!("/haven/{project}")
}

/// An ECS service's group, where its tasks log: `/haven/<project>/ecs/<service>`, the service
/// being `<service>-<environment>` (`/haven/hello/ecs/hello-production`).
pub fn ecs_group(project: &str, service: &str) -> String {
    format!("{}/ecs/{service}", prefix(project))
}

/// Whether `group` is one of the project's ECS service groups, whose streams are tasks'.
pub fn is_ecs_group(project: &str, group: &str) -> bool {
    group
        .strip_prefix(&prefix(project))
        .and_then(|rest| rest.strip_prefix("/ecs/"))
        .is_some_and(|service| !service.is_empty() && !service.contains('/'))
}

/// A task's stream as the awslogs driver names it, `<stream-prefix>/<container>/<task-id>`:
/// `haven synth` sets the prefix to the environment and names the container after the spec's
/// service (`production/hello/0123abcd`).
pub fn task_stream(environment: &str, container: &str, task: &str) -> String {
    format!("{environment}/{container}/{task}")
}

/// The task id of an ECS task stream (its last component).
pub fn task_of_stream(stream: &str) -> &str {
    stream.rsplit('/').next().unwrap_or(stream)
}

/// The ECS service a task runs in: what names the task's group and stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsService {
    /// The ECS service, `<service>-<environment>` (`hello-production`).
    pub name: String,
    /// The environment, the awslogs driver's stream prefix (`production`).
    pub environment: String,
    /// The task's container, named after the spec's service (`hello`).
    pub container: String,
}

impl EcsService {
    /// The service's group in `project`: [`ecs_group`].
    pub fn group(&self, project: &str) -> String {
        ecs_group(project, &self.name)
    }

    /// A task's stream: [`task_stream`].
    pub fn stream(&self, task: &str) -> String {
        task_stream(&self.environment, &self.container, task)
    }
}

/// The ALB twin's access log of a service, `/haven/<project>/alb/<service>`. It exists only on
/// the twin: on AWS the ALB writes access logs to S3 (the log bucket, prefix
/// `alb/<environment>`), not to CloudWatch Logs; the twin keeps them as a group so that
/// `haven logs` reads them like the others.
pub fn alb_group(project: &str, service: &str) -> String {
    format!("{}/alb/{service}", prefix(project))
}

/// The access log's stream of the hour `ms` falls in, `2024/01/31/12` (UTC), like the
/// `yyyy/mm/dd` key prefix of ALB log files in S3, one stream an hour.
pub fn alb_stream(ms: u64) -> String {
    let days = i64::try_from(ms / 86_400_000).unwrap_or(0);
    let (y, m, d) = haven_time::civil_from_days(days);
    format!("{y:04}/{m:02}/{d:02}/{:02}", (ms % 86_400_000) / 3_600_000)
}

/// A CodeBuild project's group, `/haven/<project>/codebuild/<purpose>`: `haven synth`'s build
/// project (`<project>-build`) logs to purpose `build`, `/haven/hello/codebuild/build`.
pub fn codebuild_group(project: &str, purpose: &str) -> String {
    format!("{}/codebuild/{purpose}", prefix(project))
}

/// The pipeline's run logs, `/haven/<project>/codepipeline`: one stream per run and stage
/// (`<run-id>/<stage>`). It exists only on the twin: CodePipeline keeps no logs of its own on
/// AWS (its actions' logs are their CodeBuild groups).
pub fn codepipeline_group(project: &str) -> String {
    format!("{}/codepipeline", prefix(project))
}

/// A name as one path component: `%` and `/` percent-encoded, so `/haven/web` is the
/// directory `%2Fhaven%2Fweb` and no name can reach outside its directory.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    // `.` and `..` alone are not file names one can create.
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

/// The name a path component stands for; `None` when it is not an [`encode`]d name.
pub fn decode(component: &str) -> Option<String> {
    let mut out = String::with_capacity(component.len());
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let hex: String = chars.by_ref().take(2).collect();
        match hex.to_ascii_uppercase().as_str() {
            "25" => out.push('%'),
            "2F" => out.push('/'),
            "00" => out.push('\0'),
            "2E" => out.push('.'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_one_path_component() {
        for name in [
            "/haven/hello/ecs/hello-production",
            "production/hello/0123abcd",
            "100%/done",
            "..",
            ".",
            "plain",
            "",
        ] {
            let enc = encode(name);
            assert!(!enc.contains('/'), "{enc}");
            assert!(enc != "." && enc != "..", "{enc}");
            assert_eq!(decode(&enc).as_deref(), Some(name), "{enc}");
        }
        assert_eq!(encode("/haven/web"), "%2Fhaven%2Fweb");
        assert_eq!(decode("%zz"), None);
    }

    #[test]
    fn names_as_haven_synth_gives_them() {
        assert_eq!(
            ecs_group("hello", "hello-production"),
            "/haven/hello/ecs/hello-production"
        );
        assert_eq!(
            task_stream("production", "hello", "ab12"),
            "production/hello/ab12"
        );
        assert_eq!(task_of_stream("production/hello/ab12"), "ab12");
        let svc = EcsService {
            name: "web-staging".into(),
            environment: "staging".into(),
            container: "web".into(),
        };
        assert_eq!(svc.group("shop"), "/haven/shop/ecs/web-staging");
        assert_eq!(svc.stream("t1"), "staging/web/t1");
        assert_eq!(
            alb_group("hello", "hello-production"),
            "/haven/hello/alb/hello-production"
        );
        assert_eq!(alb_stream(1_700_000_000_123), "2023/11/14/22");
        assert_eq!(
            codebuild_group("hello", "build"),
            "/haven/hello/codebuild/build"
        );
        assert_eq!(codepipeline_group("hello"), "/haven/hello/codepipeline");
    }

    #[test]
    fn ecs_groups_are_told_apart() {
        for (group, ecs) in [
            ("/haven/hello/ecs/hello-production", true),
            ("/haven/hello/ecs/hello-staging", true),
            ("/haven/hello/ecs/", false),
            ("/haven/hello/ecs/a/b", false),
            ("/haven/other/ecs/hello-production", false),
            ("/haven/hello/alb/hello-production", false),
            ("/haven/hello/codebuild/build", false),
            ("/haven/hello-two/ecs/x", false),
            ("/ecs/hello-production", false),
        ] {
            assert_eq!(is_ecs_group("hello", group), ecs, "{group}");
        }
    }
}
