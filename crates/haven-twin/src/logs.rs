//! A region's log groups (the CloudWatch Logs twin, `haven-logs`): which groups the spec gives
//! it and where each keeps its streams. The region's log agent applies retention to them and
//! `haven logs` reads them, running twin or not.

use haven_logs::{Group, Layout, names};
use haven_spec::Spec;
use haven_spec::model::Role;

use crate::Paths;

/// The CodeBuild project `haven build` stands for, named as `haven synth` names it
/// (`<project>-build`, see haven-cfn's `Names::codebuild`).
pub fn build_project(spec: &Spec) -> String {
    format!("{}-build", spec.project.name)
}

/// The groups of `region`, by name: per service `/ecs/<service>` and (with access logs on)
/// `/aws/alb/<service>`; in the primary, the build project's and the pipeline's; and any other
/// group kept on disk (a service the spec no longer has). Each has the spec's retention.
pub fn groups(spec: &Spec, paths: &Paths, region: &str) -> Vec<Group> {
    let days = Some(spec.monitoring.log_retention_days);
    let root = paths.region_logs(region);
    let mut out = Vec::new();
    let twin = spec.twin();
    if let Some(r) = twin.regions.iter().find(|r| r.name == region) {
        for s in &r.services {
            out.push(Group::stamped(&names::ecs_group(&s.name), &root).with_retention(days));
            if s.access_logs {
                out.push(Group::stamped(&names::alb_group(&s.name), &root).with_retention(days));
            }
        }
        if r.role == Role::Primary {
            out.push(Group {
                name: names::codebuild_group(&build_project(spec)),
                dir: paths.builds(),
                layout: Layout::CodeBuild,
                retention_days: days,
            });
            out.push(Group {
                name: names::codepipeline_group(&spec.project.name),
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
