//! A region's log groups (the CloudWatch Logs twin, `haven-logs`): which groups the spec gives
//! it and where each keeps its streams, named as `haven synth` names them on AWS (checked
//! against its templates by `tests/log_names.rs`). The region's log agent applies retention to
//! them and `haven logs` reads them, running twin or not.

use haven_control::paths::Paths;
use haven_logs::names::{self, EcsService};
use haven_logs::{Group, Layout};
use haven_spec::Spec;
use haven_spec::model::Role;
use haven_spec::settings::TwinService;

/// The CodeBuild project's purpose in its log group's name: `haven synth` logs the build
/// project to `build_log_group("build")`.
const BUILD_PURPOSE: &str = "build";

/// How a service's tasks' group and streams are named: the awslogs driver's, with the stream
/// prefix and container `haven synth` gives the task definition (the environment, and the
/// spec's service).
pub fn ecs_service(spec: &Spec, service: &TwinService) -> EcsService {
    EcsService {
        name: service.name.clone(),
        environment: service.environment.clone(),
        container: spec.service.name.clone(),
    }
}

/// The groups of `region`, by name: per service `/haven/<project>/ecs/<service>` and (with
/// access logs on, twin only) `/haven/<project>/alb/<service>`; in the primary, the build
/// project's `/haven/<project>/codebuild/build` and the pipeline's (twin only)
/// `/haven/<project>/codepipeline`; and any other group kept on disk (a service the spec no
/// longer has). Each has the spec's retention.
pub fn groups(spec: &Spec, paths: &Paths, region: &str) -> Vec<Group> {
    let days = Some(spec.monitoring.log_retention_days);
    let root = paths.region_logs(region);
    let project = &spec.project.name;
    let mut out = Vec::new();
    let twin = spec.twin();
    if let Some(r) = twin.regions.iter().find(|r| r.name == region) {
        for s in &r.services {
            let ecs = ecs_service(spec, s).group(project);
            out.push(Group::stamped(&ecs, &root).with_retention(days));
            if s.access_logs {
                let alb = names::alb_group(project, &s.name);
                out.push(Group::stamped(&alb, &root).with_retention(days));
            }
        }
        if r.role == Role::Primary {
            out.push(Group {
                name: names::codebuild_group(project, BUILD_PURPOSE),
                dir: paths.builds(),
                layout: Layout::CodeBuild,
                retention_days: days,
            });
            out.push(Group {
                name: names::codepipeline_group(project),
                dir: paths.pipeline_runs(),
                layout: Layout::PipelineRuns,
                retention_days: days,
            });
        }
    }
    match haven_logs::discover(&root) {
        Ok(found) => {
            for g in found {
                if !out.iter().any(|k| k.name == g.name) {
                    out.push(g.with_retention(days));
                }
            }
        }
        Err(e) => tracing::warn!("cannot list the log groups of {region}: {e}"),
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
