//! The stacks fit together: every parameter is filled from an output of a stack deployed
//! earlier (or named as a deploy-time value), every reference inside a template resolves, and
//! the manifest says so for several shapes of spec. cfn-lint checks references too, but this
//! runs without it, in milliseconds.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const PSEUDO: &[&str] = &[
    "AWS::AccountId",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackName",
    "AWS::URLSuffix",
];

fn shapes() -> Vec<(String, haven_cfn::Synthesis)> {
    let mut out = vec![
        (
            "default".to_owned(),
            common::synth(&common::fixture("default")),
        ),
        (
            "every-knob".to_owned(),
            common::synth(&common::fixture("every-knob")),
        ),
    ];
    let variants = [
        "[[regions]]\nname = \"us-east-1\"\n",
        "[[regions]]\nname = \"us-east-1\"\n[[regions]]\nname = \"us-west-2\"\n[[regions]]\nname = \"eu-west-1\"\nvpc_cidr = \"10.2.0.0/16\"\n[routing]\ndomain = \"a.example.com\"\nhosted_zone_id = \"Z1\"\n",
        "service.deployment.strategy = \"rolling\"\nenvironments.staging.enabled = false\npipeline.staging = false\npipeline.approval.enabled = false\n",
        "service.secrets = { A = \"/x/a\" }\nregistry.encryption = \"aes256\"\nsource.replicate = false\n",
        // Topic names that differ only in punctuation still get distinct logical ids.
        "monitoring.notify = \"on_call\"\npipeline.approval.notify = \"on-call\"\n\
         [notifications.topics.on-call]\n[notifications.topics.on_call]\n",
    ];
    for (i, v) in variants.iter().enumerate() {
        let text = format!("project.name = \"p{i}\"\nservice.command = [\"bin/x\"]\n{v}");
        let (_dir, spec) = common::spec_from(&text);
        out.push((format!("variant {i}"), common::synth(&spec)));
    }
    out
}

/// Every `Ref`, `Fn::GetAtt` and `${...}` name in a value.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key("Ref") => {
            out.push(m["Ref"].as_str().unwrap_or_default().to_owned());
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::GetAtt") => {
            out.push(m["Fn::GetAtt"][0].as_str().unwrap_or_default().to_owned());
        }
        Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => {
            let (text, vars) = match &m["Fn::Sub"] {
                Value::String(t) => (t.as_str(), None),
                Value::Array(a) => (a[0].as_str().unwrap_or_default(), a.get(1)),
                _ => ("", None),
            };
            let local: BTreeSet<&str> = vars
                .and_then(Value::as_object)
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            for part in text.split("${").skip(1) {
                let name = part.split('}').next().unwrap_or_default();
                let name = name.split('.').next().unwrap_or_default();
                if !local.contains(name) {
                    out.push(name.to_owned());
                }
            }
            if let Some(v) = vars {
                references(v, out);
            }
        }
        Value::Object(m) => m.values().for_each(|v| references(v, out)),
        Value::Array(a) => a.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[test]
