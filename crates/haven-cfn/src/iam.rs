//! IAM policy documents as types, and the builders every stack uses for them.
//!
//! Least privilege is the rule: actions are listed one by one (never `*` or `service:*` in an
//! Allow), and resources are ARNs wherever the action supports resource-level permissions.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::model::{Expr, Omit};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: &'static str,
    pub statement: Vec<Statement>,
}

impl Omit for PolicyDocument {}

impl Default for PolicyDocument {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        Self {
            version: "2012-10-17",
            statement,
        }
    }

    /// A trust policy letting one AWS service assume the role with nothing more: for services
    /// whose documented trust policy has no condition (ECS's infrastructure role), since a
    /// condition on a key the service does not send would lock it out.
    pub fn assume_by_service(service: &str) -> Self {
        Self::new(vec![
            Statement::allow(&["sts:AssumeRole"], vec![])
                .principal(Principal::Service(vec![service.to_owned()])),
        ])
    }

    /// A trust policy letting one AWS service assume the role, only on behalf of this account
    /// (the confused-deputy guard AWS recommends).
    pub fn assume_by(service: &str) -> Self {
        Self::new(vec![
            Statement::allow(&["sts:AssumeRole"], vec![])
                .principal(Principal::Service(vec![service.to_owned()]))
                .condition(
                    "StringEquals",
                    "aws:SourceAccount",
                    vec![Expr::r#ref("AWS::AccountId")],
                ),
        ])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    Service(Vec<String>),
    Aws(Vec<Expr>),
    /// `"*"`: only ever in a Deny (the bucket policies' TLS-only statement).
    Everyone,
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Everyone => s.serialize_str("*"),
            Self::Service(v) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("Service", v)?;
                m.end()
            }
            Self::Aws(v) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("AWS", v)?;
                m.end()
            }
        }
    }
}

/// Condition operator → key → values.
pub type Condition = BTreeMap<String, BTreeMap<String, Vec<Expr>>>;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    pub action: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Expr>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: Condition,
}

impl Statement {
    pub fn allow(actions: &[&str], resources: Vec<Expr>) -> Self {
        Self::new(Effect::Allow, actions, resources)
    }

    pub fn deny(actions: &[&str], resources: Vec<Expr>) -> Self {
        Self::new(Effect::Deny, actions, resources)
    }

    fn new(effect: Effect, actions: &[&str], resources: Vec<Expr>) -> Self {
        Self {
            sid: None,
            effect,
            principal: None,
            action: actions.iter().map(|a| (*a).to_owned()).collect(),
            resource: resources,
            condition: Condition::new(),
        }
    }

    pub fn sid(mut self, sid: &str) -> Self {
        self.sid = Some(sid.to_owned());
        self
    }

    pub fn principal(mut self, p: Principal) -> Self {
        self.principal = Some(p);
        self
    }

    pub fn condition(mut self, operator: &str, key: &str, values: Vec<Expr>) -> Self {
        self.condition
            .entry(operator.to_owned())
            .or_default()
            .insert(key.to_owned(), values);
        self
    }
}

/// The actions a role needs to write to its own CloudWatch log group.
pub fn write_logs(log_group_arn_prefix: &str) -> Statement {
    Statement::allow(
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![Expr::arn(
            "logs",
            &format!("log-group:{log_group_arn_prefix}:*"),
        )],
    )
    .sid("WriteLogs")
}

/// Use of the region's key for data the role reads and writes (artifacts, logs).
pub fn use_key(keys: Vec<Expr>) -> Statement {
    Statement::allow(
        &[
            "kms:Decrypt",
            "kms:DescribeKey",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
        ],
        keys,
    )
    .sid("UseKey")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trust_policies_pin_the_account() {
        let doc = PolicyDocument::assume_by("ecs-tasks.amazonaws.com");
        assert_eq!(
            serde_json::to_value(doc).unwrap(),
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": {"Service": ["ecs-tasks.amazonaws.com"]},
                    "Action": ["sts:AssumeRole"],
                    "Condition": {"StringEquals": {"aws:SourceAccount": [{"Ref": "AWS::AccountId"}]}}
                }]
            })
        );
    }
}
