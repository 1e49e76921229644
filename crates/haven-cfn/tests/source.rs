//! `source.provider`: CodeCommit (the default) or a Git host (GitHub, GitLab, Bitbucket) the
//! pipeline reads through a CodeConnections connection. For each provider: the delivery stacks'
//! resources (a snapshot, and asserts on what matters), the pipeline's source action and trigger,
//! the pipeline role's access to the source, the manifest's console step; and the twin, which
//! keeps its own git repositories whatever the provider is.

mod common;

use serde_json::{Value, json};

const PRIMARY: &str = "us-east-1/delivery.json";
const SECONDARY: &str = "us-west-2/delivery.json";

/// The default fixture with `[source]` set as given.
fn with_source(table: &str) -> (tempfile::TempDir, haven_spec::Spec) {
    let default = std::fs::read_to_string(common::fixture_dir("default").join("haven.toml"))
        .expect("the default fixture");
    common::spec_from(&format!("{default}\n[source]\n{table}"))
}

/// Each provider's `[source]` table (the same branch for all), and its connection's type.
fn providers() -> [(&'static str, &'static str, Option<&'static str>); 4] {
    [
        (
            "codecommit",
            "provider = \"codecommit\"\nbranch = \"trunk\"\n",
            None,
        ),
        (
            "github",
            "provider = \"github\"\nrepository = \"octo-org/hello\"\nbranch = \"trunk\"\n",
            Some("GitHub"),
        ),
        (
            "gitlab",
            "provider = \"gitlab\"\nrepository = \"octo-org/hello\"\nbranch = \"trunk\"\n",
            Some("GitLab"),
        ),
        (
            "bitbucket",
            "provider = \"bitbucket\"\nrepository = \"octo-org/hello\"\nbranch = \"trunk\"\n",
            Some("Bitbucket"),
        ),
    ]
}

fn resources(t: &Value) -> Vec<String> {
    t["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .map(|(id, r)| format!("  {id} {}", r["Type"].as_str().unwrap_or_default()))
        .collect()
}

/// The statement of the pipeline role with this Sid.
fn statement<'a>(t: &'a Value, sid: &str) -> &'a Value {
    t["Resources"]["PipelineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

/// What the delivery stacks hold for each provider, as a reviewable snapshot.
#[test]
fn delivery_stacks_per_provider() {
    for (name, table, _) in providers() {
        let (_dir, spec) = with_source(table);
        let s = common::synth(&spec);
        let primary = common::json(&s, PRIMARY);
        let secondary = common::json(&s, SECONDARY);
        let pipeline = &primary["Resources"]["Pipeline"]["Properties"];
        let mut lines = vec![format!("{PRIMARY}: {}", primary["Description"])];
        lines.extend(resources(&primary));
        lines.push(format!(
            "  Source action: {}",
            pipeline["Stages"][0]["Actions"][0]
        ));
        lines.push(format!("  Triggers: {}", pipeline["Triggers"]));
        lines.push(format!(
            "  PipelineRole ReadSource: {}",
            statement(&primary, "ReadSource")
        ));
        lines.push(format!("  Outputs: {}", primary["Outputs"]));
        lines.push(format!("{SECONDARY}: {}", secondary["Description"]));
        lines.extend(resources(&secondary));
        lines.push(format!(
            "manifest: approval_rule_template {}, source_connection {}",
            serde_json::to_string(&s.manifest.approval_rule_template).expect("JSON"),
            serde_json::to_string_pretty(&s.manifest.source_connection).expect("JSON"),
        ));
        insta::assert_snapshot!(format!("delivery_{name}"), lines.join("\n"));
    }
}

#[test]
fn a_hosted_source_reads_through_its_connection_only() {
    for (name, table, connection_type) in providers() {
        let (_dir, spec) = with_source(table);
        let s = common::synth(&spec);
        let primary = common::json(&s, PRIMARY);
        let r = &primary["Resources"];
        let pipeline = &r["Pipeline"]["Properties"];
        let source = &pipeline["Stages"][0]["Actions"][0];
        let Some(connection_type) = connection_type else {
            // CodeCommit: the repository, its protection and replica, the EventBridge rule; no
            // connection, no trigger.
            assert_eq!(source["ActionTypeId"]["Provider"], "CodeCommit");
            for id in ["SourceRepository", "DevelopersGroup", "SourceChangedRule"] {
                assert!(r[id].is_object(), "{name}: {id}");
            }
            assert!(r["SourceConnection"].is_null() && pipeline["Triggers"].is_null());
            assert!(common::json(&s, SECONDARY)["Resources"]["SourceRepository"].is_object());
            assert!(s.manifest.approval_rule_template.is_some());
            assert!(s.manifest.source_connection.is_none());
            continue;
        };
        assert_eq!(
            r["SourceConnection"],
            json!({
                "Type": "AWS::CodeConnections::Connection",
                "Properties": {"ConnectionName": format!("hello-{name}"), "ProviderType": connection_type}
            }),
            "{name}"
        );
        assert_eq!(
            source["ActionTypeId"],
            json!({"Category": "Source", "Owner": "AWS", "Provider": "CodeStarSourceConnection", "Version": "1"})
        );
        assert_eq!(
            source["Configuration"],
            json!({
                "ConnectionArn": {"Ref": "SourceConnection"},
                "FullRepositoryId": "octo-org/hello",
                "BranchName": "trunk",
                "OutputArtifactFormat": "CODE_ZIP"
            })
        );
        // A push to the branch starts the pipeline, through the source action it names.
        assert_eq!(
            pipeline["Triggers"],
            json!([{
                "ProviderType": "CodeStarSourceConnection",
                "GitConfiguration": {
                    "SourceActionName": source["Name"],
                    "Push": [{"Branches": {"Includes": ["trunk"]}}]
                }
            }])
        );
        // Least privilege: the pipeline may use this connection, and nothing of CodeCommit.
        assert_eq!(
            statement(&primary, "ReadSource"),
            &json!({
                "Sid": "ReadSource",
                "Effect": "Allow",
                "Action": ["codeconnections:UseConnection", "codestar-connections:UseConnection"],
                "Resource": [{"Ref": "SourceConnection"}]
            })
        );
        // No CodeCommit repository, replica, mirror, branch protection or EventBridge trigger,
        // anywhere: no template mentions CodeCommit.
        for stack in &s.manifest.stacks {
            let text = s.file(&stack.template).expect("the template");
            assert!(
                !text.to_ascii_lowercase().contains("codecommit"),
                "{name}: {} mentions CodeCommit",
                stack.template
            );
        }
        for id in ["SourceChangedRule", "EventsRole", "MirrorProject"] {
            assert!(r[id].is_null(), "{name}: {id}");
        }
        assert_eq!(
            primary["Outputs"]["SourceConnectionArn"]["Value"],
            json!({"Ref": "SourceConnection"})
        );
        assert!(s.manifest.approval_rule_template.is_none());
        let step = s.manifest.source_connection.as_ref().expect("the step");
        assert_eq!(
            (
                step.name.as_str(),
                step.provider,
                step.stack.as_str(),
                step.output
            ),
            (
                format!("hello-{name}").as_str(),
                connection_type,
                "hello-us-east-1-delivery",
                "SourceConnectionArn"
            )
        );
        assert_eq!(
            step.console_url,
            "https://console.aws.amazon.com/codesuite/settings/connections?region=us-east-1"
        );
        // `haven synth` prints it (its warnings), naming the console path and the repository.
        let printed = s
            .warnings
            .iter()
            .find(|w| w.contains("PENDING"))
            .expect("the step among the warnings");
        for part in [
            "Developer Tools > Settings > Connections",
            "Update pending connection",
            "octo-org/hello",
            &step.console_url,
        ] {
            assert!(printed.contains(part), "{part:?} not in {printed}");
        }
    }
}

#[test]
fn the_connection_name_fits_for_the_longest_project() {
    let (_dir, spec) = common::spec_from(
        "project.name = \"abcdefghijklmnopqrst\"\nservice.command = [\"bin/x\"]\n\
         [source]\nprovider = \"bitbucket\"\nrepository = \"o/r\"\n",
    );
    let s = common::synth(&spec);
    let name =
        common::json(&s, PRIMARY)["Resources"]["SourceConnection"]["Properties"]["ConnectionName"]
            .as_str()
            .expect("a name")
            .to_owned();
    assert_eq!(name, "abcdefghijklmnopqrst-bitbucket");
    assert!(name.len() <= 32, "CodeConnections allows 32: {name}");
}

/// The twin keeps its own git repositories whatever the provider is: a hosted source resolves
/// to the same repository name, branch, protected branches and replication the twin reads,
/// and the same twin settings, as CodeCommit with that name.
#[test]
fn the_twin_is_the_same_whatever_the_provider() {
    let twin = |table: &str| {
        let (_dir, spec) = with_source(table);
        let s = &spec.source;
        (
            (
                s.repository.clone(),
                s.branch.clone(),
                s.protected_branches.clone(),
                s.replicate,
            ),
            {
                let mut settings = serde_json::to_value(spec.twin()).expect("JSON");
                // Each spec sits in its own temp dir.
                settings["state_dir"] = Value::Null;
                settings
            },
        )
    };
    let codecommit = twin("repository = \"hello\"\nbranch = \"trunk\"\n");
    for (name, table, hosted) in providers() {
        if hosted.is_some() {
            assert_eq!(twin(table), codecommit, "{name}");
        }
    }
}