fn parameters_come_from_earlier_stacks_and_references_resolve() {
    for (shape, s) in shapes() {
        let mut outputs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for stack in &s.manifest.stacks {
            let t = common::json(&s, &stack.template);
            let params: BTreeSet<String> = t["Parameters"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let listed: BTreeSet<String> =
                stack.parameters.iter().map(|p| p.name.clone()).collect();
            assert_eq!(
                params, listed,
                "{shape} {}: parameters vs manifest",
                stack.name
            );
            for p in &stack.parameters {
                match (&p.from_stack, &p.output, &p.deploy_time) {
                    (Some(from), Some(output), None) => assert!(
                        outputs
                            .get(from.as_str())
                            .is_some_and(|o| o.contains(output.as_str())),
                        "{shape} {}: {} wants {from}.{output}, not deployed before it",
                        stack.name,
                        p.name
                    ),
                    (None, None, Some(what)) => assert!(!what.is_empty()),
                    other => panic!("{shape} {}: {} has source {other:?}", stack.name, p.name),
                }
            }
            let resources = t["Resources"].as_object().unwrap();
            let mut refs = Vec::new();
            references(&t["Resources"], &mut refs);
            references(&t["Outputs"], &mut refs);
            let mut used = BTreeSet::new();
            for r in refs {
                assert!(
                    PSEUDO.contains(&r.as_str())
                        || params.contains(&r)
                        || resources.contains_key(&r),
                    "{shape} {}: unresolved reference {r}",
                    stack.name
                );
                used.insert(r);
            }
            for p in &params {
                assert!(
                    used.contains(p),
                    "{shape} {}: parameter {p} is unused",
                    stack.name
                );
            }
            for (id, r) in resources {
                assert!(
                    id.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{shape}: id {id}"
                );
                for dep in r["DependsOn"].as_array().into_iter().flatten() {
                    assert!(
                        resources.contains_key(dep.as_str().unwrap_or_default()),
                        "{shape} {}: {id} depends on missing {dep}",
                        stack.name
                    );
                }
            }
            outputs.insert(
                &stack.name,
                stack.outputs.iter().map(String::as_str).collect(),
            );
        }
    }
}

#[test]
fn default_templates_fit_inline() {
    let s = common::synth(&common::fixture("default"));
    for stack in &s.manifest.stacks {
        assert_eq!(
            stack.requires_s3,
            stack.bytes > haven_cfn::manifest::TEMPLATE_BODY_LIMIT
        );
        assert!(
            !stack.requires_s3,
            "{} is {} bytes",
            stack.name, stack.bytes
        );
    }
}

#[test]
fn deploy_order_is_network_registry_monitoring_delivery_service_global() {
    let s = common::synth(&common::fixture("default"));
    let order: Vec<String> = s.manifest.stacks.iter().map(|st| st.name.clone()).collect();
    assert_eq!(
        order,
        [
            "hello-us-east-1-network",
            "hello-us-east-1-registry",
            "hello-us-east-1-monitoring",
            "hello-us-west-2-network",
            "hello-us-west-2-registry",
            "hello-us-west-2-monitoring",
            "hello-us-west-2-delivery",
            "hello-us-east-1-delivery",
            "hello-us-east-1-service",
            "hello-us-west-2-service",
            "hello-global",
        ]
    );
}

#[test]
fn aws_name_limits_hold_for_the_longest_names() {
    // 20 characters is the longest project and service name the spec accepts; ap-southeast-7 is
    // one of the longest region codes.
    let text = "project.name = \"abcdefghijklmnopqrst\"\n\
                service.name = \"tsrqponmlkjihgfedcba\"\n\
                service.command = [\"bin/x\"]\n\
                [[regions]]\nname = \"ap-southeast-7\"\n\
                [[regions]]\nname = \"ap-southeast-5\"\nvpc_cidr = \"10.1.0.0/16\"\n";
    let (_dir, spec) = common::spec_from(text);
    let s = common::synth(&spec);
    let limits: &[(&str, &str, usize)] = &[
        ("AWS::ElasticLoadBalancingV2::LoadBalancer", "Name", 32),
        ("AWS::IAM::Role", "RoleName", 64),
        ("AWS::IAM::Group", "GroupName", 128),
        ("AWS::IAM::Policy", "PolicyName", 128),
        ("AWS::S3::Bucket", "BucketName", 63),
        ("AWS::Events::Rule", "Name", 64),
        ("AWS::SNS::Topic", "TopicName", 256),
        ("AWS::CloudWatch::Alarm", "AlarmName", 255),
        ("AWS::CodeBuild::Project", "Name", 150),
        ("AWS::CodePipeline::Pipeline", "Name", 100),
        ("AWS::ECS::Service", "ServiceName", 255),
        ("AWS::ECS::TaskDefinition", "Family", 255),
        ("AWS::ECR::Repository", "RepositoryName", 256),
        ("AWS::Logs::LogGroup", "LogGroupName", 512),
    ];
    let mut checked = 0;
    for stack in &s.manifest.stacks {
        let t = common::json(&s, &stack.template);
        for (id, r) in t["Resources"].as_object().unwrap() {
            if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup" {
                assert!(
                    r["Properties"]["Name"].is_null(),
                    "{id}: target groups go unnamed"
                );
            }
            for (ty, key, max) in limits {
                if r["Type"] != *ty {
                    continue;
                }
                let name = match &r["Properties"][key] {
                    Value::String(n) => n.clone(),
                    Value::Object(o) => o["Fn::Sub"].as_str().unwrap_or_default().to_owned(),
                    other => panic!("{id}.{key} is {other}"),
                };
                let name = name.replace("${AWS::AccountId}", "123456789012");
                assert!(
                    name.len() <= *max,
                    "{id}.{key} `{name}` is longer than {max}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} names checked");
}
