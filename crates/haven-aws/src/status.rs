//! `haven aws status`: each stack's state and outputs, the endpoints, and which secrets exist.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{Aws, Bundle, Endpoint, Error, cfn, secrets};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub stacks: Vec<StackStatus>,
    pub endpoints: Vec<Endpoint>,
    pub secrets: Vec<SecretStatus>,
}

#[derive(Debug, Serialize)]
pub struct StackStatus {
    pub stack: String,
    pub region: String,
    pub kind: String,
    /// CloudFormation's status, or `NOT_DEPLOYED`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was last created or updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    pub outputs: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct SecretStatus {
    pub env: String,
    pub parameter: String,
    pub region: String,
    pub set: bool,
}

pub const NOT_DEPLOYED: &str = "NOT_DEPLOYED";

/// Reads every selected stack (all regions when `regions` is empty).
pub async fn status(aws: &Aws, bundle: &Bundle, regions: &[String]) -> Result<StatusReport, Error> {
    let mut stacks = Vec::new();
    for s in bundle.select(regions)? {
        let cf = aws.cloudformation(&s.region);
        let state = cfn::describe(&cf, &s.region, &s.name).await?;
        stacks.push(match state {
            Some(st) => StackStatus {
                stack: s.name.clone(),
                region: s.region.clone(),
                kind: s.kind.clone(),
                status: st.status,
                reason: st.reason,
                updated: st.updated,
                outputs: st.outputs,
            },
            None => StackStatus {
                stack: s.name.clone(),
                region: s.region.clone(),
                kind: s.kind.clone(),
                status: NOT_DEPLOYED.into(),
                reason: None,
                updated: None,
                outputs: BTreeMap::new(),
            },
        });
    }
    let outputs = stacks
        .iter()
        .map(|s| (s.stack.clone(), s.outputs.clone()))
        .collect();
    let mut secret_states = Vec::new();
    for secret in &bundle.secrets {
        for region in secret
            .regions
            .iter()
            .filter(|r| regions.is_empty() || regions.contains(r))
        {
            secret_states.push(SecretStatus {
                env: secret.env.clone(),
                parameter: secret.parameter.clone(),
                region: region.clone(),
                set: secrets::exists(aws, region, &secret.parameter).await?,
            });
        }
    }
    Ok(StatusReport {
        endpoints: bundle.endpoints(&outputs),
        stacks,
        secrets: secret_states,
    })
}
