//! Names of log groups and streams as the twin gives them, and how a name becomes one file or
//! directory name.

use crate::time;

/// An ECS service's group, as the ECS console's default (`/ecs/hello-production`).
pub fn ecs_group(service: &str) -> String {
    format!("/ecs/{service}")
}

/// A task's stream: the awslogs driver's `prefix/container/task-id`, with prefix `ecs` and the
/// service as the container.
pub fn task_stream(service: &str, task: &str) -> String {
    format!("ecs/{service}/{task}")
}

/// The task id of an ECS task stream (its last component).
pub fn task_of_stream(stream: &str) -> &str {
    stream.rsplit('/').next().unwrap_or(stream)
}

/// The ALB twin's access log of a service. On AWS the ALB writes it to S3 (the log bucket,
/// prefix `alb/<environment>`), not to CloudWatch Logs; the twin keeps it as a group so that
/// `haven logs` reads it like the others.
pub fn alb_group(service: &str) -> String {
    format!("/aws/alb/{service}")
}

/// The access log's stream of the hour `ms` falls in, `2024/01/31/12` (UTC), like the
/// `yyyy/mm/dd` key prefix of ALB log files in S3, one stream an hour.
pub fn alb_stream(ms: u64) -> String {
    let days = i64::try_from(ms / 86_400_000).unwrap_or(0);
    let (y, m, d) = time::civil_from_days(days);
    format!("{y:04}/{m:02}/{d:02}/{:02}", (ms % 86_400_000) / 3_600_000)
}

/// A CodeBuild project's group, CodeBuild's default (`/aws/codebuild/hello-build`).
pub fn codebuild_group(project: &str) -> String {
    format!("/aws/codebuild/{project}")
}

/// A pipeline's group: one stream per run and stage (`<run-id>/<stage>`).
pub fn codepipeline_group(pipeline: &str) -> String {
    format!("/aws/codepipeline/{pipeline}")
}

/// A name as one path component: `%` and `/` percent-encoded, so `/ecs/web` is the directory
/// `%2Fecs%2Fweb` and no name can reach outside its directory.
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
            "/ecs/hello-production",
            "ecs/hello-production/0123abcd",
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
        assert_eq!(encode("/ecs/web"), "%2Fecs%2Fweb");
        assert_eq!(decode("%zz"), None);
    }

    #[test]
    fn aws_style_names() {
        assert_eq!(ecs_group("hello-production"), "/ecs/hello-production");
        assert_eq!(task_stream("web", "ab12"), "ecs/web/ab12");
        assert_eq!(task_of_stream("ecs/web/ab12"), "ab12");
        assert_eq!(alb_stream(1_700_000_000_123), "2023/11/14/22");
        assert_eq!(codebuild_group("hello-build"), "/aws/codebuild/hello-build");
    }
}
