//! Route 53: health checks and records for the global endpoint.

use crate::model::{Expr, cfn_struct};

cfn_struct! {
    pub struct HealthCheck {
        health_check_config: HealthCheckConfig,
        health_check_tags: Vec<HealthCheckTag>,
    }
}

cfn_struct! {
    pub struct HealthCheckConfig {
        r#type: &'static str,
        fully_qualified_domain_name: Expr,
        port: u16,
        resource_path: String,
        request_interval: u64,
        failure_threshold: u32,
        #[serde(rename = "EnableSNI")]
        enable_sni: Option<bool>,
    }
}

cfn_struct! {
    pub struct HealthCheckTag {
        key: String,
        value: String,
    }
}

cfn_struct! {
    pub struct RecordSet {
        hosted_zone_id: String,
        name: String,
        r#type: &'static str,
        set_identifier: Option<String>,
        failover: Option<&'static str>,
        region: Option<String>,
        health_check_id: Option<Expr>,
        alias_target: AliasTarget,
    }
}

cfn_struct! {
    pub struct AliasTarget {
        #[serde(rename = "DNSName")]
        dns_name: Expr,
        hosted_zone_id: Expr,
        evaluate_target_health: bool,
    }
}
