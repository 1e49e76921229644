//! The twin's log groups and task streams carry exactly the names `haven synth` gives them on
//! AWS, read from the synthesized templates (the log groups, the task definitions' awslogs
//! options, the build project's logs config), so that the two cannot drift apart; the groups
//! only the twin has (the ALB access log, the pipeline's runs) are the documented ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use haven_control::paths::Paths;
use haven_logs::{Layout, names};
use haven_spec::Spec;
use haven_spec::model::Role;

use common::example;
use serde_json::Value;

fn template(s: &haven_cfn::Synthesis, file: &str) -> Value {
    serde_json::from_str(s.file(file).unwrap_or_else(|| panic!("no {file}"))).unwrap()
}

/// `(logical id, properties)` of a template's resources of `kind`.
fn resources<'a>(t: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(id, r)| (id.as_str(), &r["Properties"]))
        .collect()
}

fn log_group_name<'a>(t: &'a Value, id: &str) -> &'a str {
    t["Resources"][id]["Properties"]["LogGroupName"]
        .as_str()
        .unwrap_or_else(|| panic!("no log group {id}"))
}

fn check(spec: &Spec) {
    let synthesis = haven_cfn::synth(spec).unwrap();
    let project = &spec.project.name;
    let state = tempfile::tempdir().unwrap();
    let paths = Paths::new(state.path());
    for region in &spec.twin().regions {
        let twin_groups = haven_twin::logs::groups(spec, &paths, &region.name);
        let twin_names: BTreeSet<&str> = twin_groups.iter().map(|g| g.name.as_str()).collect();
        let service = template(&synthesis, &format!("{}/service.json", region.name));
        let mut on_aws = BTreeSet::new();

        // Each ECS service: its group, the awslogs stream prefix and the container name.
        for s in &region.services {
            let (_, taskdef) = resources(&service, "AWS::ECS::TaskDefinition")
                .into_iter()
                .find(|(_, p)| p["Family"] == s.name.as_str())
                .unwrap_or_else(|| panic!("no task definition of {} in {}", s.name, region.name));
            let container = &taskdef["ContainerDefinitions"][0];
            let options = &container["LogConfiguration"]["Options"];
            assert_eq!(container["LogConfiguration"]["LogDriver"], "awslogs");
            let group = log_group_name(&service, options["awslogs-group"]["Ref"].as_str().unwrap());
            let prefix = options["awslogs-stream-prefix"].as_str().unwrap();
            let name = container["Name"].as_str().unwrap();

            let ecs = haven_twin::logs::ecs_service(spec, s);
            assert_eq!(ecs.group(project), group, "{}", s.name);
            // The awslogs driver names a task's stream `prefix/container-name/task-id`.
            assert_eq!(ecs.stream("0a1b2c"), format!("{prefix}/{name}/0a1b2c"));
            assert!(twin_names.contains(group), "{group} not in {twin_names:?}");
            on_aws.insert(group.to_owned());
        }
        // No other service log group on either side.
        let aws_groups: BTreeSet<String> = resources(&service, "AWS::Logs::LogGroup")
            .into_iter()
            .map(|(_, p)| p["LogGroupName"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(aws_groups, on_aws, "{}", region.name);

        // The build project the twin's builds stand for, and where it logs.
        if region.role == Role::Primary {
            let delivery = template(&synthesis, &format!("{}/delivery.json", region.name));
            let build_project = haven_pipeline::build_project(spec);
            let (_, build) = resources(&delivery, "AWS::CodeBuild::Project")
                .into_iter()
                .find(|(_, p)| p["Name"] == build_project.as_str())
                .unwrap_or_else(|| panic!("no CodeBuild project {build_project}"));
            let group = build["LogsConfig"]["CloudWatchLogs"]["GroupName"]
                .as_str()
                .unwrap();
            let twin = twin_groups.iter().find(|g| g.name == group);
            assert_eq!(
                twin.map(|g| g.layout),
                Some(Layout::CodeBuild),
                "{group} in {twin_names:?}"
            );
            on_aws.insert(group.to_owned());
        }

        // What remains exists only on the twin: the ALB access logs (S3 on AWS) and the
        // pipeline's runs, under the same prefix.
        let mut twin_only: BTreeSet<String> = region
            .services
            .iter()
            .filter(|s| s.access_logs)
            .map(|s| names::alb_group(project, &s.name))
            .collect();
        if region.role == Role::Primary {
            twin_only.insert(names::codepipeline_group(project));
        }
        let rest: BTreeSet<String> = twin_names
            .iter()
            .filter(|n| !on_aws.contains(**n))
            .map(|n| (*n).to_owned())
            .collect();
        assert_eq!(rest, twin_only, "{}", region.name);
        let prefix = format!("{}/", names::prefix(project));
        for n in &twin_names {
            assert!(n.starts_with(&prefix), "{n}");
        }
    }
}

#[test]
fn the_example_project_logs_under_the_names_synth_gives() {
    let (_dir, spec) = example(str::to_owned);
    check(&spec);
    // Spot-checked by hand, as a user reads them in the AWS console.
    let svc = &spec.twin().regions[0].services[0];
    let ecs = haven_twin::logs::ecs_service(&spec, svc);
    assert_eq!(ecs.group("hello"), "/haven/hello/ecs/hello-production");
    assert_eq!(ecs.stream("t1"), "production/hello/t1");
}

#[test]
fn a_service_named_apart_from_its_project_too() {
    // The container is the service's name and the prefix the project's: a mix-up shows here.
    let (_dir, spec) = example(|t| {
        t.replace("name = \"hello\" ", "name = \"shop\" ").replacen(
            "\n[service]\n",
            "\n[service]\nname = \"web\"\n",
            1,
        )
    });
    assert_eq!(spec.project.name, "shop");
    assert_eq!(spec.service.name, "web");
    check(&spec);
    let svc = &spec.twin().regions[0].services[0];
    let ecs = haven_twin::logs::ecs_service(&spec, svc);
    assert_eq!(ecs.group("shop"), "/haven/shop/ecs/web-production");
    assert_eq!(ecs.stream("t1"), "production/web/t1");
}
