//! The SNS twin's settings from the spec: every region and the pipeline publish through the
//! same topics, built here from the spec and the Parameter Store twin.

use std::path::Path;

use crate::{NotifyConfig, TopicConfig};

/// The SNS twin's settings from the spec: its topics with their subscriptions, webhook keys
/// from the Parameter Store twin, and the `[local]` SMTP relay. Regions and the pipeline
/// publish through the same topics.
/// `secrets` is the Parameter Store twin's directory.
pub fn config_from_spec(spec: &haven_spec::Spec, secrets: &Path) -> NotifyConfig {
    let mut config = NotifyConfig::new(&spec.notifications.from);
    config.smtp_relay = spec.local.smtp_relay.clone();
    for (name, t) in &spec.notifications.topics {
        config.topics.insert(
            name.clone(),
            TopicConfig {
                emails: t.email.clone(),
                webhooks: t.webhooks.clone(),
                webhook_secret: webhook_secret(secrets, name, t.webhook_secret.as_deref()),
            },
        );
    }
    config
}

/// The HMAC key of topic `topic`'s webhooks: the value of its `webhook_secret` parameter, read
/// when the process starts. A parameter that is not set or cannot be read leaves the webhooks
/// unsigned, with a warning in the process's log: alerts still go out, and a receiver that
/// checks `X-Haven-Signature` rejects them, which is what it should do with messages nobody
/// signed.
fn webhook_secret(secrets: &Path, topic: &str, parameter: Option<&str>) -> Option<String> {
    let parameter = parameter?;
    let value = haven_secrets::SecretStore::open(secrets).and_then(|s| s.get(parameter));
    match value {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            tracing::warn!(
                "topic {topic}: webhook_secret parameter {parameter} is not set, so its webhooks are sent unsigned; `haven secret set {parameter}` and restart the twin to sign them"
            );
            None
        }
        Err(e) => {
            tracing::warn!(
                "topic {topic}: cannot read webhook_secret parameter {parameter}, so its webhooks are sent unsigned: {e}"
            );
            None
        }
    }
}
