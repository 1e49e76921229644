//! Schema → model: applies the seed's defaults and checks every value, reporting each problem
//! with its key path. Cross-field rules (subnets inside their VPC, min ≤ desired ≤ max, ...) live
//! here too, next to the values they relate.
//!
//! One module per concern, each an `impl` of the same context: `values` (the checks every
//! section shares), `network` (regions, subnets, global routing), `service`, `environments`,
//! `delivery` (registry, source, build, pipeline), `monitoring` (alarms, notifications), `dr`
//! (the drills' policy) and `local` (the twin's profile). Rules that join sections (a topic
//! named by monitoring and the pipeline must exist) stay here.

use std::path::Path;

use crate::diag::Reporter;
use crate::model::*;
use crate::schema;
use crate::suggest::did_you_mean;

mod delivery;
mod dr;
mod environments;
mod local;
mod monitoring;
mod network;
mod rules;
mod service;
mod values;

/// Turns a parsed document into a model; problems go to `r`. The returned model is only
/// meaningful when no error was reported.
pub(crate) fn resolve(
    doc: schema::Document,
    r: &mut Reporter<'_>,
    file: &Path,
    root: &Path,
) -> Spec {
    let mut c = Ctx { r, root };
    let project = c.project(doc.project.unwrap_or_default());
    let regions = c.regions(doc.regions);
    let service = c.service(doc.service.unwrap_or_default(), &project.name);
    let environments = c.environments(doc.environments.unwrap_or_default(), &service);
    let registry = c.registry(doc.registry.unwrap_or_default());
    let source = c.source(doc.source.unwrap_or_default(), &project.name);
    let build = c.build(doc.build.unwrap_or_default());
    let notifications = c.notifications(doc.notifications.unwrap_or_default());
    let pipeline = c.pipeline(doc.pipeline.unwrap_or_default(), &environments);
    let monitoring = c.monitoring(doc.monitoring.unwrap_or_default());
    let routing = c.routing(doc.routing.unwrap_or_default());
    let dr = c.dr(doc.dr.unwrap_or_default());
    let network = c.network(doc.network.unwrap_or_default());
    let local = c.local(
        doc.local.unwrap_or_default(),
        &service.health_check,
        regions.len(),
    );

    for (key, topic) in [
        ("pipeline.approval.notify", &pipeline.approval.notify),
        ("monitoring.notify", &monitoring.notify),
    ] {
        if !notifications.topics.contains_key(topic) {
            let names = notifications.topics.keys().map(String::as_str);
            let hint = match did_you_mean(topic, names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "declare it under [notifications.topics]".to_owned(),
            };
            c.r.error_hint(
                "unknown-topic",
                key,
                format!("no topic named `{topic}`"),
                hint,
            );
        }
    }

    Spec {
        file: file.to_path_buf(),
        root: root.to_path_buf(),
        project,
        regions,
        service,
        environments,
        registry,
        source,
        build,
        pipeline,
        monitoring,
        notifications,
        routing,
        dr,
        network,
        local,
    }
}

struct Ctx<'r, 'a> {
    r: &'r mut Reporter<'a>,
    root: &'r Path,
}

/// `local.state_dir` when the spec does not say, next to the spec file.
pub(crate) const DEFAULT_STATE_DIR: &str = ".haven";

impl Ctx<'_, '_> {
    fn project(&mut self, p: schema::Project) -> Project {
        if p.name.is_none() {
            self.r.error_hint(
                "missing-key",
                "project.name",
                "the project has no name",
                "add `[project]` with `name = \"my-app\"`",
            );
        }
        Project {
            name: self.name("project.name", p.name, "app", 20),
            tags: p.tags.unwrap_or_default(),
        }
    }
}
