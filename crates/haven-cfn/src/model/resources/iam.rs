//! IAM roles, groups and policies (the documents themselves are in `crate::iam`).

use crate::iam::PolicyDocument;
use crate::model::{Expr, Tag, cfn_struct};

cfn_struct! {
    pub struct Role {
        role_name: String,
        description: String,
        assume_role_policy_document: PolicyDocument,
        policies: Vec<InlinePolicy>,
        tags: Vec<Tag>,
    }
}

cfn_struct! {
    pub struct InlinePolicy {
        policy_name: String,
        policy_document: PolicyDocument,
    }
}

cfn_struct! {
    pub struct Group {
        group_name: String,
    }
}

cfn_struct! {
    pub struct Policy {
        policy_name: String,
        policy_document: PolicyDocument,
        groups: Vec<Expr>,
    }
}
