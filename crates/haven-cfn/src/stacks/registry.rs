//! The registry stack: the region's ECR repository and, in the primary, replication of its
//! images to every secondary's repository of the same name.

use haven_spec::model::{CountType, Encryption, Region, Role, TagStatus};
use serde_json::json;

use crate::StackKind;
use crate::model::Expr;
use crate::model::Resource;
use crate::model::resources::storage::{
    EcrReplication, EcrRepository, EncryptionConfiguration, ImageScanningConfiguration,
    LifecyclePolicy, ReplicationConfiguration, ReplicationDestination, ReplicationRule,
    RepositoryFilter,
};
use crate::skips;
use crate::stacks::{Builder, Cx, Stack, out};

pub fn build(cx: Cx<'_>, region: &Region) -> Stack {
    let name = cx.stack_name(&region.name, StackKind::Registry);
    let mut b = Builder::new(
        StackKind::Registry,
        &region.name,
        name,
        format!(
            "haven {}: {} registry: the ECR repository{}",
            cx.names.project(),
            region.name,
            if region.role == Role::Primary {
                " and its replication"
            } else {
                " (a replica of the primary's)"
            }
        ),
    );
    let registry = &cx.spec.registry;
    let kms = registry.encryption == Encryption::Kms;
    let key = kms.then(|| b.network_key(cx, &region.name));
    let mut repo = Resource::new(EcrRepository {
        repository_name: cx.names.repository(),
        image_tag_mutability: if registry.immutable_tags {
            "IMMUTABLE"
        } else {
            "MUTABLE"
        },
        image_scanning_configuration: ImageScanningConfiguration {
            scan_on_push: registry.scan_on_push,
        },
        encryption_configuration: EncryptionConfiguration {
            encryption_type: if kms { "KMS" } else { "AES256" },
            kms_key: key,
        },
        lifecycle_policy: (!registry.lifecycle.is_empty()).then(|| LifecyclePolicy {
            lifecycle_policy_text: lifecycle_policy(cx),
        }),
        // Images are rebuilt from source; deleting the stack deletes them with the repository.
        empty_on_delete: true,
        tags: Vec::new(),
    });
    if !registry.immutable_tags {
        repo = repo.skip(skips::ECR_MUTABLE_TAGS);
    }
    if !registry.scan_on_push {
        repo = repo.skip(skips::ECR_NO_SCAN);
    }
    if !kms {
        repo = repo.skip(skips::ECR_AES256);
    }
    b.add("Repository", repo);

    let secondaries: Vec<&Region> = cx.spec.secondaries().collect();
    if region.role == Role::Primary && registry.replicate && !secondaries.is_empty() {
        // One configuration per registry (account and region): it replicates this project's
        // repository, by name prefix, to each secondary region.
        b.add(
            "Replication",
            EcrReplication {
                replication_configuration: ReplicationConfiguration {
                    rules: vec![ReplicationRule {
                        destinations: secondaries
                            .iter()
                            .map(|r| ReplicationDestination {
                                region: r.name.clone(),
                                registry_id: Expr::r#ref("AWS::AccountId"),
                            })
                            .collect(),
                        repository_filters: vec![RepositoryFilter {
                            filter: cx.names.repository(),
                            filter_type: "PREFIX_MATCH",
                        }],
                    }],
                },
            },
        );
    }
    b.output(
        out::REPOSITORY_URI,
        "The repository's URI",
        Expr::get_att("Repository", "RepositoryUri"),
    );
    b.finish()
}

/// ECR's lifecycle policy document, from the spec's rules.
fn lifecycle_policy(cx: Cx<'_>) -> String {
    let rules: Vec<serde_json::Value> = cx
        .spec
        .registry
        .lifecycle
        .iter()
        .map(|r| {
            let mut selection = serde_json::Map::new();
            let status = match r.tag_status {
                TagStatus::Tagged => "tagged",
                TagStatus::Untagged => "untagged",
                TagStatus::Any => "any",
            };
            selection.insert("tagStatus".into(), json!(status));
            if !r.tag_prefixes.is_empty() {
                selection.insert("tagPrefixList".into(), json!(r.tag_prefixes));
            }
            match r.count_type {
                CountType::ImageCountMoreThan => {
                    selection.insert("countType".into(), json!("imageCountMoreThan"));
                }
                CountType::SinceImagePushed => {
                    selection.insert("countType".into(), json!("sinceImagePushed"));
                    selection.insert("countUnit".into(), json!("days"));
                }
            }
            selection.insert("countNumber".into(), json!(r.count));
            let mut rule = serde_json::Map::new();
            rule.insert("rulePriority".into(), json!(r.priority));
            if !r.description.is_empty() {
                rule.insert("description".into(), json!(r.description));
            }
            rule.insert("selection".into(), serde_json::Value::Object(selection));
            rule.insert("action".into(), json!({"type": "expire"}));
            serde_json::Value::Object(rule)
        })
        .collect();
    json!({ "rules": rules }).to_string()
}
